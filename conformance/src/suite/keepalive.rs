//! The long-lived session: how long the server's idle timeout is, where the run learnt it, and
//! how long the keepalive scenario (PING-005) pings for because of it.
//!
//! The page says only that `ping` keeps a connection alive; how long a server waits before it
//! closes a silent connection is its own choice. So the run takes the idle timeout, in this
//! order, from: `--idle-timeout` (what the user states of the deployment); the embedded
//! reference server (which tells the suite its own); the `close-codes` extension when it is
//! declared ([`CLOSE_CODES_IDLE_TIMEOUT`], spec/extensions.md); or [`DEFAULT_IDLE_TIMEOUT`].
//! The scenario then sends a `ping` every quarter of it (at least once a second, so that a
//! server whose real timeout is shorter than the run assumed is still kept alive), and nothing
//! else, for the idle timeout and half as long again ([`IdleTimeout::session_length`]), so that
//! a server that ignores `ping` and looks for idle connections only now and then has closed it
//! too.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The idle timeout assumed when nothing says otherwise: long enough for common proxies' and
/// servers' defaults (60 s for many load balancers would need `--idle-timeout 60s`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The idle timeout of a server that declares `close-codes` (spec/extensions.md, Limits).
pub const CLOSE_CODES_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The extension whose declaration sets [`CLOSE_CODES_IDLE_TIMEOUT`].
pub const CLOSE_CODES: &str = "close-codes";

/// The least the keepalive scenario outlasts the idle timeout by.
pub const MIN_MARGIN: Duration = Duration::from_millis(500);

/// How many `ping` events the keepalive scenario sends per idle timeout, at least.
pub const PINGS_PER_IDLE_TIMEOUT: u32 = 4;

/// The longest the keepalive scenario waits between two `ping` events, whatever the idle
/// timeout: the run's idle timeout may be a guess, and a ping a second is no load.
pub const MAX_PING_INTERVAL: Duration = Duration::from_secs(1);

/// Where the run's idle timeout comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleSource {
    /// `--idle-timeout` (or `CHALK_IDLE_TIMEOUT`).
    Stated,
    /// The embedded reference server's configuration.
    Embedded,
    /// The declared `close-codes` extension.
    CloseCodes,
    /// [`DEFAULT_IDLE_TIMEOUT`].
    Default,
}

/// The server's idle timeout as the run knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeout {
    /// How long.
    pub duration: Duration,
    /// Where the run got it.
    pub source: IdleSource,
}

impl IdleTimeout {
    /// The idle timeout of a run: `stated` by the user, else `known` from the embedded server,
    /// else the `close-codes` one when `declared` has it, else the default.
    pub fn resolve(
        stated: Option<Duration>,
        known: Option<Duration>,
        declared: &BTreeSet<String>,
    ) -> Self {
        let (duration, source) = match (stated, known) {
            (Some(stated), _) => (stated, IdleSource::Stated),
            (None, Some(known)) => (known, IdleSource::Embedded),
            (None, None) if declared.contains(CLOSE_CODES) => {
                (CLOSE_CODES_IDLE_TIMEOUT, IdleSource::CloseCodes)
            }
            (None, None) => (DEFAULT_IDLE_TIMEOUT, IdleSource::Default),
        };
        Self { duration, source }
    }

    /// How long the keepalive scenario pings: the idle timeout and half as long again (at least
    /// [`MIN_MARGIN`] more), so that a server that counts only other events has closed it, even
    /// one that looks for idle connections only every half timeout.
    pub fn session_length(&self) -> Duration {
        self.duration + (self.duration / 2).max(MIN_MARGIN)
    }

    /// How often the keepalive scenario sends `ping`.
    pub fn ping_interval(&self) -> Duration {
        (self.duration / PINGS_PER_IDLE_TIMEOUT).min(MAX_PING_INTERVAL)
    }
}

impl fmt::Display for IdleTimeout {
    /// `2s (told by the embedded server)`, `45s (--idle-timeout)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            IdleSource::Stated => "--idle-timeout",
            IdleSource::Embedded => "told by the embedded server",
            IdleSource::CloseCodes => "close-codes declared",
            IdleSource::Default => "default; state it with --idle-timeout",
        };
        write!(f, "{} ({source})", seconds(self.duration))
    }
}

/// `2s`, `2.5s`, `37.5s`.
pub fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if duration.subsec_millis() == 0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_stated_idle_timeout_wins_then_the_embedded_server_then_close_codes_then_the_default() {
        let stated = Some(Duration::from_secs(45));
        let known = Some(Duration::from_secs(2));
        let close_codes = declared(&[CLOSE_CODES]);
        let resolve = |s, k, d: &BTreeSet<String>| IdleTimeout::resolve(s, k, d);
        assert_eq!(
            resolve(stated, known, &close_codes).source,
            IdleSource::Stated
        );
        assert_eq!(
            resolve(None, known, &close_codes).duration,
            Duration::from_secs(2)
        );
        assert_eq!(
            resolve(None, None, &close_codes).duration,
            CLOSE_CODES_IDLE_TIMEOUT
        );
        let default = resolve(None, None, &declared(&[]));
        assert_eq!(default.duration, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(
            default.to_string(),
            "30s (default; state it with --idle-timeout)"
        );
    }

    #[test]
    fn the_scenario_outlasts_the_idle_timeout_and_pings_four_times_per_timeout() {
        let idle = IdleTimeout::resolve(Some(Duration::from_secs(2)), None, &declared(&[]));
        assert_eq!(idle.session_length(), Duration::from_secs(3));
        assert_eq!(idle.ping_interval(), Duration::from_millis(500));
        let long = IdleTimeout::resolve(None, None, &declared(&[CLOSE_CODES]));
        assert_eq!(seconds(long.session_length()), "112.5s");
        // A guessed timeout never spaces the pings further apart than a second: a server whose
        // real timeout is 5 s, not the default 30 s, is still kept alive.
        let guessed = IdleTimeout::resolve(None, None, &declared(&[]));
        assert_eq!(guessed.ping_interval(), MAX_PING_INTERVAL);
        assert_eq!(seconds(guessed.session_length()), "45s");
    }
}
