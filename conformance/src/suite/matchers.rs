//! Pure matchers: they look at what was exchanged and say whether it is what the API requires.
//!
//! A matcher never waits, never sends and never fails a scenario: it returns `Ok` or a
//! [`Mismatch`] that says what was expected and what was found. Steps wait for frames and turn
//! mismatches into failures; keeping the judgement here makes it easy to test on its own.
//!
//! This module holds the frame accessors and the judgements of the handshake and of chat order;
//! the submodules, one per step domain, hold the rest: [`chat`], [`presence`], [`closing`],
//! [`upgrade`], [`schema`], [`frames`], [`recording`], [`once`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::contract::frame::FrameView;
use crate::driver::connection::{Received, ReceivedKind};
use crate::driver::handshake::{Handshake, HttpResponse, accept_key};
use crate::driver::visible::{quoted, quoted_list};
use crate::suite::failure::Mismatch;

pub mod chat;
pub mod closing;
pub mod frames;
pub mod once;
pub mod presence;
pub mod recording;
pub mod schema;
pub mod upgrade;

/// The outcome of a matcher.
pub type Match<T = ()> = Result<T, Mismatch>;

/// The frames of one event, in arrival order.
pub fn of_event<'a>(frames: &'a [Received], event: &'a str) -> impl Iterator<Item = &'a Value> {
    frames
        .iter()
        .filter_map(Received::view)
        .filter(move |f| f.is(event))
        .map(|f| f.0)
}

/// The frames of one event about one participant.
pub fn about<'a>(frames: &'a [Received], event: &'a str, subject: &'a str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| f.is_about(event, subject))
        .map(|f| f.0)
        .collect()
}

/// The `chat.message` frames with exactly this text.
pub fn chat_with_text<'a>(frames: &'a [Received], text: &'a str) -> Vec<&'a Value> {
    of_event(frames, "chat.message")
        .filter(|f| FrameView(f).text("text") == Some(text))
        .collect()
}

/// The texts of the `chat.message` frames, in arrival order.
pub fn chat_texts(frames: &[Received]) -> Vec<String> {
    of_event(frames, "chat.message")
        .filter_map(|f| FrameView(f).text("text"))
        .map(str::to_owned)
        .collect()
}

/// A short list of what arrived, for the "Actual" of a message; `names` maps ids to names.
pub fn summarize(frames: &[Received], names: &BTreeMap<String, String>) -> String {
    if frames.is_empty() {
        return "nothing".to_owned();
    }
    let shown: Vec<String> = frames
        .iter()
        .map(|f| match &f.kind {
            ReceivedKind::Json(value) => summarize_event(FrameView(value), names),
            ReceivedKind::NotJson(text) => format!("non-JSON text {}", quoted(&shorten(text, 40))),
            ReceivedKind::Binary(n) => format!("a binary frame of {n} bytes"),
            ReceivedKind::Pong(payload) => {
                format!("a pong frame {}", quoted(&String::from_utf8_lossy(payload)))
            }
        })
        .collect();
    shown.join(", ")
}

fn summarize_event(frame: FrameView<'_>, names: &BTreeMap<String, String>) -> String {
    let event = frame.event().unwrap_or("(no event)");
    let subject = frame.subject().map(|id| match names.get(id) {
        Some(name) => format!("{name} ({id})"),
        None => quoted(id),
    });
    match (event, subject) {
        ("chat.message", Some(sender)) => {
            let text = frame.text("text").unwrap_or("");
            format!("chat.message from {sender} {}", quoted(&shorten(text, 40)))
        }
        ("error", _) => {
            let code = frame.text("code").unwrap_or("?");
            format!("error {}", quoted(code))
        }
        (event, Some(subject)) => format!("{event} about {subject}"),
        (event, None) => event.to_owned(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// PROTO-001: the response selects exactly `expected`.
pub fn selects_protocol(response: &HttpResponse, expected: &str) -> Match {
    let selected = response.header_values("sec-websocket-protocol");
    if selected.len() == 1 && selected[0].trim() == expected {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("101 with Sec-WebSocket-Protocol: {expected}"),
        describe_selection(response),
    ))
}

/// PROTO-002: the selected subprotocol is not a `token.*` value.
pub fn selects_no_token(response: &HttpResponse) -> Match {
    let selected = response.header_list("sec-websocket-protocol");
    match selected.iter().find(|p| p.starts_with("token.")) {
        None => Ok(()),
        Some(_) => Err(Mismatch::new(
            "a selected subprotocol other than the token.* entry",
            "the response selected the token entry (the credential is echoed in a header)",
        )),
    }
}

/// PROTO-003: at most one value, and one that was offered.
pub fn selects_one_offered(response: &HttpResponse, offered: &[String]) -> Match {
    let values = response.header_values("sec-websocket-protocol");
    let entries = response.header_list("sec-websocket-protocol");
    if values.is_empty() {
        return Ok(());
    }
    if values.len() == 1 && entries.len() == 1 && offered.contains(&entries[0]) {
        return Ok(());
    }
    let offered_shown: Vec<String> = offered.iter().map(|o| mask_token_entry(o)).collect();
    Err(Mismatch::new(
        format!("one of the offered values [{}]", offered_shown.join(", ")),
        describe_selection(response),
    ))
}

/// PROTO-004: no Sec-WebSocket-Protocol header.
pub fn selects_nothing(response: &HttpResponse) -> Match {
    if response.header_values("sec-websocket-protocol").is_empty() {
        Ok(())
    } else {
        Err(Mismatch::new(
            "no Sec-WebSocket-Protocol header (nothing was offered)",
            describe_selection(response),
        ))
    }
}

fn describe_selection(response: &HttpResponse) -> String {
    let values = response.header_values("sec-websocket-protocol");
    let status = format!("{} {}", response.status, response.reason);
    match values.as_slice() {
        [] => format!("{status} without a Sec-WebSocket-Protocol header"),
        values => format!(
            "{status} with Sec-WebSocket-Protocol: {}",
            values
                .iter()
                .map(|v| mask_token_entry(v))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    }
}

/// `token.<anything>` shown as `token.…`, so that messages name the entry without the secret.
fn mask_token_entry(entry: &str) -> String {
    entry
        .split(',')
        .map(|e| {
            let e = e.trim();
            if e.starts_with("token.") {
                "token.…".to_owned()
            } else {
                e.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PROTO-005: a valid RFC 6455 opening handshake answer to a request with `key`.
pub fn valid_opening_handshake(response: &HttpResponse, key: &str) -> Match {
    let mut problems = Vec::new();
    if response.status != 101 {
        problems.push(format!("status {} instead of 101", response.status));
    }
    let upgrade = response.header_values("upgrade");
    if !upgrade
        .iter()
        .any(|v| v.trim().eq_ignore_ascii_case("websocket"))
    {
        problems.push(format!(
            "Upgrade is {}, not websocket",
            quoted_list(&upgrade)
        ));
    }
    let connection = response.header_list("connection");
    if !connection.iter().any(|v| v.eq_ignore_ascii_case("upgrade")) {
        problems.push(format!(
            "Connection is {}, without Upgrade",
            quoted_list(&connection)
        ));
    }
    let expected_accept = accept_key(key);
    let accept = response.header_values("sec-websocket-accept");
    if accept != [expected_accept.as_str()] {
        problems.push(format!(
            "Sec-WebSocket-Accept is {}, not {}",
            quoted_list(&accept),
            quoted(&expected_accept)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Mismatch::new(
            format!(
                "101, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Accept: {expected_accept}"
            ),
            problems.join("; "),
        ))
    }
}

/// AUTH-016: neither the token nor its signature appears anywhere in the answer.
pub fn token_not_reflected(handshake: &Handshake, token: &str) -> Match {
    let Some(response) = handshake.response() else {
        return Ok(());
    };
    let answer = response.describe();
    let signature = token
        .rsplit('.')
        .next()
        .filter(|s| s.len() >= 16 && token.matches('.').count() == 2);
    let mut found = Vec::new();
    if answer.contains(token) {
        found.push("the whole token");
    }
    if signature.is_some_and(|s| answer.contains(s)) {
        found.push("the token's signature");
    }
    if found.is_empty() {
        return Ok(());
    }
    let mut head = format!("{} {}", response.status, response.reason);
    for (name, value) in &response.headers {
        head.push_str(&format!("\n{name}: {value}"));
    }
    let in_head = head.contains(token) || signature.is_some_and(|s| head.contains(s));
    let place = if in_head {
        "in the status line or a header"
    } else {
        "in the body"
    };
    Err(Mismatch::new(
        "a handshake response that does not contain the token",
        format!("{} appears {place}", found.join(" and ")),
    ))
}

/// ROBUST-016: the body is a JSON object with a string member `member`.
pub fn json_error_body(response: &HttpResponse, member: &str) -> Match {
    let body = response.body_text();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    match parsed.as_ref().and_then(|v| v.get(member)) {
        Some(Value::String(_)) => Ok(()),
        _ => Err(Mismatch::new(
            format!("a JSON body {{\"{member}\": \"…\"}}"),
            if body.is_empty() {
                "an empty body".to_owned()
            } else {
                format!("the body {}", quoted(&shorten(&body, 200)))
            },
        )),
    }
}

/// AUTH-015: every attempt was refused with the same status and body.
pub fn identical_refusals(attempts: &[(String, &Handshake)]) -> Match {
    let describe = |h: &Handshake| match h.response() {
        Some(r) => format!("{} {}", r.status, quoted(&shorten(&r.body_text(), 120))),
        None => h.summary(),
    };
    let accepted: Vec<&str> = attempts
        .iter()
        .filter(|(_, h)| h.accepted())
        .map(|(what, _)| what.as_str())
        .collect();
    if !accepted.is_empty() {
        return Err(Mismatch::new(
            "every attempt refused",
            format!("accepted: {}", accepted.join(", ")),
        ));
    }
    let answers: BTreeSet<(Option<u16>, Vec<u8>)> = attempts
        .iter()
        .map(|(_, h)| {
            (
                h.status(),
                h.response().map(|r| r.body.clone()).unwrap_or_default(),
            )
        })
        .collect();
    if answers.len() <= 1 {
        return Ok(());
    }
    let listed: Vec<String> = attempts
        .iter()
        .map(|(what, h)| format!("{what}: {}", describe(h)))
        .collect();
    Err(Mismatch::new(
        "the same status and body for every token problem",
        listed.join("; "),
    ))
}

/// CHAT-006: an RFC 3339 date-time with a time zone.
pub fn rfc3339_timestamp(timestamp: &str) -> Match<OffsetDateTime> {
    OffsetDateTime::parse(timestamp, &Rfc3339).map_err(|e| {
        Mismatch::new(
            "an RFC 3339 date-time with a time zone, like 2026-01-06T10:45:00Z",
            format!("{} ({e})", quoted(timestamp)),
        )
    })
}

/// CHAT-007: in UTC (an offset of zero, however written: `Z`, `z`, `+00:00` or `-00:00`; at any
/// precision) and within `tolerance` of `now`.
pub fn utc_near(timestamp: &str, now: OffsetDateTime, tolerance: time::Duration) -> Match {
    let parsed = rfc3339_timestamp(timestamp)?;
    let utc = parsed.offset().is_utc();
    let skew = (parsed - now).abs();
    if utc && skew <= tolerance {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "a UTC timestamp within {} minutes of {now}",
            tolerance.whole_minutes()
        ),
        format!(
            "{} ({} seconds off{})",
            quoted(timestamp),
            skew.whole_seconds(),
            if utc { "" } else { ", not UTC" }
        ),
    ))
}

/// CHAT-008: each sent text received exactly once.
pub fn each_exactly_once(sent: &[String], received: &[String]) -> Match {
    let mut problems = Vec::new();
    for text in sent {
        let count = received.iter().filter(|r| *r == text).count();
        if count != 1 {
            problems.push(format!("{} {count} times", quoted(text)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Mismatch::new(
            format!("each of the {} messages exactly once", sent.len()),
            problems.join(", "),
        ))
    }
}

/// CHAT-009: the sent texts appear in the received ones in the order sent.
pub fn in_sent_order(sent: &[String], received: &[String]) -> Match {
    let sent_set: BTreeSet<&String> = sent.iter().collect();
    let seen: Vec<&String> = received.iter().filter(|r| sent_set.contains(r)).collect();
    let expected: Vec<&String> = sent.iter().collect();
    if seen == expected {
        return Ok(());
    }
    let first_difference = seen
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(seen.len().min(expected.len()));
    Err(Mismatch::new(
        format!("the {} messages in the order they were sent", sent.len()),
        format!(
            "{} of them arrived; the order first differs at position {}: got {}, sent {}",
            seen.len(),
            first_difference + 1,
            seen.get(first_difference)
                .map_or_else(|| "nothing".to_owned(), |s| quoted(s)),
            expected
                .get(first_difference)
                .map_or_else(|| "nothing".to_owned(), |s| quoted(s)),
        ),
    ))
}

/// CHAT-004: no id repeats.
pub fn all_distinct(ids: &[String]) -> Match {
    let mut seen = BTreeSet::new();
    let repeated: BTreeSet<&String> = ids.iter().filter(|id| !seen.insert(*id)).collect();
    if repeated.is_empty() {
        Ok(())
    } else {
        Err(Mismatch::new(
            "a different id on every message",
            format!(
                "repeated ids: {} among {}",
                quoted_list(repeated),
                quoted_list(ids)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn frame(value: Value) -> Received {
        Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Json(value),
        }
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            reason: "Reason".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn about_ignores_other_participants_and_events() {
        let frames = vec![
            frame(json!({"event":"participant.joined","data":{"id":"me"}})),
            frame(json!({"event":"participant.joined","data":{"id":"bob"}})),
            frame(json!({"event":"room.state","data":{}})),
        ];
        assert_eq!(about(&frames, "participant.joined", "bob").len(), 1);
        assert_eq!(about(&frames, "participant.left", "bob").len(), 0);
    }

    #[test]
    fn protocol_selection_is_judged_exactly() {
        let chalk = response(101, &[("Sec-WebSocket-Protocol", "chalk")], "");
        assert!(selects_protocol(&chalk, "chalk").is_ok());
        assert!(selects_no_token(&chalk).is_ok());
        assert!(selects_one_offered(&chalk, &["chalk".into(), "token.x".into()]).is_ok());
        assert!(selects_nothing(&chalk).is_err());

        let token = response(101, &[("Sec-WebSocket-Protocol", "token.abc")], "");
        let mismatch = selects_protocol(&token, "chalk").unwrap_err();
        assert!(!mismatch.actual.contains("abc"), "{mismatch}");
        assert!(selects_no_token(&token).is_err());

        let two = response(101, &[("Sec-WebSocket-Protocol", "chalk, token.abc")], "");
        assert!(selects_one_offered(&two, &["chalk".into(), "token.abc".into()]).is_err());
        let none = response(101, &[], "");
        assert!(selects_nothing(&none).is_ok());
        assert!(selects_protocol(&none, "chalk").is_err());
    }

    #[test]
    fn opening_handshake_needs_every_part() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = response(
            101,
            &[
                ("Upgrade", "websocket"),
                ("Connection", "keep-alive, Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ],
            "",
        );
        assert!(valid_opening_handshake(&good, key).is_ok());
        let bad = response(101, &[("Upgrade", "websocket")], "");
        let mismatch = valid_opening_handshake(&bad, key).unwrap_err();
        assert!(mismatch.actual.contains("Connection"));
        assert!(mismatch.actual.contains("Sec-WebSocket-Accept"));
    }

    #[test]
    fn error_bodies_must_be_json_objects_with_a_string() {
        assert!(json_error_body(&response(401, &[], r#"{"error":"no"}"#), "error").is_ok());
        assert!(json_error_body(&response(401, &[], "no"), "error").is_err());
        assert!(json_error_body(&response(401, &[], r#"{"error":1}"#), "error").is_err());
    }

    #[test]
    fn timestamps_are_checked_for_form_zone_and_drift() {
        assert!(rfc3339_timestamp("2026-01-06T10:45:00Z").is_ok());
        assert!(rfc3339_timestamp("2026-01-06T11:45:00.250+01:00").is_ok());
        assert!(rfc3339_timestamp("2026-01-06 10:45:00").is_err());
        assert!(rfc3339_timestamp("1767696300").is_err());
        let now = OffsetDateTime::parse("2026-01-06T10:46:00Z", &Rfc3339).unwrap();
        let five = time::Duration::minutes(5);
        assert!(utc_near("2026-01-06T10:45:00Z", now, five).is_ok());
        assert!(utc_near("2026-01-06T10:45:00.123456+00:00", now, five).is_ok());
        assert!(utc_near("2026-01-06t10:45:00.5z", now, five).is_ok());
        // RFC 3339 §4.3: -00:00 is a time in UTC whose local offset is unknown.
        assert!(utc_near("2026-01-06T10:45:00-00:00", now, five).is_ok());
        assert!(utc_near("2026-01-06T11:45:00+01:00", now, five).is_err());
        assert!(utc_near("2026-01-06T09:00:00Z", now, five).is_err());
    }

    #[test]
    fn order_and_multiplicity_are_told_apart() {
        let sent: Vec<String> = ["1", "2", "3"].iter().map(|s| s.to_string()).collect();
        let swapped: Vec<String> = ["1", "3", "2"].iter().map(|s| s.to_string()).collect();
        let doubled: Vec<String> = ["1", "2", "2", "3"].iter().map(|s| s.to_string()).collect();
        assert!(in_sent_order(&sent, &sent).is_ok());
        assert!(in_sent_order(&sent, &swapped).is_err());
        assert!(each_exactly_once(&sent, &swapped).is_ok());
        assert!(each_exactly_once(&sent, &doubled).is_err());
        assert!(all_distinct(&sent).is_ok());
        assert!(all_distinct(&doubled).is_err());
    }
}
