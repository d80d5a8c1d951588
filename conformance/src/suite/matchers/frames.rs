//! Matchers for frames a scenario sent by hand: the Pong that answers a Ping.

use super::Match;
use crate::driver::connection::{Received, ReceivedKind};
use crate::driver::visible::quoted;
use crate::suite::failure::Mismatch;

/// PING-001: a Pong frame carrying `payload` arrived.
pub fn pong_received(frames: &[Received], payload: &str) -> Match {
    let expected = payload.as_bytes();
    if frames
        .iter()
        .any(|f| matches!(&f.kind, ReceivedKind::Pong(p) if p == expected))
    {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("a pong frame carrying {}", quoted(payload)),
        "no such pong frame",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_a_pong_with_the_same_payload_answers_a_ping() {
        let pong = |payload: &[u8]| Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Pong(payload.to_vec()),
        };
        assert!(pong_received(&[pong(b"other"), pong(b"hello")], "hello").is_ok());
        let mismatch = pong_received(&[pong(b"other")], "hello").unwrap_err();
        assert_eq!(mismatch.expected, "a pong frame carrying \"hello\"");
    }
}
