//! The protocol contract as data: the JSON Schemas of `schemas/`, compiled and ready to judge frames.
//!
//! The suite knows the Chalk API only through these files and the requirement catalogue, never
//! through an implementation's types. `schemas/index.json` names every event's schema, its
//! direction, and whether the event is on the published page or is a reference-server extension.
//! [`SchemaSet`] loads the index and every schema (from disk, or from the copies compiled into the
//! binary), puts them in one offline `$ref` registry, and compiles one validator per event with
//! `format` checks turned on (they are mere annotations in draft 2020-12 otherwise).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jsonschema::{Registry, Validator};
use serde::Deserialize;
use serde_json::Value;

use crate::contract::frame::FrameView;

/// The base of every schema's `$id`; the schema's path relative to `schemas/` follows it.
pub const ID_BASE: &str = "https://chalk.test/schemas/";

/// The index file, relative to `schemas/`.
pub const INDEX_FILE: &str = "index.json";

macro_rules! bundle {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../../schemas/", $file)))),*]
    };
}

/// Every JSON file of `schemas/`, compiled into the binary so that it works from any directory:
/// `(path relative to schemas/, contents)`. A test checks that no file of `schemas/` is missing.
pub const BUNDLED: &[(&str, &str)] = bundle![
    "index.json",
    "envelope.schema.json",
    "token-claims.schema.json",
    "events/server/participant.joined.schema.json",
    "events/server/participant.left.schema.json",
    "events/server/chat.message.schema.json",
    "events/server/recording.started.schema.json",
    "events/server/recording.stopped.schema.json",
    "events/client/chat.send.schema.json",
    "events/client/hand.raise.schema.json",
    "events/client/hand.lower.schema.json",
    "events/client/ping.schema.json",
    "extensions/pong.schema.json",
    "extensions/error.schema.json",
    "extensions/hand.raised.schema.json",
    "extensions/hand.lowered.schema.json",
    "extensions/room.state.schema.json",
];

/// Who sends an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The server sends it to clients.
    Server,
    /// A client sends it to the server.
    Client,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Server => "server",
            Self::Client => "client",
        })
    }
}

/// Why the schemas could not be loaded or compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A file of the schemas directory could not be read from disk.
    #[error("cannot read {path}: {source}", path = path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The index names a file that is not among the files compiled into the binary.
    #[error("schemas/{file} is named by the index but not bundled; add it to `BUNDLED`")]
    NotBundled {
        /// The missing file, relative to `schemas/`.
        file: String,
    },
    /// A file is not valid JSON.
    #[error("schemas/{file} is not valid JSON: {source}")]
    Json {
        /// The file, relative to `schemas/`.
        file: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// `index.json` is JSON but not of the expected shape.
    #[error("schemas/{INDEX_FILE} does not have the expected shape: {source}")]
    Index {
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
    /// An index entry contradicts itself, for example a published event that names an extension.
    #[error("schemas/{INDEX_FILE}, event `{event}`: {problem}")]
    InconsistentEntry {
        /// The event whose entry is wrong.
        event: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A schema's `$id` is not the URI its place in `schemas/` calls for.
    #[error("schemas/{file} has $id {found:?}, expected {expected:?}")]
    IdMismatch {
        /// The schema file, relative to `schemas/`.
        file: String,
        /// The `$id` it should have.
        expected: String,
        /// The `$id` it has, if any.
        found: Option<String>,
    },
    /// An event schema pins (`properties.event.const`) another name than the index gives it.
    #[error("schemas/{file} is listed for event `{event}` but pins the event name {pinned:?}")]
    EventMismatch {
        /// The event name in the index.
        event: String,
        /// The schema file, relative to `schemas/`.
        file: String,
        /// The name the schema pins, if any.
        pinned: Option<String>,
    },
    /// The schemas could not be gathered into one `$ref` registry (e.g. an invalid `$id`).
    #[error("cannot build the schema registry: {source}")]
    Registry {
        /// The registry's error.
        #[source]
        source: jsonschema::ReferencingError,
    },
    /// A schema does not compile: it breaks the 2020-12 meta-schema, names an unknown `format`,
    /// or has a `$ref` that leads nowhere.
    #[error("schemas/{file} does not compile: {message}")]
    Compile {
        /// The schema file, relative to `schemas/`.
        file: String,
        /// The compiler's explanation.
        message: String,
    },
}

/// One way in which a JSON value breaks a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the value, as a JSON Pointer (`""` is the value itself, `/data/id` a member).
    pub instance_path: String,
    /// The schema keyword that failed, as `file#pointer` relative to `schemas/`.
    pub schema_path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.instance_path.is_empty() {
            "(the frame)"
        } else {
            &self.instance_path
        };
        write!(f, "at {at}: {} [{}]", self.message, self.schema_path)
    }
}

/// A frame that does not match the schema of its event (or the envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameViolation {
    /// The frame's event name, when it has a string one.
    pub event: Option<String>,
    /// The schema that rejected it, relative to `schemas/`.
    pub schema_file: String,
    /// Every way in which it breaks that schema.
    pub violations: Vec<Violation>,
}

impl fmt::Display for FrameViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event {
            Some(event) => write!(f, "`{event}` frame")?,
            None => write!(f, "frame")?,
        }
        write!(f, " does not match schemas/{}:", self.schema_file)?;
        for violation in &self.violations {
            write!(f, "\n  - {violation}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FrameViolation {}

/// One schema file, compiled.
pub struct CompiledSchema {
    file: String,
    document: Value,
    validator: Validator,
}

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// The schema's file, relative to `schemas/`.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The schema document as written.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The schema's `$id`.
    pub fn id(&self) -> String {
        format!("{ID_BASE}{}", self.file)
    }

    /// Whether `instance` matches the schema.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every way in which `instance` breaks the schema; `Ok` when it matches.
    pub fn check(&self, instance: &Value) -> Result<(), Vec<Violation>> {
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(instance)
            .map(|error| Violation {
                instance_path: error.instance_path().as_str().to_owned(),
                schema_path: match error.absolute_keyword_location() {
                    Some(uri) => uri
                        .as_str()
                        .strip_prefix(ID_BASE)
                        .unwrap_or(uri.as_str())
                        .to_owned(),
                    None => format!("{}#{}", self.file, error.schema_path().as_str()),
                },
                message: error.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// The schema of one event, with what the index says about it.
#[derive(Debug)]
pub struct EventSchema {
    name: String,
    direction: Direction,
    published: bool,
    extension: Option<String>,
    schema: CompiledSchema,
}

impl EventSchema {
    /// The event name, e.g. `chat.message`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Who sends the event.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether the event is on the published API page (`false` for reference-server extensions).
    pub fn is_published(&self) -> bool {
        self.published
    }

    /// The extension (as named in `spec/extensions.md`) that defines an unpublished event.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// The compiled schema of the whole frame (envelope included).
    pub fn schema(&self) -> &CompiledSchema {
        &self.schema
    }

    /// Checks a whole frame against this event's schema, whatever event name the frame carries.
    pub fn check(&self, frame: &Value) -> Result<(), FrameViolation> {
        self.schema
            .check(frame)
            .map_err(|violations| FrameViolation {
                event: FrameView(frame).event().map(str::to_owned),
                schema_file: self.schema.file.clone(),
                violations,
            })
    }
}

/// The shape of `schemas/index.json`.
#[derive(Debug, Deserialize)]
struct Index {
    envelope: String,
    token_claims: String,
    events: BTreeMap<String, IndexEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexEntry {
    schema: String,
    direction: Direction,
    published: bool,
    #[serde(default)]
    extension: Option<String>,
}

/// Every schema of the contract, compiled: the envelope, the token claims and one per event.
#[derive(Debug)]
pub struct SchemaSet {
    envelope: CompiledSchema,
    token_claims: CompiledSchema,
    events: BTreeMap<String, EventSchema>,
}

impl SchemaSet {
    /// Loads the schemas from a `schemas/` directory on disk.
    pub fn load(dir: &Path) -> Result<Self, SchemaError> {
        Self::assemble(|file| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| SchemaError::Read { path, source })
        })
    }

    /// Loads the schemas compiled into the binary (see [`BUNDLED`]); works from any directory.
    pub fn bundled() -> Result<Self, SchemaError> {
        Self::assemble(|file| {
            BUNDLED
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, text)| (*text).to_owned())
                .ok_or_else(|| SchemaError::NotBundled {
                    file: file.to_owned(),
                })
        })
    }

    fn assemble(read: impl Fn(&str) -> Result<String, SchemaError>) -> Result<Self, SchemaError> {
        let parse = |file: &str| -> Result<Value, SchemaError> {
            serde_json::from_str(&read(file)?).map_err(|source| SchemaError::Json {
                file: file.to_owned(),
                source,
            })
        };
        let index: Index = serde_json::from_value(parse(INDEX_FILE)?)
            .map_err(|source| SchemaError::Index { source })?;
        for (event, entry) in &index.events {
            let problem = match (entry.published, &entry.extension) {
                (true, Some(_)) => Some("a published event names an extension"),
                (false, None) => Some("an unpublished event must name its extension"),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(SchemaError::InconsistentEntry {
                    event: event.clone(),
                    problem,
                });
            }
        }

        let mut documents = BTreeMap::new();
        let files = [&index.envelope, &index.token_claims]
            .into_iter()
            .chain(index.events.values().map(|entry| &entry.schema));
        for file in files {
            let document = parse(file)?;
            let expected = format!("{ID_BASE}{file}");
            let found = document.get("$id").and_then(Value::as_str);
            if found != Some(expected.as_str()) {
                return Err(SchemaError::IdMismatch {
                    file: file.clone(),
                    expected,
                    found: found.map(str::to_owned),
                });
            }
            documents.insert(file.clone(), document);
        }

        let registry = Registry::new()
            .extend(
                documents
                    .iter()
                    .map(|(file, document)| (format!("{ID_BASE}{file}"), document)),
            )
            .and_then(|builder| builder.prepare())
            .map_err(|source| SchemaError::Registry { source })?;
        let compile = |file: &str| -> Result<CompiledSchema, SchemaError> {
            let document = documents[file].clone();
            let validator = jsonschema::draft202012::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .should_ignore_unknown_formats(false)
                .offline()
                .build(&document)
                .map_err(|error| SchemaError::Compile {
                    file: file.to_owned(),
                    message: error.to_string(),
                })?;
            Ok(CompiledSchema {
                file: file.to_owned(),
                document,
                validator,
            })
        };

        let mut events = BTreeMap::new();
        for (name, entry) in &index.events {
            let schema = compile(&entry.schema)?;
            let pinned = schema
                .document
                .pointer("/properties/event/const")
                .and_then(Value::as_str);
            if pinned != Some(name.as_str()) {
                return Err(SchemaError::EventMismatch {
                    event: name.clone(),
                    file: entry.schema.clone(),
                    pinned: pinned.map(str::to_owned),
                });
            }
            events.insert(
                name.clone(),
                EventSchema {
                    name: name.clone(),
                    direction: entry.direction,
                    published: entry.published,
                    extension: entry.extension.clone(),
                    schema,
                },
            );
        }
        Ok(Self {
            envelope: compile(&index.envelope)?,
            token_claims: compile(&index.token_claims)?,
            events,
        })
    }

    /// The envelope every frame must match, whatever its event.
    pub fn envelope(&self) -> &CompiledSchema {
        &self.envelope
    }

    /// The schema of a participant token's claims.
    pub fn token_claims(&self) -> &CompiledSchema {
        &self.token_claims
    }

    /// The schema of one event, if the index knows it.
    pub fn event(&self, name: &str) -> Option<&EventSchema> {
        self.events.get(name)
    }

    /// Every event the index knows, by name.
    pub fn events(&self) -> impl Iterator<Item = &EventSchema> {
        self.events.values()
    }

    /// Every compiled schema file: the envelope, the token claims, then the events by name.
    pub fn schemas(&self) -> impl Iterator<Item = &CompiledSchema> {
        [&self.envelope, &self.token_claims]
            .into_iter()
            .chain(self.events.values().map(EventSchema::schema))
    }

    /// Judges one frame: first against the envelope, then against its event's schema.
    ///
    /// Returns the event's name when the event is known and the frame matches, `None` when the
    /// frame is a valid envelope of an event no schema describes (the caller decides whether an
    /// unknown event is acceptable), and the violations otherwise. The frame's direction is not
    /// checked here: see [`EventSchema::direction`].
    pub fn validate_frame(&self, frame: &Value) -> Result<Option<&str>, FrameViolation> {
        self.envelope
            .check(frame)
            .map_err(|violations| FrameViolation {
                event: FrameView(frame).event().map(str::to_owned),
                schema_file: self.envelope.file.clone(),
                violations,
            })?;
        match FrameView(frame)
            .event()
            .and_then(|name| self.events.get(name))
        {
            Some(event) => event.check(frame).map(|()| Some(event.name())),
            None => Ok(None),
        }
    }
}
