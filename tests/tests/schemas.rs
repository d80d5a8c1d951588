//! The JSON Schemas of `schemas/` judged: they compile with `format` checks on, accept their own
//! examples, judge every fixture case as the fixture says, document themselves, and are all
//! compiled into the conformance binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chalk_conformance::contract::schemas::{BUNDLED, CompiledSchema, ID_BASE, SchemaSet};
use serde::Deserialize;
use serde_json::{Value, json};

const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schemas() -> SchemaSet {
    SchemaSet::bundled().unwrap_or_else(|e| panic!("the bundled schemas do not load: {e}"))
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("path under root");
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(parts.join("/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The short name of a schema file: `events/server/chat.message.schema.json` → `chat.message`.
fn stem(schema_file: &str) -> &str {
    let name = schema_file.rsplit('/').next().unwrap_or(schema_file);
    name.strip_suffix(".schema.json").unwrap_or(name)
}

#[test]
fn every_schema_on_disk_compiles_with_formats_checked() {
    let from_disk = SchemaSet::load(&repo_root().join("schemas"))
        .unwrap_or_else(|e| panic!("schemas/ does not load: {e}"));
    let bundled = schemas();
    let files =
        |set: &SchemaSet| -> Vec<String> { set.schemas().map(|s| s.file().to_owned()).collect() };
    assert_eq!(files(&from_disk), files(&bundled));
    // A format that is only an annotation would let this through.
    let frame = json!({"event": "chat.message", "data": {
        "id": "m", "sender_id": "p", "text": "", "timestamp": "yesterday"}});
    assert!(from_disk.validate_frame(&frame).is_err());
}

#[test]
fn the_binary_bundles_every_json_file_of_the_schemas_directory_unchanged() {
    let dir = repo_root().join("schemas");
    let on_disk: BTreeSet<String> = files_under(&dir)
        .into_iter()
        .filter(|f| f.ends_with(".json"))
        .collect();
    let bundled: BTreeSet<String> = BUNDLED.iter().map(|(f, _)| (*f).to_owned()).collect();
    let missing: Vec<_> = on_disk.difference(&bundled).collect();
    let stale: Vec<_> = bundled.difference(&on_disk).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "chalk_conformance::contract::schemas::BUNDLED is out of date: missing {missing:?}, no longer on disk {stale:?}"
    );
    for (file, text) in BUNDLED {
        let disk = std::fs::read_to_string(dir.join(file)).expect("readable schema file");
        assert_eq!(disk, *text, "bundled copy of schemas/{file} differs");
    }
}

#[test]
fn every_schema_file_on_disk_is_named_by_the_index() {
    let on_disk: BTreeSet<String> = files_under(&repo_root().join("schemas"))
        .into_iter()
        .filter(|f| f.ends_with(".schema.json"))
        .collect();
    let indexed: BTreeSet<String> = schemas().schemas().map(|s| s.file().to_owned()).collect();
    assert_eq!(on_disk, indexed);
}

#[test]
fn every_schema_accepts_its_own_examples() {
    let schemas = schemas();
    let mut failures = Vec::new();
    for schema in schemas.schemas() {
        let examples = schema.document()["examples"].as_array().cloned();
        for (i, example) in examples.unwrap_or_default().iter().enumerate() {
            if let Err(violations) = schema.check(example) {
                let reasons: Vec<String> = violations.iter().map(ToString::to_string).collect();
                failures.push(format!(
                    "{} example #{i}: {}",
                    schema.file(),
                    reasons.join("; ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Collects, into `missing`, every property (at any depth) that has no `description`.
fn undocumented_properties(schema: &Value, at: &str, missing: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    if property
                        .get("description")
                        .and_then(Value::as_str)
                        .is_none()
                    {
                        missing.push(format!("{at}/properties/{name}"));
                    }
                }
            }
            for (key, value) in map {
                if key != "examples" {
                    undocumented_properties(value, &format!("{at}/{key}"), missing);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undocumented_properties(item, &format!("{at}/{i}"), missing);
            }
        }
        _ => {}
    }
}

#[test]
fn every_schema_documents_itself() {
    let schemas = schemas();
    let mut problems = Vec::new();
    for schema in schemas.schemas() {
        let doc = schema.document();
        let file = schema.file();
        if doc["$schema"] != DIALECT {
            problems.push(format!("{file}: $schema is not {DIALECT}"));
        }
        if doc["$id"] != format!("{ID_BASE}{file}").as_str() {
            problems.push(format!("{file}: $id is not {ID_BASE}{file}"));
        }
        for key in ["title", "description"] {
            if doc[key].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{file}: no {key}"));
            }
        }
        if doc["required"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{file}: no required members"));
        }
        if doc["examples"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{file}: no examples"));
        }
        let mut missing = Vec::new();
        undocumented_properties(doc, "", &mut missing);
        problems.extend(
            missing
                .into_iter()
                .map(|at| format!("{file}: no description at {at}")),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_event_schema_builds_on_the_envelope() {
    let schemas = schemas();
    for event in schemas.events() {
        let doc = event.schema().document();
        let reference = doc["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{} does not $ref the envelope", event.schema().file()));
        let depth = event.schema().file().matches('/').count();
        assert_eq!(
            reference,
            format!("{}envelope.schema.json", "../".repeat(depth)),
            "{}",
            event.schema().file()
        );
    }
}

#[test]
fn extension_events_are_unpublished_and_live_in_the_extensions_folder() {
    let schemas = schemas();
    for event in schemas.events() {
        let in_extensions = event.schema().file().starts_with("extensions/");
        assert_eq!(
            !event.is_published(),
            in_extensions,
            "{}: published = {}, file {}",
            event.name(),
            event.is_published(),
            event.schema().file()
        );
        assert_eq!(event.extension().is_some(), !event.is_published());
    }
}

/// One case of a fixture file, in the shape of JSON-Schema-Test-Suite.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureCase {
    description: String,
    data: Value,
    valid: bool,
}

fn fixture_dir() -> PathBuf {
    repo_root().join("tests/fixtures/schemas")
}

fn compiled_by_stem(schemas: &SchemaSet) -> BTreeMap<&str, &CompiledSchema> {
    schemas.schemas().map(|s| (stem(s.file()), s)).collect()
}

#[test]
fn every_schema_has_a_fixture_file_and_every_fixture_file_a_schema() {
    let schemas = schemas();
    let expected: BTreeSet<String> = compiled_by_stem(&schemas)
        .keys()
        .map(|stem| format!("{stem}.json"))
        .collect();
    let found = files_under(&fixture_dir());
    let missing: Vec<_> = expected.difference(&found).collect();
    let orphans: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && orphans.is_empty(),
        "fixtures missing for {missing:?}; fixtures without a schema: {orphans:?}"
    );
}

#[test]
fn every_fixture_case_is_judged_as_the_fixture_says() {
    let schemas = schemas();
    let mut misjudged = Vec::new();
    let mut cases = 0;
    for (stem, schema) in compiled_by_stem(&schemas) {
        let path = fixture_dir().join(format!("{stem}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // reported by the test on fixture coverage
        };
        let file = format!("tests/fixtures/schemas/{stem}.json");
        let fixture: Vec<FixtureCase> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not a list of cases: {e}"));
        let valid_cases = fixture.iter().filter(|c| c.valid).count();
        if valid_cases == 0 || valid_cases == fixture.len() {
            misjudged.push(format!("{file}: needs both valid and invalid cases"));
        }
        for case in &fixture {
            cases += 1;
            match (case.valid, schema.check(&case.data)) {
                (true, Err(violations)) => {
                    let reasons: Vec<String> = violations.iter().map(ToString::to_string).collect();
                    misjudged.push(format!(
                        "{file}: \"{}\" should be valid against {} but: {}",
                        case.description,
                        schema.file(),
                        reasons.join("; ")
                    ));
                }
                (false, Ok(())) => misjudged.push(format!(
                    "{file}: \"{}\" should be invalid against {} but passed",
                    case.description,
                    schema.file()
                )),
                _ => {}
            }
        }
    }
    assert!(
        misjudged.is_empty(),
        "{} of {cases} fixture cases misjudged:\n{}",
        misjudged.len(),
        misjudged.join("\n")
    );
}

#[test]
fn a_valid_frame_of_a_known_event_is_named() {
    let schemas = schemas();
    let frame = json!({"event": "participant.left", "data": {"id": "p_abc123"}});
    assert_eq!(schemas.validate_frame(&frame), Ok(Some("participant.left")));
}

#[test]
fn a_valid_envelope_of_an_unknown_event_is_accepted_without_a_name() {
    let schemas = schemas();
    let frame = json!({"event": "poll.created", "data": {"question": "?"}});
    assert_eq!(schemas.validate_frame(&frame), Ok(None));
}

#[test]
fn a_payload_only_at_top_level_is_reported_at_the_event_schema_with_its_path() {
    let schemas = schemas();
    let frame = json!({"event": "participant.left", "id": "p_abc123"});
    let violation = schemas.validate_frame(&frame).expect_err("invalid frame");
    assert_eq!(violation.event.as_deref(), Some("participant.left"));
    assert_eq!(
        violation.schema_file,
        "events/server/participant.left.schema.json"
    );
    let report = violation.to_string();
    assert!(
        report.contains("schemas/events/server/participant.left.schema.json"),
        "{report}"
    );
    assert!(
        report.contains(r#""data" is a required property"#),
        "{report}"
    );
}

#[test]
fn a_known_event_with_extra_top_level_members_passes_its_schema() {
    let schemas = schemas();
    let frame = json!({"event": "participant.left", "data": {"id": "p_abc123", "reason": "left"},
        "seq": 7, "server_time": "2026-01-06T10:45:00.120+00:00"});
    assert_eq!(schemas.validate_frame(&frame), Ok(Some("participant.left")));
}

#[test]
fn an_unknown_event_with_an_extra_top_level_member_passes_the_envelope() {
    let schemas = schemas();
    let frame = json!({"event": "poll.created", "data": {}, "seq": 7});
    assert_eq!(schemas.validate_frame(&frame), Ok(None));
}

#[test]
fn a_bad_timestamp_is_reported_with_the_member_and_the_keyword_that_failed() {
    let schemas = schemas();
    let frame = json!({"event": "chat.message", "data": {
        "id": "msg_123", "sender_id": "p_abc123", "text": "Hello!", "timestamp": "10:45"}});
    let violation = schemas.validate_frame(&frame).expect_err("invalid frame");
    assert_eq!(
        violation.schema_file,
        "events/server/chat.message.schema.json"
    );
    assert_eq!(violation.violations.len(), 1, "{violation}");
    let only = &violation.violations[0];
    assert_eq!(only.instance_path, "/data/timestamp");
    assert_eq!(
        only.schema_path,
        "events/server/chat.message.schema.json#/properties/data/properties/timestamp/format"
    );
}

#[test]
fn every_violation_of_a_frame_is_reported_at_once() {
    let schemas = schemas();
    let frame = json!({"event": "chat.message", "data": {"id": 7, "text": "Hello!"}});
    let violation = schemas.validate_frame(&frame).expect_err("invalid frame");
    // `id` has the wrong type; `sender_id` and `timestamp` are missing.
    assert_eq!(violation.violations.len(), 3, "{violation}");
}

#[test]
fn token_claims_need_a_room_and_a_participant() {
    let schemas = schemas();
    let claims = schemas.token_claims();
    assert!(claims.is_valid(&json!({"room_id": "r", "participant_id": "p", "exp": 1})));
    assert!(!claims.is_valid(&json!({"room_id": "r", "exp": 1})));
}
