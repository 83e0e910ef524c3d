//! One SMTP connection as the probes drive it: commands out, replies in, each recorded in the transcript with secrets redacted.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::smtp::Ctx;
use crate::probes::elapsed_ms;
use crate::probes::wire::{self, Reply, ReplyError};
use crate::redact::Redactor;
use crate::report::{Attempt, ReplyFacts, ReplyOutcome, TranscriptLine};

/// Most transcript lines kept per attempt; a hostile server cannot grow the report without bound.
const MAX_TRANSCRIPT: usize = 400;

pub(super) fn note(a: &mut Attempt, text: String) {
    push_line(a, "*", text);
}

pub(super) fn push_line(a: &mut Attempt, dir: &str, text: String) {
    if a.transcript.len() < MAX_TRANSCRIPT {
        a.transcript.push(TranscriptLine {
            dir: dir.to_string(),
            text,
        });
    } else if a.transcript.len() == MAX_TRANSCRIPT {
        a.transcript.push(TranscriptLine {
            dir: "*".into(),
            text: "transcript truncated".into(),
        });
    }
}

/// One SMTP connection: a buffered stream, the per-step timeout, and the redactor for what we record.
pub(super) struct Conn<S> {
    pub(super) io: BufReader<S>,
    timeout: Duration,
    redactor: Redactor,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(stream: S, ctx: &Ctx) -> Self {
        Conn {
            io: BufReader::new(stream),
            timeout: ctx.timeout,
            redactor: ctx.redactor.clone(),
        }
    }

    /// Sends a command; `shown` replaces the wire text in the transcript (AUTH payloads).
    pub(super) async fn send(
        &mut self,
        a: &mut Attempt,
        wire: &str,
        shown: Option<&str>,
    ) -> std::io::Result<()> {
        let text = match shown {
            Some(s) => s.to_string(),
            None => self.redactor.clean(wire.trim_end()),
        };
        push_line(a, "C", text);
        let fut = async {
            self.io.get_mut().write_all(wire.as_bytes()).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Sends raw bytes (a message body), shown in the transcript as `shown` alone.
    pub(super) async fn send_bytes(
        &mut self,
        a: &mut Attempt,
        bytes: &[u8],
        shown: &str,
    ) -> std::io::Result<()> {
        push_line(a, "C", shown.to_string());
        let fut = async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    pub(super) async fn reply(&mut self, a: &mut Attempt) -> (ReplyFacts, Option<Reply>) {
        let t = self.timeout;
        self.reply_within(a, t, t).await
    }

    /// Reads one reply within `wait`; a reply that has begun by then may take until `limit` to finish.
    pub(super) async fn reply_within(
        &mut self,
        a: &mut Attempt,
        wait: Duration,
        limit: Duration,
    ) -> (ReplyFacts, Option<Reply>) {
        let start = Instant::now();
        // The progress outlives a read cut off by the timeout, so a drip-fed reply is reported as the
        // incomplete reply it is, not as silence (which would send the caller off to try TLS).
        let progress = wire::Progress::default();
        let result = {
            let read = wire::read_reply_tracked(&mut self.io, &progress);
            tokio::pin!(read);
            match tokio::time::timeout(wait, &mut read).await {
                Err(_) if progress.bytes() > 0 && limit > wait => {
                    tokio::time::timeout(limit - wait, read).await
                }
                other => other,
            }
        };
        let ms = elapsed_ms(start);
        let clean = |s: &str| self.redactor.clean(s);
        let (facts, parsed) = match result {
            Err(_) if progress.bytes() > 0 => {
                note(
                    a,
                    format!(
                        "{} bytes of a reply in {:.1}s, and no end to it",
                        progress.bytes(),
                        ms / 1000.0
                    ),
                );
                let began = vec![clean(&progress.sample())];
                (reply_facts(ReplyOutcome::Incomplete, ms, began), None)
            }
            Err(_) => (reply_facts(ReplyOutcome::Silent, ms, Vec::new()), None),
            Ok(Ok(r)) => {
                let lines: Vec<String> = r.lines.iter().map(|l| clean(l)).collect();
                let n = lines.len();
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i + 1 == n { ' ' } else { '-' };
                    push_line(a, "S", format!("{}{sep}{l}", r.code));
                }
                if r.bare_lf {
                    note(
                        a,
                        "the server ends lines with a bare LF instead of CRLF".into(),
                    );
                }
                let facts = ReplyFacts {
                    outcome: ReplyOutcome::Reply,
                    code: Some(r.code),
                    enhanced: r.enhanced_code(),
                    lines: lines.clone(),
                    elapsed_ms: ms,
                };
                let cleaned = Reply { lines, ..r };
                (facts, Some(cleaned))
            }
            Ok(Err(e)) => {
                let (outcome, line) = match e {
                    ReplyError::Closed { partial } => (ReplyOutcome::Closed, partial),
                    ReplyError::NotSmtp { sample } => (ReplyOutcome::NotSmtp, sample),
                    ReplyError::TlsRecord => (ReplyOutcome::TlsRecord, String::new()),
                    ReplyError::TooLarge { what } => (ReplyOutcome::TooLarge, what.to_string()),
                    ReplyError::Io { errno } => (
                        ReplyOutcome::Error,
                        errno.map(|e| format!("errno {e}")).unwrap_or_default(),
                    ),
                };
                let line = clean(&line);
                let lines = if line.is_empty() {
                    Vec::new()
                } else {
                    vec![line]
                };
                (reply_facts(outcome, ms, lines), None)
            }
        };
        if facts.outcome != ReplyOutcome::Reply {
            note(a, crate::report::ReplyFacts::describe(&facts));
        }
        (facts, parsed)
    }
}

pub(super) fn reply_facts(outcome: ReplyOutcome, ms: f64, lines: Vec<String>) -> ReplyFacts {
    ReplyFacts {
        outcome,
        code: None,
        enhanced: None,
        lines,
        elapsed_ms: ms,
    }
}
