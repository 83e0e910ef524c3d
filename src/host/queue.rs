//! The pieces Postfix and Exim share when they write why a delivery was deferred: an errno's text, an SMTP reply with its enhanced status, a `host[address]:port`.

use std::net::IpAddr;

/// The errno behind the text strerror gives it (glibc's words, which both MTAs print), for the errors a connect meets.
pub fn errno_of(text: &str) -> Option<i32> {
    let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let table: [(&str, i32); 9] = [
        ("connection timed out", libc::ETIMEDOUT),
        ("connection refused", libc::ECONNREFUSED),
        ("no route to host", libc::EHOSTUNREACH),
        ("network is unreachable", libc::ENETUNREACH),
        ("permission denied", libc::EACCES),
        ("operation not permitted", libc::EPERM),
        ("connection reset by peer", libc::ECONNRESET),
        ("cannot assign requested address", libc::EADDRNOTAVAIL),
        (
            "address family not supported by protocol",
            libc::EAFNOSUPPORT,
        ),
    ];
    table
        .iter()
        .find(|(words, _)| t == *words)
        .map(|(_, errno)| *errno)
}

/// `name[address]:port`, `name[address]` or `name [address]` at the start of `text`, and what follows it.
pub fn host_address(text: &str) -> (Option<String>, Option<IpAddr>, Option<u16>, &str) {
    let t = text.trim_start();
    let Some(open) = t.find('[') else {
        return (None, None, None, t);
    };
    let Some(close) = t[open..].find(']').map(|c| open + c) else {
        return (None, None, None, t);
    };
    let name = t[..open].trim();
    // The name is one word: a '[' further on belongs to something else.
    if name.contains(char::is_whitespace) {
        return (None, None, None, t);
    }
    let address = t[open + 1..close].parse::<IpAddr>().ok();
    let mut rest = &t[close + 1..];
    let mut port = None;
    if let Some(after) = rest.strip_prefix(':') {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(p) = digits.parse::<u16>() {
            port = Some(p);
            rest = &after[digits.len()..];
        }
    }
    let name = (!name.is_empty()).then(|| name.to_string());
    (name, address, port, rest)
}

/// Whether a word is an enhanced status code such as 5.7.8 (RFC 3463: class.subject.detail).
pub fn is_enhanced(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The first SMTP reply in `text`: a three-digit code from 200 to 599 (followed by a space, a dash or the end), and its enhanced status when the next word is one.
pub fn reply_in(text: &str) -> Option<(u16, Option<String>)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let code_part = w.split('-').next().unwrap_or(w);
        if code_part.len() != 3 || !code_part.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(code) = code_part.parse::<u16>() else {
            continue;
        };
        if !(200..600).contains(&code) {
            continue;
        }
        let next = w
            .strip_prefix(code_part)
            .and_then(|r| r.strip_prefix('-'))
            .filter(|r| !r.is_empty())
            .or_else(|| words.get(i + 1).copied());
        let enhanced = next
            .map(|n| n.trim_end_matches([',', ';', ':']))
            .filter(|n| is_enhanced(n))
            .map(str::to_string);
        return Some((code, enhanced));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts() {
        assert_eq!(errno_of("Connection timed out"), Some(libc::ETIMEDOUT));
        assert_eq!(errno_of(" connection refused. "), Some(libc::ECONNREFUSED));
        assert_eq!(errno_of("No route to host"), Some(libc::EHOSTUNREACH));
        assert_eq!(errno_of("Timed out, somewhat"), None);
        assert_eq!(errno_of(""), None);
    }

    #[test]
    fn hosts_with_addresses_and_ports() {
        let (n, a, p, rest) =
            host_address("mail.example.com[203.0.113.10]:25: Connection timed out");
        assert_eq!(n.as_deref(), Some("mail.example.com"));
        assert_eq!(a, "203.0.113.10".parse().ok());
        assert_eq!(p, Some(25));
        assert_eq!(rest, ": Connection timed out");
        let (n, a, p, _) = host_address("mx.example.com[2001:db8::10]:587: x");
        assert_eq!(
            (n.as_deref(), a, p),
            (
                Some("mx.example.com"),
                "2001:db8::10".parse().ok(),
                Some(587)
            )
        );
        let (n, a, p, rest) = host_address("mx.example.com [192.0.2.1] said");
        assert_eq!(
            (n.as_deref(), a, p, rest),
            (
                Some("mx.example.com"),
                "192.0.2.1".parse().ok(),
                None,
                " said"
            )
        );
        // Odd input: no brackets, an unclosed one, a non-address inside, a port out of range.
        for odd in [
            "",
            "[",
            "host[",
            "host]x[",
            "two words[1.2.3.4]",
            "h[1.2.3.4]:99999",
        ] {
            let _ = host_address(odd);
        }
        assert_eq!(host_address("h[not-ip]").1, None);
        assert_eq!(host_address("h[1.2.3.4]:99999").2, None);
    }

    #[test]
    fn replies_with_enhanced_codes() {
        assert_eq!(
            reply_in("said: 535 5.7.8 Error: authentication failed"),
            Some((535, Some("5.7.8".into())))
        );
        assert_eq!(
            reply_in("said: 451-4.7.1 greylisted"),
            Some((451, Some("4.7.1".into())))
        );
        assert_eq!(
            reply_in("said: 421 Too many connections"),
            Some((421, None))
        );
        assert_eq!(reply_in("port 25 and 1000 ms"), None);
        assert_eq!(reply_in(""), None);
        assert!(is_enhanced("4.4.1"));
        assert!(!is_enhanced("4.4"));
        assert!(!is_enhanced("1.2.3"));
        assert!(!is_enhanced("5.7.x"));
    }
}
