//! Nagios threshold ranges (`[@]start:end`, `~`, inclusive) as the monitoring-plugins guidelines define them: parsed strictly, checked, written back.

use std::fmt;

/// One threshold range. A value alerts when it lies outside `start..=end` (or inside, with `@`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// `f64::NEG_INFINITY` for `~`.
    pub start: f64,
    /// `f64::INFINITY` when nothing follows the colon.
    pub end: f64,
    /// `@`: alert inside the range instead of outside.
    pub inside: bool,
}

/// Why a range could not be read; the caller names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("it is empty")]
    Empty,
    #[error("'{0}' is not a number")]
    NotANumber(String),
    #[error("its start is above its end")]
    StartAboveEnd,
}

impl Range {
    /// Reads `10`, `10:`, `~:10`, `10:20`, `@10:20`, `:10` (start 0, as the plugins' own C library reads it) with
    /// decimals and signs. Stricter than that library, which reads any garbage as 0: every number must be whole.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let t = text.trim();
        let (inside, rest) = match t.strip_prefix('@') {
            Some(r) => (true, r),
            None => (false, t),
        };
        if rest.is_empty() {
            return Err(RangeError::Empty);
        }
        let (start, end) = match rest.split_once(':') {
            None => (0.0, number(rest)?),
            Some((s, e)) => {
                let start = match s {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    s => number(s)?,
                };
                let end = if e.is_empty() {
                    f64::INFINITY
                } else {
                    number(e)?
                };
                (start, end)
            }
        };
        if start > end {
            return Err(RangeError::StartAboveEnd);
        }
        Ok(Range { start, end, inside })
    }

    /// Whether `value` raises the alert this range stands for (the bounds are inclusive).
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start <= value && value <= self.end;
        within == self.inside
    }

    /// `start:` — alert below `start`, as the certificate thresholds mean it (fewer days left than N).
    pub fn at_least(start: f64) -> Range {
        Range {
            start,
            end: f64::INFINITY,
            inside: false,
        }
    }
}

/// What --format nagios judges besides the findings: the total time and the certificates' days left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// --warning, on the total time in seconds.
    pub warning: Option<Range>,
    /// --critical, on the total time in seconds.
    pub critical: Option<Range>,
    /// --cert-warning-days as the range `N:` (fewer days left alerts).
    pub cert_warning: Option<Range>,
    /// --cert-critical-days as the range `N:`.
    pub cert_critical: Option<Range>,
}

// `parse` never yields NaN, so equality is reflexive and `Eq` holds.
impl Eq for Range {}

/// A finite decimal number; "inf", "NaN" and exponents that overflow are refused.
fn number(s: &str) -> Result<f64, RangeError> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    match s.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v),
        _ => Err(RangeError::NotANumber(s.to_string())),
    }
}

/// The canonical text of the range, as perfdata's warn and crit fields carry it: the shortest form that reads back the same.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        let end = if self.end.is_finite() {
            self.end.to_string()
        } else {
            String::new()
        };
        if self.start == 0.0 && self.end.is_finite() {
            write!(f, "{end}")
        } else if self.start == f64::NEG_INFINITY {
            write!(f, "~:{end}")
        } else {
            write!(f, "{}:{end}", self.start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;
    const NINF: f64 = f64::NEG_INFINITY;

    /// The guidelines' table: text, the range read, values that alert, values that do not.
    #[test]
    fn ranges_read_and_alert_as_the_guidelines_say() {
        #[allow(clippy::type_complexity)]
        let table: &[(&str, (f64, f64, bool), &[f64], &[f64])] = &[
            (
                "10",
                (0.0, 10.0, false),
                &[-1.0, 10.5, 11.0],
                &[0.0, 5.0, 10.0],
            ),
            ("10:", (10.0, INF, false), &[9.99, -3.0], &[10.0, 1e9]),
            (
                "~:10",
                (NINF, 10.0, false),
                &[10.01, 11.0],
                &[-1e9, 0.0, 10.0],
            ),
            (
                "10:20",
                (10.0, 20.0, false),
                &[9.0, 21.0],
                &[10.0, 15.0, 20.0],
            ),
            (
                "@10:20",
                (10.0, 20.0, true),
                &[10.0, 15.0, 20.0],
                &[9.0, 21.0],
            ),
            ("@10", (0.0, 10.0, true), &[0.0, 10.0], &[-0.5, 10.5]),
            (":10", (0.0, 10.0, false), &[-1.0, 11.0], &[0.0, 10.0]),
            ("~:", (NINF, INF, false), &[], &[-1e9, 0.0, 1e9]),
            (
                "0.000001",
                (0.0, 0.000001, false),
                &[0.001],
                &[0.0, 0.000001],
            ),
            ("-5:-1", (-5.0, -1.0, false), &[0.0, -6.0], &[-5.0, -1.0]),
            (" 2.5 ", (0.0, 2.5, false), &[2.6], &[2.5]),
            ("+3", (0.0, 3.0, false), &[3.1], &[3.0]),
        ];
        for (text, (start, end, inside), alert, quiet) in table {
            let r = Range::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (r.start, r.end, r.inside),
                (*start, *end, *inside),
                "{text}"
            );
            for v in *alert {
                assert!(r.alerts(*v), "{text} must alert on {v}");
            }
            for v in *quiet {
                assert!(!r.alerts(*v), "{text} must not alert on {v}");
            }
        }
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for (text, want) in [
            ("", RangeError::Empty),
            ("@", RangeError::Empty),
            ("  ", RangeError::Empty),
            ("abc", RangeError::NotANumber("abc".into())),
            ("10:abc", RangeError::NotANumber("abc".into())),
            ("1,5", RangeError::NotANumber("1,5".into())),
            ("inf", RangeError::NotANumber("inf".into())),
            ("NaN", RangeError::NotANumber("NaN".into())),
            ("1e3", RangeError::NotANumber("1e3".into())),
            ("10:~", RangeError::NotANumber("~".into())),
            ("~", RangeError::NotANumber("~".into())),
            ("1:2:3", RangeError::NotANumber("2:3".into())),
            ("@@1", RangeError::NotANumber("@1".into())),
            ("20:10", RangeError::StartAboveEnd),
            ("5:-1", RangeError::StartAboveEnd),
        ] {
            assert_eq!(Range::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn the_written_form_reads_back_the_same() {
        for (text, written) in [
            ("10", "10"),
            ("0:10", "10"),
            (":10", "10"),
            ("10:", "10:"),
            ("~:10", "~:10"),
            ("~:", "~:"),
            ("@10:20", "@10:20"),
            ("@5", "@5"),
            ("0.5:1.25", "0.5:1.25"),
            ("0.000001", "0.000001"),
            ("-5:-1", "-5:-1"),
            ("0:", "0:"),
        ] {
            let r = Range::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.to_string(), written, "{text}");
            assert_eq!(Range::parse(&r.to_string()), Ok(r), "{text}");
        }
        assert_eq!(Range::at_least(14.0).to_string(), "14:");
    }
}
