//! `chalk-conformance docs --out DIR [--results FILE]`: the living documentation of the API as
//! a static HTML site, generated from the same contract the suite judges by.
//!
//! Sources: the Gherkin features (the copies compiled into the binary, or `--features DIR`),
//! the requirement catalogue, the JSON Schemas of `schemas/` and `schemas/asyncapi.yaml`. Pages:
//!
//! | page | what |
//! | --- | --- |
//! | `index.html` | the API in brief, the areas, the events, the latest result |
//! | `area-<area>.html` | the area's features in prose, then each requirement (anchor `#<ID>`) with its scenarios rendered from Gherkin |
//! | `event-<event>.html` | an event's schema as a table, its examples, the requirements and scenarios that involve it |
//! | `contract.html` | the connection, the token, the envelope |
//! | `coverage.html` | requirement × level × scenarios × latest result, with filters |
//!
//! The raw files (`features/`, `schemas/`, `spec/`) are copied next to the pages so that every
//! page can link to its source. Given `--results` (the run-result JSON of `--results-json`, or a
//! Cucumber JSON report of `--cucumber-json`), each requirement and scenario shows its latest result.
//! Every page is self-contained (see [`crate::report::html`]): no network, no CDN.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use cucumber::gherkin::{self, GherkinEnv};
use serde_json::Value;

use super::cli::DocsArgs;
use super::exit::ExitStatus;
use crate::contract::catalogue::{Area, BUNDLED_TOML, Catalogue, Level, Requirement};
use crate::contract::schemas::{self, Direction, SchemaSet};
use crate::report::console::Console;
use crate::report::html::{badge, escape, inline_markup, page, slug};
use crate::report::html_report::level_chip;
use crate::report::results::{READABLE_RESULTS_FORMATS, RESULTS_FORMAT, RunResults, Status};
use crate::suite::plan::{self, EMBEDDED, REQUIREMENT_TAG};

/// The AsyncAPI document, compiled into the binary with the schemas.
const ASYNCAPI_YAML: &str = include_str!("../../../schemas/asyncapi.yaml");

/// The extension decisions, copied into the site for reference.
const EXTENSIONS_MD: &str = include_str!("../../../spec/extensions.md");

/// Why the site could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocsError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A feature file is not valid Gherkin.
    #[error("{path}: {reason}")]
    Feature {
        /// The file.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The contract files compiled into the binary are unusable.
    #[error("{0}")]
    Contract(String),
    /// `--results` is neither a run-result JSON nor a Cucumber JSON report.
    #[error("--results {path}: {reason}")]
    Results {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Runs `chalk-conformance docs`: writes the site and says where, or says why not (exit 2).
pub fn generate(
    args: &DocsArgs,
    features_dir: Option<&Path>,
    catalogue: &Catalogue,
    console: &Console,
) -> ExitStatus {
    let written = (|| {
        let sources = feature_sources(features_dir)?;
        let latest = args
            .results
            .as_deref()
            .map(LatestResults::read)
            .transpose()?;
        write_site(&args.out, &sources, catalogue, latest.as_ref())
    })();
    match written {
        Ok(pages) => {
            console.line(&format!(
                "chalk-conformance: wrote {pages} pages to {} (open {})",
                args.out.display(),
                args.out.join("index.html").display()
            ));
            ExitStatus::Conformant
        }
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            ExitStatus::Usage
        }
    }
}

/// The feature files as `(path shown, text)`: `features/<relative path>`, in path order.
pub fn feature_sources(dir: Option<&Path>) -> Result<Vec<(String, String)>, DocsError> {
    let Some(dir) = dir else {
        return Ok(EMBEDDED
            .iter()
            .map(|(relative, text)| (format!("features/{relative}"), (*text).to_owned()))
            .collect());
    };
    let files = crate::suite::plan::feature_files(dir).map_err(|(path, e)| DocsError::Io {
        action: "read",
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).map_err(|e| DocsError::Io {
                action: "read",
                path: file.display().to_string(),
                reason: e.to_string(),
            })?;
            let relative = file.strip_prefix(dir).unwrap_or(&file);
            Ok((
                format!("features/{}", relative.to_string_lossy().replace('\\', "/")),
                text,
            ))
        })
        .collect()
}

/// The latest result of each requirement and scenario, read from `--results`.
#[derive(Debug, Clone, Default)]
pub struct LatestResults {
    /// One line about the run: target, date, verdict, where known.
    pub headline: String,
    /// The verdict, when the file says it.
    pub conformant: Option<bool>,
    /// Requirement ID → status.
    pub requirements: HashMap<String, Status>,
    /// `features/…:line` → status and, for a failure, a one-line reason.
    pub scenarios: HashMap<String, (Status, Option<String>)>,
}

impl LatestResults {
    /// Reads a run-result JSON or a Cucumber JSON report.
    pub fn read(path: &Path) -> Result<Self, DocsError> {
        let shown = path.display().to_string();
        let text = fs::read_to_string(path).map_err(|e| DocsError::Io {
            action: "read",
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| DocsError::Results {
            path: shown,
            reason,
        })
    }

    /// Parses a run-result JSON (an object with `format`) or a Cucumber JSON report (an array).
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match &value {
            Value::Object(object) if object.contains_key("format") => {
                let results: RunResults =
                    serde_json::from_value(value).map_err(|e| format!("not a run result: {e}"))?;
                if !READABLE_RESULTS_FORMATS.contains(&results.format.as_str()) {
                    return Err(format!(
                        "format {:?} is not {RESULTS_FORMAT:?}",
                        results.format
                    ));
                }
                Ok(Self::from_run_results(&results))
            }
            Value::Array(features) => Ok(Self::from_cucumber(features)),
            _ => Err(
                "neither a run-result JSON (--results-json) nor a Cucumber JSON report (--cucumber-json)"
                    .to_owned(),
            ),
        }
    }

    fn from_run_results(results: &RunResults) -> Self {
        let scenarios = results
            .scenarios
            .iter()
            .map(|s| {
                let why = s
                    .failure
                    .as_ref()
                    .map(|f| match (&f.expected, &f.actual) {
                        (Some(e), Some(a)) => format!("expected {e}; got {a}"),
                        _ => f.headline.clone(),
                    })
                    .or_else(|| s.reason.clone());
                (site_key(&s.location), (s.status, why))
            })
            .collect();
        Self {
            headline: format!(
                "run {} against {} on {}: {}",
                results.run_id,
                results.target,
                results.started_at.replace('T', " ").replace('Z', " UTC"),
                if results.conformant {
                    "conformant"
                } else {
                    "not conformant"
                }
            ),
            conformant: Some(results.conformant),
            requirements: results
                .requirements
                .iter()
                .map(|r| (r.id.clone(), r.status))
                .collect(),
            scenarios,
        }
    }

    fn from_cucumber(features: &[Value]) -> Self {
        let mut latest = Self {
            headline: "from a Cucumber JSON report".to_owned(),
            ..Self::default()
        };
        for feature in features {
            let uri = feature["uri"].as_str().unwrap_or_default();
            for element in feature["elements"].as_array().into_iter().flatten() {
                let line = element["line"].as_u64().unwrap_or_default();
                let (status, why) = cucumber_status(element);
                let requirement = element["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["name"].as_str())
                    .find_map(|t| t.trim_start_matches('@').strip_prefix(REQUIREMENT_TAG));
                if let Some(id) = requirement {
                    let entry = latest
                        .requirements
                        .entry(id.to_owned())
                        .or_insert(Status::NotRun);
                    *entry = entry.worst(status);
                }
                latest
                    .scenarios
                    .insert(site_key(&format!("{uri}:{line}")), (status, why));
            }
        }
        let failed = latest.requirements.values().any(|s| *s == Status::Fail);
        latest.conformant = Some(!failed);
        latest
    }

    fn requirement(&self, id: &str) -> Status {
        self.requirements.get(id).copied().unwrap_or(Status::NotRun)
    }
}

/// A scenario's status in a Cucumber JSON report (as [`crate::report::export`] writes them).
fn cucumber_status(element: &Value) -> (Status, Option<String>) {
    let steps: Vec<&Value> = element["steps"].as_array().into_iter().flatten().collect();
    let results = steps.iter().map(|s| &s["result"]).chain(
        element["after"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| &h["result"]),
    );
    let mut failed = None;
    let mut warned = None;
    for result in results {
        let message = result["error_message"].as_str().map(first_line);
        match result["status"].as_str() {
            Some("failed") => failed = failed.or(message.or(Some(String::new()))),
            _ if message.as_deref().is_some_and(|m| m.starts_with("WARNING")) => {
                warned = warned.or(message);
            }
            _ => {}
        }
    }
    if let Some(why) = failed {
        return (Status::Fail, Some(why));
    }
    let output_warning = steps.iter().any(|s| {
        s["output"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|o| o.as_str().is_some_and(|o| o.starts_with("WARNING")))
    });
    if warned.is_some() || output_warning {
        return (Status::Warn, warned);
    }
    let all_skipped = !steps.is_empty()
        && steps
            .iter()
            .all(|s| s["result"]["status"].as_str() == Some("skipped"));
    if all_skipped {
        let reason = steps
            .first()
            .and_then(|s| s["result"]["error_message"].as_str())
            .map(first_line);
        let status = match reason.as_deref() {
            Some(r) if r.starts_with("not declared") => Status::NotDeclared,
            Some(r) if r.starts_with("expected failure") => Status::ExpectedFailure,
            _ => Status::Skipped,
        };
        return (status, reason);
    }
    (Status::Pass, None)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// A scenario location as the site keys it: from `features/` on, whatever directory the run
/// read the features from.
fn site_key(location: &str) -> String {
    match location.rfind("features/") {
        Some(at) => location[at..].to_owned(),
        None => location.to_owned(),
    }
}

/// One feature file, parsed without expanding its outlines (the site shows them as written).
struct FeatureDoc {
    path: String,
    text: String,
    feature: gherkin::Feature,
}

/// One scenario of a feature, with what the site needs to place it.
struct ScenarioDoc<'a> {
    feature: &'a FeatureDoc,
    rule: Option<&'a gherkin::Rule>,
    scenario: &'a gherkin::Scenario,
    requirement: String,
    tags: Vec<String>,
}

impl ScenarioDoc<'_> {
    fn key(&self) -> String {
        format!("{}:{}", self.feature.path, self.scenario.position.line)
    }

    fn anchor(&self) -> String {
        format!(
            "sc-{}-{}",
            slug(&self.feature.path),
            self.scenario.position.line
        )
    }

    /// The keys of its runs: itself, or one per outline row (cucumber numbers a row by the
    /// `Examples:` line plus its index plus two).
    fn run_keys(&self) -> Vec<String> {
        if self.scenario.examples.is_empty() {
            return vec![self.key()];
        }
        self.scenario
            .examples
            .iter()
            .flat_map(|examples| {
                let rows = examples
                    .table
                    .as_ref()
                    .map_or(0, |t| t.rows.len().saturating_sub(1));
                (0..rows).map(move |i| {
                    format!("{}:{}", self.feature.path, examples.position.line + i + 2)
                })
            })
            .collect()
    }

    fn area_page(&self, catalogue: &Catalogue) -> String {
        catalogue
            .requirement(&self.requirement)
            .map_or_else(|| "index.html".to_owned(), |r| area_file(r.area))
    }

    /// Whether a step or doc string of the scenario names `event`.
    fn mentions(&self, event: &str) -> bool {
        self.scenario.steps.iter().any(|step| {
            names_event(&step.value, event)
                || step
                    .docstring
                    .as_deref()
                    .is_some_and(|d| names_event(d, event))
        })
    }
}

/// Whether `text` names `event` as a whole word (`ping` is not in `pinged`, nor in `ping.x`).
fn names_event(text: &str, event: &str) -> bool {
    text.match_indices(event)
        .any(|(at, _)| whole_word_at(text, at, event.len()))
}

/// Whether the `len` bytes at `at` of `text` are a whole (possibly dotted) word.
fn whole_word_at(text: &str, at: usize, len: usize) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    let before = text[..at].chars().next_back();
    let rest = &text[at + len..];
    let mut after = rest.chars();
    // A full stop that ends a sentence is not part of a dotted name.
    let after_ok = match after.next() {
        None => true,
        Some('.') => after.next().is_none_or(|c| !c.is_ascii_alphanumeric()),
        Some(c) => !part(c),
    };
    before.is_none_or(|c| !part(c)) && after_ok
}

fn area_file(area: Area) -> String {
    format!("area-{}.html", area.as_str())
}

fn event_file(event: &str) -> String {
    format!("event-{}.html", slug(event))
}

/// Everything the pages are made from.
struct Site<'a> {
    catalogue: &'a Catalogue,
    schemas: SchemaSet,
    asyncapi: Value,
    features: Vec<FeatureDoc>,
    latest: Option<&'a LatestResults>,
    /// Event names, longest first (so `hand.raised` is linked before `hand.raise` could be).
    event_names: Vec<String>,
}

/// Writes the site into `out`; the number of pages written.
pub fn write_site(
    out: &Path,
    sources: &[(String, String)],
    catalogue: &Catalogue,
    latest: Option<&LatestResults>,
) -> Result<usize, DocsError> {
    let schemas = SchemaSet::bundled().map_err(|e| DocsError::Contract(e.to_string()))?;
    let asyncapi: Value = serde_yaml::from_str(ASYNCAPI_YAML)
        .map_err(|e| DocsError::Contract(format!("schemas/asyncapi.yaml: {e}")))?;
    let mut features = Vec::new();
    for (path, text) in sources {
        let feature = gherkin::Feature::parse(text, GherkinEnv::default()).map_err(|e| {
            DocsError::Feature {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        features.push(FeatureDoc {
            path: path.clone(),
            text: text.clone(),
            feature,
        });
    }
    let mut event_names: Vec<String> = schemas.events().map(|e| e.name().to_owned()).collect();
    event_names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let site = Site {
        catalogue,
        schemas,
        asyncapi,
        features,
        latest,
        event_names,
    };
    site.write(out)
}

impl Site<'_> {
    fn write(&self, out: &Path) -> Result<usize, DocsError> {
        let mut files: Vec<(PathBuf, String)> = vec![
            (PathBuf::from("index.html"), self.index_page()),
            (PathBuf::from("contract.html"), self.contract_page()),
            (PathBuf::from("coverage.html"), self.coverage_page()),
        ];
        for area in Area::ALL {
            files.push((PathBuf::from(area_file(area)), self.area_page(area)));
        }
        for event in self.schemas.events() {
            files.push((
                PathBuf::from(event_file(event.name())),
                self.event_page(event.name()),
            ));
        }
        let pages = files.len();
        // The sources, next to the pages that link to them.
        for feature in &self.features {
            files.push((PathBuf::from(&feature.path), feature.text.clone()));
        }
        for (file, text) in schemas::BUNDLED {
            files.push((Path::new("schemas").join(file), (*text).to_owned()));
        }
        files.push((
            PathBuf::from("schemas/asyncapi.yaml"),
            ASYNCAPI_YAML.to_owned(),
        ));
        files.push((
            PathBuf::from("spec/requirements.toml"),
            BUNDLED_TOML.to_owned(),
        ));
        files.push((
            PathBuf::from("spec/extensions.md"),
            EXTENSIONS_MD.to_owned(),
        ));
        for (relative, text) in files {
            let path = out.join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| DocsError::Io {
                    action: "write",
                    path: parent.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            fs::write(&path, text).map_err(|e| DocsError::Io {
                action: "write",
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(pages)
    }

    /// Every scenario of every feature, in file order.
    fn scenarios(&self) -> Vec<ScenarioDoc<'_>> {
        let mut all = Vec::new();
        for feature in &self.features {
            let f = &feature.feature;
            let own = f.scenarios.iter().map(|s| (None, s));
            let ruled = f
                .rules
                .iter()
                .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
            for (rule, scenario) in own.chain(ruled) {
                let tags = plan::effective_tags(f, rule, scenario);
                let requirement = plan::requirement_tags(&tags)
                    .first()
                    .map(|s| (*s).to_owned())
                    .unwrap_or_default();
                all.push(ScenarioDoc {
                    feature,
                    rule,
                    scenario,
                    requirement,
                    tags: scenario.tags.clone(),
                });
            }
        }
        all
    }

    /// A page with the site's navigation around `main`.
    fn page(&self, title: &str, current: &str, main: &str, with_filters: bool) -> String {
        let mut nav = String::from(
            "<header class=\"topbar\"><div class=\"wrap\"><a class=\"brand\" href=\"index.html\">Chalk API · living documentation</a>",
        );
        for (file, label) in [
            ("index.html", "Overview"),
            ("contract.html", "Connection & envelope"),
            ("coverage.html", "Coverage matrix"),
        ] {
            let here = if file == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(nav, "<a href=\"{file}\"{here}>{label}</a>");
        }
        nav.push_str("</div><div class=\"wrap subnav\">");
        for area in Area::ALL {
            let file = area_file(area);
            let here = if file == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                nav,
                "<a href=\"{file}\"{here}>{}</a>",
                title_case(area.as_str())
            );
        }
        nav.push_str("</div></header>\n");
        let footer = format!(
            "<footer>Generated by chalk-conformance {} from <a href=\"spec/requirements.toml\">spec/requirements.toml</a>, \
             the <code>features/</code> and <a href=\"schemas/index.json\">schemas/</a> \
             (<a href=\"schemas/asyncapi.yaml\">AsyncAPI</a>). Self-contained: no page loads anything from the network.</footer>",
            env!("CARGO_PKG_VERSION")
        );
        page(
            &format!("{title} — Chalk API"),
            &format!("{nav}<main class=\"wrap\">\n{main}\n{footer}\n</main>"),
            with_filters,
        )
    }

    /// Escaped step text with every known event name linked to its page.
    fn link_events(&self, text: &str) -> String {
        let escaped = escape(text);
        let mut out = String::with_capacity(escaped.len());
        let mut at = 0;
        'text: while let Some(c) = escaped[at..].chars().next() {
            for name in &self.event_names {
                if escaped[at..].starts_with(name.as_str())
                    && whole_word_at(&escaped, at, name.len())
                {
                    let _ = write!(out, "<a href=\"{}\">{name}</a>", event_file(name));
                    at += name.len();
                    continue 'text;
                }
            }
            out.push(c);
            at += c.len_utf8();
        }
        out
    }

    fn result_badge(&self, status: Status) -> String {
        if self.latest.is_some() {
            badge(status)
        } else {
            String::new()
        }
    }

    fn latest_card(&self) -> String {
        let Some(latest) = self.latest else {
            return "<section class=\"card\"><h2>Latest result</h2><p class=\"muted\">No run given. \
                    <code>chalk-conformance docs --out DIR --results results.json</code> shows each requirement's \
                    latest result (from <code>--results-json</code> or a Cucumber <code>--cucumber-json</code> report).</p></section>"
                .to_owned();
        };
        let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
        for requirement in self.catalogue.active() {
            *counts
                .entry(latest.requirement(&requirement.id))
                .or_default() += 1;
        }
        let verdict = match latest.conformant {
            Some(true) => "<span class=\"badge st-pass\">conformant</span>",
            Some(false) => "<span class=\"badge st-fail\">not conformant</span>",
            None => "",
        };
        let mut out = format!(
            "<section class=\"card\" id=\"latest\"><h2>Latest result {verdict}</h2><p>{}</p><p>",
            escape(&latest.headline)
        );
        for (status, count) in counts {
            let _ = write!(
                out,
                "<a href=\"coverage.html#status={}\">{} {count}</a> &nbsp;",
                status.as_str(),
                badge(status)
            );
        }
        out.push_str("requirements</p></section>");
        out
    }

    fn index_page(&self) -> String {
        let mut main = String::from("<h1>The Chalk real-time WebSocket API</h1>\n");
        if let Some(description) = self
            .asyncapi
            .pointer("/info/description")
            .and_then(Value::as_str)
        {
            let _ = writeln!(main, "<p>{}</p>", inline_markup(description.trim()));
        }
        main.push_str(
            "<p>This site is the API's living specification. Every rule below is a requirement of the catalogue with a stable ID \
             (<code>AUTH-009</code>), and every requirement is checked by Gherkin scenarios that <code>chalk-conformance</code> runs \
             against a server. <span class=\"level must\">must</span> is required by the published API; \
             <span class=\"level should\">should</span> is recommended practice (a warning when broken); \
             <span class=\"level extension\">extension</span> is a reference-server choice where the API is silent, checked only when \
             a server declares it (<a href=\"spec/extensions.md\">spec/extensions.md</a>).</p>\n",
        );
        main.push_str(&self.latest_card());
        main.push_str("\n<h2>Areas</h2>\n<div class=\"grid\">\n");
        for area in Area::ALL {
            let requirements: Vec<&Requirement> = self
                .catalogue
                .in_area(area)
                .filter(|r| !r.retired)
                .collect();
            let per_level = |level: Level| requirements.iter().filter(|r| r.level == level).count();
            let _ = write!(
                main,
                "<div class=\"card\"><h3><a href=\"{}\">{}</a></h3><p class=\"small muted\">{}</p>\
                 <p class=\"small\">{} must · {} should · {} extension</p>",
                area_file(area),
                title_case(area.as_str()),
                inline_markup(area_summary(area)),
                per_level(Level::Must),
                per_level(Level::Should),
                per_level(Level::Extension),
            );
            if let Some(latest) = self.latest {
                let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
                for r in &requirements {
                    *counts.entry(latest.requirement(&r.id)).or_default() += 1;
                }
                main.push_str("<p class=\"small\">");
                for (status, count) in counts {
                    let _ = write!(main, "{} {count} ", badge(status));
                }
                main.push_str("</p>");
            }
            main.push_str("</div>\n");
        }
        main.push_str("</div>\n<h2>Events</h2>\n<div class=\"table-wrap\"><table>\n<thead><tr><th>Event</th><th>Sent by</th><th>Status</th><th>What</th><th>Requirements</th></tr></thead><tbody>\n");
        for event in self.ordered_events() {
            let summary = self.operation_summary(event.name()).unwrap_or_default();
            let _ = writeln!(
                main,
                "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                event_file(event.name()),
                escape(event.name()),
                sender(event.direction()),
                published_text(event.extension()),
                escape(&summary),
                self.catalogue
                    .involving_event(event.name())
                    .filter(|r| !r.retired)
                    .count(),
            );
        }
        main.push_str("</tbody></table></div>\n<p><a href=\"contract.html\">How to connect, the token and the frame envelope →</a></p>\n");
        self.page("Overview", "index.html", &main, false)
    }

    fn ordered_events(&self) -> Vec<&schemas::EventSchema> {
        let mut events: Vec<&schemas::EventSchema> = self.schemas.events().collect();
        events.sort_by_key(|e| {
            (
                !e.is_published(),
                e.direction() == Direction::Client,
                e.name().to_owned(),
            )
        });
        events
    }

    /// The AsyncAPI operation of an event: `send` (the server sends it) or `receive`, and its
    /// summary.
    fn operation(&self, event: &str) -> Option<(&str, &str)> {
        let messages = self.asyncapi.pointer("/components/messages")?.as_object()?;
        let key = messages
            .iter()
            .find(|(_, m)| m["name"].as_str() == Some(event))
            .map(|(k, _)| k.as_str())?;
        let reference = format!("#/channels/room/messages/{key}");
        let operations = self.asyncapi.pointer("/operations")?.as_object()?;
        operations.values().find_map(|op| {
            let named = op["messages"]
                .as_array()?
                .iter()
                .any(|m| m["$ref"].as_str() == Some(reference.as_str()));
            named.then(|| {
                (
                    op["action"].as_str().unwrap_or_default(),
                    op["summary"].as_str().unwrap_or_default(),
                )
            })
        })
    }

    fn operation_summary(&self, event: &str) -> Option<String> {
        self.operation(event).map(|(_, s)| s.to_owned())
    }

    fn area_page(&self, area: Area) -> String {
        let scenarios = self.scenarios();
        let in_area: Vec<&ScenarioDoc<'_>> = scenarios
            .iter()
            .filter(|s| {
                self.catalogue
                    .requirement(&s.requirement)
                    .is_some_and(|r| r.area == area)
            })
            .collect();
        let mut main = format!(
            "<h1>{}</h1>\n<p class=\"muted\">{}</p>\n",
            title_case(area.as_str()),
            inline_markup(area_summary(area))
        );
        // The area at a glance, then the features' own prose: it is written for people.
        main.push_str(
            "<div class=\"table-wrap\"><table><thead><tr><th>Requirement</th><th>Level</th><th>Title</th><th>Scenarios</th>",
        );
        if self.latest.is_some() {
            main.push_str("<th>Latest result</th>");
        }
        main.push_str("</tr></thead><tbody>\n");
        for requirement in self.catalogue.in_area(area).filter(|r| !r.retired) {
            let count = in_area
                .iter()
                .filter(|s| s.requirement == requirement.id)
                .count();
            let _ = write!(
                main,
                "<tr><td><a class=\"reqid\" href=\"#{id}\">{id}</a></td><td>{}</td><td>{}</td><td class=\"num\">{count}</td>",
                level_chip(requirement.level),
                escape(&requirement.title),
                id = escape(&requirement.id),
            );
            if let Some(latest) = self.latest {
                let _ = write!(
                    main,
                    "<td>{}</td>",
                    badge(latest.requirement(&requirement.id))
                );
            }
            main.push_str("</tr>\n");
        }
        main.push_str("</tbody></table></div>\n");
        let mut seen = BTreeSet::new();
        for scenario in &in_area {
            let feature = scenario.feature;
            if !seen.insert(feature.path.as_str()) {
                continue;
            }
            let _ = writeln!(
                main,
                "<section class=\"card\"><h2>{}</h2>{}<p class=\"small muted\">Source: <a href=\"{path}\">{path}</a></p></section>",
                escape(&feature.feature.name),
                paragraphs(feature.feature.description.as_deref().unwrap_or_default()),
                path = escape(&feature.path),
            );
        }
        main.push_str("<h2>Requirements</h2>\n");
        for requirement in self.catalogue.in_area(area).filter(|r| !r.retired) {
            self.requirement_section(&mut main, requirement, &in_area);
        }
        self.page(&title_case(area.as_str()), &area_file(area), &main, false)
    }

    fn requirement_section(
        &self,
        out: &mut String,
        requirement: &Requirement,
        scenarios: &[&ScenarioDoc<'_>],
    ) {
        let status = self
            .latest
            .map(|l| l.requirement(&requirement.id))
            .map(|s| self.result_badge(s))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<section class=\"req\" id=\"{id}\"><h3><a class=\"reqid\" href=\"#{id}\">{id}</a> {} {} {status}</h3>\n<p>{}</p>\n<p class=\"meta\">Source: {}",
            level_chip(requirement.level),
            escape(&requirement.title),
            inline_markup(&requirement.statement),
            inline_markup(&requirement.source),
            id = escape(&requirement.id),
        );
        if let Some(extension) = &requirement.extension {
            let _ = write!(
                out,
                " · Extension <code>{}</code> (<a href=\"spec/extensions.md\">spec/extensions.md</a>)",
                escape(extension)
            );
        }
        if !requirement.events.is_empty() {
            out.push_str(" · Events: ");
            let links: Vec<String> = requirement
                .events
                .iter()
                .map(|e| {
                    format!(
                        "<a href=\"{}\"><code>{}</code></a>",
                        event_file(e),
                        escape(e)
                    )
                })
                .collect();
            out.push_str(&links.join(", "));
        }
        if !requirement.needs.is_empty() {
            let _ = write!(out, " · Needs: {}", escape(&requirement.needs.join(", ")));
        }
        out.push_str("</p>\n");
        let own: Vec<&&ScenarioDoc<'_>> = scenarios
            .iter()
            .filter(|s| s.requirement == requirement.id)
            .collect();
        if own.is_empty() {
            out.push_str("<p class=\"muted small\">No scenario checks this requirement yet.</p>\n");
        }
        let mut last_rule = None;
        for scenario in own {
            let rule_name = scenario.rule.map(|r| r.name.as_str());
            if rule_name.is_some() && rule_name != last_rule {
                let _ = write!(
                    out,
                    "<p class=\"small rule\"><span class=\"kw\">Rule:</span> {}</p>",
                    escape(rule_name.unwrap_or_default())
                );
                last_rule = rule_name;
            }
            self.gherkin_scenario(out, scenario);
        }
        out.push_str("</section>\n");
    }

    fn gherkin_scenario(&self, out: &mut String, doc: &ScenarioDoc<'_>) {
        let scenario = doc.scenario;
        let result = self.latest.map(|latest| {
            let statuses: Vec<&(Status, Option<String>)> = doc
                .run_keys()
                .iter()
                .filter_map(|k| latest.scenarios.get(k))
                .collect();
            let worst = statuses
                .iter()
                .fold(Status::NotRun, |worst, (s, _)| worst.worst(*s));
            let why = statuses
                .iter()
                .find(|(s, _)| *s == worst)
                .and_then(|(_, w)| w.clone());
            (worst, why)
        });
        let _ = writeln!(out, "<div class=\"gherkin\" id=\"{}\">", doc.anchor());
        if !doc.tags.is_empty() {
            out.push_str("<div>");
            for tag in &doc.tags {
                let _ = write!(out, "<span class=\"tag\">@{}</span>", escape(tag));
            }
            out.push_str("</div>\n");
        }
        let _ = writeln!(
            out,
            "<div><span class=\"kw\">{}:</span> <span class=\"title\">{}</span> {} <a class=\"small\" href=\"{}\">{}</a></div>",
            escape(scenario.keyword.trim()),
            escape(&scenario.name),
            result.as_ref().map(|(s, _)| badge(*s)).unwrap_or_default(),
            escape(&doc.feature.path),
            escape(&doc.key()),
        );
        if let Some((status, Some(why))) = &result
            && matches!(status, Status::Fail | Status::Warn)
        {
            let _ = writeln!(
                out,
                "<div class=\"callout {}\">{}</div>",
                status.as_str(),
                escape(why)
            );
        }
        for step in &scenario.steps {
            let _ = writeln!(
                out,
                "<div class=\"step\"><span class=\"kw\">{}</span> {}</div>",
                escape(step.keyword.trim()),
                self.link_events(&step.value)
            );
            if let Some(docstring) = &step.docstring {
                let _ = writeln!(out, "<pre class=\"doc\">{}</pre>", escape(docstring.trim()));
            }
            if let Some(table) = &step.table {
                gherkin_table(out, &table.rows, None);
            }
        }
        for examples in &scenario.examples {
            let _ = writeln!(
                out,
                "<div class=\"step\"><span class=\"kw\">{}:</span></div>",
                escape(examples.keyword.trim())
            );
            if let Some(table) = &examples.table {
                let statuses: Option<Vec<Status>> = self.latest.map(|latest| {
                    (0..table.rows.len().saturating_sub(1))
                        .map(|i| {
                            let key =
                                format!("{}:{}", doc.feature.path, examples.position.line + i + 2);
                            latest
                                .scenarios
                                .get(&key)
                                .map_or(Status::NotRun, |(s, _)| *s)
                        })
                        .collect()
                });
                gherkin_table(out, &table.rows, statuses.as_deref());
            }
        }
        out.push_str("</div>\n");
    }

    fn event_page(&self, name: &str) -> String {
        let Some(event) = self.schemas.event(name) else {
            return self.page(name, "", "<p>Unknown event.</p>", false);
        };
        let document = event.schema().document();
        let file = event.schema().file().to_owned();
        let mut main = format!(
            "<h1><code>{}</code></h1>\n<p><span class=\"pill\">{}</span> <span class=\"pill\">{}</span></p>\n",
            escape(name),
            sender(event.direction()),
            published_text(event.extension()),
        );
        if let Some((action, summary)) = self.operation(name) {
            let _ = writeln!(
                main,
                "<p><b>{}</b> {}</p>",
                escape(summary),
                if action == "send" {
                    "The server sends it to clients."
                } else {
                    "Clients send it to the server."
                }
            );
        }
        if let Some(description) = document["description"].as_str() {
            let _ = writeln!(main, "<p>{}</p>", inline_markup(description));
        }
        main.push_str("<h2>Fields</h2>\n");
        main.push_str(&schema_table(document, &file));
        let _ = writeln!(
            main,
            "<p class=\"small muted\">Schema file: <a href=\"schemas/{0}\">schemas/{0}</a> (JSON Schema 2020-12; it describes the whole frame, envelope included)</p>",
            escape(&file)
        );
        if let Some(examples) = document["examples"].as_array() {
            main.push_str("<h2>Examples</h2>\n");
            for example in examples {
                let _ = writeln!(
                    main,
                    "<pre class=\"json\">{}</pre>",
                    escape(&frame_text(example))
                );
            }
        }
        main.push_str("<h2>Requirements that involve it</h2>\n");
        let requirements: Vec<&Requirement> = self
            .catalogue
            .involving_event(name)
            .filter(|r| !r.retired)
            .collect();
        if requirements.is_empty() {
            main.push_str("<p class=\"muted\">None names it directly.</p>\n");
        } else {
            main.push_str("<div class=\"table-wrap\"><table><thead><tr><th>Requirement</th><th>Level</th><th>Title</th><th>Latest</th></tr></thead><tbody>\n");
            for r in requirements {
                let _ = writeln!(
                    main,
                    "<tr><td><a class=\"reqid\" href=\"{}#{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    area_file(r.area),
                    level_chip(r.level),
                    escape(&r.title),
                    self.latest
                        .map(|l| badge(l.requirement(&r.id)))
                        .unwrap_or_else(|| "—".to_owned()),
                    id = escape(&r.id),
                );
            }
            main.push_str("</tbody></table></div>\n");
        }
        main.push_str("<h2>Scenarios that mention it</h2>\n");
        let scenarios = self.scenarios();
        let mentioning: Vec<&ScenarioDoc<'_>> =
            scenarios.iter().filter(|s| s.mentions(name)).collect();
        if mentioning.is_empty() {
            main.push_str("<p class=\"muted\">No scenario step names it.</p>\n");
        } else {
            main.push_str("<ul>\n");
            for s in mentioning {
                let _ = writeln!(
                    main,
                    "<li><a class=\"reqid\" href=\"{page}#{id}\">{id}</a> <a href=\"{page}#{anchor}\">{}</a> <span class=\"small muted\">{}</span></li>",
                    escape(&s.scenario.name),
                    escape(&s.key()),
                    page = s.area_page(self.catalogue),
                    id = escape(&s.requirement),
                    anchor = s.anchor(),
                );
            }
            main.push_str("</ul>\n");
        }
        self.page(name, "", &main, false)
    }

    fn contract_page(&self) -> String {
        let mut main = String::from("<h1>Connection, token and envelope</h1>\n");
        if let Some(channel) = self.asyncapi.pointer("/channels/room") {
            let _ = write!(
                main,
                "<h2>The connection: <code>GET {}</code></h2>\n<p>{}</p>\n",
                escape(channel["address"].as_str().unwrap_or_default()),
                inline_markup(channel["description"].as_str().unwrap_or_default().trim())
            );
            if let Some(query) = channel
                .pointer("/bindings/ws/query/properties")
                .and_then(Value::as_object)
            {
                main.push_str("<h3>Query parameters of the upgrade</h3><ul>");
                for (name, property) in query {
                    let _ = write!(
                        main,
                        "<li><code>{}</code>{}: {}</li>",
                        escape(name),
                        if property["deprecated"].as_bool() == Some(true) {
                            " (deprecated)"
                        } else {
                            ""
                        },
                        inline_markup(property["description"].as_str().unwrap_or_default().trim())
                    );
                }
                main.push_str("</ul>\n");
            }
            if let Some(headers) = channel
                .pointer("/bindings/ws/headers/properties")
                .and_then(Value::as_object)
            {
                main.push_str("<h3>Headers of the upgrade</h3><ul>");
                for (name, property) in headers {
                    let _ = write!(
                        main,
                        "<li><code>{}</code>: {}</li>",
                        escape(name),
                        inline_markup(property["description"].as_str().unwrap_or_default().trim())
                    );
                }
                main.push_str("</ul>\n");
            }
        }
        main.push_str("<p>The requirements of the upgrade are in <a href=\"area-authentication.html\">Authentication</a>, \
                       <a href=\"area-subprotocol.html\">Subprotocol</a> and <a href=\"area-origin.html\">Origin</a>.</p>\n");
        for (title, schema) in [
            (
                "The participant token's claims",
                self.schemas.token_claims(),
            ),
            ("The frame envelope", self.schemas.envelope()),
        ] {
            let document = schema.document();
            let _ = write!(
                main,
                "<h2>{title}</h2>\n<p>{}</p>\n{}<p class=\"small muted\">Schema file: <a href=\"schemas/{file}\">schemas/{file}</a></p>\n",
                inline_markup(document["description"].as_str().unwrap_or_default()),
                schema_table(document, schema.file()),
                file = escape(schema.file()),
            );
        }
        main.push_str("<h2>Contract files</h2><ul>\
            <li><a href=\"schemas/asyncapi.yaml\">schemas/asyncapi.yaml</a> — the AsyncAPI 3.0 description</li>\
            <li><a href=\"schemas/index.json\">schemas/index.json</a> — where each event's schema lives</li>\
            <li><a href=\"spec/requirements.toml\">spec/requirements.toml</a> — the requirement catalogue</li>\
            <li><a href=\"spec/extensions.md\">spec/extensions.md</a> — the reference server's extensions and close codes</li></ul>\n");
        self.page(
            "Connection, token and envelope",
            "contract.html",
            &main,
            false,
        )
    }

    fn coverage_page(&self) -> String {
        let scenarios = self.scenarios();
        let mut main = String::from(
            "<h1>Coverage matrix</h1>\n<p>Every requirement of the catalogue, its level, the scenarios that check it and, \
             when the site was given a run, its latest result. Filters work from the URL too: \
             <a href=\"#status=fail\"><code>#status=fail</code></a>, <a href=\"#area=chat\"><code>#area=chat</code></a>.</p>\n",
        );
        main.push_str(&self.latest_card());
        let mut levels: BTreeMap<Level, (usize, usize, usize)> = BTreeMap::new();
        for requirement in self.catalogue.active() {
            let count = scenarios
                .iter()
                .filter(|s| s.requirement == requirement.id)
                .count();
            let entry = levels.entry(requirement.level).or_default();
            entry.0 += 1;
            entry.1 += usize::from(count > 0);
            entry.2 += count;
        }
        main.push_str("<div class=\"table-wrap\"><table><thead><tr><th>Level</th><th class=\"num\">requirements</th><th class=\"num\">with a scenario</th><th class=\"num\">scenarios</th></tr></thead><tbody>");
        for (level, (requirements, covered, count)) in levels {
            let _ = write!(
                main,
                "<tr><td>{}</td><td class=\"num\">{requirements}</td><td class=\"num\">{covered}</td><td class=\"num\">{count}</td></tr>",
                level_chip(level)
            );
        }
        main.push_str("</tbody></table></div>\n");
        main.push_str("<nav class=\"filters\" aria-label=\"Filters\"><div class=\"chips\">");
        let statuses: &[Status] = if self.latest.is_some() {
            &Status::ALL
        } else {
            &[]
        };
        for status in statuses {
            let _ = write!(
                main,
                "<label class=\"chip\"><input type=\"checkbox\" data-filter-status value=\"{}\">{}</label>",
                status.as_str(),
                badge(*status)
            );
        }
        main.push_str(
            "</div><select id=\"f-area\" aria-label=\"Area\"><option value=\"\">all areas</option>",
        );
        for area in Area::ALL {
            let _ = write!(main, "<option value=\"{0}\">{0}</option>", area.as_str());
        }
        main.push_str("</select><input type=\"search\" id=\"f-q\" placeholder=\"Search requirements and scenarios…\" aria-label=\"Search\">\
                       <button type=\"button\" id=\"f-clear\">Clear</button><span class=\"shown\" id=\"f-shown\"></span></nav>\n");
        main.push_str("<div class=\"table-wrap\"><table id=\"matrix\"><thead><tr><th>Requirement</th><th>Level</th><th>Area</th><th>Title</th><th>Scenarios</th><th>Latest result</th></tr></thead><tbody>\n");
        for requirement in self.catalogue.active() {
            let status = self
                .latest
                .map_or(Status::NotRun, |l| l.requirement(&requirement.id));
            let page = area_file(requirement.area);
            let mut links = String::new();
            for s in scenarios.iter().filter(|s| s.requirement == requirement.id) {
                let _ = write!(
                    links,
                    "<a href=\"{page}#{}\" class=\"small\">{}</a><br>",
                    s.anchor(),
                    escape(&s.scenario.name)
                );
            }
            if links.is_empty() {
                links.push_str("<span class=\"muted small\">none</span>");
            }
            let _ = writeln!(
                main,
                "<tr data-status=\"{}\" data-area=\"{area}\" data-group=\"requirements\"><td><a class=\"reqid\" href=\"{page}#{id}\">{id}</a></td>\
                 <td>{}</td><td>{area}</td><td>{}</td><td>{links}</td><td>{}</td></tr>",
                status.as_str(),
                level_chip(requirement.level),
                escape(&requirement.title),
                if self.latest.is_some() {
                    badge(status)
                } else {
                    "—".to_owned()
                },
                id = escape(&requirement.id),
                area = requirement.area.as_str(),
            );
        }
        main.push_str("</tbody></table></div>\n<p class=\"empty\" data-empty-for=\"requirements\">No requirement matches the filters.</p>\n");
        self.page("Coverage matrix", "coverage.html", &main, true)
    }
}

/// A Gherkin data table, with a result column when `statuses` has one per data row.
fn gherkin_table(out: &mut String, rows: &[Vec<String>], statuses: Option<&[Status]>) {
    out.push_str("<table>");
    for (i, row) in rows.iter().enumerate() {
        let cell = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for value in row {
            let _ = write!(out, "<{cell}>{}</{cell}>", escape(value));
        }
        if let Some(statuses) = statuses {
            if i == 0 {
                out.push_str("<th>latest</th>");
            } else if let Some(status) = statuses.get(i - 1) {
                let _ = write!(out, "<td>{}</td>", badge(*status));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

/// One row of a schema table.
struct FieldRow {
    path: String,
    depth: usize,
    types: String,
    /// `None` for the items of an array, which are not members.
    required: Option<bool>,
    description: String,
    constraints: Vec<String>,
}

/// A schema's properties as a table: property, type, required, description, constraints.
fn schema_table(document: &Value, file: &str) -> String {
    let mut rows = Vec::new();
    let merged = with_referenced(document, file);
    field_rows(&merged, "", 0, &mut rows);
    let mut out = String::from(
        "<div class=\"table-wrap\"><table class=\"schema\"><thead><tr><th>Property</th><th>Type</th><th>Required</th>\
         <th>Description</th><th>Format / constraints</th></tr></thead><tbody>\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "<tr><td class=\"prop\"><span class=\"depth\">{}</span>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            "· ".repeat(row.depth),
            escape(&row.path),
            escape(&row.types),
            match row.required {
                Some(true) => "yes",
                Some(false) => "no",
                None => "—",
            },
            inline_markup(&row.description),
            row.constraints
                .iter()
                .map(|c| inline_markup(c))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// The schema with the properties and `required` of the schema its top-level `$ref` names
/// merged in (its own win): an event schema builds on the envelope that way.
fn with_referenced(document: &Value, file: &str) -> Value {
    let mut merged = document.clone();
    let Some(reference) = document["$ref"].as_str() else {
        return merged;
    };
    let target = resolve_relative(file, reference);
    let Some(base) = schemas::BUNDLED
        .iter()
        .find(|(f, _)| *f == target)
        .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
    else {
        return merged;
    };
    if let (Some(own), Some(inherited)) = (
        merged["properties"].as_object_mut(),
        base["properties"].as_object(),
    ) {
        for (name, property) in inherited {
            own.entry(name.clone()).or_insert_with(|| property.clone());
        }
        // Inherited descriptions fill in where the event's own property has none.
        for (name, property) in own.iter_mut() {
            if property.get("description").is_none()
                && let Some(d) = inherited.get(name).and_then(|p| p.get("description"))
            {
                property["description"] = d.clone();
            }
        }
    }
    let mut required: BTreeSet<String> = merged["required"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(base["required"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if !required.is_empty() {
        merged["required"] = Value::from(
            std::mem::take(&mut required)
                .into_iter()
                .collect::<Vec<_>>(),
        );
    }
    merged
}

/// `../../envelope.schema.json` seen from `events/server/x.schema.json`: `envelope.schema.json`.
fn resolve_relative(from: &str, reference: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in reference.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn field_rows(schema: &Value, prefix: &str, depth: usize, rows: &mut Vec<FieldRow>) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // The envelope's members first, as frames are written; the rest alphabetically.
    let mut ordered: Vec<(&String, &Value)> = properties.iter().collect();
    ordered.sort_by_key(|(name, _)| {
        (
            name.as_str() != "event",
            name.as_str() != "data",
            name.as_str(),
        )
    });
    for (name, property) in ordered {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        rows.push(FieldRow {
            path: path.clone(),
            depth,
            types: type_text(property),
            required: Some(required.contains(name.as_str())),
            description: property["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            constraints: constraints(property),
        });
        field_rows(property, &path, depth + 1, rows);
        if let Some(items) = property.get("items") {
            let item_path = format!("{path}[]");
            if items.get("properties").is_some() {
                rows.push(FieldRow {
                    path: item_path.clone(),
                    depth: depth + 1,
                    types: type_text(items),
                    required: None,
                    description: items["description"].as_str().unwrap_or_default().to_owned(),
                    constraints: constraints(items),
                });
                field_rows(items, &item_path, depth + 2, rows);
            }
        }
    }
}

fn type_text(schema: &Value) -> String {
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => match &schema["const"] {
            Value::String(_) => "string".to_owned(),
            Value::Number(_) => "number".to_owned(),
            Value::Bool(_) => "boolean".to_owned(),
            _ => "any".to_owned(),
        },
    };
    match schema["items"]["type"].as_str() {
        Some(item) if base == "array" => format!("array of {item}"),
        _ => base,
    }
}

fn constraints(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(value) = schema.get("const") {
        out.push(format!("always `{value}`"));
    }
    if let Some(values) = schema["enum"].as_array() {
        let listed: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        out.push(format!("one of {}", listed.join(", ")));
    }
    if let Some(format) = schema["format"].as_str() {
        out.push(format!("format `{format}`"));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        out.push(format!("matches `{pattern}`"));
    }
    for (key, words) in [
        ("minLength", "at least {} character(s)"),
        ("maxLength", "at most {} character(s)"),
        ("minItems", "at least {} item(s)"),
        ("maxItems", "at most {} item(s)"),
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("exclusiveMinimum", "> {}"),
        ("exclusiveMaximum", "< {}"),
    ] {
        if let Some(n) = schema.get(key) {
            out.push(words.replace("{}", &n.to_string()));
        }
    }
    if schema["additionalProperties"] == Value::Bool(false)
        || schema["unevaluatedProperties"] == Value::Bool(false)
    {
        out.push("no other members".to_owned());
    }
    if schema["additionalProperties"] == Value::Bool(true) {
        out.push("other members allowed".to_owned());
    }
    out
}

/// A frame as pretty JSON with `event` first and `data` second, as frames are written.
fn frame_text(frame: &Value) -> String {
    let Some(object) = frame.as_object() else {
        return serde_json::to_string_pretty(frame).unwrap_or_default();
    };
    let mut members: Vec<(&String, &Value)> = object.iter().collect();
    members.sort_by_key(|(name, _)| (name.as_str() != "event", name.as_str() != "data"));
    let lines: Vec<String> = members
        .into_iter()
        .map(|(name, value)| {
            let value = serde_json::to_string_pretty(value)
                .unwrap_or_default()
                .replace('\n', "\n  ");
            format!("  {}: {value}", Value::from(name.as_str()))
        })
        .collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}

/// A Gherkin description as paragraphs (blank lines separate them).
fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = write!(out, "<p>{}</p>", inline_markup(&joined));
    }
    out
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// What an area is about, in one line (the catalogue's own description of [`Area`]).
fn area_summary(area: Area) -> &'static str {
    match area {
        Area::Authentication => "How the token reaches the server and what makes it acceptable.",
        Area::Subprotocol => "Negotiation of the `chalk` subprotocol.",
        Area::Origin => "Validation of the Origin header.",
        Area::Presence => "participant.joined and participant.left: who is in the room.",
        Area::Chat => "chat.send and chat.message.",
        Area::Hands => "hand.raise and hand.lower.",
        Area::Keepalive => "ping and keeping the connection alive.",
        Area::Recording => "recording.started and recording.stopped.",
        Area::Schema => "The shape of frames.",
        Area::Robustness => "Behaviour under malformed, oversized or hostile input.",
        Area::Cluster => "Rooms whose members sit on different nodes of one deployment.",
    }
}

fn sender(direction: Direction) -> &'static str {
    match direction {
        Direction::Server => "server → client",
        Direction::Client => "client → server",
    }
}

fn published_text(extension: Option<&str>) -> String {
    match extension {
        None => "published API".to_owned(),
        Some(name) => format!("extension {}", escape(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export;
    use crate::report::results::sample;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chalk-docs-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn site(latest: Option<&LatestResults>) -> PathBuf {
        let dir = temp_dir("site");
        let catalogue = Catalogue::bundled().unwrap();
        let sources = feature_sources(None).unwrap();
        let pages = write_site(&dir, &sources, &catalogue, latest).unwrap();
        assert_eq!(
            pages,
            3 + Area::ALL.len() + SchemaSet::bundled().unwrap().events().count()
        );
        dir
    }

    /// Every `href` of every page points at a file of the site, and at an element of it when it
    /// names one; none leaves the site.
    #[test]
    fn every_link_of_the_site_resolves() {
        let dir = site(None);
        let pages: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
            .collect();
        let mut checked = 0;
        for page in &pages {
            let html = fs::read_to_string(page).unwrap();
            for (at, _) in html.match_indices("href=\"") {
                let rest = &html[at + 6..];
                let link = &rest[..rest.find('"').unwrap()];
                assert!(
                    !link.contains("://"),
                    "{} links out: {link}",
                    page.display()
                );
                if link.starts_with("data:") || link.contains('=') {
                    continue; // the favicon, and filter states of the coverage matrix
                }
                let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
                let target = if file.is_empty() {
                    page.clone()
                } else {
                    dir.join(file)
                };
                assert!(
                    target.is_file(),
                    "{}: {link} is not a file of the site",
                    page.display()
                );
                if !anchor.is_empty() {
                    let text = fs::read_to_string(&target).unwrap();
                    assert!(
                        text.contains(&format!("id=\"{anchor}\"")),
                        "{}: {link} names no element",
                        page.display()
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} links");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn requirements_scenarios_and_events_link_to_each_other() {
        let dir = site(None);
        let area = fs::read_to_string(dir.join("area-presence.html")).unwrap();
        assert!(area.contains("id=\"PRES-001\""));
        assert!(area.contains("<a href=\"event-participant-joined.html\">participant.joined</a>"));
        let event = fs::read_to_string(dir.join("event-participant-joined.html")).unwrap();
        assert!(event.contains("href=\"area-presence.html#PRES-001\""));
        assert!(event.contains("href=\"schemas/events/server/participant.joined.schema.json\""));
        assert!(
            event.contains(
                "<td class=\"prop\"><span class=\"depth\">· </span>data.display_name</td>"
            )
        );
        assert!(
            dir.join("schemas/events/server/participant.joined.schema.json")
                .is_file()
        );
        assert!(dir.join("features/presence/joining.feature").is_file());
        let coverage = fs::read_to_string(dir.join("coverage.html")).unwrap();
        assert!(coverage.contains("href=\"area-authentication.html#AUTH-009\""));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_latest_result_comes_from_a_run_result_or_a_cucumber_report() {
        let catalogue = Catalogue::bundled().unwrap();
        let report = sample::report();
        let from_run =
            LatestResults::parse(&serde_json::to_string(&report.run_results(&catalogue)).unwrap())
                .unwrap();
        let from_cucumber = LatestResults::parse(&export::cucumber_json(&report)).unwrap();
        for latest in [&from_run, &from_cucumber] {
            assert_eq!(latest.conformant, Some(false));
            assert_eq!(latest.requirement("AUTH-001"), Status::Pass);
            assert_eq!(latest.requirement("AUTH-009"), Status::Fail);
            assert_eq!(latest.requirement("AUTH-015"), Status::Warn);
            assert_eq!(latest.requirement("REC-001"), Status::Skipped);
            assert_eq!(latest.requirement("CHAT-012"), Status::NotDeclared);
            assert_eq!(latest.requirement("PRES-001"), Status::ExpectedFailure);
            assert_eq!(latest.requirement("AUTH-002"), Status::NotRun);
            assert_eq!(
                latest.scenarios["features/sample.feature:20"].0,
                Status::Fail
            );
        }
        assert!(LatestResults::parse("{\"format\":\"something-else\"}").is_err());
        assert!(LatestResults::parse("42").is_err());
    }

    #[test]
    fn a_run_result_of_the_first_format_is_still_read() {
        let catalogue = Catalogue::bundled().unwrap();
        let current = serde_json::to_string(&sample::report().run_results(&catalogue)).unwrap();
        let first = current
            .replace(RESULTS_FORMAT, "chalk-conformance-results/1")
            .replace("\"status\":\"not_declared\"", "\"status\":\"not-declared\"")
            .replace("\"status\":\"not_run\"", "\"status\":\"not-run\"");
        assert!(first.contains("\"status\":\"not-declared\""), "{first}");
        let latest = LatestResults::parse(&first).unwrap();
        assert_eq!(latest.requirement("CHAT-012"), Status::NotDeclared);
        assert_eq!(latest.requirement("AUTH-002"), Status::NotRun);
    }

    #[test]
    fn a_site_with_results_shows_them_per_requirement_and_in_the_matrix() {
        let latest = LatestResults::parse(
            &serde_json::to_string(&sample::report().run_results(&Catalogue::bundled().unwrap()))
                .unwrap(),
        )
        .unwrap();
        let dir = site(Some(&latest));
        let index = fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains("not conformant"));
        let coverage = fs::read_to_string(dir.join("coverage.html")).unwrap();
        assert!(coverage.contains("<tr data-status=\"fail\" data-area=\"authentication\""));
        let area = fs::read_to_string(dir.join("area-authentication.html")).unwrap();
        assert!(
            area.contains("id=\"AUTH-009\"><h3><a class=\"reqid\" href=\"#AUTH-009\">AUTH-009</a>")
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn event_names_are_found_as_whole_words() {
        assert!(names_event(
            "Bob receives participant.left about Alice",
            "participant.left"
        ));
        assert!(names_event("Alice sends a ping.", "ping"));
        assert!(!names_event("Alice pings", "ping"));
        assert!(!names_event("hand.raised", "hand.raise"));
        assert!(names_event(r#"{"event":"chat.send"}"#, "chat.send"));
    }

    #[test]
    fn schema_references_resolve_against_the_referring_file() {
        assert_eq!(
            resolve_relative(
                "events/server/chat.message.schema.json",
                "../../envelope.schema.json"
            ),
            "envelope.schema.json"
        );
        assert_eq!(
            resolve_relative("extensions/pong.schema.json", "../envelope.schema.json"),
            "envelope.schema.json"
        );
    }
}
