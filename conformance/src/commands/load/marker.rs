//! The text of a load message, and finding it again in whatever frame carries it back.
//!
//! A load message's text is `ld{room}.{sender}.{seq}.{nanos}.` padded with `x` to the chosen
//! payload size. It names the room and sender it came from, its sequence number (0 is the
//! readiness probe, measured messages count from 1) and when it was meant to be sent, in
//! nanoseconds since the run's clock started, so a receiver can tell loss, duplication,
//! misrouting and latency from the frame alone. The same text travels in a Chalk `chat.send`
//! (and comes back in `chat.message`) and, in raw mode, in a frame that a plain broadcast
//! server relays unchanged.

use crate::contract::frame::FrameView;

/// What a load message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Room index in this run.
    pub room: u32,
    /// Sender index within the room.
    pub sender: u32,
    /// Sequence number: 0 is the probe, measured messages count from 1.
    pub seq: u64,
    /// Intended send time, nanoseconds since the run's clock started.
    pub sent_ns: u64,
}

impl Marker {
    /// The message text, padded with `x` to `payload_bytes` (never cut below the marker).
    pub fn text(&self, payload_bytes: usize) -> String {
        let mut text = format!(
            "ld{}.{}.{}.{}.",
            self.room, self.sender, self.seq, self.sent_ns
        );
        if text.len() < payload_bytes {
            text.extend(std::iter::repeat_n('x', payload_bytes - text.len()));
        }
        text
    }

    /// The `chat.send` frame carrying this message.
    pub fn frame(&self, payload_bytes: usize) -> String {
        format!(
            r#"{{"event":"chat.send","data":{{"text":"{}"}}}}"#,
            self.text(payload_bytes)
        )
    }

    /// Reads a marker back from a message text.
    pub fn parse(text: &str) -> Option<Marker> {
        let mut fields = text.strip_prefix("ld")?.splitn(5, '.');
        let room = fields.next()?.parse().ok()?;
        let sender = fields.next()?.parse().ok()?;
        let seq = fields.next()?.parse().ok()?;
        let sent_ns = fields.next()?.parse().ok()?;
        fields.next()?;
        Some(Marker {
            room,
            sender,
            seq,
            sent_ns,
        })
    }
}

/// The marker of a received frame: `data.text` of a `chat.message` (Chalk) or of the relayed
/// `chat.send` (raw). `None` for every other frame (presence, `room.state`, ...).
pub fn marker_of(frame: &str) -> Option<Marker> {
    // Fast path: a `chat.message` or `chat.send` written as compact JSON with `event` first,
    // which is how every server measured here writes it; a load text never needs escaping.
    // Frames are open (other members and other events are allowed), so the event is checked
    // before the text is trusted.
    const KEY: &str = r#""text":"ld"#;
    const RELAYED: [&str; 2] = [
        r#"{"event":"chat.message","data":{"#,
        r#"{"event":"chat.send","data":{"#,
    ];
    if RELAYED.iter().any(|prefix| frame.starts_with(prefix))
        && let Some(start) = frame.find(KEY)
    {
        let rest = &frame[start + KEY.len() - 2..];
        if let Some(end) = rest.find('"')
            && let Some(marker) = Marker::parse(&rest[..end])
        {
            return Some(marker);
        }
    }
    if !frame.contains("ld") {
        return None;
    }
    // Slow path: any other JSON layout (spaces, member order, escapes, extra members).
    let value: serde_json::Value = serde_json::from_str(frame).ok()?;
    let view = FrameView(&value);
    if !(view.is("chat.message") || view.is("chat.send")) {
        return None;
    }
    Marker::parse(view.text("text")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: Marker = Marker {
        room: 3,
        sender: 1,
        seq: 42,
        sent_ns: 123_456_789,
    };

    #[test]
    fn texts_are_padded_to_the_payload_size_and_read_back() {
        let text = MARKER.text(100);
        assert_eq!(text.len(), 100);
        assert_eq!(Marker::parse(&text), Some(MARKER));
        assert_eq!(Marker::parse(&MARKER.text(5)), Some(MARKER));
    }

    #[test]
    fn finds_the_marker_in_chalk_and_raw_frames() {
        let text = MARKER.text(64);
        let chalk = format!(
            r#"{{"event":"chat.message","data":{{"id":"msg_1","sender_id":"p","text":"{text}","timestamp":"2026-01-01T00:00:00.000Z"}}}}"#
        );
        assert_eq!(marker_of(&chalk), Some(MARKER));
        assert_eq!(marker_of(&MARKER.frame(64)), Some(MARKER));
        let spaced = format!(r#"{{ "event": "chat.message", "data": {{ "text": "{text}" }} }}"#);
        assert_eq!(marker_of(&spaced), Some(MARKER));
        let extra = format!(
            r#"{{"seq": 9, "data": {{"x_node": "n1", "text": "{text}"}}, "event": "chat.message", "server_time": "2026-01-01T00:00:00+00:00"}}"#
        );
        assert_eq!(marker_of(&extra), Some(MARKER));
    }

    #[test]
    fn only_relayed_chat_carries_a_marker() {
        let text = MARKER.text(64);
        // An event the page does not name, with a text of the same form: not a delivery.
        let unknown = format!(r#"{{"event":"chat.ack","data":{{"text":"{text}"}}}}"#);
        assert_eq!(marker_of(&unknown), None);
        // A text outside `data`, on a chat.message that carries none inside it.
        let outside = format!(r#"{{"event":"chat.message","text":"{text}","data":{{"id":"m"}}}}"#);
        assert_eq!(marker_of(&outside), None);
    }

    #[test]
    fn other_frames_carry_no_marker() {
        assert_eq!(
            marker_of(r#"{"event":"participant.joined","data":{"id":"p"}}"#),
            None
        );
        assert_eq!(
            marker_of(r#"{"event":"chat.message","data":{"text":"hello"}}"#),
            None
        );
        assert_eq!(marker_of("not json ld"), None);
    }
}
