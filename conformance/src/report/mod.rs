//! The report: what a run found, as one results model ([`results`]) and its views.
//!
//! The [`console`] collects the scenarios' results as they finish and prints the verdict; the
//! same model is written as JUnit XML and Cucumber JSON ([`export`]), a self-contained HTML page
//! ([`html_report`], built from the blocks of [`html`]) and a Markdown [`summary`]. An
//! [`expectations`] file marks the failures a team already knows about.

pub mod console;
pub mod expectations;
pub mod export;
pub mod html;
pub mod html_report;
pub mod results;
pub mod summary;
