//! The HTML run report (`--report FILE.html`): one self-contained page that a person who has to
//! fix a failure opens from a CI artifact.
//!
//! From the top: a verdict banner (conformant or not, target, date, duration, suite version),
//! the counts per level and per area, the failures with their Expected and Actual, then every
//! requirement with its status and every scenario with its steps, timing and the wire transcript
//! of all its connections on one timeline. Filters (status, area, text) work from the page and
//! from the URL fragment (`#status=fail&area=chat`).
//!
//! The page reads the results model ([`crate::report::results`]) only. Every piece of text that came
//! from the run passes through the run's [`Redactor`] on its way in, and the runner scans the
//! finished page with [`Redactor::leaks`] before writing it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::contract::catalogue::{Catalogue, Level};
use crate::driver::redact::Redactor;
use crate::driver::transcript::{self, Direction};
use crate::report::html::{badge, escape, inline_markup, page};
use crate::report::results::{Entry, Report, Status, StepStatus, Tally, Verdict};

/// The longest Expected or Actual shown in the list of failures at the top (the scenario shows
/// them whole).
const BRIEF_CHARS: usize = 240;

/// The report as one HTML page.
pub fn render(report: &Report, catalogue: &Catalogue, redactor: &Redactor) -> String {
    let view = View {
        report,
        catalogue,
        redactor,
    };
    let mut body = String::new();
    view.banner(&mut body);
    body.push_str("<main class=\"wrap\">\n");
    view.errors(&mut body);
    view.failures_first(&mut body);
    view.counts(&mut body);
    view.filters(&mut body);
    view.requirements(&mut body);
    view.scenarios(&mut body);
    let _ = write!(
        body,
        "<footer>Written by chalk-conformance {}. This page is self-contained: it loads nothing \
         from the network. Tokens, the JWT secret and the API key appear only as labels such as \
         <code>[token:Alice]</code> and <code>[api-key]</code>.</footer>\n</main>\n",
        view.t(&report.run.suite_version)
    );
    let title = format!(
        "{} — Chalk conformance report",
        if report.conformant() {
            "Conformant"
        } else {
            "Not conformant"
        }
    );
    page(&title, &body, true)
}

/// A report being rendered.
struct View<'a> {
    report: &'a Report,
    catalogue: &'a Catalogue,
    redactor: &'a Redactor,
}

impl View<'_> {
    /// Text from the run, redacted and escaped.
    fn t(&self, text: &str) -> String {
        escape(&self.redactor.redact(text))
    }

    fn area_of(&self, entry: &Entry) -> &'static str {
        self.catalogue
            .requirement(&entry.planned.requirement.id)
            .map_or("unknown", |r| r.area.as_str())
    }

    fn banner(&self, out: &mut String) {
        let report = self.report;
        let run = &report.run;
        let conformant = report.conformant();
        let failed: Vec<&str> = distinct(
            report
                .entries
                .iter()
                .filter(|e| e.verdict.status() == Status::Fail)
                .map(Entry::charged_requirement),
        );
        let warned = distinct(
            report
                .entries
                .iter()
                .filter(|e| e.verdict.status() == Status::Warn)
                .map(Entry::charged_requirement),
        );
        let skipped_must = report.skipped_must_text().map(|text| self.t(&text));
        let cannot_judge = conformant && report.too_many_skipped_must();
        let mut why = if conformant {
            match &skipped_must {
                Some(skipped) if cannot_judge => format!(
                    "Cannot judge: {skipped}, more than --max-skipped-must allows; what ran passed"
                ),
                Some(skipped) => format!(
                    "Every must-level and declared-extension scenario that ran passed; {skipped}"
                ),
                None => "Every must-level and declared-extension scenario passed".to_owned(),
            }
        } else if failed.is_empty() && report.errors.is_empty() {
            format!(
                "Unexpected pass: the expectations file is stale ({} passed although expected to fail)",
                self.t(&report
                    .unexpected_passes
                    .iter()
                    .map(|p| p.requirement.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
            )
        } else if failed.is_empty() {
            "The features could not be run as written (see the errors below)".to_owned()
        } else {
            format!(
                "{} failed: {}",
                counted(failed.len(), "requirement"),
                self.requirement_links(&failed)
            )
        };
        if !warned.is_empty() {
            let _ = write!(
                why,
                " · {} (should-level): {}",
                counted(warned.len(), "warning"),
                self.requirement_links(&warned)
            );
        }
        let target = match &run.target_label {
            Some(label) => format!("{} ({})", self.t(&run.target), self.t(label)),
            None => self.t(&run.target),
        };
        let declared = if run.declared.is_empty() {
            "none".to_owned()
        } else {
            self.t(&run.declared.join(", "))
        };
        let _ = write!(
            out,
            "<header class=\"banner {class}\" id=\"verdict\" data-verdict=\"{word}\">\n<div class=\"wrap\">\n\
             <h1>{mark} {title}</h1>\n<div class=\"why\">{why}</div>\n<dl class=\"facts\">\n\
             <div><dt>Target</dt><dd id=\"target\">{target}</dd></div>\n\
             <div><dt>Started</dt><dd>{date}</dd></div>\n\
             <div><dt>Duration</dt><dd>{duration}</dd></div>\n\
             <div><dt>Suite</dt><dd>chalk-conformance {version}</dd></div>\n\
             <div><dt>Run</dt><dd>{run_id}{strict}</dd></div>\n\
             <div><dt>Declared extensions</dt><dd>{declared}</dd></div>\n\
             <div><dt>Provisioning</dt><dd>{provisioning}</dd></div>\n\
             <div><dt>Origin sent</dt><dd>{origin}</dd></div>\n\
             <div><dt>Allowed origins</dt><dd>{origin_mode}</dd></div>\n\
             </dl>\n</div>\n</header>\n",
            class = if conformant && !cannot_judge {
                "ok"
            } else {
                "bad"
            },
            word = match (conformant, cannot_judge) {
                (true, true) => "cannot-judge",
                (true, false) => "conformant",
                (false, _) => "not-conformant",
            },
            mark = if conformant && !cannot_judge {
                "✔"
            } else {
                "✘"
            },
            title = match (conformant, cannot_judge, &skipped_must) {
                (true, true, _) => "Cannot judge",
                (true, false, Some(_)) => "Conformant for what was checked",
                (true, false, None) => "Conformant",
                (false, _, _) => "Not conformant",
            },
            date = self.t(&run.started_at.replace('T', " ").replace('Z', " UTC")),
            duration = duration_text(report.elapsed),
            version = self.t(&run.suite_version),
            run_id = self.t(&run.run_id),
            strict = if report.strict { " · strict" } else { "" },
            provisioning = self.t(&run.provisioning),
            origin = run
                .origin
                .as_deref()
                .map_or_else(|| "none".to_owned(), |o| self.t(o)),
            origin_mode = self.t(&run.origin_mode),
        );
    }

    fn requirement_links(&self, ids: &[&str]) -> String {
        ids.iter()
            .map(|id| format!("<a href=\"#r-{0}\">{0}</a>", self.t(id)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn errors(&self, out: &mut String) {
        if self.report.errors.is_empty() {
            return;
        }
        out.push_str("<section class=\"card\" id=\"errors\"><h2>Errors in the features</h2><ul>");
        for error in &self.report.errors {
            let _ = write!(out, "<li><pre>{}</pre></li>", self.t(error));
        }
        out.push_str("</ul></section>\n");
    }

    /// The failures and warnings, each with a one-glance Expected/Actual, before anything else.
    fn failures_first(&self, out: &mut String) {
        let failing: Vec<(usize, &Entry)> = self
            .report
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.verdict.status(), Status::Fail | Status::Warn))
            .collect();
        if failing.is_empty() {
            return;
        }
        out.push_str(
            "<section id=\"what-failed\"><h2>What failed</h2>\n<ul class=\"failure-list\">\n",
        );
        // Failures first, then warnings, each in feature order.
        let mut ordered = failing;
        ordered.sort_by_key(|(i, e)| (e.verdict.status(), *i));
        for (index, entry) in ordered {
            let Some(detail) = entry.verdict.failure() else {
                continue;
            };
            let status = entry.verdict.status();
            let id = entry.charged_requirement();
            let requirement = self.catalogue.requirement(id);
            let _ = write!(
                out,
                "<li class=\"{}\">{} <a class=\"reqid\" href=\"#r-{id_t}\">{id_t}</a> {} <span class=\"what\">{}</span><br>\
                 <span class=\"muted small\">Scenario <a href=\"#s-{index}\">{}</a> · {}</span>",
                status.as_str(),
                badge(status),
                level_chip(requirement.map_or(entry.planned.requirement.level, |r| r.level)),
                requirement.map_or_else(|| self.t(&detail.headline()), |r| self.t(&r.title)),
                self.t(&entry.planned.name),
                self.t(&entry.planned.key.to_string()),
                id_t = self.t(id),
            );
            match detail.expected_actual() {
                Some((expected, actual)) => {
                    let _ = write!(
                        out,
                        "<div class=\"ea\"><span>Expected</span><span>{}</span><span>Actual</span><span>{}</span></div>",
                        self.t(&brief(&expected)),
                        self.t(&brief(&actual))
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<div class=\"ea\"><span>Reason</span><span>{}</span></div>",
                        self.t(&brief(&detail.message()))
                    );
                }
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n</section>\n");
    }

    fn counts(&self, out: &mut String) {
        out.push_str(
            "<section id=\"counts\" class=\"counts\">\n<div><h2>Scenarios per level</h2>\n",
        );
        let levels: Vec<(String, Tally)> = self
            .report
            .tallies()
            .into_iter()
            .map(|(level, tally)| (level_chip(level), tally))
            .collect();
        let with_expected = levels.iter().any(|(_, t)| t.expected_failures > 0);
        tally_table(out, "Level", &levels, with_expected);
        out.push_str("</div>\n<div><h2>Scenarios per area</h2>\n");
        let areas: Vec<(String, Tally)> = self
            .report
            .area_tallies(self.catalogue)
            .into_iter()
            .map(|(area, tally)| (escape(area), tally))
            .collect();
        tally_table(out, "Area", &areas, with_expected);
        out.push_str("</div>\n</section>\n");
    }

    fn filters(&self, out: &mut String) {
        let mut by_status: BTreeMap<Status, usize> = BTreeMap::new();
        for entry in &self.report.entries {
            *by_status.entry(entry.verdict.status()).or_default() += 1;
        }
        out.push_str(
            "<nav class=\"filters\" id=\"filters\" aria-label=\"Filters\">\n<div class=\"chips\">",
        );
        for status in Status::ALL {
            if status == Status::NotRun {
                continue;
            }
            let count = by_status.get(&status).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<label class=\"chip{}\"><input type=\"checkbox\" data-filter-status value=\"{}\">{} <span class=\"muted\">{count}</span></label>",
                if count == 0 { " none" } else { "" },
                status.as_str(),
                badge(status)
            );
        }
        out.push_str("</div>\n<select id=\"f-area\" aria-label=\"Area\"><option value=\"\">all areas</option>");
        for area in self.report.area_tallies(self.catalogue).keys() {
            let _ = write!(out, "<option value=\"{0}\">{0}</option>", escape(area));
        }
        out.push_str(
            "</select>\n<input type=\"search\" id=\"f-q\" placeholder=\"Search requirements, scenarios, frames…\" aria-label=\"Search\">\n\
             <button type=\"button\" id=\"f-clear\">Clear</button>\n<span class=\"shown\" id=\"f-shown\"></span>\n</nav>\n",
        );
    }

    fn requirements(&self, out: &mut String) {
        out.push_str(
            "<section id=\"requirements\"><h2>Requirements</h2>\n<div class=\"table-wrap\"><table class=\"reqs\">\n\
             <thead><tr><th>Requirement</th><th>Level</th><th>Area</th><th>Title</th><th>Status</th><th>Scenarios</th></tr></thead>\n<tbody>\n",
        );
        for outcome in self.report.requirement_outcomes(self.catalogue) {
            let Some(requirement) = self.catalogue.requirement(&outcome.id) else {
                continue;
            };
            let mut links = String::new();
            for &index in &outcome.scenarios {
                let entry = &self.report.entries[index];
                let _ = write!(
                    links,
                    "<a href=\"#s-{index}\" class=\"small\">{}</a> ",
                    self.t(&entry.planned.name)
                );
            }
            for &index in &outcome.broken_in {
                let entry = &self.report.entries[index];
                let _ = write!(
                    links,
                    "<br><span class=\"small muted\">broken in</span> <a href=\"#s-{index}\" class=\"small\">{} ({})</a> ",
                    self.t(&entry.planned.name),
                    self.t(&entry.planned.requirement.id)
                );
            }
            if outcome.scenarios.is_empty() && outcome.broken_in.is_empty() {
                links.push_str(
                    "<span class=\"muted small\">left out of this run by --tags/--name</span>",
                );
            }
            let reasons: Vec<String> = distinct(
                outcome
                    .scenarios
                    .iter()
                    .filter_map(|&i| self.report.entries[i].verdict.reason())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            )
            .into_iter()
            .map(str::to_owned)
            .collect();
            let reason = if reasons.is_empty() {
                String::new()
            } else {
                format!(
                    "<div class=\"small muted\">{}</div>",
                    self.t(&reasons.join("; "))
                )
            };
            let _ = writeln!(
                out,
                "<tr id=\"r-{id}\" data-status=\"{status}\" data-area=\"{area}\" data-group=\"requirements\">\
                 <td class=\"reqid\">{id}</td><td>{level}</td><td>{area}</td><td class=\"title\">{title}{reason}</td><td>{badge}</td><td class=\"links\">{links}</td></tr>",
                id = escape(&requirement.id),
                status = outcome.status.as_str(),
                area = requirement.area.as_str(),
                level = level_chip(requirement.level),
                title = escape(&requirement.title),
                badge = badge(outcome.status),
            );
        }
        out.push_str("</tbody></table></div>\n<p class=\"empty\" data-empty-for=\"requirements\">No requirement matches the filters.</p>\n</section>\n");
    }

    fn scenarios(&self, out: &mut String) {
        out.push_str("<section id=\"scenarios\"><h2>Scenarios</h2>\n<p class=\"legend\">Each scenario lists its steps, then its wire transcript: \
                      every connection on one timeline, times since the scenario started. \
                      <b>→</b> sent by the suite · <b>←</b> received from the server · <b>·</b> what the suite did or noticed.</p>\n");
        for (index, entry) in self.report.entries.iter().enumerate() {
            self.scenario(out, index, entry);
        }
        out.push_str("<p class=\"empty\" data-empty-for=\"scenarios\">No scenario matches the filters.</p>\n</section>\n");
    }

    fn scenario(&self, out: &mut String, index: usize, entry: &Entry) {
        let planned = &entry.planned;
        let status = entry.verdict.status();
        let open = matches!(
            status,
            Status::Fail | Status::Warn | Status::ExpectedFailure
        );
        let timing = if entry.steps.is_empty() && entry.duration.is_zero() {
            String::new()
        } else {
            duration_text(entry.duration)
        };
        let _ = write!(
            out,
            "<details class=\"scenario sc-{status}\" id=\"s-{index}\" data-status=\"{status}\" data-area=\"{area}\" data-group=\"scenarios\"{open}>\n\
             <summary>{badge} <a class=\"reqid\" href=\"#r-{id}\">{id}</a> {level} <span class=\"name\">{name}</span>\
             <span class=\"right\">{timing} · {location}</span></summary>\n<div class=\"scenario-body\">\n",
            status = status.as_str(),
            area = self.area_of(entry),
            open = if open { " open" } else { "" },
            badge = badge(status),
            id = escape(&planned.requirement.id),
            level = level_chip(planned.requirement.level),
            name = self.t(&planned.name),
            location = self.t(&planned.key.to_string()),
        );
        if let Some(requirement) = self.catalogue.requirement(&planned.requirement.id) {
            let _ = write!(
                out,
                "<p class=\"statement\"><b>{}</b> — {}</p>\n<p class=\"small muted\">Feature: {}{}</p>\n",
                escape(&requirement.title),
                inline_markup(&requirement.statement),
                self.t(&planned.feature),
                planned
                    .rule
                    .as_deref()
                    .map(|r| format!(" · Rule: {}", self.t(r)))
                    .unwrap_or_default(),
            );
        }
        if let Some(reason) = entry.verdict.reason() {
            let _ = writeln!(out, "<div class=\"reason\">{}</div>", self.t(&reason));
        }
        self.steps(out, entry);
        if let Some(detail) = entry.verdict.failure() {
            out.push_str("<h4>Failure</h4>\n");
            if let Some(step) = &detail.step {
                let _ = writeln!(out, "<p>Failed at <code>{}</code></p>", self.t(step));
            }
            let violated = entry.charged_requirement();
            if violated != planned.requirement.id {
                let other = self.catalogue.requirement(violated);
                let _ = writeln!(
                    out,
                    "<div class=\"callout\">This failure breaks <a href=\"#r-{v}\" class=\"reqid\">{v}</a>{title}, \
                     not only the scenario's own requirement, and counts at that requirement's level{statement}.</div>",
                    v = escape(violated),
                    title = other
                        .map(|r| format!(" ({}, {})", escape(&r.title), r.level))
                        .unwrap_or_default(),
                    statement = other
                        .map(|r| format!(": {}", inline_markup(&r.statement)))
                        .unwrap_or_default(),
                );
            }
            match detail.expected_actual() {
                Some((expected, actual)) => {
                    let _ = writeln!(
                        out,
                        "<div class=\"ea-box\"><div class=\"expected\"><span class=\"label\">Expected</span><pre>{}</pre></div>\
                         <div class=\"actual\"><span class=\"label\">Actual</span><pre>{}</pre></div></div>",
                        self.t(&expected),
                        self.t(&actual)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<div class=\"ea-box\"><div class=\"actual\"><span class=\"label\">What happened</span><pre>{}</pre></div></div>",
                        self.t(&detail.message())
                    );
                }
            }
        }
        if !entry.transcript.is_empty() {
            let _ = writeln!(
                out,
                "<h4>Wire transcript ({} entries)</h4>",
                entry.transcript.len()
            );
            self.transcript(out, &entry.transcript);
        } else if matches!(entry.verdict, Verdict::Passed | Verdict::Failed { .. }) {
            out.push_str(
                "<h4>Wire transcript</h4>\n<p class=\"muted small\">Nothing was exchanged.</p>\n",
            );
        }
        out.push_str("</div>\n</details>\n");
    }

    fn steps(&self, out: &mut String, entry: &Entry) {
        out.push_str("<h4>Steps</h4>\n<ol class=\"steps\">\n");
        let ran = !entry.steps.is_empty() || matches!(entry.verdict, Verdict::Passed);
        for (keyword, text, line) in &entry.planned.steps {
            let step = entry
                .steps
                .iter()
                .find(|s| s.line == *line && s.text == *text);
            let (class, mark, timing) = match step {
                Some(s) => match s.status {
                    StepStatus::Passed => ("passed", "✓", duration_text(s.duration)),
                    StepStatus::Failed => ("failed", "✗", duration_text(s.duration)),
                    StepStatus::Skipped => ("skipped", "–", "not run".to_owned()),
                },
                None if ran => ("skipped", "–", "not run".to_owned()),
                None => ("skipped", "·", String::new()),
            };
            let _ = writeln!(
                out,
                "<li class=\"{class}\"><span class=\"mark\">{mark}</span><span class=\"kw\">{}</span><span>{}</span><span class=\"ms\">{timing}</span></li>",
                escape(keyword),
                self.t(text)
            );
        }
        out.push_str("</ol>\n");
    }

    fn transcript(&self, out: &mut String, entries: &[transcript::Entry]) {
        // One colour per connection, in order of appearance; notes of the suite stay grey.
        let mut actors: Vec<&str> = Vec::new();
        for entry in entries {
            if entry.direction != Direction::Note && !actors.contains(&entry.actor.as_str()) {
                actors.push(&entry.actor);
            }
        }
        out.push_str("<table class=\"timeline\"><tbody>\n");
        for entry in entries {
            let colour = actors
                .iter()
                .position(|a| *a == entry.actor)
                .map_or_else(|| "a-note".to_owned(), |i| format!("a{}", i % 6));
            let text = self.redactor.redact(&entry.text);
            let (class, arrow) = match entry.direction {
                Direction::Out => ("out", "→"),
                Direction::In => ("in", "←"),
                Direction::Note => ("note", "·"),
            };
            let kind = if text.starts_with("(close frame") {
                " close"
            } else if entry.direction == Direction::In
                && (text.starts_with("(no HTTP response")
                    || (text.starts_with("HTTP/") && !text.starts_with("HTTP/1.1 101")))
            {
                " refused"
            } else {
                ""
            };
            let what = match text.split_once('\n') {
                Some((head, rest)) => format!(
                    "<div class=\"head\">{}</div><pre>{}</pre>",
                    escape(head),
                    escape(rest)
                ),
                None => format!("<pre>{}</pre>", escape(&text)),
            };
            let _ = writeln!(
                out,
                "<tr class=\"{class}{kind}\"><td class=\"t\">+{:.3}s</td><td class=\"who\"><span class=\"actor {colour}\">{}</span></td>\
                 <td class=\"dir\">{arrow}</td><td class=\"what\">{what}</td></tr>",
                entry.at.as_secs_f64(),
                escape(&entry.actor),
            );
        }
        out.push_str("</tbody></table>\n");
    }
}

/// A table of counts, one row per label, zero counts greyed; the expected-failure column only
/// when the run has expected failures.
fn tally_table(out: &mut String, first: &str, rows: &[(String, Tally)], with_expected: bool) {
    let _ = writeln!(
        out,
        "<div class=\"table-wrap\"><table><thead><tr><th>{first}</th><th class=\"num\">passed</th><th class=\"num\">failed</th>\
         <th class=\"num\">warned</th>{}<th class=\"num\">skipped</th><th class=\"num\">not declared</th></tr></thead><tbody>",
        if with_expected {
            "<th class=\"num\">expected failures</th>"
        } else {
            ""
        }
    );
    for (label, t) in rows {
        let cell = |n: usize, hot: &str| {
            if n == 0 {
                "<td class=\"num zero\">0</td>".to_owned()
            } else {
                format!("<td class=\"num {hot}\">{n}</td>")
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{label}</td>{}{}{}{}{}{}</tr>",
            cell(t.passed, ""),
            cell(t.failed, "hot"),
            cell(t.warned, "warm"),
            if with_expected {
                cell(t.expected_failures, "")
            } else {
                String::new()
            },
            cell(t.skipped, ""),
            cell(t.not_declared, ""),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// A level as a small chip.
pub fn level_chip(level: Level) -> String {
    format!("<span class=\"level {0}\">{0}</span>", level.as_str())
}

/// `35 ms`, `1.3 s`.
pub fn duration_text(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// The first `BRIEF_CHARS` characters on one line.
fn brief(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= BRIEF_CHARS {
        flat
    } else {
        let head: String = flat.chars().take(BRIEF_CHARS).collect();
        format!("{head}…")
    }
}

/// `1 requirement`, `3 requirements`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The distinct items, in first-seen order.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::sample;

    fn rendered() -> String {
        let catalogue = Catalogue::bundled().unwrap();
        render(&sample::report(), &catalogue, &sample::redactor())
    }

    #[test]
    fn a_failing_run_shows_its_verdict_expected_actual_and_transcript() {
        let html = rendered();
        assert!(html.contains("data-verdict=\"not-conformant\""));
        assert!(html.contains("<title>Not conformant — Chalk conformance report</title>"));
        assert!(html.contains("wss://staging.example.com/api/v1/ws"));
        assert!(html.contains(
            "<span class=\"label\">Expected</span><pre>the upgrade refused before 101</pre>"
        ));
        assert!(html.contains("<span class=\"label\">Actual</span><pre>101 Switching Protocols: the connection was opened</pre>"));
        assert!(html.contains("(close frame: 4001 token expired)"));
        assert!(
            html.contains("id=\"r-AUTH-009\" data-status=\"fail\" data-area=\"authentication\"")
        );
        assert!(html.contains("data-status=\"xfail\""));
        assert!(html.contains("expected failure: tracked as CHALK-123"));
        assert!(html.contains("needs recordings"));
        assert!(html.contains("not declared: extension chat-echo"));
        // The failure charged to another requirement says so and links to it.
        assert!(html.contains("This failure breaks <a href=\"#r-SCHEMA-004\""));
    }

    #[test]
    fn frames_cannot_inject_markup_and_secrets_never_show() {
        let html = rendered();
        assert!(!html.contains("<script>alert(1)</script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains(sample::TOKEN));
        assert!(!html.contains(sample::API_KEY));
        assert!(!html.contains("eyJ"));
        assert!(html.contains("token.[token:Mallory]"));
        assert!(html.contains("X-API-Key: [api-key]"));
        assert!(sample::redactor().leaks(&html).is_empty());
    }

    #[test]
    fn the_page_loads_nothing_from_anywhere() {
        let html = rendered();
        for needle in [
            "src=",
            "href=\"http",
            "href=\"//",
            "url(",
            "@import",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!html.contains(needle), "the report contains {needle:?}");
        }
        assert_eq!(html.matches("<script>").count(), 1);
        assert_eq!(html.matches("<style>").count(), 1);
    }
}
