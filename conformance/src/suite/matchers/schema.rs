//! Matchers for the shape of frames: the envelope, each event's schema, `error` events, and
//! the contract every frame of a scenario must keep.

use serde_json::Value;

use super::{Match, of_event};
use crate::contract::frame::FrameView;
use crate::contract::judge::SchemaViolation;
use crate::contract::schemas::{CompiledSchema, SchemaSet};
use crate::driver::connection::{Received, ReceivedKind};
use crate::driver::visible::quoted;
use crate::suite::failure::{Failure, Mismatch};

/// SCHEMA-*: `frame` matches the schema of `event`.
pub fn matches_schema(schemas: &SchemaSet, frame: &Value, event: &str) -> Match {
    let Some(schema) = schemas.event(event) else {
        return Err(Mismatch::new(
            format!("a schema for {event}"),
            "schemas/index.json has none",
        ));
    };
    schema.check(frame).map_err(|violation| {
        Mismatch::new(
            format!("{event} to match its schema"),
            format!("{frame}\n{violation}"),
        )
    })
}

/// SCHEMA-001: every frame (pongs aside) is a JSON object that matches the `envelope`.
pub fn every_frame_an_envelope(envelope: &CompiledSchema, frames: &[Received]) -> Match {
    for frame in frames {
        let problem = match &frame.kind {
            ReceivedKind::Json(value) => envelope.check(value).err().map(|violations| {
                let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
                format!("{value}\n{}", listed.join("\n"))
            }),
            ReceivedKind::NotJson(text) => {
                Some(format!("a text frame that is not JSON: {}", quoted(text)))
            }
            ReceivedKind::Binary(n) => Some(format!("a binary frame of {n} bytes")),
            ReceivedKind::Pong(_) => None,
        };
        if let Some(problem) = problem {
            return Err(Mismatch::new(
                "every frame a JSON object with a string event",
                problem,
            ));
        }
    }
    Ok(())
}

/// ERROR-*: an `error` event with `code` arrived, naming `event` when one is given.
pub fn error_received(frames: &[Received], code: &str, event: Option<&str>) -> Match {
    let found = of_event(frames, "error").any(|f| {
        let f = FrameView(f);
        f.text("code") == Some(code) && event.is_none_or(|e| f.text("event") == Some(e))
    });
    if found {
        return Ok(());
    }
    let expected = match event {
        Some(event) => format!("error {} naming the event {}", quoted(code), quoted(event)),
        None => format!("error {}", quoted(code)),
    };
    Err(Mismatch::new(expected, "no such error"))
}

/// The contract every received frame keeps: the first frame `label`'s connection received that
/// broke it fails the requirement the judge charged it to.
pub fn contract_kept(label: &str, violations: &[SchemaViolation]) -> Result<(), Failure> {
    match violations.first() {
        None => Ok(()),
        Some(violation) => Err(Mismatch::new(
            "every frame to be a JSON event envelope matching its event's schema",
            format!("{label} received {}\n{}", violation.frame, violation.detail),
        )
        .against(violation.requirement.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::catalogue::Level;
    use crate::contract::judge::RequirementRef;
    use serde_json::json;
    use std::time::Duration;

    fn received(kind: ReceivedKind) -> Received {
        Received {
            at: Duration::ZERO,
            kind,
        }
    }

    #[test]
    fn an_event_is_judged_by_its_own_schema() {
        let schemas = SchemaSet::bundled().unwrap();
        let good = json!({"event":"participant.left","data":{"id":"p1"}});
        assert!(matches_schema(&schemas, &good, "participant.left").is_ok());
        let unknown = matches_schema(&schemas, &good, "no.such.event").unwrap_err();
        assert_eq!(unknown.expected, "a schema for no.such.event");
        let bad = json!({"event":"chat.message","data":{"id":7}});
        let mismatch = matches_schema(&schemas, &bad, "chat.message").unwrap_err();
        assert_eq!(mismatch.expected, "chat.message to match its schema");
        assert!(
            mismatch.actual.starts_with(&bad.to_string()),
            "{}",
            mismatch.actual
        );
    }

    #[test]
    fn frames_that_are_not_envelopes_are_named() {
        let schemas = SchemaSet::bundled().unwrap();
        let envelope = schemas.envelope();
        let pong = received(ReceivedKind::Pong(Vec::new()));
        let event = received(ReceivedKind::Json(json!({"event":"pong","data":{}})));
        assert!(every_frame_an_envelope(envelope, &[pong, event.clone()]).is_ok());
        let binary = every_frame_an_envelope(envelope, &[event, received(ReceivedKind::Binary(3))])
            .unwrap_err();
        assert_eq!(
            binary.expected,
            "every frame a JSON object with a string event"
        );
        assert_eq!(binary.actual, "a binary frame of 3 bytes");
        let text =
            every_frame_an_envelope(envelope, &[received(ReceivedKind::NotJson("hi".into()))])
                .unwrap_err();
        assert_eq!(text.actual, "a text frame that is not JSON: \"hi\"");
        assert!(
            every_frame_an_envelope(envelope, &[received(ReceivedKind::Json(json!([1])))]).is_err()
        );
    }

    #[test]
    fn an_error_must_carry_the_code_and_the_event_named() {
        let frames = [received(ReceivedKind::Json(
            json!({"event":"error","data":{"code":"unknown_event","event":"dance"}}),
        ))];
        assert!(error_received(&frames, "unknown_event", None).is_ok());
        assert!(error_received(&frames, "unknown_event", Some("dance")).is_ok());
        let wrong_event = error_received(&frames, "unknown_event", Some("sing")).unwrap_err();
        assert_eq!(
            wrong_event.expected,
            "error \"unknown_event\" naming the event \"sing\""
        );
        assert_eq!(
            error_received(&frames, "invalid_json", None)
                .unwrap_err()
                .expected,
            "error \"invalid_json\""
        );
    }

    #[test]
    fn a_broken_frame_fails_the_requirement_the_judge_charged() {
        assert!(contract_kept("Ann#1", &[]).is_ok());
        let violation = SchemaViolation {
            requirement: RequirementRef {
                id: "SCHEMA-004".into(),
                title: "chat.message shape".into(),
                level: Level::Must,
            },
            frame: "{\"event\":\"chat.message\"}".into(),
            detail: "missing data".into(),
        };
        let failure = contract_kept("Ann#1", &[violation]).unwrap_err();
        assert_eq!(failure.violated(), Some("SCHEMA-004"));
        assert_eq!(
            failure.actual,
            "Ann#1 received {\"event\":\"chat.message\"}\nmissing data"
        );
    }
}
