//! `schemas/asyncapi.yaml` judged: it is a valid AsyncAPI 3.0.0 document by the official JSON
//! Schema (vendored in `tests/fixtures/asyncapi/`), every `$ref` in it leads somewhere, it
//! references every schema file, and its messages agree with `schemas/index.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chalk_conformance::contract::schemas::{Direction, SchemaSet};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn asyncapi_document() -> Value {
    let path = repo_root().join("schemas/asyncapi.yaml");
    let text = std::fs::read_to_string(&path).expect("schemas/asyncapi.yaml is readable");
    serde_yaml::from_str(&text).expect("schemas/asyncapi.yaml is YAML")
}

fn official_validator() -> jsonschema::Validator {
    let path = repo_root().join("tests/fixtures/asyncapi/3.0.0.json");
    let text = std::fs::read_to_string(&path).expect("the vendored AsyncAPI schema is readable");
    let schema: Value = serde_json::from_str(&text).expect("the vendored AsyncAPI schema is JSON");
    jsonschema::options()
        .offline()
        .build(&schema)
        .unwrap_or_else(|e| panic!("the vendored AsyncAPI schema does not compile offline: {e}"))
}

/// Every violation of the official schema, one line each.
fn violations(document: &Value) -> Vec<String> {
    official_validator()
        .iter_errors(document)
        .map(|e| format!("at {}: {}", e.instance_path(), e.masked()))
        .collect()
}

/// Every `$ref` string in the document, with the JSON Pointer of where it is.
fn references(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    if let Some(target) = child.as_str() {
                        out.push((at.to_owned(), target.to_owned()));
                    }
                } else {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    references(child, &format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The schema files the document references, relative to `schemas/`.
fn referenced_files(document: &Value) -> BTreeSet<String> {
    let mut refs = Vec::new();
    references(document, "", &mut refs);
    refs.into_iter()
        .filter(|(_, target)| !target.starts_with('#'))
        .map(|(_, target)| target.trim_start_matches("./").to_owned())
        .collect()
}

fn schemas() -> SchemaSet {
    SchemaSet::bundled().unwrap_or_else(|e| panic!("the bundled schemas do not load: {e}"))
}

#[test]
fn the_asyncapi_document_is_valid_by_the_official_3_0_0_schema() {
    let problems = violations(&asyncapi_document());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_official_schema_rejects_a_broken_document() {
    let mut document = asyncapi_document();
    document["channels"]["room"]["bindings"]["ws"]["method"] = Value::from("PUT");
    document["operations"]["sendChatMessage"]["action"] = Value::from("publish");
    assert!(!violations(&document).is_empty());
}

#[test]
fn every_reference_in_the_asyncapi_document_resolves() {
    let document = asyncapi_document();
    let mut refs = Vec::new();
    references(&document, "", &mut refs);
    let mut broken = Vec::new();
    for (at, target) in refs {
        let resolves = match target.strip_prefix('#') {
            Some(pointer) => document.pointer(pointer).is_some(),
            None => {
                let path = repo_root()
                    .join("schemas")
                    .join(target.trim_start_matches("./"));
                std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .is_some()
            }
        };
        if !resolves {
            broken.push(format!("{at}: {target}"));
        }
    }
    assert!(
        broken.is_empty(),
        "unresolved references:\n{}",
        broken.join("\n")
    );
}

/// Every `*.schema.json` file under `dir`, relative to it with `/` separators.
fn schema_files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().expect("file name").to_string_lossy();
        if path.is_dir() {
            schema_files_under(&path, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".schema.json") {
            out.insert(format!("{prefix}{name}"));
        }
    }
}

#[test]
fn every_schema_file_is_referenced_by_the_asyncapi_document() {
    let mut all = BTreeSet::new();
    schema_files_under(&repo_root().join("schemas"), "", &mut all);
    assert!(all.contains("envelope.schema.json"), "{all:?}");
    let referenced = referenced_files(&asyncapi_document());
    let unreferenced: Vec<_> = all.difference(&referenced).collect();
    assert!(unreferenced.is_empty(), "not referenced: {unreferenced:?}");
}

#[test]
fn asyncapi_messages_agree_with_the_schema_index() {
    let schemas = schemas();
    let document = asyncapi_document();
    let messages = document["components"]["messages"]
        .as_object()
        .expect("components.messages");
    let mut by_event = BTreeMap::new();
    for (key, message) in messages {
        let name = message["name"].as_str().expect("every message has a name");
        let event = schemas.event(name).unwrap_or_else(|| {
            panic!("message {key} names `{name}`, which the index does not know")
        });
        let payload = message["payload"]["schema"]["$ref"].as_str().unwrap_or("");
        assert_eq!(
            payload.trim_start_matches("./"),
            event.schema().file(),
            "{key}"
        );
        let tag = if event.is_published() {
            "#/components/tags/published"
        } else {
            "#/components/tags/extension"
        };
        assert_eq!(message["tags"][0]["$ref"], tag, "{key}");
        assert_eq!(
            message["x-chalk-extension"].as_str(),
            event.extension(),
            "{key}"
        );
        by_event.insert(name.to_owned(), key.clone());
    }
    let indexed: BTreeSet<String> = schemas.events().map(|e| e.name().to_owned()).collect();
    let described: BTreeSet<String> = by_event.keys().cloned().collect();
    assert_eq!(indexed, described);

    let operations = document["operations"].as_object().expect("operations");
    for event in schemas.events() {
        let channel_message = format!("#/channels/room/messages/{}", by_event[event.name()]);
        let action = match event.direction() {
            Direction::Server => "send",
            Direction::Client => "receive",
        };
        let found = operations.values().any(|op| {
            op["action"] == action
                && op["messages"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|r| r["$ref"] == channel_message.as_str()))
        });
        assert!(found, "no `{action}` operation carries `{}`", event.name());
    }
}

#[test]
fn the_channel_binding_describes_the_subprotocol_and_both_token_carriers() {
    let document = asyncapi_document();
    let ws = &document["channels"]["room"]["bindings"]["ws"];
    assert_eq!(document["channels"]["room"]["address"], "/api/v1/ws");
    assert_eq!(ws["method"], "GET");
    assert_eq!(ws["query"]["properties"]["token"]["deprecated"], true);
    let protocol = &ws["headers"]["properties"]["Sec-WebSocket-Protocol"];
    let description = protocol["description"].as_str().unwrap_or("");
    assert!(description.contains("`chalk`") && description.contains("token.{jwt}"));
    let server = &document["servers"]["production"];
    assert_eq!(server["host"], "api.chalk.q9labs.ai");
    assert_eq!(server["protocol"], "wss");
}
