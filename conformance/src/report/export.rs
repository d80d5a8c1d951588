//! Machine-readable reports: JUnit XML and Cucumber JSON.
//!
//! Both are written from the [`Report`], so skipped and undeclared scenarios appear with their
//! reasons, and everything in them has already been through the redactor. A `should` failure
//! that is only a warning (no `--strict`) is written as a passing test with the warning attached,
//! so that these files agree with the exit code; so is a failure the run was told to expect,
//! written as skipped with the expectation's reason.
//! An unexpected pass (a requirement the expectations file lists as failing, which passed) is a
//! failing test of its own, under the expectations file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::report::results::{Entry, Report, StepStatus, UnexpectedPass, Verdict};

/// The report as JUnit XML: one `testsuite` per feature, one `testcase` per scenario.
pub fn junit(report: &Report) -> String {
    let mut by_feature: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
    for entry in &report.entries {
        let path = entry.planned.key.path.as_str();
        by_feature
            .entry((path, entry.planned.feature.as_str()))
            .or_default()
            .push(entry);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_failed = report
        .entries
        .iter()
        .filter(|e| matches!(e.verdict, Verdict::Failed { counts: true, .. }))
        .count()
        + report.unexpected_passes.len();
    let _ = writeln!(
        out,
        "<testsuites name=\"chalk-conformance\" tests=\"{}\" failures=\"{total_failed}\" time=\"{:.3}\">",
        report.entries.len() + report.unexpected_passes.len(),
        report.elapsed.as_secs_f64()
    );
    for ((path, feature), entries) in by_feature {
        let failures = entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Failed { counts: true, .. }))
            .count();
        let skipped = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.verdict,
                    Verdict::Skipped(_) | Verdict::NotDeclared(_) | Verdict::ExpectedFailure { .. }
                )
            })
            .count();
        let time: f64 = entries.iter().map(|e| e.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
            xml(feature),
            entries.len()
        );
        for entry in entries {
            let planned = &entry.planned;
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(path),
                xml(&format!(
                    "{} {} [{}]",
                    planned.requirement.id, planned.name, planned.requirement.level
                )),
                entry.duration.as_secs_f64()
            );
            match &entry.verdict {
                Verdict::Passed => {}
                Verdict::Failed {
                    detail,
                    counts: true,
                } => {
                    let message = detail.message();
                    let first = message.lines().next().unwrap_or("failed");
                    let _ = write!(
                        out,
                        "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    ",
                        xml(first),
                        planned.requirement.level,
                        xml(&format!(
                            "{}\n\nTranscript:\n{}",
                            message, detail.transcript
                        ))
                    );
                }
                Verdict::Failed {
                    detail,
                    counts: false,
                } => {
                    let _ = write!(
                        out,
                        "\n      <system-err>{}</system-err>\n    ",
                        xml(&format!(
                            "WARNING (should-level, not failing without --strict)\n{}",
                            detail.message()
                        ))
                    );
                }
                Verdict::Skipped(reason) => {
                    let _ = write!(out, "\n      <skipped message=\"{}\"/>\n    ", xml(reason));
                }
                Verdict::NotDeclared(extension) => {
                    let _ = write!(
                        out,
                        "\n      <skipped message=\"{}\"/>\n    ",
                        xml(&format!("not declared: extension {extension}"))
                    );
                }
                Verdict::ExpectedFailure { detail, reason } => {
                    let _ = write!(
                        out,
                        "\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    ",
                        xml(&format!("expected failure: {reason}")),
                        xml(&detail.message())
                    );
                }
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    junit_unexpected_passes(&mut out, report);
    out.push_str("</testsuites>\n");
    out
}

/// One failing `testcase` per unexpected pass, in a suite named after the expectations file.
fn junit_unexpected_passes(out: &mut String, report: &Report) {
    let Some(first) = report.unexpected_passes.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "  <testsuite name=\"expectations\" tests=\"{0}\" failures=\"{0}\" skipped=\"0\" time=\"0.000\">",
        report.unexpected_passes.len()
    );
    for pass in &report.unexpected_passes {
        let message = unexpected_pass_message(pass);
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0.000\">\n      <failure message=\"{}\" type=\"unexpected-pass\">{}</failure>\n    </testcase>",
            xml(&first.file),
            xml(&format!("{} is expected to fail", pass.requirement)),
            xml(&message),
            xml(&format!(
                "{message}\nThe file gave as reason: {}",
                pass.reason
            ))
        );
    }
    out.push_str("  </testsuite>\n");
}

/// What an unexpected pass means, in one line.
fn unexpected_pass_message(pass: &UnexpectedPass) -> String {
    format!(
        "unexpected pass: the expectations file is stale: {} passed although {} lists it as failing",
        pass.requirement, pass.file
    )
}

/// The report as Cucumber JSON (the format of cucumber-jvm and cucumber-js).
pub fn cucumber_json(report: &Report) -> String {
    let mut features: BTreeMap<&str, (String, Vec<Value>)> = BTreeMap::new();
    for entry in &report.entries {
        let planned = &entry.planned;
        let elements = &mut features
            .entry(planned.key.path.as_str())
            .or_insert_with(|| (planned.feature.clone(), Vec::new()))
            .1;
        elements.push(scenario_json(entry));
    }
    let mut document: Vec<Value> = features
        .into_iter()
        .map(|(path, (name, elements))| {
            json!({
                "uri": path,
                "id": slug(&name),
                "keyword": "Feature",
                "name": name,
                "line": 1,
                "description": "",
                "tags": [],
                "elements": elements,
            })
        })
        .collect();
    if let Some(first) = report.unexpected_passes.first() {
        let elements: Vec<Value> = report
            .unexpected_passes
            .iter()
            .map(|pass| {
                let name = format!("{} is expected to fail", pass.requirement);
                json!({
                    "id": format!("expectations;{}", slug(&name)),
                    "keyword": "Scenario",
                    "type": "scenario",
                    "name": name,
                    "line": 1,
                    "description": pass.reason,
                    "tags": [],
                    "steps": [{
                        "keyword": "Then ",
                        "name": format!("{} fails", pass.requirement),
                        "line": 1,
                        "result": {
                            "status": "failed",
                            "duration": 0,
                            "error_message": unexpected_pass_message(pass),
                        },
                    }],
                })
            })
            .collect();
        document.push(json!({
            "uri": first.file,
            "id": "expectations",
            "keyword": "Feature",
            "name": "Expectations file",
            "line": 1,
            "description": "",
            "tags": [],
            "elements": elements,
        }));
    }
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| "[]".to_owned())
}

fn scenario_json(entry: &Entry) -> Value {
    let planned = &entry.planned;
    let steps: Vec<Value> = match &entry.verdict {
        Verdict::Skipped(_) | Verdict::NotDeclared(_) | Verdict::ExpectedFailure { .. } => {
            let reason = match &entry.verdict {
                Verdict::ExpectedFailure { detail, reason } => {
                    format!("expected failure: {reason}\n{}", detail.message())
                }
                verdict => verdict.reason().unwrap_or_default(),
            };
            planned
                .steps
                .iter()
                .enumerate()
                .map(|(i, (keyword, text, line))| {
                    let mut result = json!({ "status": "skipped" });
                    if i == 0 {
                        result["error_message"] = json!(reason);
                    }
                    json!({ "keyword": format!("{keyword} "), "name": text, "line": line, "result": result })
                })
                .collect()
        }
        Verdict::Passed | Verdict::Failed { .. } => {
            let failure = match &entry.verdict {
                Verdict::Failed { detail, counts } => Some((detail, *counts)),
                _ => None,
            };
            planned
                .steps
                .iter()
                .map(|(keyword, text, line)| {
                    let ran = entry
                        .steps
                        .iter()
                        .find(|s| s.line == *line && s.text == *text);
                    let mut step =
                        json!({ "keyword": format!("{keyword} "), "name": text, "line": line });
                    let (status, duration) = match ran {
                        Some(s) => (s.status, s.duration),
                        None => (StepStatus::Skipped, std::time::Duration::ZERO),
                    };
                    let mut result = json!({
                        "status": match status {
                            StepStatus::Passed => "passed",
                            StepStatus::Failed => "failed",
                            StepStatus::Skipped => "skipped",
                        },
                        "duration": u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
                    });
                    if status == StepStatus::Failed
                        && let Some((detail, counts)) = failure
                    {
                        let text =
                            format!("{}\n\nTranscript:\n{}", detail.message(), detail.transcript);
                        if counts {
                            result["error_message"] = json!(text);
                        } else {
                            result["status"] = json!("passed");
                            step["output"] = json!([format!(
                                "WARNING (should-level, not failing without --strict)\n{text}"
                            )]);
                        }
                    }
                    step["result"] = result;
                    step
                })
                .collect()
        }
    };
    let tags: Vec<Value> = planned
        .tags
        .iter()
        .map(|t| json!({ "name": format!("@{t}"), "line": planned.key.line }))
        .collect();
    let mut element = json!({
        "id": format!("{};{}", slug(&planned.feature), slug(&planned.name)),
        "keyword": "Scenario",
        "type": "scenario",
        "name": planned.name,
        "line": planned.key.line,
        "description": "",
        "tags": tags,
        "steps": steps,
    });
    // A failure found after the last step (the end-of-scenario frame check) goes in an after hook.
    if let Verdict::Failed { detail, counts } = &entry.verdict
        && detail.step.is_none()
    {
        let text = format!("{}\n\nTranscript:\n{}", detail.message(), detail.transcript);
        let result = if *counts {
            json!({ "status": "failed", "error_message": text })
        } else {
            json!({ "status": "passed", "error_message": format!("WARNING: {text}") })
        };
        element["after"] = json!([{ "match": { "location": "frame check" }, "result": result }]);
    }
    element
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\r' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
