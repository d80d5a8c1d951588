//! Which scenarios a run executes, decided before any scenario starts.
//!
//! The features are read (from the copies compiled into the binary, or from `--features DIR`),
//! their outlines expanded, and every scenario is matched to its catalogue entry through its
//! `@req.<ID>` tag. A scenario then runs, or is skipped for a stated reason: its requirement is
//! an extension the server did not declare, or it needs something the run cannot do (forge
//! tokens, provision through REST, record, remove a participant, end a room, connect from an
//! allowed origin), because the options give no way to, the user said the deployment lacks it
//! (`--without`), or the deployment's REST API does not offer it (the runner tries it first).
//! Skips are decided here from the catalogue and those [`Capabilities`], never by a scenario
//! failing halfway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{self, GherkinEnv};
use regex::Regex;

use crate::contract::catalogue::{Catalogue, Level};
use crate::contract::judge::RequirementRef;
use crate::driver::deployment::OriginMode;

include!(concat!(env!("OUT_DIR"), "/features.rs"));

/// The prefix of the requirement tag: `@req.AUTH-001`.
pub const REQUIREMENT_TAG: &str = "req.";

/// The prefix of a need a scenario has beyond its requirement's: `@needs.recordings` on a
/// scenario that checks the shape of `recording.started` (it must make a recording to see one).
pub const NEEDS_TAG: &str = "needs.";

/// The prefix of the origin mode a scenario is written for: `@origins.exact` on the look-alikes a
/// tenant's explicit allow-list must refuse (ORIGIN-006), `@origins.patterns` on those the
/// server's patterns should refuse (ORIGIN-005). A scenario of the other mode is not part of the
/// run: it asks something the deployment, as the run was told, does not promise.
pub const ORIGIN_MODE_TAG: &str = "origins.";

/// Why the features or the selection are unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A feature directory or file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A feature file is not valid Gherkin, or an outline cannot be expanded.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A scenario does not name exactly one known requirement.
    #[error("{path}:{line} {scenario:?}: {problem}")]
    Requirement {
        /// The file.
        path: String,
        /// The scenario's line.
        line: usize,
        /// The scenario's name.
        scenario: String,
        /// What is wrong.
        problem: String,
    },
    /// `--tags` is not a tag expression.
    #[error("--tags {expression:?} is not a tag expression: {reason}")]
    Tags {
        /// The expression.
        expression: String,
        /// The parser's complaint.
        reason: String,
    },
    /// `--name` is not a regular expression.
    #[error("--name {pattern:?} is not a regular expression: {reason}")]
    Name {
        /// The pattern.
        pattern: String,
        /// The regex compiler's complaint.
        reason: String,
    },
}

/// The features compiled into the binary, outlines expanded.
pub fn embedded_features() -> Result<Vec<gherkin::Feature>, PlanError> {
    EMBEDDED
        .iter()
        .map(|(relative, text)| parse_feature(text, Path::new("features").join(relative)))
        .collect()
}

/// The features of a directory (recursively), outlines expanded, in path order.
pub fn features_in(dir: &Path) -> Result<Vec<gherkin::Feature>, PlanError> {
    let files = feature_files(dir).map_err(|(path, e)| PlanError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if files.is_empty() {
        return Err(PlanError::Read {
            path: dir.display().to_string(),
            reason: "no .feature file in it".to_owned(),
        });
    }
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).map_err(|e| PlanError::Read {
                path: file.display().to_string(),
                reason: e.to_string(),
            })?;
            parse_feature(&text, file)
        })
        .collect()
}

/// The `.feature` files below `dir` (recursively), in path order; an error names the directory
/// that could not be read.
pub fn feature_files(dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
        let entries = fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files)?;
            } else if path.extension().is_some_and(|e| e == "feature") {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// Parses one feature and expands its outlines.
fn parse_feature(text: &str, path: PathBuf) -> Result<gherkin::Feature, PlanError> {
    use cucumber::feature::Ext as _;
    let shown = path.display().to_string();
    let mut feature =
        gherkin::Feature::parse(text, GherkinEnv::default()).map_err(|e| PlanError::Parse {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    feature.path = Some(path);
    feature.expand_examples().map_err(|e| PlanError::Parse {
        path: shown,
        reason: e.to_string(),
    })
}

/// Every tag that applies to a scenario: the feature's, the rule's and its own.
pub fn effective_tags<'a>(
    feature: &'a gherkin::Feature,
    rule: Option<&'a gherkin::Rule>,
    scenario: &'a gherkin::Scenario,
) -> Vec<&'a str> {
    feature
        .tags
        .iter()
        .chain(rule.into_iter().flat_map(|r| &r.tags))
        .chain(&scenario.tags)
        .map(String::as_str)
        .collect()
}

/// The requirement IDs among tags.
pub fn requirement_tags<'a>(tags: &[&'a str]) -> Vec<&'a str> {
    tags.iter()
        .filter_map(|t| t.strip_prefix(REQUIREMENT_TAG))
        .collect()
}

/// The needs among tags (`@needs.recordings`).
pub fn need_tags<'a>(tags: &[&'a str]) -> Vec<&'a str> {
    tags.iter()
        .filter_map(|t| t.strip_prefix(NEEDS_TAG))
        .collect()
}

/// The origin mode among tags (`@origins.exact`), if any; an unknown mode names none.
pub fn origin_mode_tag(tags: &[&str]) -> Option<Result<OriginMode, String>> {
    tags.iter()
        .find_map(|t| t.strip_prefix(ORIGIN_MODE_TAG))
        .map(|mode| match mode {
            "exact" => Ok(OriginMode::Exact),
            "patterns" => Ok(OriginMode::Patterns),
            other => Err(format!(
                "@{ORIGIN_MODE_TAG}{other} names no origin mode (exact or patterns)"
            )),
        })
}

/// The level tags among tags.
pub fn level_tags(tags: &[&str]) -> Vec<Level> {
    tags.iter()
        .filter_map(|t| match *t {
            "must" => Some(Level::Must),
            "should" => Some(Level::Should),
            "extension" => Some(Level::Extension),
            _ => None,
        })
        .collect()
}

/// The name a report shows for a scenario: outline rows add their example values.
pub fn display_name(scenario: &gherkin::Scenario) -> String {
    let values = scenario
        .examples
        .first()
        .and_then(|e| e.table.as_ref())
        .and_then(|t| t.rows.get(1));
    match values {
        Some(values) => format!("{} [{}]", scenario.name, values.join(", ")),
        None => scenario.name.clone(),
    }
}

/// The need of the scenarios of a room spread over nodes (`features/cluster/`).
pub const TWO_NODES: &str = "two-nodes";

/// The need of the failover scenarios, which lose a node: they run after all others, one at a
/// time, each on a node of its own, never the first.
pub const NODE_KILL: &str = "node-kill";

/// The need of the scenario that brings a lost node back.
pub const NODE_RESTART: &str = "node-restart";

/// The capabilities a user can say the deployment does not offer (`--without`): what an
/// operator does through the REST API, which a deployment may leave out; admitting a token for a
/// room id the suite chooses (`name-rooms`), and a participant of a role other than
/// `participant` (`custom-roles`), which the page does not promise.
pub const STATABLE_ABSENCES: &[&str] = &[
    "participant-removal",
    "room-end",
    "recordings",
    "name-rooms",
    "custom-roles",
];

/// What a run cannot do, as the catalogue's `needs` name it, each with why; everything else it
/// can. [`Capabilities::default`] lacks nothing. It also says how the deployment validates
/// origins, which decides the origin scenarios that apply ([`ORIGIN_MODE_TAG`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Need → why the run cannot meet it.
    missing: BTreeMap<String, String>,
    /// How the deployment validates origins.
    origin_mode: OriginMode,
    /// How many nodes the deployment has, when known.
    nodes: Option<usize>,
    /// Whether the run can kill a node, and bring it back, when known.
    node_commands: Option<(bool, bool)>,
}

impl Capabilities {
    /// The same capabilities, for a deployment that validates origins as `mode` says.
    pub fn in_origin_mode(mut self, mode: OriginMode) -> Self {
        self.origin_mode = mode;
        self
    }

    /// The same capabilities without `need`, for the reason `why` (e.g. "give --origin").
    pub fn without(mut self, need: &str, why: impl Into<String>) -> Self {
        self.missing.insert(need.to_owned(), why.into());
        self
    }

    /// The same capabilities, for a deployment of `nodes` nodes: with fewer than two, the
    /// scenarios that need two ([`TWO_NODES`]) are written for another kind of deployment,
    /// skipped with the reason "needs two nodes" and not counted by `--max-skipped-must`.
    pub fn on_nodes(mut self, nodes: usize) -> Self {
        self.nodes = Some(nodes);
        self
    }

    /// The same capabilities, for a run that can kill a node (`--node-kill-command`) and bring
    /// it back (`--node-restart-command`) as `kill` and `restart` say: without them the
    /// failover scenarios are skipped with that reason, not counted by `--max-skipped-must`
    /// (they are opt-in: they take nodes down).
    pub fn with_node_commands(mut self, kill: bool, restart: bool) -> Self {
        self.node_commands = Some((kill, restart));
        self
    }

    /// Why `need` cannot be met, or `None` when it can.
    pub fn lacks(&self, need: &str) -> Option<Unmet> {
        if let Some((kill, restart)) = self.node_commands {
            let opt_in = |flag: &str, why: &str| Unmet {
                need: flag.to_owned(),
                why: why.to_owned(),
                applies: false,
            };
            if need == NODE_KILL && !kill {
                return Some(opt_in(
                    "--node-kill-command",
                    "it loses a node of the deployment; give a command that kills one (it gets \
                     CHALK_NODE_URL and CHALK_NODE_INDEX)",
                ));
            }
            if need == NODE_RESTART && !restart {
                return Some(opt_in(
                    "--node-restart-command",
                    "it brings a lost node back; give a command that restarts one (it gets \
                     CHALK_NODE_URL and CHALK_NODE_INDEX)",
                ));
            }
        }
        if need == TWO_NODES && self.nodes.is_some_and(|n| n < 2) {
            return Some(Unmet {
                need: "two nodes".to_owned(),
                why: "written for a deployment of several nodes; this run has one (give each \
                      node's --url)"
                    .to_owned(),
                applies: false,
            });
        }
        self.missing.get(need).map(|why| Unmet {
            need: need.to_owned(),
            why: why.clone(),
            applies: true,
        })
    }
}

/// A need of a scenario the run cannot meet: which, and why. Shown as `needs rest-api: give
/// --api-url and --api-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// The need, as the catalogue names it (`recordings`).
    pub need: String,
    /// Why the run lacks it, or how to give it.
    pub why: String,
    /// Whether the scenario applies to the deployment at all. `false` for a scenario written
    /// for the other origin mode (`needs --origin-mode exact`): it is reported as skipped, but
    /// it is not a `must` the run failed to judge, and `--max-skipped-must` does not count it.
    pub applies: bool,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "needs {}: {}", self.need, self.why)
    }
}

/// Which scenarios the user selected.
#[derive(Debug, Default)]
pub struct Selection {
    tags: Option<TagOperation>,
    name: Option<Regex>,
}

impl Selection {
    /// From `--tags` and `--name`.
    pub fn new(tags: Option<&str>, name: Option<&str>) -> Result<Self, PlanError> {
        let tags = tags
            .map(|expression| {
                expression
                    .parse::<TagOperation>()
                    .map_err(|e| PlanError::Tags {
                        expression: expression.to_owned(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let name = name
            .map(|pattern| {
                Regex::new(pattern).map_err(|e| PlanError::Name {
                    pattern: pattern.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Self { tags, name })
    }

    fn selects(&self, tags: &[&str], name: &str) -> bool {
        self.tags.as_ref().is_none_or(|op| eval(op, tags))
            && self.name.as_ref().is_none_or(|re| re.is_match(name))
    }
}

fn eval(op: &TagOperation, tags: &[&str]) -> bool {
    match op {
        TagOperation::And(a, b) => eval(a, tags) && eval(b, tags),
        TagOperation::Or(a, b) => eval(a, tags) || eval(b, tags),
        TagOperation::Not(a) => !eval(a, tags),
        TagOperation::Tag(t) => tags.contains(&t.as_str()),
    }
}

/// What happens to a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// It runs.
    Run,
    /// It cannot apply to this run: it needs what the run cannot do.
    Skip(Unmet),
    /// Its extension was not declared.
    NotDeclared(String),
}

/// Identifies a scenario across the run: its file and line (outline rows have their own line).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScenarioKey {
    /// The feature file.
    pub path: String,
    /// The scenario's (or outline row's) line.
    pub line: usize,
}

impl ScenarioKey {
    /// The key of a scenario of a feature.
    pub fn of(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> Self {
        Self {
            path: feature
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: scenario.position.line,
        }
    }
}

impl fmt::Display for ScenarioKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

/// A scenario and what happens to it.
#[derive(Debug, Clone)]
pub struct PlannedScenario {
    /// Where it is.
    pub key: ScenarioKey,
    /// Its feature's name.
    pub feature: String,
    /// Its rule's name, if any.
    pub rule: Option<String>,
    /// Its name (with example values for outline rows).
    pub name: String,
    /// Its own tags.
    pub tags: Vec<String>,
    /// Its steps: keyword, text, line.
    pub steps: Vec<(String, String, usize)>,
    /// The requirement it checks.
    pub requirement: RequirementRef,
    /// The requirement's extension, if any.
    pub extension: Option<String>,
    /// What happens to it.
    pub disposition: Disposition,
}

/// Every scenario of the selected features, with what happens to it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Selected scenarios, in feature order.
    pub scenarios: Vec<PlannedScenario>,
    /// How many scenarios `--tags`/`--name` left out.
    pub not_selected: usize,
    /// How many of the scenarios were written for the other origin mode (skipped, reason
    /// `needs --origin-mode ...`, never counted by `--max-skipped-must`).
    pub other_origin_mode: usize,
    /// How many nodes the failover scenarios that run will lose.
    pub nodes_to_lose: usize,
}

impl Plan {
    /// Decides every scenario.
    pub fn decide(
        features: &[gherkin::Feature],
        catalogue: &Catalogue,
        capabilities: &Capabilities,
        declared: &BTreeSet<String>,
        selection: &Selection,
    ) -> Result<Self, PlanError> {
        let mut plan = Plan::default();
        for (feature, rule, scenario) in all_scenarios(features) {
            let key = ScenarioKey::of(feature, scenario);
            let tags = effective_tags(feature, rule, scenario);
            let name = display_name(scenario);
            if !selection.selects(&tags, &name) {
                plan.not_selected += 1;
                continue;
            }
            let problem = |problem: String| PlanError::Requirement {
                path: key.path.clone(),
                line: key.line,
                scenario: scenario.name.clone(),
                problem,
            };
            let other_origin_mode = match origin_mode_tag(&tags) {
                Some(Err(unknown)) => return Err(problem(unknown)),
                Some(Ok(mode)) if mode != capabilities.origin_mode => {
                    plan.other_origin_mode += 1;
                    Some(Unmet {
                        need: format!("--origin-mode {mode}"),
                        why: format!(
                            "written for a tenant that validates origins that way; this run's \
                             origin mode is {}",
                            capabilities.origin_mode
                        ),
                        applies: false,
                    })
                }
                _ => None,
            };
            let ids = requirement_tags(&tags);
            let [id] = ids.as_slice() else {
                return Err(problem(format!(
                    "needs exactly one @req.<ID> tag, has {}",
                    ids.len()
                )));
            };
            let requirement = catalogue
                .requirement(id)
                .ok_or_else(|| problem(format!("cites {id}, which is not in the catalogue")))?;
            let needs: Vec<&str> = requirement
                .needs
                .iter()
                .map(String::as_str)
                .chain(need_tags(&tags))
                .collect();
            let mut disposition = match (&requirement.extension, other_origin_mode) {
                (Some(extension), _) if !declared.contains(extension) => {
                    Disposition::NotDeclared(extension.clone())
                }
                (_, Some(unmet)) => Disposition::Skip(unmet),
                _ => match needs.iter().find_map(|n| capabilities.lacks(n)) {
                    Some(unmet) => Disposition::Skip(unmet),
                    None => Disposition::Run,
                },
            };
            // Each failover scenario loses a node of its own, and the first node stays up.
            if disposition == Disposition::Run
                && needs.contains(&NODE_KILL)
                && let Some(nodes) = capabilities.nodes
            {
                if plan.nodes_to_lose + 1 < nodes {
                    plan.nodes_to_lose += 1;
                } else {
                    disposition = Disposition::Skip(Unmet {
                        need: "more nodes".to_owned(),
                        why: format!(
                            "each failover scenario loses a node of its own and the first stays \
                             up; this run's {nodes} nodes leave room for {}",
                            nodes - 1
                        ),
                        applies: false,
                    });
                }
            }
            plan.scenarios.push(PlannedScenario {
                key,
                feature: feature.name.clone(),
                rule: rule.map(|r| r.name.clone()),
                name,
                tags: scenario.tags.clone(),
                steps: scenario
                    .steps
                    .iter()
                    .map(|s| {
                        (
                            s.keyword.trim().to_owned(),
                            s.value.clone(),
                            s.position.line,
                        )
                    })
                    .collect(),
                requirement: RequirementRef::of(requirement),
                extension: requirement.extension.clone(),
                disposition,
            });
        }
        Ok(plan)
    }

    /// The features with only the scenarios that run.
    pub fn runnable(&self, features: &[gherkin::Feature]) -> Vec<gherkin::Feature> {
        self.runnable_if(features, |_| true)
    }

    /// The features with only the scenarios that run and `keep` keeps.
    pub fn runnable_if(
        &self,
        features: &[gherkin::Feature],
        keep: impl Fn(&PlannedScenario) -> bool,
    ) -> Vec<gherkin::Feature> {
        let runs: BTreeSet<&ScenarioKey> = self
            .scenarios
            .iter()
            .filter(|s| s.disposition == Disposition::Run && keep(s))
            .map(|s| &s.key)
            .collect();
        features
            .iter()
            .filter_map(|feature| {
                let keep = |s: &gherkin::Scenario| runs.contains(&ScenarioKey::of(feature, s));
                let mut kept = feature.clone();
                kept.scenarios.retain(keep);
                for rule in &mut kept.rules {
                    rule.scenarios.retain(keep);
                }
                kept.rules.retain(|r| !r.scenarios.is_empty());
                (!kept.scenarios.is_empty() || !kept.rules.is_empty()).then_some(kept)
            })
            .collect()
    }

    /// The planned scenario with this key.
    pub fn get(&self, key: &ScenarioKey) -> Option<&PlannedScenario> {
        self.scenarios.iter().find(|s| &s.key == key)
    }
}

/// Every scenario of the features, with its feature and rule, in order.
pub fn all_scenarios(
    features: &[gherkin::Feature],
) -> impl Iterator<
    Item = (
        &gherkin::Feature,
        Option<&gherkin::Rule>,
        &gherkin::Scenario,
    ),
> {
    features.iter().flat_map(|feature| {
        feature
            .scenarios
            .iter()
            .map(move |s| (feature, None, s))
            .chain(
                feature
                    .rules
                    .iter()
                    .flat_map(move |r| r.scenarios.iter().map(move |s| (feature, Some(r), s))),
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capabilities of a run that can do none of what the catalogue's `needs` name.
    fn nothing() -> Capabilities {
        crate::contract::catalogue::KNOWN_NEEDS
            .iter()
            .fold(Capabilities::default(), |c, need| {
                c.without(need, "not here")
            })
    }

    fn declared(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn embedded_features_parse_and_expand() {
        let features = embedded_features().unwrap();
        assert!(features.len() >= 10);
        let count = all_scenarios(&features).count();
        assert!(count >= 90, "{count} scenarios");
    }

    #[test]
    fn undeclared_extensions_and_unmet_needs_are_not_run() {
        let features = embedded_features().unwrap();
        let catalogue = Catalogue::bundled().unwrap();
        let plan = Plan::decide(
            &features,
            &catalogue,
            &nothing(),
            &declared(&[]),
            &Selection::default(),
        )
        .unwrap();
        let by_req = |id: &str| {
            plan.scenarios
                .iter()
                .find(|s| s.requirement.id == id)
                .unwrap()
                .disposition
                .clone()
        };
        assert_eq!(by_req("AUTH-001"), Disposition::Run);
        assert_eq!(
            by_req("CHAT-012"),
            Disposition::NotDeclared("chat-echo".into())
        );
        assert!(matches!(by_req("AUTH-009"), Disposition::Skip(u) if u.need == "forge-tokens"));
        assert!(matches!(by_req("REC-001"), Disposition::Skip(u) if u.need == "recordings"));
    }

    #[test]
    fn cluster_scenarios_need_two_nodes_and_failover_ones_a_kill_command_and_a_node_each() {
        let features = embedded_features().unwrap();
        let catalogue = Catalogue::bundled().unwrap();
        let everything = declared(crate::contract::catalogue::KNOWN_EXTENSIONS);
        let plan_of = |capabilities: Capabilities| {
            let plan = Plan::decide(
                &features,
                &catalogue,
                &capabilities,
                &everything,
                &Selection::default(),
            )
            .unwrap();
            let of = |id: &str| {
                plan.scenarios
                    .iter()
                    .find(|s| s.requirement.id == id)
                    .unwrap()
                    .disposition
                    .clone()
            };
            (of("CLUSTER-001"), of("CLUSTER-014"), of("CLUSTER-015"))
        };
        fn skipped(need: &'static str) -> impl Fn(&Disposition) -> bool {
            move |d| matches!(d, Disposition::Skip(u) if u.need == need && !u.applies)
        }
        // One node: every cluster scenario is for another kind of deployment.
        let (chat, kill, restart) = plan_of(Capabilities::default().on_nodes(1));
        assert!([chat, kill, restart].iter().all(skipped("two nodes")));
        assert!(
            Capabilities::default()
                .on_nodes(1)
                .lacks(TWO_NODES)
                .unwrap()
                .to_string()
                .starts_with("needs two nodes: ")
        );
        // Two nodes without a kill command: the failover scenarios are opt-in.
        let two = Capabilities::default().on_nodes(2);
        let (chat, kill, restart) = plan_of(two.clone().with_node_commands(false, false));
        assert_eq!(chat, Disposition::Run);
        assert!(skipped("--node-kill-command")(&kill));
        assert!(skipped("--node-kill-command")(&restart));
        let (_, kill, restart) = plan_of(two.clone().with_node_commands(true, false));
        assert_eq!(kill, Disposition::Run);
        assert!(skipped("--node-restart-command")(&restart));
        // Each failover scenario loses a node of its own, never the first: two nodes leave
        // room for one.
        let (_, kill, restart) = plan_of(two.with_node_commands(true, true));
        assert_eq!(kill, Disposition::Run);
        assert!(skipped("more nodes")(&restart));
        let three = Capabilities::default()
            .on_nodes(3)
            .with_node_commands(true, true);
        let (_, kill, restart) = plan_of(three);
        assert_eq!((kill, restart), (Disposition::Run, Disposition::Run));
    }

    #[test]
    fn tags_and_names_select_scenarios() {
        let features = embedded_features().unwrap();
        let catalogue = Catalogue::bundled().unwrap();
        let selection = Selection::new(Some("@req.AUTH-001 or @req.AUTH-002"), None).unwrap();
        let plan = Plan::decide(
            &features,
            &catalogue,
            &nothing(),
            &declared(&[]),
            &selection,
        )
        .unwrap();
        assert_eq!(plan.scenarios.len(), 2);
        assert!(plan.not_selected > 80);
        assert!(Selection::new(Some("@a and"), None).is_err());
    }

    #[test]
    fn look_alike_origins_are_judged_as_the_origin_mode_says() {
        let features = embedded_features().unwrap();
        let catalogue = Catalogue::bundled().unwrap();
        let ids_in = |mode: OriginMode| {
            let plan = Plan::decide(
                &features,
                &catalogue,
                &Capabilities::default().in_origin_mode(mode),
                &declared(&[]),
                &Selection::default(),
            )
            .unwrap();
            let ids: BTreeSet<String> = plan
                .scenarios
                .iter()
                .filter(|s| s.disposition == Disposition::Run)
                .map(|s| s.requirement.id.clone())
                .collect();
            let skipped: Vec<&Unmet> = plan
                .scenarios
                .iter()
                .filter_map(|s| match &s.disposition {
                    Disposition::Skip(unmet) => Some(unmet),
                    _ => None,
                })
                .collect();
            assert_eq!(skipped.len(), plan.other_origin_mode);
            let other = match mode {
                OriginMode::Exact => "patterns",
                OriginMode::Patterns => "exact",
            };
            assert!(skipped.iter().all(|u| {
                !u.applies
                    && u.to_string()
                        .starts_with(&format!("needs --origin-mode {other}: "))
            }));
            (ids, plan.other_origin_mode)
        };
        let (exact, left_out_exact) = ids_in(OriginMode::Exact);
        let (patterns, left_out_patterns) = ids_in(OriginMode::Patterns);
        assert!(exact.contains("ORIGIN-006") && !exact.contains("ORIGIN-005"));
        assert!(patterns.contains("ORIGIN-005") && !patterns.contains("ORIGIN-006"));
        assert!(left_out_exact > 0 && left_out_patterns > 0);
        assert!(Selection::new(None, Some("(")).is_err());
    }
}
