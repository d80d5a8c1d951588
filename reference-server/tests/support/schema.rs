//! Validates server frames against the project's schemas (`schemas/index.json` → one schema per
//! event, `$ref`s to the envelope resolved through a registry, formats such as `date-time`
//! validated). Every frame a test client receives goes through [`check_server_frame`].

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::OnceLock;

use jsonschema::{Registry, Validator};
use serde_json::Value;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read schema {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("schema {} is not JSON: {e}", path.display()))
}

/// Every JSON schema file under `dir`, recursively.
fn schema_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            schema_files(&path, out);
        } else if path.to_string_lossy().ends_with(".schema.json") {
            out.push(path);
        }
    }
}

fn validators() -> &'static HashMap<String, Validator> {
    static VALIDATORS: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let dir = schemas_dir();
        let index = load(&dir.join("index.json"));
        let mut files = Vec::new();
        schema_files(&dir, &mut files);
        let documents: Vec<(String, Value)> = files
            .iter()
            .map(|path| {
                let doc = load(path);
                let id = doc["$id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{} has no $id", path.display()))
                    .to_owned();
                (id, doc)
            })
            .collect();
        let registry = Registry::new()
            .extend(documents.iter().map(|(id, doc)| (id.clone(), doc.clone())))
            .expect("schema ids are URIs")
            .prepare()
            .expect("schemas resolve");
        let events = index["events"].as_object().expect("index.json has events");
        events
            .iter()
            .filter(|(_, entry)| entry["direction"] == "server")
            .map(|(name, entry)| {
                let file = dir.join(entry["schema"].as_str().expect("schema path"));
                let schema = load(&file);
                let validator = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .with_registry(&registry)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("schema of {name} does not build: {e}"));
                (name.clone(), validator)
            })
            .collect()
    })
}

/// Names of the events validated so far in this test binary.
pub fn validated_events() -> BTreeSet<String> {
    VALIDATED.lock().unwrap().clone()
}

/// Names of every server event in `index.json`.
pub fn server_events() -> BTreeSet<String> {
    validators().keys().cloned().collect()
}

static VALIDATED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Whether `frame` is a valid server frame; the errors otherwise.
pub fn server_frame_errors(frame: &Value) -> Result<(), String> {
    let name = frame["event"]
        .as_str()
        .ok_or_else(|| format!("frame without an event name: {frame}"))?;
    let validator = validators()
        .get(name)
        .ok_or_else(|| format!("no server schema for event {name:?}: {frame}"))?;
    let errors: Vec<String> = validator
        .iter_errors(frame)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        VALIDATED.lock().unwrap().insert(name.to_owned());
        Ok(())
    } else {
        Err(format!(
            "{frame} violates the {name} schema: {}",
            errors.join("; ")
        ))
    }
}

/// Panics unless `frame` conforms to the schema of its event.
pub fn check_server_frame(frame: &Value) {
    if let Err(message) = server_frame_errors(frame) {
        panic!("{message}");
    }
}
