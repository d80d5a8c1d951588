//! The requirement catalogue (`spec/requirements.toml`) as types, with lookups and a linter.
//!
//! Requirement IDs are the spine of the suite: catalogue entry → `@req.<ID>` scenario tag → report
//! line. [`Catalogue::validate`] enforces the catalogue's own rules (ID form, area prefix, the
//! `extension` field exactly on extension-level entries, known extension and event names) and
//! reports every problem at once, so one run of the linter shows everything to fix.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::contract::schemas::SchemaSet;

/// The extension names of `spec/extensions.md`, the only values `extension` may take.
pub const KNOWN_EXTENSIONS: &[&str] = &[
    "chat-echo",
    "pong-event",
    "hand-events",
    "room-state",
    "error-event",
    "close-codes",
    "refusal-statuses",
    "single-session",
    "token-expiry",
    "one-recording",
];

/// The capabilities a requirement may need from a run (`needs`), as listed in the catalogue's header.
pub const KNOWN_NEEDS: &[&str] = &[
    "forge-tokens",
    "allowed-origin",
    "rest-api",
    "recordings",
    "participant-removal",
    "room-end",
    "long-session",
    "name-rooms",
    "custom-roles",
    "two-nodes",
    "node-kill",
    "node-restart",
];

/// The catalogue's text, compiled into the binary.
pub const BUNDLED_TOML: &str = include_str!("../../../spec/requirements.toml");

/// The part of the API a requirement is about; it fixes the requirement's ID prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// How the token reaches the server and what makes it acceptable.
    Authentication,
    /// Negotiation of the `chalk` subprotocol.
    Subprotocol,
    /// Validation of the `Origin` header.
    Origin,
    /// `participant.joined` / `participant.left`.
    Presence,
    /// `chat.send` / `chat.message`.
    Chat,
    /// `hand.raise` / `hand.lower`.
    Hands,
    /// `ping` and keeping the connection alive.
    Keepalive,
    /// `recording.started` / `recording.stopped`.
    Recording,
    /// The shape of frames.
    Schema,
    /// Behaviour under malformed, oversized or hostile input.
    Robustness,
    /// Rooms whose members sit on different nodes of one deployment.
    Cluster,
}

impl Area {
    /// Every area, in catalogue order.
    pub const ALL: [Area; 11] = [
        Area::Authentication,
        Area::Subprotocol,
        Area::Origin,
        Area::Presence,
        Area::Chat,
        Area::Hands,
        Area::Keepalive,
        Area::Recording,
        Area::Schema,
        Area::Robustness,
        Area::Cluster,
    ];

    /// The area's name as written in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Authentication => "authentication",
            Area::Subprotocol => "subprotocol",
            Area::Origin => "origin",
            Area::Presence => "presence",
            Area::Chat => "chat",
            Area::Hands => "hands",
            Area::Keepalive => "keepalive",
            Area::Recording => "recording",
            Area::Schema => "schema",
            Area::Robustness => "robustness",
            Area::Cluster => "cluster",
        }
    }

    /// The prefix of the IDs of this area's requirements (`AUTH` in `AUTH-001`).
    pub fn prefix(self) -> &'static str {
        match self {
            Area::Authentication => "AUTH",
            Area::Subprotocol => "PROTO",
            Area::Origin => "ORIGIN",
            Area::Presence => "PRES",
            Area::Chat => "CHAT",
            Area::Hands => "HAND",
            Area::Keepalive => "PING",
            Area::Recording => "REC",
            Area::Schema => "SCHEMA",
            Area::Robustness => "ROBUST",
            Area::Cluster => "CLUSTER",
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How binding a requirement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Required by the page or a standard it relies on; a failure makes a server non-conformant.
    Must,
    /// Recommended practice; a failure is a warning unless the run is strict.
    Should,
    /// A reference-server choice where the page is silent; checked only when declared.
    Extension,
}

impl Level {
    /// The level's name as written in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::Extension => "extension",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[requirement]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Requirement {
    /// The stable ID, `<AREA-PREFIX>-<3 digits>`, e.g. `AUTH-001`.
    pub id: String,
    /// The part of the API the requirement is about.
    pub area: Area,
    /// How binding it is.
    pub level: Level,
    /// A short title.
    pub title: String,
    /// The requirement in this project's words.
    pub statement: String,
    /// What it rests on: a part of the API page or an RFC section.
    pub source: String,
    /// The extension that defines it; present exactly when `level` is `extension`.
    #[serde(default)]
    pub extension: Option<String>,
    /// The events it involves.
    #[serde(default)]
    pub events: Vec<String>,
    /// What a run must be able to do for the requirement to be checked (see [`KNOWN_NEEDS`]).
    #[serde(default)]
    pub needs: Vec<String>,
    /// The single-node requirement a cluster requirement checks on a room spread over nodes;
    /// present exactly on cluster entries, which keep its level and extension.
    #[serde(default)]
    pub counterpart: Option<String>,
    /// Whether the requirement was withdrawn; its ID stays reserved.
    #[serde(default)]
    pub retired: bool,
}

/// Why the catalogue could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The catalogue file could not be read from disk.
    #[error("cannot read {path}: {source}", path = path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML of the catalogue's shape (this includes an unknown area or level).
    #[error("the catalogue is not valid: {source}")]
    Parse {
        /// What the TOML parser objected to.
        #[source]
        source: toml::de::Error,
    },
}

/// A rule of the catalogue that an entry breaks, found by [`Catalogue::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueProblem {
    /// Two entries share an ID.
    #[error("{id}: the ID is used more than once")]
    DuplicateId {
        /// The repeated ID.
        id: String,
    },
    /// An ID is not of the form `<PREFIX>-<3 digits>`.
    #[error("{id:?}: an ID must be an upper-case prefix, a dash and three digits, like AUTH-001")]
    MalformedId {
        /// The malformed ID.
        id: String,
    },
    /// An ID's prefix is not the one of its area.
    #[error("{id}: area `{area}` calls for the prefix {expected}")]
    PrefixMismatch {
        /// The entry's ID.
        id: String,
        /// The entry's area.
        area: Area,
        /// The prefix the area calls for.
        expected: &'static str,
    },
    /// A text field is empty or only whitespace.
    #[error("{id}: `{field}` is empty")]
    EmptyField {
        /// The entry's ID.
        id: String,
        /// The empty field.
        field: &'static str,
    },
    /// An extension-level entry does not name its extension.
    #[error("{id}: level `extension` needs an `extension` naming one of spec/extensions.md")]
    MissingExtension {
        /// The entry's ID.
        id: String,
    },
    /// A `must` or `should` entry names an extension.
    #[error("{id}: level `{level}` must not name an extension")]
    UnexpectedExtension {
        /// The entry's ID.
        id: String,
        /// The entry's level.
        level: Level,
    },
    /// `extension` is not one of the names in `spec/extensions.md`.
    #[error("{id}: unknown extension `{extension}`")]
    UnknownExtension {
        /// The entry's ID.
        id: String,
        /// The unknown name.
        extension: String,
    },
    /// `events` names an event that `schemas/index.json` does not know.
    #[error("{id}: unknown event `{event}` (not in schemas/index.json)")]
    UnknownEvent {
        /// The entry's ID.
        id: String,
        /// The unknown event name.
        event: String,
    },
    /// A cluster entry names no counterpart, or another entry names one.
    #[error("{id}: a counterpart goes with area `cluster` and only with it")]
    CounterpartPlacement {
        /// The entry's ID.
        id: String,
    },
    /// A cluster entry's counterpart is unknown, a cluster entry itself, or of another level or
    /// extension.
    #[error("{id}: its counterpart {counterpart} {problem}")]
    CounterpartMismatch {
        /// The entry's ID.
        id: String,
        /// The counterpart it names.
        counterpart: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `needs` names a capability that is not in [`KNOWN_NEEDS`].
    #[error("{id}: unknown need `{need}`")]
    UnknownNeed {
        /// The entry's ID.
        id: String,
        /// The unknown capability.
        need: String,
    },
}

/// The whole catalogue, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "requirement", default)]
    requirements: Vec<Requirement>,
}

impl Catalogue {
    /// Parses catalogue text.
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        toml::from_str(text).map_err(|source| CatalogueError::Parse { source })
    }

    /// Reads and parses a catalogue file.
    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses the catalogue compiled into the binary (see [`BUNDLED_TOML`]).
    pub fn bundled() -> Result<Self, CatalogueError> {
        Self::parse(BUNDLED_TOML)
    }

    /// Every entry, retired ones included, in file order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Every entry that is not retired.
    pub fn active(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements.iter().filter(|r| !r.retired)
    }

    /// The entry with this ID.
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// The entries of one area.
    pub fn in_area(&self, area: Area) -> impl Iterator<Item = &Requirement> {
        self.requirements.iter().filter(move |r| r.area == area)
    }

    /// The entries of one level.
    pub fn at_level(&self, level: Level) -> impl Iterator<Item = &Requirement> {
        self.requirements.iter().filter(move |r| r.level == level)
    }

    /// The entries that belong to one extension.
    pub fn of_extension<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Requirement> {
        self.requirements
            .iter()
            .filter(move |r| r.extension.as_deref() == Some(name))
    }

    /// The entries that involve one event.
    pub fn involving_event<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a Requirement> {
        self.requirements
            .iter()
            .filter(move |r| r.events.iter().any(|e| e == event))
    }

    /// Every broken rule, in file order; empty when the catalogue is sound. Event names are
    /// checked against the index of `schemas`.
    pub fn validate(&self, schemas: &SchemaSet) -> Vec<CatalogueProblem> {
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for r in &self.requirements {
            let id = || r.id.clone();
            if !seen.insert(r.id.as_str()) {
                problems.push(CatalogueProblem::DuplicateId { id: id() });
            }
            match id_prefix(&r.id) {
                None => problems.push(CatalogueProblem::MalformedId { id: id() }),
                Some(prefix) if prefix != r.area.prefix() => {
                    problems.push(CatalogueProblem::PrefixMismatch {
                        id: id(),
                        area: r.area,
                        expected: r.area.prefix(),
                    });
                }
                Some(_) => {}
            }
            for (field, value) in [
                ("title", &r.title),
                ("statement", &r.statement),
                ("source", &r.source),
            ] {
                if value.trim().is_empty() {
                    problems.push(CatalogueProblem::EmptyField { id: id(), field });
                }
            }
            match (r.level, &r.extension) {
                (Level::Extension, None) => {
                    problems.push(CatalogueProblem::MissingExtension { id: id() });
                }
                (Level::Must | Level::Should, Some(_)) => {
                    problems.push(CatalogueProblem::UnexpectedExtension {
                        id: id(),
                        level: r.level,
                    });
                }
                _ => {}
            }
            if let Some(extension) = &r.extension
                && !KNOWN_EXTENSIONS.contains(&extension.as_str())
            {
                problems.push(CatalogueProblem::UnknownExtension {
                    id: id(),
                    extension: extension.clone(),
                });
            }
            for event in &r.events {
                if schemas.event(event).is_none() {
                    problems.push(CatalogueProblem::UnknownEvent {
                        id: id(),
                        event: event.clone(),
                    });
                }
            }
            self.check_counterpart(r, &mut problems);
            for need in &r.needs {
                if !KNOWN_NEEDS.contains(&need.as_str()) {
                    problems.push(CatalogueProblem::UnknownNeed {
                        id: id(),
                        need: need.clone(),
                    });
                }
            }
        }
        problems
    }
}

impl Catalogue {
    /// The problems of `r`'s counterpart: present exactly on cluster entries, naming a known
    /// single-node entry of the same level and extension.
    fn check_counterpart(&self, r: &Requirement, problems: &mut Vec<CatalogueProblem>) {
        let Some(id) = &r.counterpart else {
            if r.area == Area::Cluster {
                problems.push(CatalogueProblem::CounterpartPlacement { id: r.id.clone() });
            }
            return;
        };
        if r.area != Area::Cluster {
            problems.push(CatalogueProblem::CounterpartPlacement { id: r.id.clone() });
            return;
        }
        let mismatch = |problem: String| CatalogueProblem::CounterpartMismatch {
            id: r.id.clone(),
            counterpart: id.clone(),
            problem,
        };
        match self.requirement(id) {
            None => problems.push(mismatch("is not in the catalogue".to_owned())),
            Some(c) if c.area == Area::Cluster => {
                problems.push(mismatch("is a cluster entry itself".to_owned()));
            }
            Some(c) if c.level != r.level || c.extension != r.extension => {
                problems.push(mismatch(format!(
                    "is {}{}: a cluster entry keeps its counterpart's level and extension",
                    c.level,
                    c.extension
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )));
            }
            Some(_) => {}
        }
    }
}

/// The prefix of a well-formed ID (`AUTH` for `AUTH-001`), `None` for a malformed one.
fn id_prefix(id: &str) -> Option<&str> {
    let (prefix, number) = id.split_once('-')?;
    let prefix_ok = !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_uppercase());
    let number_ok = number.len() == 3 && number.bytes().all(|b| b.is_ascii_digit());
    (prefix_ok && number_ok).then_some(prefix)
}
