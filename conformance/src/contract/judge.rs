//! Judging every frame a server sends against the contract.
//!
//! Each text frame received in any scenario must be a JSON event envelope (SCHEMA-001). A frame of
//! an event the page documents, or of an extension event the server declared, must also match
//! that event's schema; a violation is charged to the catalogue's schema requirement that lists
//! the event (SCHEMA-004 for `chat.message`, …). Events the suite does not know, or extension
//! events of undeclared extensions, only have to be valid envelopes: a server may send more than
//! the page shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::contract::catalogue::{Area, Catalogue, Level, Requirement};
use crate::contract::frame::FrameView;
use crate::contract::schemas::{Direction, SchemaSet};

/// The requirement every frame answers to.
pub const ENVELOPE_REQUIREMENT: &str = "SCHEMA-001";

/// A requirement as a failure names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementRef {
    /// Its ID.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its level.
    pub level: Level,
}

impl RequirementRef {
    /// How a failure names `requirement`.
    pub fn of(requirement: &Requirement) -> Self {
        Self {
            id: requirement.id.clone(),
            title: requirement.title.clone(),
            level: requirement.level,
        }
    }

    /// How a failure names `id`: as the catalogue has it or, for an ID the catalogue lacks, as a
    /// must with `fallback_title`.
    pub fn lookup(catalogue: &Catalogue, id: &str, fallback_title: &str) -> Self {
        catalogue.requirement(id).map_or_else(
            || Self {
                id: id.to_owned(),
                title: fallback_title.to_owned(),
                level: Level::Must,
            },
            Self::of,
        )
    }
}

impl fmt::Display for RequirementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) {}", self.id, self.level, self.title)
    }
}

/// A received frame that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// The requirement it breaks.
    pub requirement: RequirementRef,
    /// The frame as received (text, or a description of a binary frame).
    pub frame: String,
    /// Which schema rejected it and how.
    pub detail: String,
}

/// Judges frames; one per run.
#[derive(Debug)]
pub struct FrameJudge {
    schemas: SchemaSet,
    declared: BTreeSet<String>,
    envelope: RequirementRef,
    by_event: BTreeMap<String, RequirementRef>,
    requirements: BTreeMap<String, RequirementRef>,
}

impl FrameJudge {
    /// A judge for a server that declared `declared` extensions.
    pub fn new(schemas: SchemaSet, catalogue: &Catalogue, declared: BTreeSet<String>) -> Self {
        let reference = |id: &str| RequirementRef::lookup(catalogue, id, "frame shape");
        let mut by_event = BTreeMap::new();
        for requirement in catalogue.in_area(Area::Schema).filter(|r| !r.retired) {
            for event in &requirement.events {
                by_event
                    .entry(event.clone())
                    .or_insert_with(|| reference(&requirement.id));
            }
        }
        Self {
            schemas,
            declared,
            envelope: reference(ENVELOPE_REQUIREMENT),
            by_event,
            // Reversed, so that the first entry of an ID wins, as in `Catalogue::requirement`.
            requirements: catalogue
                .requirements()
                .iter()
                .rev()
                .map(|r| (r.id.clone(), RequirementRef::of(r)))
                .collect(),
        }
    }

    /// The catalogue entry `id` as a failure names it (a must with a placeholder title, for an
    /// ID the catalogue lacks): for judges of whole runs, like the fuzz oracle, that charge
    /// findings by ID.
    pub fn requirement(&self, id: &str) -> RequirementRef {
        self.requirements
            .get(id)
            .cloned()
            .unwrap_or_else(|| RequirementRef {
                id: id.to_owned(),
                title: "(not in the catalogue)".to_owned(),
                level: Level::Must,
            })
    }

    /// The schemas in use.
    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    /// Judges a text frame: its JSON value when it is JSON, and the violation if any.
    pub fn judge_text(&self, text: &str) -> (Option<Value>, Option<SchemaViolation>) {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                return (
                    None,
                    Some(self.violation(&self.envelope, text, format!("not JSON: {e}"))),
                );
            }
        };
        if let Err(violations) = self.schemas.envelope().check(&value) {
            let detail = violations
                .iter()
                .map(|v| format!("does not match {}: {v}", self.schemas.envelope().file()))
                .collect::<Vec<_>>()
                .join("\n");
            return (
                Some(value.clone()),
                Some(self.violation(&self.envelope, text, detail)),
            );
        }
        let name = FrameView(&value).event().unwrap_or_default();
        let Some(event) = self.schemas.event(name) else {
            return (Some(value), None);
        };
        let judged = event.direction() == Direction::Server
            && (event.is_published()
                || event.extension().is_some_and(|e| self.declared.contains(e)));
        if !judged {
            return (Some(value), None);
        }
        match event.check(&value) {
            Ok(()) => (Some(value), None),
            Err(violation) => {
                let requirement = self.by_event.get(name).unwrap_or(&self.envelope);
                let detail = violation.to_string();
                (Some(value), Some(self.violation(requirement, text, detail)))
            }
        }
    }

    /// The members of a frame of an event with a schema that the schema does not list: top-level
    /// ones by name (`seq`), ones inside `data` as `data.NAME`. They are allowed (the page does
    /// not forbid them); a run only notes them.
    pub fn unlisted_members(&self, frame: &Value) -> Vec<String> {
        let Some(event) = FrameView(frame)
            .event()
            .and_then(|name| self.schemas.event(name))
        else {
            return Vec::new();
        };
        let schema = event.schema().document();
        let unlisted = |value: Option<&Value>, listed: &Value, prefix: &str| -> Vec<String> {
            let Some(members) = value.and_then(Value::as_object) else {
                return Vec::new();
            };
            members
                .keys()
                .filter(|name| listed.get(name.as_str()).is_none())
                .map(|name| format!("{prefix}{name}"))
                .collect()
        };
        let mut found = unlisted(Some(frame), &schema["properties"], "");
        found.extend(unlisted(
            frame.get("data"),
            &schema["properties"]["data"]["properties"],
            "data.",
        ));
        found
    }

    /// Judges a binary frame: always a violation, the API speaks JSON text.
    pub fn judge_binary(&self, len: usize) -> SchemaViolation {
        self.violation(
            &self.envelope,
            &format!("(binary frame of {len} bytes)"),
            "a binary data frame; every frame must be a text frame holding JSON".to_owned(),
        )
    }

    fn violation(
        &self,
        requirement: &RequirementRef,
        frame: &str,
        detail: String,
    ) -> SchemaViolation {
        SchemaViolation {
            requirement: requirement.clone(),
            frame: frame.to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(declared: &[&str]) -> FrameJudge {
        FrameJudge::new(
            SchemaSet::bundled().unwrap(),
            &Catalogue::bundled().unwrap(),
            declared.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn accepts_documented_events_of_the_right_shape() {
        let (value, violation) = judge(&[]).judge_text(
            r#"{"event":"chat.message","data":{"id":"m1","sender_id":"p1","text":"hi","timestamp":"2026-01-06T10:45:00Z"}}"#,
        );
        assert!(value.is_some());
        assert_eq!(violation, None);
    }

    #[test]
    fn charges_a_bad_chat_message_to_its_schema_requirement() {
        let (_, violation) = judge(&[]).judge_text(
            r#"{"event":"chat.message","data":{"id":"m1","text":"hi","timestamp":"now"}}"#,
        );
        let violation = violation.unwrap();
        assert_eq!(violation.requirement.id, "SCHEMA-004");
        assert!(
            violation.detail.contains("chat.message.schema.json"),
            "{}",
            violation.detail
        );
    }

    #[test]
    fn charges_non_json_and_binary_to_the_envelope() {
        let judge = judge(&[]);
        assert_eq!(
            judge.judge_text("hello").1.unwrap().requirement.id,
            "SCHEMA-001"
        );
        assert_eq!(
            judge.judge_text("[1]").1.unwrap().requirement.id,
            "SCHEMA-001"
        );
        assert_eq!(judge.judge_binary(3).requirement.id, "SCHEMA-001");
    }

    #[test]
    fn holds_extension_events_to_their_schema_only_when_declared() {
        let bad_pong = r#"{"event":"pong","data":{"timestamp":7}}"#;
        assert_eq!(judge(&[]).judge_text(bad_pong).1, None);
        assert_eq!(
            judge(&["pong-event"])
                .judge_text(bad_pong)
                .1
                .unwrap()
                .requirement
                .id,
            "SCHEMA-008"
        );
    }

    #[test]
    fn names_the_members_a_schema_does_not_list_without_judging_them() {
        let judge = judge(&[]);
        let frame = r#"{"event":"participant.left","seq":3,"data":{"id":"p1","x_node":"n"}}"#;
        let (value, violation) = judge.judge_text(frame);
        assert_eq!(violation, None);
        assert_eq!(
            judge.unlisted_members(&value.unwrap()),
            ["seq", "data.x_node"]
        );
        let plain: Value =
            serde_json::from_str(r#"{"event":"participant.left","data":{"id":"p1"}}"#).unwrap();
        assert!(judge.unlisted_members(&plain).is_empty());
        let unknown: Value = serde_json::from_str(r#"{"event":"poll.created","seq":1}"#).unwrap();
        assert!(judge.unlisted_members(&unknown).is_empty());
    }

    #[test]
    fn lets_unknown_events_through_as_envelopes() {
        assert_eq!(
            judge(&[])
                .judge_text(r#"{"event":"poll.created","data":{}}"#)
                .1,
            None
        );
    }
}
