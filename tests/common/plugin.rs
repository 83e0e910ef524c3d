//! A strict reader of Nagios plugin output, by the monitoring-plugins developer guidelines: first line, perfdata grammar, long output, exit status.
//!
//! Shared by the unit tests of `--format nagios` (src/output/nagios/tests.rs includes this file), the end-to-end
//! tests and the fault lab, so all three hold the output to one reading. It also reads check_smtp's output, which
//! is how the lab compares the two.

#![allow(dead_code)] // each including crate uses a different part

/// The units the guidelines allow after a value.
pub const UOMS: [&str; 10] = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"];

/// The longest first line (text before the `|`) the guidelines ask for.
pub const FIRST_LINE_MAX: usize = 80;

#[derive(Debug, Clone, PartialEq)]
pub struct PluginOutput {
    /// OK, WARNING, CRITICAL or UNKNOWN.
    pub state: String,
    /// The text after `SERVICE STATE - `.
    pub text: String,
    pub perfdata: Vec<PerfItem>,
    /// The lines after the first (long output), without perfdata.
    pub long: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PerfItem {
    /// The label, unquoted (`''` read back as `'`).
    pub label: String,
    /// None for `U` (unknown).
    pub value: Option<f64>,
    pub uom: String,
    pub warn: String,
    pub crit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl PluginOutput {
    pub fn perf(&self, label: &str) -> Option<&PerfItem> {
        self.perfdata.iter().find(|p| p.label == label)
    }
}

/// The state each exit status stands for.
pub fn state_of_exit(code: i32) -> Option<&'static str> {
    match code {
        0 => Some("OK"),
        1 => Some("WARNING"),
        2 => Some("CRITICAL"),
        3 => Some("UNKNOWN"),
        _ => None,
    }
}

/// Reads plugin output as Nagios does, strictly: `SERVICE STATE - text` under 80 characters, then optional
/// ` | perfdata`; further lines are long output, and perfdata may continue after a `|` there. The exit status
/// must stand for the state the first line names. Err says what breaks the rules.
pub fn parse(service: &str, stdout: &str, exit: i32) -> Result<PluginOutput, String> {
    let mut lines = stdout.lines();
    let first = lines.next().ok_or("no output at all")?;
    if !stdout.ends_with('\n') {
        return Err("the output does not end with a newline".into());
    }
    let (text_part, perf_part) = match first.split_once('|') {
        Some((t, p)) => (t, Some(p)),
        None => (first, None),
    };
    let text_part = text_part.trim_end();
    if text_part.chars().count() > FIRST_LINE_MAX {
        return Err(format!(
            "the first line's text is {} characters (at most {FIRST_LINE_MAX}): {text_part:?}",
            text_part.chars().count()
        ));
    }
    let rest = text_part
        .strip_prefix(service)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| format!("the first line does not start with {service:?}: {first:?}"))?;
    let (state, text) = rest
        .split_once(" - ")
        .ok_or_else(|| format!("no ' - ' after the state: {first:?}"))?;
    if !["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&state) {
        return Err(format!("{state:?} is not a plugin state"));
    }
    if text.trim().is_empty() {
        return Err("the first line says nothing after the state".into());
    }
    if state_of_exit(exit) != Some(state) {
        return Err(format!("exit status {exit} does not stand for {state}"));
    }
    let mut perfdata = match perf_part {
        Some(p) => perf_items(p)?,
        None => Vec::new(),
    };
    let mut long = Vec::new();
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            perfdata.extend(perf_items(line)?);
            continue;
        }
        match line.split_once('|') {
            Some((t, p)) => {
                if !t.trim().is_empty() {
                    long.push(t.to_string());
                }
                perfdata.extend(perf_items(p)?);
                in_perf = true;
            }
            None => long.push(line.to_string()),
        }
    }
    let mut labels: Vec<&str> = perfdata.iter().map(|p| p.label.as_str()).collect();
    labels.sort_unstable();
    if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("the label {:?} appears twice", w[0]));
    }
    Ok(PluginOutput {
        state: state.to_string(),
        text: text.to_string(),
        perfdata,
        long,
    })
}

/// Space-separated perfdata items; a quoted label may hold spaces.
fn perf_items(text: &str) -> Result<Vec<PerfItem>, String> {
    let mut items = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (item, after) = one_item(rest)?;
        items.push(item);
        rest = after.trim_start();
    }
    Ok(items)
}

/// One `'label'=value[UOM];[warn];[crit];[min];[max]` and what follows it.
fn one_item(text: &str) -> Result<(PerfItem, &str), String> {
    let (label, after_label) = if let Some(quoted) = text.strip_prefix('\'') {
        let mut label = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if quoted[i + 1..].starts_with('\'') {
                    label.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                label.push(c);
            }
        }
        let end = end.ok_or_else(|| format!("unclosed quote in {text:?}"))?;
        (label, &quoted[end..])
    } else {
        let stop = text
            .find('=')
            .ok_or_else(|| format!("no '=' in {text:?}"))?;
        let label = &text[..stop];
        if label.contains([' ', '\'']) {
            return Err(format!("unquoted label {label:?} holds a space or a quote"));
        }
        (label.to_string(), &text[stop..])
    };
    if label.is_empty() || label.contains('=') {
        return Err(format!("bad label {label:?}"));
    }
    let data = after_label
        .strip_prefix('=')
        .ok_or_else(|| format!("no '=' right after the label {label:?}"))?;
    let (data, rest) = match data.find(' ') {
        Some(i) => (&data[..i], &data[i..]),
        None => (data, ""),
    };
    let fields: Vec<&str> = data.split(';').collect();
    if fields.len() > 5 {
        return Err(format!("{label}: more than 5 fields in {data:?}"));
    }
    let (value, uom) = value_and_uom(fields[0]).map_err(|e| format!("{label}: {e}"))?;
    let range = |i: usize| -> Result<String, String> {
        let f = fields.get(i).copied().unwrap_or("");
        if f.is_empty() || is_range(f) {
            Ok(f.to_string())
        } else {
            Err(format!("{label}: {f:?} is not a threshold range"))
        }
    };
    let bound = |i: usize| -> Result<Option<f64>, String> {
        match fields.get(i).copied().unwrap_or("") {
            "" => Ok(None),
            f => number(f)
                .map(Some)
                .ok_or_else(|| format!("{label}: {f:?} is not a number")),
        }
    };
    let (warn, crit, min, max) = (range(1)?, range(2)?, bound(3)?, bound(4)?);
    Ok((
        PerfItem {
            label,
            value,
            uom: uom.to_string(),
            warn,
            crit,
            min,
            max,
        },
        rest,
    ))
}

/// A value: a number or `U`, then a unit of the guidelines' set.
fn value_and_uom(field: &str) -> Result<(Option<f64>, &str), String> {
    if field == "U" {
        return Ok((None, ""));
    }
    let end = field
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
        .unwrap_or(field.len());
    let (num, uom) = field.split_at(end);
    let v = number(num).ok_or_else(|| format!("{num:?} is not a number"))?;
    if !UOMS.contains(&uom) {
        return Err(format!("{uom:?} is not a unit of the guidelines"));
    }
    Ok((Some(v), uom))
}

/// A plain decimal: optional sign, digits, optional point and digits.
fn number(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if body.is_empty() || int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    s.parse().ok()
}

/// `[@][start:]end` with `~` as start and an empty end after the colon.
pub fn is_range(s: &str) -> bool {
    let body = s.strip_prefix('@').unwrap_or(s);
    match body.split_once(':') {
        None => number(body).is_some(),
        Some((start, end)) => {
            let start_ok = start.is_empty() || start == "~" || number(start).is_some();
            let end_ok = end.is_empty() || number(end).is_some();
            start_ok && end_ok
        }
    }
}
