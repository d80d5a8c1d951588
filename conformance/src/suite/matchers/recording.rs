//! Matchers for recordings: which recording a `recording.started` or `recording.stopped` names.

use serde_json::Value;

use super::Match;
use super::chat::data_text;
use crate::driver::visible::{quoted, quoted_list};
use crate::suite::failure::Mismatch;

/// The `recording_id` of a recording event, or the empty string.
pub fn recording_id_of(frame: &Value) -> String {
    data_text(frame, "recording_id")
}

/// REC-003: the `recording.stopped` names the recording that started.
pub fn stopped_names_started(stopped: &str, started: &str) -> Match {
    if stopped == started {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "recording.stopped naming {}, the recording that started",
            quoted(started)
        ),
        format!("recording.stopped naming {}", quoted(stopped)),
    ))
}

/// REC-004: a `recording.started` names a recording other than the `earlier` ones.
pub fn started_is_new(started: &str, earlier: &[String]) -> Match {
    if !earlier.iter().any(|id| id == started) {
        return Ok(());
    }
    Err(Mismatch::new(
        format!(
            "a recording_id other than the earlier recordings' {}",
            quoted_list(earlier)
        ),
        format!("recording.started naming {} again", quoted(started)),
    ))
}

/// REC-007: a start while a recording runs is refused with 409. `answer` is the status the API
/// answered, or why there was no answer.
pub fn second_start_refused(answer: &Result<u16, String>) -> Match {
    match answer {
        Ok(409) => Ok(()),
        Ok(status) if (200..300).contains(status) => Err(Mismatch::new(
            "the second start refused with 409 (a recording already runs)",
            format!("the second start accepted with {status}"),
        )),
        Ok(status) => Err(Mismatch::new(
            "the second start refused with 409 (a recording already runs)",
            format!("the second start answered {status}"),
        )),
        Err(reason) => Err(Mismatch::new(
            "the second start refused with 409 (a recording already runs)",
            format!("no answer: {reason}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_recording_event_names_its_recording() {
        let frame = json!({"event":"recording.started","data":{"recording_id":"rec_1"}});
        assert_eq!(recording_id_of(&frame), "rec_1");
        assert_eq!(recording_id_of(&json!({"event":"recording.started"})), "");
    }

    #[test]
    fn a_stop_names_the_recording_that_started() {
        assert!(stopped_names_started("rec_1", "rec_1").is_ok());
        let mismatch = stopped_names_started("rec_2", "rec_1").unwrap_err();
        assert_eq!(
            mismatch.expected,
            "recording.stopped naming \"rec_1\", the recording that started"
        );
    }

    #[test]
    fn a_new_recording_never_reuses_an_earlier_id() {
        let earlier = vec!["rec_1".to_owned()];
        assert!(started_is_new("rec_2", &earlier).is_ok());
        let mismatch = started_is_new("rec_1", &earlier).unwrap_err();
        assert_eq!(mismatch.actual, "recording.started naming \"rec_1\" again");
    }

    #[test]
    fn a_second_start_must_be_refused_with_409() {
        assert!(second_start_refused(&Ok(409)).is_ok());
        let accepted = second_start_refused(&Ok(200)).unwrap_err();
        assert_eq!(accepted.actual, "the second start accepted with 200");
        let other = second_start_refused(&Ok(400)).unwrap_err();
        assert_eq!(other.actual, "the second start answered 400");
        let lost = second_start_refused(&Err("connection reset".into())).unwrap_err();
        assert_eq!(lost.actual, "no answer: connection reset");
    }
}
