//! The requirement catalogue judged: the repository's `spec/requirements.toml` parses and breaks no
//! rule, and the linter (`Catalogue::validate`) catches each kind of mistake, shown on small inline
//! catalogues.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chalk_conformance::contract::catalogue::{
    Area, Catalogue, CatalogueError, CatalogueProblem, KNOWN_EXTENSIONS, Level,
};
use chalk_conformance::contract::schemas::SchemaSet;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schemas() -> SchemaSet {
    SchemaSet::bundled().unwrap_or_else(|e| panic!("the bundled schemas do not load: {e}"))
}

/// One entry in TOML; `extra` lines are appended to it.
fn entry(id: &str, area: &str, level: &str, extra: &str) -> String {
    format!(
        "[[requirement]]\nid = \"{id}\"\narea = \"{area}\"\nlevel = \"{level}\"\n\
         title = \"A title\"\nstatement = \"A statement.\"\nsource = \"API page\"\n{extra}\n"
    )
}

fn problems_of(toml: &str) -> Vec<CatalogueProblem> {
    Catalogue::parse(toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .validate(&schemas())
}

#[test]
fn the_repository_catalogue_parses_and_breaks_no_rule() {
    let catalogue = Catalogue::load(&repo_root().join("spec/requirements.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let problems: Vec<String> = catalogue
        .validate(&schemas())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!catalogue.requirements().is_empty());
    assert_eq!(Catalogue::bundled().expect("bundled catalogue"), catalogue);
}

#[test]
fn known_extensions_are_the_names_listed_in_extensions_md() {
    let text = std::fs::read_to_string(repo_root().join("spec/extensions.md"))
        .expect("spec/extensions.md is readable");
    let section = text
        .split("## Extension names")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("an `## Extension names` section");
    let listed: BTreeSet<&str> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let known: BTreeSet<&str> = KNOWN_EXTENSIONS.iter().copied().collect();
    assert_eq!(known, listed);
}

#[test]
fn every_extension_event_of_the_index_names_a_known_extension() {
    for event in schemas().events() {
        if let Some(extension) = event.extension() {
            assert!(
                KNOWN_EXTENSIONS.contains(&extension),
                "{}: {extension}",
                event.name()
            );
        }
    }
}

#[test]
fn a_sound_catalogue_has_no_problems() {
    let toml = entry("AUTH-001", "authentication", "must", "")
        + &entry(
            "PING-002",
            "keepalive",
            "extension",
            "extension = \"pong-event\"\nevents = [\"ping\", \"pong\"]",
        )
        + &entry(
            "REC-003",
            "recording",
            "should",
            "needs = [\"recordings\"]\nretired = true",
        );
    assert_eq!(problems_of(&toml), vec![]);
}

#[test]
fn an_empty_catalogue_parses() {
    assert!(
        Catalogue::parse("")
            .expect("empty")
            .requirements()
            .is_empty()
    );
}

#[test]
fn a_repeated_id_is_reported() {
    let toml = entry("CHAT-001", "chat", "must", "") + &entry("CHAT-001", "chat", "should", "");
    assert_eq!(
        problems_of(&toml),
        vec![CatalogueProblem::DuplicateId {
            id: "CHAT-001".into()
        }]
    );
}

#[test]
fn ids_not_of_the_form_prefix_dash_three_digits_are_reported() {
    for id in [
        "AUTH-1",
        "auth-001",
        "AUTH-0001",
        "AUTH001",
        "-001",
        "AUTH-00a",
        "AU TH-001",
    ] {
        assert_eq!(
            problems_of(&entry(id, "authentication", "must", "")),
            vec![CatalogueProblem::MalformedId { id: id.into() }],
            "{id}"
        );
    }
}

#[test]
fn an_id_whose_prefix_belongs_to_another_area_is_reported() {
    assert_eq!(
        problems_of(&entry("CHAT-004", "hands", "must", "")),
        vec![CatalogueProblem::PrefixMismatch {
            id: "CHAT-004".into(),
            area: Area::Hands,
            expected: "HAND",
        }]
    );
}

#[test]
fn every_area_has_a_distinct_prefix() {
    let prefixes: BTreeSet<&str> = Area::ALL.iter().map(|a| a.prefix()).collect();
    assert_eq!(prefixes.len(), Area::ALL.len());
}

#[test]
fn an_unknown_level_is_a_parse_error() {
    let error = Catalogue::parse(&entry("AUTH-001", "authentication", "may", ""));
    assert!(
        matches!(error, Err(CatalogueError::Parse { .. })),
        "{error:?}"
    );
}

#[test]
fn an_unknown_area_is_a_parse_error() {
    let error = Catalogue::parse(&entry("AUTH-001", "auth", "must", ""));
    assert!(
        matches!(error, Err(CatalogueError::Parse { .. })),
        "{error:?}"
    );
}

#[test]
fn a_misspelt_field_is_a_parse_error() {
    let error = Catalogue::parse(&entry(
        "HAND-001",
        "hands",
        "extension",
        "extention = \"hand-events\"",
    ));
    assert!(
        matches!(error, Err(CatalogueError::Parse { .. })),
        "{error:?}"
    );
}

#[test]
fn an_extension_entry_without_its_extension_is_reported() {
    assert_eq!(
        problems_of(&entry("HAND-001", "hands", "extension", "")),
        vec![CatalogueProblem::MissingExtension {
            id: "HAND-001".into()
        }]
    );
}

#[test]
fn a_must_or_should_entry_naming_an_extension_is_reported() {
    for (level, parsed) in [("must", Level::Must), ("should", Level::Should)] {
        assert_eq!(
            problems_of(&entry(
                "HAND-001",
                "hands",
                level,
                "extension = \"hand-events\""
            )),
            vec![CatalogueProblem::UnexpectedExtension {
                id: "HAND-001".into(),
                level: parsed,
            }]
        );
    }
}

#[test]
fn an_extension_not_in_extensions_md_is_reported() {
    assert_eq!(
        problems_of(&entry(
            "HAND-001",
            "hands",
            "extension",
            "extension = \"hand-wave\""
        )),
        vec![CatalogueProblem::UnknownExtension {
            id: "HAND-001".into(),
            extension: "hand-wave".into(),
        }]
    );
}

#[test]
fn an_event_not_in_the_schema_index_is_reported() {
    assert_eq!(
        problems_of(&entry(
            "CHAT-001",
            "chat",
            "must",
            "events = [\"chat.message\", \"chat.edit\"]"
        )),
        vec![CatalogueProblem::UnknownEvent {
            id: "CHAT-001".into(),
            event: "chat.edit".into(),
        }]
    );
}

#[test]
fn an_unknown_need_is_reported() {
    assert_eq!(
        problems_of(&entry(
            "REC-001",
            "recording",
            "must",
            "needs = [\"time-travel\"]"
        )),
        vec![CatalogueProblem::UnknownNeed {
            id: "REC-001".into(),
            need: "time-travel".into(),
        }]
    );
}

#[test]
fn a_cluster_entry_keeps_the_level_and_extension_of_the_counterpart_it_names() {
    let single = entry("CHAT-001", "chat", "must", "");
    let echo = entry("CHAT-012", "chat", "extension", "extension = \"chat-echo\"");
    let cluster = |id: &str, level: &str, extra: &str| entry(id, "cluster", level, extra);
    let sound = [
        single.clone(),
        echo.clone(),
        cluster("CLUSTER-001", "must", "counterpart = \"CHAT-001\""),
        cluster(
            "CLUSTER-002",
            "extension",
            "extension = \"chat-echo\"\ncounterpart = \"CHAT-012\"",
        ),
    ];
    assert_eq!(problems_of(&sound.concat()), vec![]);
    let mismatch =
        |id: &str, counterpart: &str, problem: &str| CatalogueProblem::CounterpartMismatch {
            id: id.into(),
            counterpart: counterpart.into(),
            problem: problem.into(),
        };
    let broken = [
        single,
        echo,
        cluster("CLUSTER-001", "should", "counterpart = \"CHAT-001\""),
        cluster("CLUSTER-002", "must", "counterpart = \"CHAT-404\""),
        cluster("CLUSTER-003", "must", "counterpart = \"CLUSTER-002\""),
        cluster("CLUSTER-004", "must", ""),
        entry("CHAT-002", "chat", "must", "counterpart = \"CHAT-001\""),
        cluster("CLUSTER-005", "must", "counterpart = \"CHAT-012\""),
    ];
    assert_eq!(
        problems_of(&broken.concat()),
        vec![
            mismatch(
                "CLUSTER-001",
                "CHAT-001",
                "is must: a cluster entry keeps its counterpart's level and extension"
            ),
            mismatch("CLUSTER-002", "CHAT-404", "is not in the catalogue"),
            mismatch("CLUSTER-003", "CLUSTER-002", "is a cluster entry itself"),
            CatalogueProblem::CounterpartPlacement {
                id: "CLUSTER-004".into()
            },
            CatalogueProblem::CounterpartPlacement {
                id: "CHAT-002".into()
            },
            mismatch(
                "CLUSTER-005",
                "CHAT-012",
                "is extension (chat-echo): a cluster entry keeps its counterpart's level and \
                 extension"
            ),
        ]
    );
}

#[test]
fn an_empty_statement_is_reported() {
    let toml = entry("CHAT-001", "chat", "must", "").replace("A statement.", " ");
    assert_eq!(
        problems_of(&toml),
        vec![CatalogueProblem::EmptyField {
            id: "CHAT-001".into(),
            field: "statement",
        }]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = entry("CHAT-001", "chat", "must", "extension = \"chat-echo\"")
        + &entry("CHAT-001", "chat", "must", "")
        + &entry("chat-2", "chat", "must", "")
        + &entry("HAND-001", "chat", "extension", "events = [\"hand.wave\"]");
    let problems = problems_of(&toml);
    assert_eq!(problems.len(), 6, "{problems:#?}");
}

#[test]
fn a_problem_reads_as_a_sentence_that_names_the_requirement() {
    let problems = problems_of(&entry("HAND-001", "hands", "extension", ""));
    assert_eq!(
        problems[0].to_string(),
        "HAND-001: level `extension` needs an `extension` naming one of spec/extensions.md"
    );
}

#[test]
fn lookups_find_entries_by_id_area_level_extension_and_event() {
    let toml = entry("AUTH-001", "authentication", "must", "")
        + &entry("PING-001", "keepalive", "must", "events = [\"ping\"]")
        + &entry(
            "PING-002",
            "keepalive",
            "extension",
            "extension = \"pong-event\"\nevents = [\"ping\", \"pong\"]",
        )
        + &entry("PING-003", "keepalive", "should", "retired = true");
    let catalogue = Catalogue::parse(&toml).expect("catalogue");
    let ids = |found: Vec<&chalk_conformance::contract::catalogue::Requirement>| -> Vec<String> {
        found.into_iter().map(|r| r.id.clone()).collect()
    };
    assert_eq!(
        catalogue.requirement("PING-002").map(|r| r.level),
        Some(Level::Extension)
    );
    assert!(catalogue.requirement("PING-009").is_none());
    assert_eq!(
        ids(catalogue.in_area(Area::Keepalive).collect()),
        ["PING-001", "PING-002", "PING-003"]
    );
    assert_eq!(
        ids(catalogue.at_level(Level::Must).collect()),
        ["AUTH-001", "PING-001"]
    );
    assert_eq!(
        ids(catalogue.of_extension("pong-event").collect()),
        ["PING-002"]
    );
    assert_eq!(
        ids(catalogue.involving_event("ping").collect()),
        ["PING-001", "PING-002"]
    );
    assert_eq!(
        ids(catalogue.active().collect()),
        ["AUTH-001", "PING-001", "PING-002"]
    );
}
