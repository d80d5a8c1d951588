//! `chalk-conformance list`: which scenarios check which requirement, without a server.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cucumber::gherkin;

use crate::contract::catalogue::{Catalogue, Level};
use crate::suite::plan::{
    ScenarioKey, all_scenarios, display_name, effective_tags, requirement_tags,
};

/// The coverage listing: every active requirement, its level, and its scenarios.
pub fn render(catalogue: &Catalogue, features: &[gherkin::Feature]) -> String {
    let mut by_requirement: BTreeMap<String, Vec<(ScenarioKey, String)>> = BTreeMap::new();
    for (feature, rule, scenario) in all_scenarios(features) {
        let tags = effective_tags(feature, rule, scenario);
        for id in requirement_tags(&tags) {
            by_requirement
                .entry(id.to_owned())
                .or_default()
                .push((ScenarioKey::of(feature, scenario), display_name(scenario)));
        }
    }
    let mut out = String::from("Requirement coverage: requirement -> scenarios (level)\n");
    let mut counts: BTreeMap<Level, (usize, usize, usize)> = BTreeMap::new();
    for requirement in catalogue.active() {
        let scenarios = by_requirement
            .get(&requirement.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let extension = requirement
            .extension
            .as_deref()
            .map(|e| format!(" [{e}]"))
            .unwrap_or_default();
        let counterpart = requirement
            .counterpart
            .as_deref()
            .map(|c| format!(" (as {c}, on several nodes)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{:<11} {:<9} {}{extension}{counterpart}",
            requirement.id,
            requirement.level.as_str(),
            requirement.title
        );
        if scenarios.is_empty() {
            let _ = writeln!(out, "            (no scenario)");
        }
        for (key, name) in scenarios {
            let _ = writeln!(out, "            {key}  {name}");
        }
        let count = counts.entry(requirement.level).or_default();
        count.0 += 1;
        count.1 += usize::from(!scenarios.is_empty());
        count.2 += scenarios.len();
    }
    out.push_str("\nBy level: requirements covered / requirements, scenarios\n");
    for (level, (requirements, covered, scenarios)) in counts {
        let _ = writeln!(
            out,
            "  {:<9} {covered}/{requirements}, {scenarios} scenarios",
            level.as_str()
        );
    }
    out
}
