//! The features against the catalogue: every must and should requirement has a scenario, every
//! scenario cites one known requirement at the catalogue's level, and the coverage listing that
//! `chalk-conformance list` prints stays as reviewed.

use chalk_conformance::commands::{self, exit::ExitStatus};
use chalk_conformance::contract::catalogue::Catalogue;
use chalk_conformance::report::console::Console;
use chalk_conformance::suite::{lint, plan};

#[test]
fn the_features_keep_every_rule_of_the_catalogue() {
    let features =
        plan::features_in(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../features"))
            .expect("the features parse");
    let catalogue = Catalogue::bundled().expect("the catalogue parses");
    let problems = lint::lint(&features, &catalogue);
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "lint problems:\n{}", listed.join("\n"));
}

#[test]
fn the_binary_carries_the_features_of_the_tree() {
    let on_disk =
        plan::features_in(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../features"))
            .expect("the features parse");
    let embedded = plan::embedded_features().expect("the embedded features parse");
    let on_disk: Vec<(String, usize)> = plan::all_scenarios(&on_disk)
        .map(|(feature, _, scenario)| (feature.name.clone(), scenario.position.line))
        .collect();
    let embedded: Vec<(String, usize)> = plan::all_scenarios(&embedded)
        .map(|(feature, _, scenario)| (feature.name.clone(), scenario.position.line))
        .collect();
    assert_eq!(
        on_disk, embedded,
        "rebuild: build.rs embeds features/ at compile time"
    );
}

#[test]
fn the_coverage_listing_is_as_reviewed() {
    let (console, output) = Console::buffer();
    let status = commands::execute_blocking(["chalk-conformance", "list"], &console);
    assert_eq!(status, ExitStatus::Conformant);
    insta::assert_snapshot!("coverage_listing", output.contents());
}
