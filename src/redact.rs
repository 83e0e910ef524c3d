//! Removes a password from any text we keep, in every form it can take on the wire (plain, base64, AUTH PLAIN blob).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const MARK: &str = "[redacted]";

/// The forms of one secret that could show up in text we record or print.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} forms)", self.needles.len())
    }
}

impl Redactor {
    pub fn none() -> Self {
        Redactor::default()
    }

    pub fn new(user: &str, password: &str) -> Self {
        if password.is_empty() {
            return Redactor::none();
        }
        let mut needles = vec![
            password.to_string(),
            STANDARD.encode(password),
            STANDARD.encode(format!("\0{user}\0{password}")),
            STANDARD.encode(format!("{user}\0{password}")),
        ];
        // base64 of the password at the other two alignments inside a longer blob: the stable middle part.
        for prefix in 1..3 {
            let padded = format!("{}{}", "\0".repeat(prefix), password);
            let enc = STANDARD.encode(padded);
            // Skip the characters that still carry prefix bits, and the tail that carries padding.
            let start = (prefix * 8).div_ceil(6);
            let stable_end = enc.trim_end_matches('=').len().saturating_sub(2);
            if stable_end > start + 4 {
                needles.push(enc[start..stable_end].to_string());
            }
        }
        if let Some(trimmed) = needles.get(1).map(|s| s.trim_end_matches('=').to_string()) {
            if trimmed.len() >= 4 {
                needles.push(trimmed);
            }
        }
        needles.retain(|n| !n.is_empty());
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// The text with every form of the secret replaced by a mark.
    pub fn clean(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_string();
        }
        let mark = self.mark();
        let mut out = text.to_string();
        // Replacing can join text around the mark into a new match ("x" + MARK when the secret is "x[redacted]"),
        // so repeat a few rounds; text that still holds a secret after that is dropped whole.
        for _ in 0..ROUNDS {
            let mut changed = false;
            for n in &self.needles {
                if out.contains(n.as_str()) {
                    out = out.replace(n.as_str(), mark);
                    changed = true;
                }
            }
            if !changed {
                return out;
            }
        }
        if self.needles.iter().any(|n| out.contains(n.as_str())) {
            return mark.to_string();
        }
        out
    }

    /// The first mark that no form of the secret is part of, so marking cannot re-create the secret.
    fn mark(&self) -> &'static str {
        MARKS
            .iter()
            .find(|m| !self.needles.iter().any(|n| m.contains(n.as_str())))
            .copied()
            .unwrap_or("")
    }
}

const ROUNDS: usize = 8;
/// "***" and "###" share no character, and base64 has neither, so one of them always fits.
const MARKS: [&str; 4] = [MARK, "<redacted>", "***", "###"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_removed() {
        let r = Redactor::new("app@example.com", "s3cr3t-Pa55");
        let plain_blob = STANDARD.encode("\0app@example.com\0s3cr3t-Pa55");
        for text in [
            "s3cr3t-Pa55".to_string(),
            format!("AUTH PLAIN {plain_blob}"),
            STANDARD.encode("s3cr3t-Pa55"),
            format!("echo {}", STANDARD.encode("xs3cr3t-Pa55")),
            format!("echo {}", STANDARD.encode("xys3cr3t-Pa55")),
        ] {
            let cleaned = r.clean(&text);
            assert!(!cleaned.contains("s3cr3t-Pa55"), "{cleaned}");
            assert!(!cleaned.contains(&plain_blob), "{cleaned}");
            assert!(
                !cleaned.contains(STANDARD.encode("s3cr3t-Pa55").trim_end_matches('=')),
                "{cleaned}"
            );
        }
        assert_eq!(r.clean("250 OK"), "250 OK");
    }

    #[test]
    fn marking_never_recreates_the_secret() {
        for (pw, text) in [
            ("x[redacted]", "xx[redacted]"),
            ("red", "tired of red"),
            ("e", "eee"),
            ("][", "a][b]["),
            ("*", "***"),
        ] {
            let r = Redactor::new("u", pw);
            let out = r.clean(text);
            assert!(!out.contains(pw), "{pw:?} survives in {out:?}");
        }
    }

    #[test]
    fn no_secret_no_change() {
        assert_eq!(Redactor::none().clean("anything"), "anything");
    }
}
