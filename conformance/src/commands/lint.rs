//! `chalk-conformance lint`: checks the features against the catalogue (tags, levels,
//! coverage), without a server.

use cucumber::gherkin;

use super::exit::ExitStatus;
use crate::contract::catalogue::Catalogue;
use crate::report::console::Console;
use crate::suite::lint;

/// Prints every problem and their count; exit 2 when there is any.
pub fn run(catalogue: &Catalogue, features: &[gherkin::Feature], console: &Console) -> ExitStatus {
    let problems = lint::lint(features, catalogue);
    for problem in &problems {
        console.line(&problem.to_string());
    }
    console.line(&format!("{} problem(s)", problems.len()));
    if problems.is_empty() {
        ExitStatus::Conformant
    } else {
        ExitStatus::Usage
    }
}
