//! Matchers for who is in the room: events about a participant, their count and order, the
//! roster.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Match, about, of_event, summarize};
use crate::contract::frame::FrameView;
use crate::driver::connection::{Received, ReceivedKind};
use crate::driver::visible::{quoted, quoted_list, quoted_value};
use crate::suite::failure::Mismatch;

/// `listener` has received `event` about `subject` (participant `id`); the frame.
pub fn about_received(
    frames: &[Received],
    listener: &str,
    event: &str,
    subject: &str,
    id: &str,
) -> Match<Value> {
    about(frames, event, id)
        .first()
        .map(|frame| (*frame).clone())
        .ok_or_else(|| {
            Mismatch::new(
                format!(
                    "{listener} to receive {event} about {subject} (id {})",
                    quoted(id)
                ),
                format!("none of {} frame(s) is that event", frames.len()),
            )
        })
}

/// `listener` has received `event`; the first such frame.
pub fn event_received(frames: &[Received], listener: &str, event: &str) -> Match<Value> {
    of_event(frames, event).next().cloned().ok_or_else(|| {
        Mismatch::new(
            format!("{listener} to receive {event}"),
            format!("none of {} frame(s) is {event}", frames.len()),
        )
    })
}

/// PRES-001, while a scenario is set up: the Mismatch of a `listener` that never heard the
/// newcomer `name` join within `waited`; `frames` is everything it received.
pub fn not_announced(
    frames: &[Received],
    (listener, name): (&str, &str),
    waited: Duration,
    names: &BTreeMap<String, String>,
) -> Mismatch {
    Mismatch::new(
        format!(
            "{listener} to receive participant.joined about {name} within {waited:?} (scenario setup)"
        ),
        summarize(frames, names),
    )
}

/// `listener` received no `event` about `subject` (participant `id`); `names` names ids in
/// the Actual.
pub fn none_about(
    frames: &[Received],
    listener: &str,
    event: &str,
    (subject, id): (&str, &str),
    names: &BTreeMap<String, String>,
) -> Match {
    let found = about(frames, event, id).len();
    if found == 0 {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("no {event} about {subject} at {listener}"),
        format!("{found} arrived: {}", summarize(frames, names)),
    ))
}

/// `listener` received exactly one `event` about `subject` (participant `id`).
pub fn exactly_one_about(
    frames: &[Received],
    listener: &str,
    event: &str,
    (subject, id): (&str, &str),
    names: &BTreeMap<String, String>,
) -> Match {
    let count = about(frames, event, id).len();
    if count == 1 {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("exactly one {event} about {subject} at {listener}"),
        format!("{count}: {}", summarize(frames, names)),
    ))
}

/// `listener` received no `event` about nobody in particular or about a participant `counts`
/// (the scenario's own; events about others' participants are not held against the server).
pub fn none_of_event(
    frames: &[Received],
    listener: &str,
    event: &str,
    counts: impl Fn(&str) -> bool,
    names: &BTreeMap<String, String>,
) -> Match {
    let found = of_event(frames, event)
        .filter(|f| FrameView(f).subject().is_none_or(&counts))
        .count();
    if found == 0 {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("no {event} at {listener}"),
        format!("{found} arrived: {}", summarize(frames, names)),
    ))
}

/// PRES-005: a `participant.joined` shows `display_name` and `role`.
pub fn shows_name_and_role(frame: &Value, display_name: &str, role: &str) -> Match {
    let shown_name = frame
        .pointer("/data/display_name")
        .cloned()
        .unwrap_or(Value::Null);
    let shown_role = frame.pointer("/data/role").cloned().unwrap_or(Value::Null);
    if shown_name == display_name && shown_role == role {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "display_name {} and role {}",
            quoted(display_name),
            quoted(role)
        ),
        format!(
            "display_name {} and role {}",
            quoted_value(&shown_name),
            quoted_value(&shown_role)
        ),
    ))
}

/// One event about one participant, as a step names it: (event, participant's name, id).
pub type EventAbout<'a> = (&'a str, &'a str, &'a str);

/// `listener` received `first`, and after it `second`.
pub fn in_sequence(
    frames: &[Received],
    listener: &str,
    first: EventAbout<'_>,
    second: EventAbout<'_>,
) -> Match {
    let is = |f: &Received, (event, _, id): EventAbout<'_>| {
        f.view().is_some_and(|f| f.is_about(event, id))
    };
    let found = frames
        .iter()
        .position(|f| is(f, first))
        .is_some_and(|at| frames[at + 1..].iter().any(|f| is(f, second)));
    if found {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "{} about {}, then {} about {}, at {listener}",
            first.0, first.1, second.0, second.1
        ),
        "not in that order".to_owned(),
    ))
}

/// The first frame `listener` received that is not a pong.
pub fn first_frame(frames: &[Received], listener: &str) -> Match<Received> {
    frames
        .iter()
        .find(|f| !matches!(f.kind, ReceivedKind::Pong(_)))
        .cloned()
        .ok_or_else(|| {
            Mismatch::new(
                format!("a room.state frame at {listener}"),
                "no frame but pongs",
            )
        })
}

/// PRES-008: `first` is a `room.state` whose roster lists exactly `expected` (by name and id)
/// among the participants `counts`; `names` names ids in the Actual.
pub fn roster_lists(
    first: &Received,
    expected: [(&str, &str); 2],
    counts: impl Fn(&str) -> bool,
    names: &BTreeMap<String, String>,
) -> Match {
    let Some(frame) = first.view().filter(|f| f.is("room.state")) else {
        return Err(Mismatch::new(
            "room.state as the first frame",
            summarize(std::slice::from_ref(first), names),
        ));
    };
    let listed = frame.roster();
    let mut ours: Vec<&str> = listed.iter().copied().filter(|id| counts(id)).collect();
    let mut wanted: Vec<&str> = expected.iter().map(|(_, id)| *id).collect();
    ours.sort();
    wanted.sort();
    if ours == wanted {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("a roster listing {} and {}", expected[0].0, expected[1].0),
        format!("a roster listing {}", quoted_list(listed)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(value: Value) -> Received {
        Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Json(value),
        }
    }

    fn joined(id: &str) -> Received {
        frame(json!({"event":"participant.joined","data":{"id":id}}))
    }

    fn left(id: &str) -> Received {
        frame(json!({"event":"participant.left","data":{"id":id}}))
    }

    fn names() -> BTreeMap<String, String> {
        [("p1".to_owned(), "Bob".to_owned())].into_iter().collect()
    }

    #[test]
    fn an_event_about_a_participant_is_found_among_others() {
        let frames = [joined("p2"), joined("p1")];
        let found = about_received(&frames, "Ann", "participant.joined", "Bob", "p1").unwrap();
        assert_eq!(found["data"]["id"], "p1");
        let missing = about_received(&frames, "Ann", "participant.left", "Bob", "p1").unwrap_err();
        assert_eq!(
            missing.expected,
            "Ann to receive participant.left about Bob (id \"p1\")"
        );
        assert!(event_received(&frames, "Ann", "participant.joined").is_ok());
        assert_eq!(
            event_received(&frames, "Ann", "room.state")
                .unwrap_err()
                .expected,
            "Ann to receive room.state"
        );
    }

    #[test]
    fn a_newcomer_not_announced_is_told_with_what_the_listener_heard() {
        let mismatch = not_announced(
            &[joined("p1")],
            ("Bob", "Carol"),
            Duration::from_secs(5),
            &names(),
        );
        assert_eq!(
            mismatch.expected,
            "Bob to receive participant.joined about Carol within 5s (scenario setup)"
        );
        assert_eq!(mismatch.actual, "participant.joined about Bob (p1)");
    }

    #[test]
    fn events_that_must_not_come_are_counted_with_what_arrived() {
        let frames = [joined("p1")];
        assert!(none_about(&frames, "Ann", "participant.left", ("Bob", "p1"), &names()).is_ok());
        let mismatch = none_about(
            &frames,
            "Ann",
            "participant.joined",
            ("Bob", "p1"),
            &names(),
        )
        .unwrap_err();
        assert_eq!(mismatch.expected, "no participant.joined about Bob at Ann");
        assert_eq!(
            mismatch.actual,
            "1 arrived: participant.joined about Bob (p1)"
        );
    }

    #[test]
    fn exactly_one_means_neither_none_nor_two() {
        let once = [joined("p1")];
        let twice = [joined("p1"), joined("p1")];
        let about_bob = ("Bob", "p1");
        assert!(exactly_one_about(&once, "Ann", "participant.joined", about_bob, &names()).is_ok());
        let mismatch = exactly_one_about(&twice, "Ann", "participant.joined", about_bob, &names())
            .unwrap_err();
        assert!(mismatch.actual.starts_with("2: "), "{}", mismatch.actual);
        assert!(exactly_one_about(&[], "Ann", "participant.joined", about_bob, &names()).is_err());
    }

    #[test]
    fn events_about_other_scenarios_participants_are_not_held_against_the_server() {
        let frames = [left("stranger"), frame(json!({"event":"room.ended"}))];
        let ours = |id: &str| id == "p1";
        assert!(none_of_event(&frames, "Ann", "participant.left", ours, &names()).is_ok());
        let mismatch = none_of_event(&frames, "Ann", "room.ended", ours, &names()).unwrap_err();
        assert_eq!(mismatch.expected, "no room.ended at Ann");
        assert!(mismatch.actual.starts_with("1 arrived: "));
    }

    #[test]
    fn a_join_shows_the_display_name_and_role_given() {
        let frame = json!({"event":"participant.joined","data":{"id":"p1","display_name":"Ann","role":"host"}});
        assert!(shows_name_and_role(&frame, "Ann", "host").is_ok());
        let mismatch = shows_name_and_role(&frame, "Ann", "guest").unwrap_err();
        assert_eq!(mismatch.expected, "display_name \"Ann\" and role \"guest\"");
        assert_eq!(mismatch.actual, "display_name \"Ann\" and role \"host\"");
        let bare = json!({"event":"participant.joined","data":{"id":"p1"}});
        assert_eq!(
            shows_name_and_role(&bare, "Ann", "host")
                .unwrap_err()
                .actual,
            "display_name null and role null"
        );
    }

    #[test]
    fn a_sequence_needs_the_second_event_after_the_first() {
        let frames = [left("p1"), joined("p1")];
        let joined_ = ("participant.joined", "Bob", "p1");
        let left_ = ("participant.left", "Bob", "p1");
        assert!(in_sequence(&frames, "Ann", left_, joined_).is_ok());
        let mismatch = in_sequence(&frames, "Ann", joined_, left_).unwrap_err();
        assert_eq!(
            mismatch.expected,
            "participant.joined about Bob, then participant.left about Bob, at Ann"
        );
    }

    #[test]
    fn the_roster_must_come_first_and_list_the_scenarios_participants() {
        let pong = Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Pong(b"x".to_vec()),
        };
        let roster = frame(json!({"event":"room.state","data":{"participants":[
            {"id":"p1"},{"id":"p2"},{"id":"someone-else"}
        ]}}));
        let first = first_frame(&[pong.clone(), roster.clone()], "Ann").unwrap();
        let ours = |id: &str| id.starts_with('p');
        assert!(roster_lists(&first, [("Ann", "p2"), ("Bob", "p1")], ours, &names()).is_ok());
        let short =
            roster_lists(&first, [("Ann", "p3"), ("Bob", "p1")], ours, &names()).unwrap_err();
        assert_eq!(short.expected, "a roster listing Ann and Bob");
        assert_eq!(
            short.actual,
            "a roster listing [\"p1\", \"p2\", \"someone-else\"]"
        );
        let not_first = roster_lists(
            &joined("p1"),
            [("Ann", "p2"), ("Bob", "p1")],
            ours,
            &names(),
        )
        .unwrap_err();
        assert_eq!(not_first.expected, "room.state as the first frame");
        assert!(first_frame(&[pong], "Ann").is_err());
    }
}
