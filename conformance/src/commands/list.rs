//! `chalk-conformance list`: requirement → scenarios → level, without a server.

use cucumber::gherkin;

use super::exit::ExitStatus;
use crate::contract::catalogue::Catalogue;
use crate::report::console::Console;
use crate::suite::listing;

/// Prints the listing of `features` against the catalogue.
pub fn run(catalogue: &Catalogue, features: &[gherkin::Feature], console: &Console) -> ExitStatus {
    console.write(&listing::render(catalogue, features));
    ExitStatus::Conformant
}
