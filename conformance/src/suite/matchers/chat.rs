//! Matchers for chat: which `chat.message` arrived, and what its fields say.

use serde_json::Value;

use super::{Match, chat_texts, chat_with_text, of_event};
use crate::contract::frame::FrameView;
use crate::driver::connection::Received;
use crate::driver::visible::{quoted, quoted_list};
use crate::suite::failure::Mismatch;

/// A string member of a frame's `data`, or the empty string.
pub fn data_text(frame: &Value, field: &str) -> String {
    FrameView(frame).text(field).unwrap_or_default().to_owned()
}

/// CHAT-001: `listener` has received the chat message `text`; the frame.
pub fn chat_received(frames: &[Received], listener: &str, text: &str) -> Match<Value> {
    chat_with_text(frames, text)
        .first()
        .map(|frame| (*frame).clone())
        .ok_or_else(|| {
            Mismatch::new(
                format!("{listener} to receive the chat message {}", quoted(text)),
                format!("none of {} frame(s) is that chat message", frames.len()),
            )
        })
}

/// Every text of `sent` has reached `listener`; the chat texts received, in arrival order.
pub fn all_sent_received(
    frames: &[Received],
    listener: &str,
    sent: &[String],
) -> Match<Vec<String>> {
    let received = chat_texts(frames);
    if sent.iter().all(|t| received.contains(t)) {
        return Ok(received);
    }
    Err(Mismatch::new(
        format!("{listener} to receive all {} messages", sent.len()),
        format!(
            "{} of them arrived",
            sent.iter().filter(|t| received.contains(t)).count()
        ),
    ))
}

/// CHAT-003: the texts of `sent` that did not arrive by the deadline, and what came instead.
pub fn texts_missing(sent: &[String], received: &[String]) -> Mismatch {
    let missing: Vec<&String> = sent.iter().filter(|t| !received.contains(t)).collect();
    let unexpected: Vec<&String> = received.iter().filter(|t| !sent.contains(t)).collect();
    Mismatch::new(
        format!("each of the {} texts, byte for byte", sent.len()),
        format!(
            "missing {}; received instead {}",
            quoted_list(missing),
            quoted_list(unexpected)
        ),
    )
}

/// The texts of the `chat.message` frames from `sender_id`, in arrival order.
pub fn texts_from(frames: &[Received], sender_id: &str) -> Vec<String> {
    of_event(frames, "chat.message")
        .filter(|f| FrameView(f).text("sender_id") == Some(sender_id))
        .map(|f| data_text(f, "text"))
        .collect()
}

/// How many `error` events arrived: a sender's visible refusals.
pub fn refusals(frames: &[Received]) -> usize {
    of_event(frames, "error").count()
}

/// CHAT-003 at every length: each text of `sent` was delivered unaltered (it is among
/// `received`) or visibly refused: `refusals` `error` events to the sender, one per text not
/// delivered, or its connection `ended` (as described; the texts it had not sent are never
/// sent). A server may refuse only the longest texts: those not delivered must be longer than
/// every one delivered, and none of `always_delivered` characters or fewer. Every text received
/// must be one that was sent, unaltered.
pub fn delivered_unaltered_or_refused(
    sent: &[String],
    received: &[String],
    always_delivered: usize,
    refusals: usize,
    ended: Option<&str>,
) -> Match {
    let length = |t: &String| t.chars().count();
    let altered: Vec<String> = received
        .iter()
        .filter(|t| !sent.contains(t))
        .map(|t| match sent.iter().find(|s| s.starts_with(t.as_str())) {
            Some(original) => format!(
                "the text of {} characters arrived cut to {} characters",
                length(original),
                length(t)
            ),
            None => format!("a text of {} characters that was never sent", length(t)),
        })
        .collect();
    // A text that arrived altered is judged as altered, not also as missing.
    let arrived_altered = |t: &String| {
        received
            .iter()
            .any(|r| r != t && !sent.contains(r) && t.starts_with(r.as_str()))
    };
    let missing: Vec<usize> = sent
        .iter()
        .filter(|t| !received.contains(t) && !arrived_altered(t))
        .map(length)
        .collect();
    let longest_delivered = sent
        .iter()
        .filter(|t| received.contains(t))
        .map(length)
        .max()
        .unwrap_or(0);
    let join = |lengths: &[usize]| {
        lengths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut actual = altered;
    let too_short: Vec<usize> = missing
        .iter()
        .copied()
        .filter(|&l| l <= always_delivered)
        .collect();
    if !too_short.is_empty() {
        actual.push(format!(
            "the texts of {} characters did not arrive (no server may refuse a text that short)",
            join(&too_short)
        ));
    }
    let not_longest: Vec<usize> = missing
        .iter()
        .copied()
        .filter(|&l| l > always_delivered && l <= longest_delivered)
        .collect();
    if !not_longest.is_empty() {
        actual.push(format!(
            "the texts of {} characters did not arrive, while one of {longest_delivered} did (a \
             limit refuses the longest texts, not shorter ones)",
            join(&not_longest)
        ));
    }
    let refused = ended.is_some() || refusals >= missing.len();
    if !missing.is_empty() && !refused {
        actual.push(format!(
            "the texts of {} characters neither arrived nor were refused ({refusals} error event(s) for {} text(s) not delivered, the sender's connection still open)",
            join(&missing),
            missing.len()
        ));
    }
    if actual.is_empty() {
        return Ok(());
    }
    let lengths: Vec<usize> = sent.iter().map(length).collect();
    let expected = format!(
        "each of the texts of {} characters delivered unaltered, or, above {always_delivered} characters, the longest of them refused visibly (an error event each, or the sender's connection closed)",
        join(&lengths)
    );
    Err(Mismatch::new(expected, actual.join("; ")))
}

/// CHAT-002: the chat message carries `expected`, `sender`'s participant id, as `sender_id`.
pub fn sender_is(frame: &Value, sender: &str, expected: &str) -> Match {
    let actual = data_text(frame, "sender_id");
    if actual == expected {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("sender_id {} ({sender}'s participant id)", quoted(expected)),
        format!("sender_id {}", quoted(&actual)),
    ))
}

/// The ids of the `chat.message` frames whose text is one of `texts`, in arrival order.
pub fn ids_of_texts(frames: &[Received], texts: &[String]) -> Vec<String> {
    of_event(frames, "chat.message")
        .filter(|f| texts.contains(&data_text(f, "text")))
        .map(|f| data_text(f, "id"))
        .collect()
}

/// CHAT-004: two participants see one id for the same message.
pub fn same_id(first: &str, first_id: &str, second: &str, second_id: &str) -> Match {
    if first_id == second_id {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("{first} and {second} to see one id"),
        format!(
            "{first} sees {}, {second} sees {}",
            quoted(first_id),
            quoted(second_id)
        ),
    ))
}

/// CHAT-011: the message's `id` and `timestamp` are not the ones the client put in `sent`.
pub fn server_chose_id_and_timestamp(sent: &Value, frame: &Value) -> Match {
    for field in ["id", "timestamp"] {
        let got = data_text(frame, field);
        if FrameView(sent).text(field) == Some(got.as_str()) {
            return Err(Mismatch::new(
                format!("a {field} chosen by the server"),
                format!("the {field} the client put in chat.send: {}", quoted(&got)),
            ));
        }
    }
    Ok(())
}

/// CHAT-012: the echo to `sender` has the id `other` sees.
pub fn echo_has_id(sender: &str, other: &str, theirs: &str, own: &str) -> Match {
    if own == theirs {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "the echo to {sender} with the id {other} sees ({})",
            quoted(theirs)
        ),
        format!("the echo has the id {}", quoted(own)),
    ))
}

#[cfg(test)]
mod size_tests {
    use super::*;

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_text_is_delivered_whole_or_refused_visibly() {
        let sent = texts(&["a", "bbbb", "cccccccc"]);
        assert!(delivered_unaltered_or_refused(&sent, &sent, 1, 0, None).is_ok());
        let short = texts(&["a", "bbbb"]);
        assert!(delivered_unaltered_or_refused(&sent, &short, 1, 1, None).is_ok());
        assert!(
            delivered_unaltered_or_refused(&sent, &texts(&["a"]), 1, 0, Some("closed 1009"))
                .is_ok()
        );
        let silent = delivered_unaltered_or_refused(&sent, &short, 1, 0, None).unwrap_err();
        assert!(
            silent.actual.contains("neither arrived nor were refused"),
            "{}",
            silent.actual
        );
        let cut = texts(&["a", "bbbb", "cccc"]);
        let mismatch = delivered_unaltered_or_refused(&sent, &cut, 1, 1, None).unwrap_err();
        assert_eq!(
            mismatch.actual,
            "the text of 8 characters arrived cut to 4 characters"
        );
    }

    #[test]
    fn only_the_longest_texts_may_be_refused_and_never_the_shortest() {
        let sent = texts(&["a", "bbbb", "cccccccc"]);
        // The shortest text is never excused, by an error or a close.
        let no_short = texts(&["bbbb", "cccccccc"]);
        for (errors, ended) in [(1, None), (5, Some("closed 1009"))] {
            let m = delivered_unaltered_or_refused(&sent, &no_short, 1, errors, ended).unwrap_err();
            assert!(
                m.actual.contains("texts of 1 characters did not arrive"),
                "{}",
                m.actual
            );
        }
        // A text missing while a longer one arrived is no limit.
        let middle = texts(&["a", "cccccccc"]);
        let m = delivered_unaltered_or_refused(&sent, &middle, 1, 1, None).unwrap_err();
        assert!(
            m.actual
                .contains("texts of 4 characters did not arrive, while one of 8 did"),
            "{}",
            m.actual
        );
        // Two texts missing need two errors (or a close).
        let two = delivered_unaltered_or_refused(&sent, &texts(&["a"]), 1, 1, None).unwrap_err();
        assert!(
            two.actual.contains("1 error event(s) for 2 text(s)"),
            "{}",
            two.actual
        );
        assert!(delivered_unaltered_or_refused(&sent, &texts(&["a"]), 1, 2, None).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    use crate::driver::connection::ReceivedKind;

    #[test]
    fn a_text_that_lost_its_combining_accent_names_the_accent_by_code_point() {
        let sent = vec!["cafe\u{301}".to_owned()];
        let received = vec!["cafe".to_owned()];
        let mismatch = texts_missing(&sent, &received);
        assert_eq!(
            mismatch.actual,
            "missing [\"cafe<U+0301 COMBINING ACUTE ACCENT>\"]; received instead [\"cafe\"]"
        );
        let mismatch = chat_received(&[], "Bob", "a\u{200B}b").unwrap_err();
        assert_eq!(
            mismatch.expected,
            "Bob to receive the chat message \"a<U+200B ZERO WIDTH SPACE>b\""
        );
        assert!(!mismatch.expected.contains("\\u{"), "{mismatch}");
    }

    fn chat(id: &str, sender: &str, text: &str) -> Received {
        Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Json(json!({"event":"chat.message","data":{
                "id": id, "sender_id": sender, "text": text, "timestamp": "2026-01-06T10:45:00Z"
            }})),
        }
    }

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_chat_message_is_found_by_its_text() {
        let frames = [chat("m1", "p1", "hello")];
        assert_eq!(
            data_text(&chat_received(&frames, "Bob", "hello").unwrap(), "id"),
            "m1"
        );
        let missing = chat_received(&frames, "Bob", "bye").unwrap_err();
        assert_eq!(missing.expected, "Bob to receive the chat message \"bye\"");
    }

    #[test]
    fn all_sent_texts_must_arrive_before_their_order_is_judged() {
        let frames = [chat("m1", "p1", "1"), chat("m2", "p1", "2")];
        assert_eq!(
            all_sent_received(&frames, "Bob", &texts(&["2", "1"])).unwrap(),
            texts(&["1", "2"])
        );
        let missing = all_sent_received(&frames, "Bob", &texts(&["1", "3"])).unwrap_err();
        assert_eq!(missing.expected, "Bob to receive all 2 messages");
    }

    #[test]
    fn missing_texts_are_listed_with_what_came_instead() {
        let mismatch = texts_missing(&texts(&["é", "a b"]), &texts(&["e", "a b"]));
        assert_eq!(mismatch.expected, "each of the 2 texts, byte for byte");
        assert_eq!(mismatch.actual, "missing [\"é\"]; received instead [\"e\"]");
    }

    #[test]
    fn the_sender_id_must_be_the_senders_participant_id() {
        let frame = chat("m1", "p1", "hi");
        assert!(sender_is(json_of(&frame), "Ann", "p1").is_ok());
        let wrong = sender_is(json_of(&frame), "Ann", "p2").unwrap_err();
        assert_eq!(wrong.expected, "sender_id \"p2\" (Ann's participant id)");
        assert_eq!(wrong.actual, "sender_id \"p1\"");
    }

    fn json_of(frame: &Received) -> &Value {
        frame.json().unwrap()
    }

    #[test]
    fn only_the_sent_texts_ids_are_collected() {
        let frames = [chat("m1", "p1", "mine"), chat("m2", "p9", "theirs")];
        assert_eq!(ids_of_texts(&frames, &texts(&["mine"])), ["m1"]);
    }

    #[test]
    fn two_views_of_one_message_share_its_id() {
        assert!(same_id("Ann", "m1", "Bob", "m1").is_ok());
        let mismatch = same_id("Ann", "m1", "Bob", "m2").unwrap_err();
        assert_eq!(mismatch.actual, "Ann sees \"m1\", Bob sees \"m2\"");
    }

    #[test]
    fn an_id_or_timestamp_the_client_chose_is_refused() {
        let frame = json!({"event":"chat.message","data":{"id":"m1","timestamp":"t1"}});
        let honest = json!({"event":"chat.send","data":{"text":"hi"}});
        assert!(server_chose_id_and_timestamp(&honest, &frame).is_ok());
        let claimed = json!({"event":"chat.send","data":{"text":"hi","timestamp":"t1"}});
        let mismatch = server_chose_id_and_timestamp(&claimed, &frame).unwrap_err();
        assert_eq!(mismatch.expected, "a timestamp chosen by the server");
        assert_eq!(
            mismatch.actual,
            "the timestamp the client put in chat.send: \"t1\""
        );
    }

    #[test]
    fn the_echo_carries_the_id_the_others_see() {
        assert!(echo_has_id("Ann", "Bob", "m1", "m1").is_ok());
        let mismatch = echo_has_id("Ann", "Bob", "m1", "m2").unwrap_err();
        assert_eq!(
            mismatch.expected,
            "the echo to Ann with the id Bob sees (\"m1\")"
        );
        assert_eq!(mismatch.actual, "the echo has the id \"m2\"");
    }
}
