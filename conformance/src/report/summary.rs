//! The CI summary (`--summary FILE.md`): a short Markdown page for `$GITHUB_STEP_SUMMARY` or a
//! pull-request comment.
//!
//! It says the verdict, the counts per level, each failure with its requirement ID and a
//! one-line reason, and the warnings; the HTML report has the rest. It reads the results model
//! ([`crate::report::results`]) only, and the runner redacts and scans it like every other file.

use std::fmt::Write as _;

use crate::contract::catalogue::Catalogue;
use crate::report::html_report::duration_text;
use crate::report::results::{Entry, Report, Status};

/// The longest one-line reason; longer ones end with `…`.
const REASON_CHARS: usize = 300;

/// The most failures listed one by one; the rest are counted.
const MAX_LISTED: usize = 30;

/// The report as Markdown.
pub fn render(report: &Report, catalogue: &Catalogue) -> String {
    let mut out = String::new();
    let run = &report.run;
    let conformant = report.conformant();
    let cannot_judge = conformant && report.too_many_skipped_must();
    let skipped_must = report.skipped_must_text();
    let _ = writeln!(
        out,
        "## {} Chalk conformance: {}\n",
        if conformant && !cannot_judge {
            "✅"
        } else {
            "❌"
        },
        match (conformant, cannot_judge, &skipped_must) {
            (true, true, _) => "cannot judge",
            (true, false, Some(_)) => "conformant for what was checked",
            (true, false, None) => "conformant",
            (false, _, _) => "not conformant",
        }
    );
    if let Some(skipped) = &skipped_must {
        let limit = match report.max_skipped_must {
            Some(max) if cannot_judge => format!("; `--max-skipped-must` allows {max}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "_{skipped}{limit}._\n");
    }
    let _ = writeln!(
        out,
        "Target `{}`{} · started {} · {} · chalk-conformance {} · run `{}`{}\n",
        code(&run.target),
        if run.origin_mode.is_empty() {
            String::new()
        } else {
            format!(" · allowed origins: {}", run.origin_mode)
        },
        run.started_at,
        duration_text(report.elapsed),
        run.suite_version,
        run.run_id,
        if report.strict { " · strict" } else { "" }
    );
    let tallies = report.tallies();
    // The expected-failure column only when the run has expected failures.
    let with_expected = tallies.values().any(|t| t.expected_failures > 0);
    let (head, rule) = if with_expected {
        (" expected failures |", " ---: |")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| level | passed | failed | warned |{head} skipped | not declared |\n| --- | ---: | ---: | ---: |{rule} ---: | ---: |"
    );
    for (level, t) in tallies {
        let expected = if with_expected {
            format!(" {} |", t.expected_failures)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {level} | {} | {} | {} |{expected} {} | {} |",
            t.passed, t.failed, t.warned, t.skipped, t.not_declared
        );
    }
    for error in &report.errors {
        let _ = writeln!(out, "\n**Feature error:** {}", cell(error));
    }
    section(
        &mut out,
        "Failures",
        "",
        report
            .entries
            .iter()
            .filter(|e| e.verdict.status() == Status::Fail),
        catalogue,
    );
    section(
        &mut out,
        "Warnings",
        "Should-level: they fail the run only with `--strict`.",
        report
            .entries
            .iter()
            .filter(|e| e.verdict.status() == Status::Warn),
        catalogue,
    );
    section(
        &mut out,
        "Expected failures",
        "Failures the run was told to expect; they do not fail it.",
        report
            .entries
            .iter()
            .filter(|e| e.verdict.status() == Status::ExpectedFailure),
        catalogue,
    );
    if !report.unexpected_passes.is_empty() {
        let _ = writeln!(
            out,
            "\n### Unexpected passes ({})\n\n_The expectations file is stale: these requirements pass now; remove their entries._\n",
            report.unexpected_passes.len()
        );
        for pass in &report.unexpected_passes {
            let _ = writeln!(
                out,
                "- **{}** passed; `{}` expects it to fail: {}",
                pass.requirement,
                code(&pass.file),
                cell(&pass.reason)
            );
        }
    }
    let _ = writeln!(out, "\n{}", report.closing_line());
    out
}

/// A heading and one bullet per entry.
fn section<'a>(
    out: &mut String,
    title: &str,
    note: &str,
    entries: impl Iterator<Item = &'a Entry>,
    catalogue: &Catalogue,
) {
    let entries: Vec<&Entry> = entries.collect();
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### {title} ({})\n", entries.len());
    if !note.is_empty() {
        let _ = writeln!(out, "_{note}_\n");
    }
    for entry in entries.iter().take(MAX_LISTED) {
        let id = entry.charged_requirement();
        let requirement = catalogue.requirement(id);
        let reason = entry
            .verdict
            .failure()
            .map(|d| d.one_line())
            .unwrap_or_default();
        let own = &entry.planned.requirement.id;
        let whose = if id == own {
            String::new()
        } else {
            format!("{own} scenario, ")
        };
        let _ = writeln!(
            out,
            "- **{id}** ({}) {} — _{}_ ({whose}`{}`): {}",
            requirement.map_or(entry.planned.requirement.level, |r| r.level),
            cell(requirement.map_or(entry.planned.requirement.title.as_str(), |r| &r.title)),
            cell(&entry.planned.name),
            entry.planned.key,
            cell(&shorten(&reason))
        );
    }
    if entries.len() > MAX_LISTED {
        let _ = writeln!(
            out,
            "- … and {} more (see the HTML report)",
            entries.len() - MAX_LISTED
        );
    }
}

/// Text that cannot break the Markdown around it: one line, no table pipes, no HTML.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for inside a code span: no backticks.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= REASON_CHARS {
        text.to_owned()
    } else {
        let head: String = text.chars().take(REASON_CHARS).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::sample;

    #[test]
    fn the_summary_names_each_failure_with_its_requirement_and_reason() {
        let catalogue = Catalogue::bundled().unwrap();
        insta::assert_snapshot!(render(&sample::report(), &catalogue));
    }

    #[test]
    fn table_cells_cannot_break_the_markdown() {
        assert_eq!(cell("a | b\n<i>c</i>"), "a \\| b &lt;i&gt;c&lt;/i&gt;");
    }
}
