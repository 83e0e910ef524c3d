//! Bounded SMTP reply framing: reads one (multi-line) reply under size and time limits and classifies what came instead.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use lettre::transport::smtp::extension::ServerInfo;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest reply line we accept (RFC 5321 asks for 512; real servers send longer banners).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply (a generous EHLO has about 20).
pub const MAX_LINES: usize = 256;
/// Most bytes in one reply.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// One complete, well-formed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line, without code and separator.
    pub lines: Vec<String>,
    /// The server ended lines with a bare LF instead of CRLF.
    pub bare_lf: bool,
}

impl Reply {
    /// RFC 3463 enhanced status code ("5.7.8") at the start of the first line, if any.
    pub fn enhanced_code(&self) -> Option<String> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| first.to_string())
    }
}

/// Why no well-formed reply could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The peer closed the connection; `partial` holds what arrived first.
    Closed { partial: String },
    /// The bytes are not SMTP; `sample` is a printable excerpt.
    NotSmtp { sample: String },
    /// The first bytes are a TLS record header: the peer expects or speaks TLS.
    TlsRecord,
    /// A size limit was exceeded.
    TooLarge { what: &'static str },
    /// A read error (reset, and so on), with its errno.
    Io { errno: Option<i32> },
}

/// What a reply read has taken from the stream so far, readable while the read is pending and after a
/// timeout dropped it: a drip-fed reply is then "incomplete", not "nothing received".
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicUsize,
    sample: Mutex<Vec<u8>>,
}

/// Bytes of a pending reply kept for the report.
const PROGRESS_SAMPLE: usize = 120;

impl Progress {
    fn record(&self, bytes: &[u8]) {
        self.bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        if let Ok(mut s) = self.sample.lock() {
            let room = PROGRESS_SAMPLE.saturating_sub(s.len());
            s.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The first bytes consumed, made printable.
    pub fn sample(&self) -> String {
        self.sample
            .lock()
            .map(|s| printable(&s))
            .unwrap_or_default()
    }
}

/// Reads one reply. Time limits are the caller's (wrap in tokio::time::timeout).
pub async fn read_reply<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Reply, ReplyError> {
    read_reply_tracked(reader, &Progress::default()).await
}

/// Reads one reply, recording in `progress` what it consumes.
pub async fn read_reply_tracked<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    progress: &Progress,
) -> Result<Reply, ReplyError> {
    let mut lines: Vec<String> = Vec::new();
    let mut code: Option<u16> = None;
    let mut total = 0usize;
    let mut bare_lf = false;
    loop {
        let first_line = lines.is_empty() && code.is_none();
        let (raw, ended_lf) = read_line(reader, first_line, progress).await?;
        total += raw.len() + 1;
        if total > MAX_REPLY_BYTES {
            return Err(ReplyError::TooLarge {
                what: "reply bytes",
            });
        }
        let (text, crlf) = match raw.strip_suffix(b"\r") {
            Some(t) => (t, true),
            None => (&raw[..], false),
        };
        if ended_lf && !crlf {
            bare_lf = true;
        }
        let (this_code, last, rest) = split_line(text).ok_or_else(|| ReplyError::NotSmtp {
            sample: printable(text),
        })?;
        match code {
            None => code = Some(this_code),
            Some(c) if c != this_code => {
                return Err(ReplyError::NotSmtp {
                    sample: format!("reply mixes codes {c} and {this_code}"),
                })
            }
            Some(_) => {}
        }
        lines.push(rest);
        if lines.len() > MAX_LINES {
            return Err(ReplyError::TooLarge {
                what: "reply lines",
            });
        }
        if last {
            break;
        }
    }
    let code = code.ok_or(ReplyError::NotSmtp {
        sample: String::new(),
    })?;
    // lettre's parser is the reference for what a valid reply is (codes 2xx-5xx, known categories).
    let wire = rebuild(code, &lines);
    let parsed = Response::from_str(&wire).map_err(|_| ReplyError::NotSmtp {
        sample: format!("{code} is not a valid SMTP reply code"),
    })?;
    Ok(Reply {
        code: u16::from(parsed.code()),
        lines,
        bare_lf,
    })
}

fn rebuild(code: u16, lines: &[String]) -> String {
    let mut s = String::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        s.push_str(&format!("{code}{sep}{l}\r\n"));
    }
    s
}

/// "250-SIZE 100" -> (250, false, "SIZE 100"); "250 OK" / "250" -> last line.
fn split_line(text: &[u8]) -> Option<(u16, bool, String)> {
    if text.len() < 3 || !text[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = u16::from(text[0] - b'0') * 100
        + u16::from(text[1] - b'0') * 10
        + u16::from(text[2] - b'0');
    let (last, rest) = match text.get(3) {
        None => (true, &text[3..]),
        Some(b' ') => (true, &text[4..]),
        Some(b'-') => (false, &text[4..]),
        Some(_) => return None,
    };
    Some((code, last, printable(rest)))
}

/// Lossy, control-free text for reports: invalid UTF-8 and control bytes (NUL included) become U+FFFD.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Reads up to LF with a length cap; returns the line without the LF.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    first: bool,
    progress: &Progress,
) -> Result<(Vec<u8>, bool), ReplyError> {
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await.map_err(|e| ReplyError::Io {
            errno: e.raw_os_error(),
        })?;
        if buf.is_empty() {
            return Err(ReplyError::Closed {
                partial: printable(&line),
            });
        }
        if first && line.is_empty() && looks_like_tls(buf) {
            return Err(ReplyError::TlsRecord);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE + 1 {
            // Say what kind of overflow it was: text without line ends is not SMTP at all.
            let sample = printable(&buf[..buf.len().min(60)]);
            progress.record(&buf[..take]);
            reader.consume(take);
            if sample.bytes().take(3).all(|b| b.is_ascii_digit()) || !line.is_empty() {
                return Err(ReplyError::TooLarge { what: "reply line" });
            }
            return Err(ReplyError::NotSmtp { sample });
        }
        line.extend_from_slice(&buf[..take]);
        progress.record(&buf[..take]);
        reader.consume(take);
        if done {
            line.pop();
            return Ok((line, true));
        }
    }
}

/// A TLS record starts with content type 0x14-0x17 and major version 3.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && (0x14..=0x17).contains(&bytes[0]) && bytes[1] == 0x03
}

/// Whether bytes start like an SMTP reply ("220 ", "554-"), used to spot plaintext where TLS was expected.
pub fn looks_like_smtp(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && matches!(bytes[3], b' ' | b'-' | b'\r' | b'\n')
}

/// What EHLO offers, read by lettre's `ServerInfo`: keywords are case-insensitive (RFC 5321) and some servers still
/// send the pre-standard `AUTH=` form, so each line is put in the form lettre reads before it is parsed.
pub fn server_info(keywords: &[String]) -> Option<ServerInfo> {
    let mut lines = vec!["server".to_string()];
    for k in keywords {
        let mut words = k.split_whitespace();
        let Some(first) = words.next() else { continue };
        let first = first.to_ascii_uppercase();
        let (keyword, inline) = match first.strip_prefix("AUTH=") {
            Some(m) => ("AUTH".to_string(), Some(m.to_string())),
            None => (first, None),
        };
        let rest = inline
            .into_iter()
            .chain(words.map(str::to_ascii_uppercase))
            .filter(|w| !w.is_empty());
        lines.push(
            std::iter::once(keyword)
                .chain(rest)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let last = lines.len() - 1;
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
        .collect();
    let response = Response::from_str(&text).ok()?;
    ServerInfo::from_response(&response).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(wire: &[u8]) -> Result<Reply, ReplyError> {
        let mut r = tokio::io::BufReader::new(wire);
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn single_line_greeting() {
        let r = parse(b"220 mx.example.com ESMTP Postfix\r\n").await;
        assert_eq!(
            r,
            Ok(Reply {
                code: 220,
                lines: vec!["mx.example.com ESMTP Postfix".into()],
                bare_lf: false
            })
        );
    }

    #[tokio::test]
    async fn multi_line_ehlo() {
        let r = parse(b"250-me\r\n250-STARTTLS\r\n250 8BITMIME\r\n").await;
        let r = r.expect("valid reply");
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, vec!["me", "STARTTLS", "8BITMIME"]);
    }

    #[tokio::test]
    async fn code_without_text_and_bare_lf() {
        let r = parse(b"250\n").await.expect("valid reply");
        assert_eq!(r.code, 250);
        assert!(r.bare_lf);
    }

    #[tokio::test]
    async fn only_reads_one_reply() {
        let mut rd = tokio::io::BufReader::new(&b"220 a\r\n250 b\r\n"[..]);
        assert_eq!(read_reply(&mut rd).await.map(|r| r.code), Ok(220));
        assert_eq!(read_reply(&mut rd).await.map(|r| r.code), Ok(250));
        assert!(matches!(
            read_reply(&mut rd).await,
            Err(ReplyError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn enhanced_codes() {
        let r = parse(b"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials\r\n")
            .await
            .expect("valid reply");
        assert_eq!(r.enhanced_code().as_deref(), Some("5.7.8"));
        let r = parse(b"535 Incorrect authentication data\r\n")
            .await
            .expect("valid");
        assert_eq!(r.enhanced_code(), None);
        let r = parse(b"554 5.7.139 Authentication unsuccessful\r\n")
            .await
            .expect("valid");
        assert_eq!(r.enhanced_code().as_deref(), Some("5.7.139"));
    }

    #[tokio::test]
    async fn rejects_what_is_not_smtp() {
        assert!(matches!(
            parse(b"HTTP/1.1 400 Bad Request\r\n").await,
            Err(ReplyError::NotSmtp { .. })
        ));
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH_9.2\r\n").await,
            Err(ReplyError::NotSmtp { .. })
        ));
        assert!(matches!(
            parse(b"22x hello\r\n").await,
            Err(ReplyError::NotSmtp { .. })
        ));
        assert!(matches!(
            parse(b"250-a\r\n251 b\r\n").await,
            Err(ReplyError::NotSmtp { .. })
        ));
        assert!(matches!(
            parse(b"999 what\r\n").await,
            Err(ReplyError::NotSmtp { .. })
        ));
        assert!(matches!(
            parse(b"\x16\x03\x01\x00\x05hello").await,
            Err(ReplyError::TlsRecord)
        ));
    }

    #[tokio::test]
    async fn limits_hold() {
        let long = vec![b'a'; MAX_LINE * 3];
        let mut wire = b"220 ".to_vec();
        wire.extend_from_slice(&long);
        assert!(matches!(
            parse(&wire).await,
            Err(ReplyError::TooLarge { .. })
        ));
        let mut many = Vec::new();
        for _ in 0..(MAX_LINES + 5) {
            many.extend_from_slice(b"250-X\r\n");
        }
        assert!(matches!(
            parse(&many).await,
            Err(ReplyError::TooLarge { .. })
        ));
        assert!(matches!(
            parse(b"220-unfinished\r\n220-still").await,
            Err(ReplyError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn ehlo_keywords_from_wire_text() {
        let r = parse(b"250-mx.example.com Hello [198.51.100.10]\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250-AUTH=PLAIN LOGIN\r\n250-auth plain cram-md5\r\n250-AUTH=\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
            .await
            .expect("valid EHLO reply");
        let ehlo = crate::report::EhloFacts {
            keywords: r.lines.iter().skip(1).cloned().collect(),
            reply: crate::report::ReplyFacts {
                outcome: crate::report::ReplyOutcome::Reply,
                code: Some(r.code),
                enhanced: None,
                lines: r.lines.clone(),
                elapsed_ms: 0.0,
            },
            helo_fallback: false,
        };
        assert_eq!(ehlo.reply.announced_name(), Some("mx.example.com"));
        assert_eq!(ehlo.auth_mechanisms(), vec!["CRAM-MD5", "LOGIN", "PLAIN"]);
        assert_eq!(ehlo.keywords[1], "SIZE 35882577");
    }

    #[tokio::test]
    async fn nul_and_invalid_utf8_are_made_printable() {
        let r = parse(b"220 caf\xe9\x00 ready\r\n")
            .await
            .expect("valid reply");
        assert_eq!(r.lines[0], "caf\u{fffd}\u{fffd} ready");
    }

    #[tokio::test]
    async fn progress_outlives_a_timed_out_read() {
        use tokio::io::AsyncWriteExt;
        let (client, mut server) = tokio::io::duplex(256);
        server.write_all(b"220-mx.exa").await.expect("write");
        let mut r = tokio::io::BufReader::new(client);
        let p = Progress::default();
        let read = read_reply_tracked(&mut r, &p);
        let res = tokio::time::timeout(std::time::Duration::from_millis(50), read).await;
        assert!(res.is_err(), "the reply has no end yet");
        assert_eq!(p.bytes(), 10);
        assert_eq!(p.sample(), "220-mx.exa");
        drop(server);
    }

    #[test]
    fn lettre_reads_what_ehlo_offers() {
        use lettre::transport::smtp::authentication::Mechanism;
        use lettre::transport::smtp::extension::Extension;
        let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let info = server_info(&kw(&["starttls", "auth=login cram-md5", "SIZE 1000"]));
        let info = info.expect("parsed");
        assert!(info.supports_feature(Extension::StartTls));
        assert_eq!(
            info.get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]),
            Some(Mechanism::Login)
        );
        let none = server_info(&[]).expect("parsed");
        assert!(!none.supports_feature(Extension::StartTls));
        assert!(server_info(&kw(&["AUTH=", " "])).is_some());
    }
}
