//! The wire transcript of one scenario: what went out, what came back, and when.
//!
//! Every handshake, frame, close and provisioning call of a scenario is written here with its
//! time relative to the scenario's start. A failure report prints the transcript (through the
//! [`Redactor`]) so that the reader sees the whole conversation, not just the last assertion;
//! the HTML report shows every scenario's transcript as [`Transcript::redacted`] entries.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::driver::redact::Redactor;
use crate::driver::visible::mark_invisible;

/// The longest text of one transcript line; longer frames are cut, with their size noted.
const MAX_LINE_CHARS: usize = 400;

/// The longest text of one entry kept for the HTML report, which shows whole handshakes.
const MAX_KEPT_CHARS: usize = 8_000;

/// Which way something went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the suite to the server.
    Out,
    /// From the server to the suite.
    In,
    /// Something the suite did or noticed (provisioning, a drop, a timeout).
    Note,
}

impl Direction {
    fn arrow(self) -> &'static str {
        match self {
            Direction::Out => "->",
            Direction::In => "<-",
            Direction::Note => "--",
        }
    }
}

/// One line of the transcript.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Time since the scenario started.
    pub at: Duration,
    /// Who: a connection label such as `Alice#1`, or `REST`.
    pub actor: String,
    /// Which way.
    pub direction: Direction,
    /// What, in one or more lines.
    pub text: String,
}

/// The transcript of one scenario; shared by the scenario's steps and its connections' readers.
#[derive(Debug)]
pub struct Transcript {
    started: Instant,
    entries: Mutex<Vec<Entry>>,
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

impl Transcript {
    /// An empty transcript whose clock starts now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Time since the scenario started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Appends one entry, stamped now.
    pub fn record(&self, actor: &str, direction: Direction, text: impl Into<String>) {
        let entry = Entry {
            at: self.elapsed(),
            actor: actor.to_owned(),
            direction,
            text: text.into(),
        };
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every entry so far in time order, its text redacted, its invisible characters named, and
    /// cut to a size a report can show.
    pub fn redacted(&self, redactor: &Redactor) -> Vec<Entry> {
        let mut entries = self.entries();
        // Readers of several connections append concurrently; a stable sort keeps each one's order.
        entries.sort_by_key(|e| e.at);
        for entry in &mut entries {
            // Redact before shortening: a token cut in half no longer matches its registered value.
            entry.text = shorten_to(
                &mark_invisible(&redactor.redact(&entry.text)),
                MAX_KEPT_CHARS,
            );
        }
        entries
    }

    /// The transcript as text, one entry per line (continuation lines indented), secrets masked
    /// and invisible characters named (`<U+200B ZERO WIDTH SPACE>`).
    pub fn render(&self, redactor: &Redactor) -> String {
        let mut out = String::new();
        for entry in self.entries() {
            // Redact before shortening: a token cut in half no longer matches its registered value.
            let text = shorten(&mark_invisible(&redactor.redact(&entry.text)));
            let mut lines = text.lines();
            let first = lines.next().unwrap_or("");
            let _ = writeln!(
                out,
                "  +{:>7.3}s  {:<10} {} {}",
                entry.at.as_secs_f64(),
                entry.actor,
                entry.direction.arrow(),
                first
            );
            for line in lines {
                let _ = writeln!(out, "  {:>9}  {:<10}    {}", "", "", line);
            }
        }
        if out.is_empty() {
            out.push_str("  (nothing was exchanged)\n");
        }
        out
    }
}

/// Cuts a long text to [`MAX_LINE_CHARS`] characters, noting how long it was.
fn shorten(text: &str) -> String {
    shorten_to(text, MAX_LINE_CHARS)
}

/// Cuts a long text to `max` characters, noting how long it was.
fn shorten_to(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({count} characters in all)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_entries_with_arrows_and_redacts_them() {
        let transcript = Transcript::new();
        let redactor = Redactor::new();
        redactor.register("supersecret", "api-key");
        transcript.record("REST", Direction::Out, "POST /rooms key=supersecret");
        transcript.record("Alice#1", Direction::In, "{\"event\":\"pong\"}");
        let text = transcript.render(&redactor);
        assert!(
            text.contains("REST       -> POST /rooms key=[api-key]"),
            "{text}"
        );
        assert!(
            text.contains("Alice#1    <- {\"event\":\"pong\"}"),
            "{text}"
        );
        assert!(!text.contains("supersecret"));
    }

    #[test]
    fn redacts_tokens_in_lines_too_long_to_show_whole() {
        let transcript = Transcript::new();
        let redactor = Redactor::new();
        let token = format!(
            "eyJhbGciOiJIUzI1NiJ9.eyJ{}.c2lnbmF0dXJlLXNlZ21lbnQtYWJj",
            "x".repeat(600)
        );
        redactor.register_token(&token, "Alice");
        transcript.record(
            "Alice#1",
            Direction::Out,
            format!("Sec-WebSocket-Protocol: chalk, token.{token}"),
        );
        let text = transcript.render(&redactor);
        assert!(text.contains("token.[token:Alice]"), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
    }

    #[test]
    fn marks_invisible_characters_in_rendered_and_kept_entries() {
        let transcript = Transcript::new();
        let redactor = Redactor::new();
        transcript.record(
            "Alice#1",
            Direction::In,
            "{\"text\":\"caf\u{65}\u{301}\u{200B}\"}",
        );
        let text = transcript.render(&redactor);
        assert!(
            text.contains(
                "{\"text\":\"cafe<U+0301 COMBINING ACUTE ACCENT><U+200B ZERO WIDTH SPACE>\"}"
            ),
            "{text}"
        );
        let kept = transcript.redacted(&redactor);
        assert!(
            kept[0].text.contains("<U+200B ZERO WIDTH SPACE>"),
            "{kept:?}"
        );
    }

    #[test]
    fn cuts_very_long_frames() {
        let long = "a".repeat(1000);
        assert!(shorten(&long).ends_with("(1000 characters in all)"));
    }
}
