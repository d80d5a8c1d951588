//! The nine example frames of the published API page, kept in `spec/page-examples.json`: they are
//! the page's exact text, they match their events' schemas, and they are exactly the published
//! events of `schemas/index.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chalk_conformance::contract::schemas::{Direction, SchemaSet};
use serde::Deserialize;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The published page lives outside the repository, in the shared folder beside it.
fn page_path() -> PathBuf {
    repo_root().join("../shared/spec/websocket-api.txt")
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageExample {
    event: String,
    direction: Direction,
    example: Value,
}

fn page_examples() -> Vec<PageExample> {
    let path = repo_root().join("spec/page-examples.json");
    let text = std::fs::read_to_string(&path).expect("spec/page-examples.json is readable");
    serde_json::from_str(&text).expect("spec/page-examples.json is a list of examples")
}

fn schemas() -> SchemaSet {
    SchemaSet::bundled().unwrap_or_else(|e| panic!("the bundled schemas do not load: {e}"))
}

/// The example frames of the page, in order, with the direction of the section they appear in.
///
/// A frame starts at a line that is just `{` and ends where the braces balance again (the page's
/// examples hold no braces inside strings). Sections start at the `Server Events` and
/// `Client Events` headings.
fn examples_on_page(page: &str) -> Vec<PageExample> {
    let mut found = Vec::new();
    let mut direction = None;
    let mut heading = None;
    let mut block: Option<(String, i32)> = None;
    for line in page.lines() {
        if let Some((text, depth)) = block.as_mut() {
            text.push_str(line);
            text.push('\n');
            *depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if *depth == 0 {
                let example: Value = serde_json::from_str(text).unwrap_or_else(|e| {
                    panic!("a JSON block of the page does not parse: {e}\n{text}")
                });
                found.push(PageExample {
                    event: heading.clone().expect("an example under an event heading"),
                    direction: direction.expect("an example inside an events section"),
                    example,
                });
                block = None;
            }
            continue;
        }
        match line.trim() {
            "Server Events" => direction = Some(Direction::Server),
            "Client Events" => direction = Some(Direction::Client),
            "{" => block = Some(("{\n".to_owned(), 1)),
            name if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'.') =>
            {
                heading = Some(name.to_owned());
            }
            _ => {}
        }
    }
    found
}

#[test]
fn page_examples_are_the_pages_text_exactly() {
    let Ok(page) = std::fs::read_to_string(page_path()) else {
        println!(
            "note: {} is absent; spec/page-examples.json was not compared with the page",
            page_path().display()
        );
        return;
    };
    let on_page = examples_on_page(&page);
    assert_eq!(on_page.len(), 9, "the page shows nine example frames");
    assert_eq!(page_examples(), on_page);
}

#[test]
fn every_page_example_names_its_own_event() {
    for example in page_examples() {
        assert_eq!(example.example["event"], example.event.as_str());
    }
}

#[test]
fn every_page_example_matches_its_events_schema() {
    let schemas = schemas();
    for example in page_examples() {
        let name = schemas
            .validate_frame(&example.example)
            .unwrap_or_else(|violation| panic!("{violation}"));
        assert_eq!(name, Some(example.event.as_str()));
        let event = schemas.event(&example.event).expect("indexed event");
        assert_eq!(event.direction(), example.direction, "{}", example.event);
    }
}

#[test]
fn the_published_events_are_exactly_the_pages_events() {
    let schemas = schemas();
    let published: BTreeSet<&str> = schemas
        .events()
        .filter(|e| e.is_published())
        .map(|e| e.name())
        .collect();
    let examples = page_examples();
    let on_page: BTreeSet<&str> = examples.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(published, on_page);
}

#[test]
fn every_published_schema_lists_the_pages_example_first() {
    let schemas = schemas();
    for example in page_examples() {
        let event = schemas.event(&example.event).expect("indexed event");
        assert_eq!(
            event.schema().document()["examples"][0],
            example.example,
            "{}",
            event.schema().file()
        );
    }
}
