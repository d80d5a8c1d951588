//! Exactly once: an event a scenario expected must not come a second time.
//!
//! A second copy is the same event about the same subject arriving after the expected one,
//! before anything that would make it news again: a second `participant.joined` about a
//! participant before it left, a second `participant.left` before it joined again, a second
//! `hand.raised` before the hand was lowered, a second `recording.started` (of any recording)
//! before a recording stopped, a second `recording.stopped` of one recording before a recording
//! started, a second `chat.message` from the same sender with the same id.
//! Events the scenario did not expect (a roster, a joiner told about itself, unknown events)
//! are never counted, whatever they are.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Match, summarize};
use crate::contract::frame::FrameView;
use crate::driver::connection::Received;
use crate::driver::visible::quoted;
use crate::suite::failure::Mismatch;

/// What makes an event a copy of another, what makes it news again, and the requirement a
/// copy breaks.
struct Rule {
    /// The data field naming the event's subject.
    key: &'static str,
    /// Another data field that, with `key`, tells one event from another (a chat message's
    /// sender: ids need only be unique per sender to tell messages apart).
    also: Option<&'static str>,
    /// Whether the same event about any subject is a copy (a second `recording.started` while
    /// a recording runs, whatever its id).
    any_subject: bool,
    /// The event after which the same event about the same subject is news again.
    reset: Option<&'static str>,
    /// Whether the reset must be about the same subject (a recording stops whatever its id).
    reset_same_subject: bool,
    /// The requirement a second copy breaks.
    requirement: &'static str,
}

/// The rule of `event`; `None` for events no scenario expects exactly once.
fn rule(event: &str) -> Option<Rule> {
    let rule = |key, reset, reset_same_subject, requirement| Rule {
        key,
        also: None,
        any_subject: false,
        reset,
        reset_same_subject,
        requirement,
    };
    Some(match event {
        "participant.joined" => rule("id", Some("participant.left"), true, "PRES-010"),
        "participant.left" => rule("id", Some("participant.joined"), true, "PRES-006"),
        "hand.raised" => rule("participant_id", Some("hand.lowered"), true, "HAND-005"),
        "hand.lowered" => rule("participant_id", Some("hand.raised"), true, "HAND-005"),
        "recording.started" => Rule {
            any_subject: true,
            ..rule("recording_id", Some("recording.stopped"), false, "REC-006")
        },
        "recording.stopped" => rule("recording_id", Some("recording.started"), false, "REC-006"),
        "chat.message" => Rule {
            also: Some("sender_id"),
            ..rule("id", None, false, "CHAT-008")
        },
        _ => return None,
    })
}

/// The frame at `position` of `frames` (received by `listener`) was expected once: no second
/// copy of it follows. On a copy, the requirement it breaks and the mismatch; `names` names ids
/// in it.
pub fn no_second_copy(
    frames: &[Received],
    position: usize,
    listener: &str,
    names: &BTreeMap<String, String>,
) -> Result<(), (&'static str, Mismatch)> {
    let Some(expected) = frames.get(position).and_then(Received::view) else {
        return Ok(());
    };
    let Some(event) = expected.event() else {
        return Ok(());
    };
    let Some(rule) = rule(event) else {
        return Ok(());
    };
    // The subject compared as JSON, so that ids of any style (strings, numbers) count; an event
    // without one cannot be told from another and is not judged here.
    let key_of = |frame: FrameView<'_>| {
        let data = frame.data()?;
        let key = data.get(rule.key)?.clone();
        Some((key, rule.also.and_then(|also| data.get(also)).cloned()))
    };
    let Some(subject) = key_of(expected) else {
        return Ok(());
    };
    for later in frames[position + 1..].iter().filter_map(Received::view) {
        let same_subject = key_of(later).as_ref() == Some(&subject);
        if later.is(event) && (same_subject || rule.any_subject) {
            return Err((
                rule.requirement,
                copy(expected.0, &frames[position..], listener, names),
            ));
        }
        if let Some(reset) = rule.reset
            && later.is(reset)
            && (!rule.reset_same_subject || same_subject)
        {
            return Ok(());
        }
    }
    Ok(())
}

fn copy(
    expected: &Value,
    since: &[Received],
    listener: &str,
    names: &BTreeMap<String, String>,
) -> Mismatch {
    let view = FrameView(expected);
    let event = view.event().unwrap_or_default();
    let about = rule(event)
        .and_then(|r| view.text(r.key))
        .map(|s| match names.get(s) {
            Some(name) => format!(" about {name}"),
            None => format!(" ({})", quoted(s)),
        })
        .unwrap_or_default();
    Mismatch::new(
        format!("{event}{about} exactly once at {listener}, nothing more of it after it"),
        format!("it came again: {}", summarize(since, names)),
    )
}

/// CHAT-008 and its kin: `listener` received exactly `count` `event` frames in `matching`,
/// each with its own `id`.
pub fn exactly_n_with_own_ids(matching: &[&Value], count: usize, what: &str) -> Match {
    let ids: Vec<Option<&str>> = matching.iter().map(|f| FrameView(f).text("id")).collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    if matching.len() == count && distinct.len() == count {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("{what} exactly {count} times, each with its own id"),
        format!(
            "{} times, with {} different ids",
            matching.len(),
            distinct.len()
        ),
    ))
}

/// The events in `frames` whose names are in `events` (and, with `subject`, about it), in
/// arrival order, are exactly `events`: none missing, none extra, none out of order.
pub fn exactly_in_order(
    frames: &[Received],
    listener: &str,
    expected: &[String],
    subject: Option<(&str, &str)>,
) -> Match {
    let seen: Vec<&str> = frames
        .iter()
        .filter_map(Received::view)
        .filter(|f| f.event().is_some_and(|e| expected.iter().any(|x| x == e)))
        .filter(|f| subject.is_none_or(|(_, id)| f.subject() == Some(id)))
        .filter_map(|f| f.event())
        .collect();
    if seen == expected {
        return Ok(());
    }
    let about = subject
        .map(|(name, _)| format!(" about {name}"))
        .unwrap_or_default();
    Err(Mismatch::new(
        format!(
            "{listener} to receive{about} exactly: {}",
            expected.join(", ")
        ),
        if seen.is_empty() {
            "none of them".to_owned()
        } else {
            seen.join(", ")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::connection::ReceivedKind;
    use serde_json::json;
    use std::time::Duration;

    fn frame(value: Value) -> Received {
        Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Json(value),
        }
    }

    fn presence(event: &str, id: &str) -> Received {
        frame(json!({"event": event, "data": {"id": id}}))
    }

    fn recording(event: &str, id: &str) -> Received {
        frame(json!({"event": event, "data": {"recording_id": id}}))
    }

    #[test]
    fn a_second_copy_before_anything_new_is_caught_with_its_requirement() {
        let frames = [
            presence("participant.joined", "p1"),
            presence("participant.joined", "p2"),
            presence("participant.joined", "p1"),
        ];
        let (requirement, mismatch) =
            no_second_copy(&frames, 0, "Ann", &BTreeMap::new()).unwrap_err();
        assert_eq!(requirement, "PRES-010");
        assert!(
            mismatch.actual.starts_with("it came again"),
            "{}",
            mismatch.actual
        );
        assert!(no_second_copy(&frames, 1, "Ann", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn the_same_event_after_a_change_is_news_not_a_copy() {
        let rejoin = [
            presence("participant.joined", "p1"),
            presence("participant.left", "p1"),
            presence("participant.joined", "p1"),
        ];
        assert!(no_second_copy(&rejoin, 0, "Ann", &BTreeMap::new()).is_ok());
        let cycle = [
            recording("recording.started", "r1"),
            recording("recording.stopped", "r1"),
            recording("recording.started", "r1"),
        ];
        assert!(no_second_copy(&cycle, 0, "Ann", &BTreeMap::new()).is_ok());
        let twice = [
            recording("recording.started", "r1"),
            presence("participant.joined", "p1"),
            recording("recording.started", "r1"),
        ];
        assert_eq!(
            no_second_copy(&twice, 0, "Ann", &BTreeMap::new())
                .unwrap_err()
                .0,
            "REC-006"
        );
    }

    #[test]
    fn ids_of_any_style_are_compared_and_events_without_one_are_not_judged() {
        let numbered = [
            frame(json!({"event": "chat.message", "data": {"id": 7}})),
            frame(json!({"event": "chat.message", "data": {"id": 8}})),
        ];
        assert!(no_second_copy(&numbered, 0, "Ann", &BTreeMap::new()).is_ok());
        let anonymous = [
            frame(json!({"event": "chat.message", "data": {}})),
            frame(json!({"event": "chat.message", "data": {}})),
        ];
        assert!(no_second_copy(&anonymous, 0, "Ann", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn chat_copies_are_the_same_id_from_the_same_sender() {
        let chat = |id: &str, sender: &str| {
            frame(json!({"event": "chat.message", "data": {"id": id, "sender_id": sender}}))
        };
        // Two senders may number their messages alike: not a copy.
        let alike = [chat("m1", "p1"), chat("m1", "p2")];
        assert!(no_second_copy(&alike, 0, "Ann", &BTreeMap::new()).is_ok());
        let copied = [chat("m1", "p1"), chat("m2", "p2"), chat("m1", "p1")];
        assert_eq!(
            no_second_copy(&copied, 0, "Ann", &BTreeMap::new())
                .unwrap_err()
                .0,
            "CHAT-008"
        );
    }

    #[test]
    fn a_second_start_without_a_stop_is_a_copy_whatever_its_id() {
        let restarted = [
            recording("recording.started", "r1"),
            recording("recording.started", "r2"),
        ];
        assert_eq!(
            no_second_copy(&restarted, 0, "Ann", &BTreeMap::new())
                .unwrap_err()
                .0,
            "REC-006"
        );
        let stopped_between = [
            recording("recording.started", "r1"),
            recording("recording.stopped", "r1"),
            recording("recording.started", "r2"),
        ];
        assert!(no_second_copy(&stopped_between, 0, "Ann", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn events_without_a_rule_are_never_counted() {
        let frames = [
            frame(json!({"event": "room.state", "data": {}})),
            frame(json!({"event": "room.state", "data": {}})),
        ];
        assert!(no_second_copy(&frames, 0, "Ann", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn a_sequence_must_match_exactly() {
        let frames = [
            presence("participant.left", "p1"),
            presence("participant.joined", "p2"),
            presence("participant.joined", "p1"),
        ];
        let expected = [
            "participant.left".to_owned(),
            "participant.joined".to_owned(),
        ];
        assert!(exactly_in_order(&frames, "Ann", &expected, Some(("Bob", "p1"))).is_ok());
        let mismatch = exactly_in_order(&frames, "Ann", &expected, None).unwrap_err();
        assert_eq!(
            mismatch.actual,
            "participant.left, participant.joined, participant.joined"
        );
    }

    #[test]
    fn repeated_texts_need_as_many_ids() {
        let a = json!({"data": {"id": "m1"}});
        let b = json!({"data": {"id": "m2"}});
        assert!(exactly_n_with_own_ids(&[&a, &b], 2, "x").is_ok());
        assert!(exactly_n_with_own_ids(&[&a, &a], 2, "x").is_err());
        assert!(exactly_n_with_own_ids(&[&a], 2, "x").is_err());
    }
}
