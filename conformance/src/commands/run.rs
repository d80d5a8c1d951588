//! Running the suite (`chalk-conformance` without a subcommand), from options to exit code.
//!
//! 1. Check the options (exit 2 on a usage or configuration error).
//! 2. Build the deployment: the `--url` of each node and its provisioning options, or, without `--url`, the
//!    reference server started in-process with its URL, API key, JWT secret and allowed origin;
//!    declare all its extensions (unless told otherwise).
//! 3. Plan: decide every scenario (run, skipped with a reason, extension not declared); a
//!    selection that leaves nothing to check is a usage error (exit 2).
//! 4. Preflight: one TCP connect per node, one provisioning round trip, and the run's positive controls:
//!    a valid token from the given origin, and one signed with the given key, are accepted (exit
//!    3, "cannot judge", in one line naming the likely cause, when one is not).
//! 5. Capabilities: on a room of its own, try through the REST API what an operator does
//!    (recordings, participant removal, room end) unless `--without` says it is missing; a route
//!    that answers 404 or 405 is not offered, and the plan skips the scenarios that need it.
//!    Likewise the liberties the page does not promise: a token signed with the run's key for a
//!    room id the suite chooses (`name-rooms`), a participant with the role `moderator`
//!    (`custom-roles`); refused, the scenarios that take them are skipped with why.
//! 6. Run the runnable scenarios with cucumber, concurrently.
//! 7. Report: verdict on the console; JUnit, Cucumber JSON, HTML, Markdown summary and
//!    run-result JSON files, all from one results model, each redacted and scanned for secrets
//!    before it is written; exit 0 or 1, or 3 when more `must` scenarios were skipped than
//!    `--max-skipped-must` allows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use cucumber::{World as _, gherkin};
use futures_util::FutureExt as _;

use super::cli::{Config, Options};
use super::exit::ExitStatus;
use crate::contract::catalogue::Catalogue;
use crate::contract::judge::FrameJudge;
use crate::contract::schemas::SchemaSet;
use crate::driver::deployment::{
    Deployment, DeploymentError, EMBEDDED_LABEL, EmbeddedProvisioning, EmbeddedSetup,
};
use crate::driver::embedded::Tuning;
use crate::driver::handshake::{self, Handshake, UpgradeRequest};
use crate::driver::provision::{
    NotOffered, Operation, ParticipantSource, ProvisionError, Provisioner, run_id,
};
use crate::driver::redact::{Redactor, url_without_credentials};
use crate::driver::tokens::{self, Identity, Minter};
use crate::report::console::{Collector, Console, Report};
use crate::report::export;
use crate::report::html_report;
use crate::report::results::RunInfo;
use crate::report::summary;
use crate::suite::keepalive::{IdleTimeout, seconds};
use crate::suite::plan::{
    Capabilities, Disposition, NODE_KILL, Plan, PlannedScenario, REQUIREMENT_TAG, ScenarioKey,
};
use crate::suite::world::{ChalkWorld, Failover, RunContext};

/// The first letters of the suite's run ids.
const RUN_ID_PREFIX: &str = "cc";

/// How long the preflight's TCP connect may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the suite as `options` say, against `--url` or the embedded reference server.
pub async fn suite(
    options: &Options,
    features: Vec<gherkin::Feature>,
    catalogue: Arc<Catalogue>,
    console: &Console,
) -> ExitStatus {
    let (access, mut config) = match Config::from_options(options) {
        Ok(checked) => checked,
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            return ExitStatus::Usage;
        }
    };
    let embedded = EmbeddedSetup {
        provisioning: EmbeddedProvisioning::Rest,
        tuning: Tuning::Suite,
    };
    let deployment =
        match Deployment::start(access, config.recording_command.clone(), embedded).await {
            Ok(deployment) => deployment,
            Err(e) => {
                console.line(&format!("chalk-conformance: {e}"));
                return match e {
                    DeploymentError::Start(_) => ExitStatus::Unreachable,
                    _ => ExitStatus::Usage,
                };
            }
        };
    // The embedded reference server declares all its extensions, unless told otherwise.
    if config.declared.is_none() {
        config.declared.clone_from(&deployment.known().extensions);
    }
    if let Some(leeway) = deployment.known().token_leeway {
        config.token_leeway = leeway;
    }
    if config.origin_mode.is_none() {
        config.origin_mode = deployment.known().origin_mode;
    }
    let status = run_against(&config, &deployment, features, catalogue, console).await;
    deployment.shutdown().await;
    status
}

/// Plans, preflights, runs and reports against `deployment`.
async fn run_against(
    config: &Config,
    deployment: &Deployment,
    features: Vec<gherkin::Feature>,
    catalogue: Arc<Catalogue>,
    console: &Console,
) -> ExitStatus {
    let redactor = Arc::new(deployment.redactor());
    let Some(provisioner) = deployment.provisioner().cloned() else {
        console.line("chalk-conformance: no way to get participants");
        return ExitStatus::Usage;
    };
    let target = deployment.target().clone();
    let origin = deployment.origin().map(str::to_owned);
    let label = deployment.embedded().then_some(EMBEDDED_LABEL);
    let declared = config.declared.clone().unwrap_or_default();
    let origin_mode = config.origin_mode.unwrap_or_default();
    let mut capabilities = capabilities(&provisioner, origin.is_some(), &config.without)
        .in_origin_mode(origin_mode)
        .on_nodes(deployment.nodes().len())
        .with_node_commands(
            config.node_kill_command.is_some(),
            config.node_restart_command.is_some(),
        );
    if config.skip_long {
        capabilities = capabilities.without(LONG_SESSION, "left out for a quick run (--skip-long)");
    }
    let decide = |capabilities: &Capabilities| {
        Plan::decide(
            &features,
            &catalogue,
            capabilities,
            &declared,
            &config.selection,
        )
    };
    let mut plan = match decide(&capabilities) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            return ExitStatus::Usage;
        }
    };
    if let Some(nothing) = nothing_to_check(&plan) {
        console.line(&format!("chalk-conformance: {nothing}"));
        return ExitStatus::Usage;
    }
    let schemas = match SchemaSet::bundled() {
        Ok(schemas) => schemas,
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            return ExitStatus::Usage;
        }
    };
    let run_id = run_id(RUN_ID_PREFIX);
    let context = Arc::new(RunContext {
        target: target.clone(),
        nodes: deployment.nodes().to_vec(),
        connector: deployment.connector().clone(),
        provisioner,
        judge: Arc::new(FrameJudge::new(schemas, &catalogue, declared.clone())),
        catalogue: Arc::clone(&catalogue),
        redactor: Arc::clone(&redactor),
        origin: origin.clone(),
        forbidden_origin: config.forbidden_origin.clone(),
        origin_mode,
        event_timeout: config.event_timeout,
        quiet_window: config.quiet_window,
        token_leeway: config.token_leeway,
        idle_timeout: IdleTimeout::resolve(
            config.idle_timeout,
            deployment.known().idle_timeout,
            &declared,
        ),
        run_id: run_id.clone(),
        scenario_counter: AtomicUsize::new(0),
        failover: Failover {
            kill_command: config.node_kill_command.clone(),
            restart_command: config.node_restart_command.clone(),
            bound: config.failover_bound,
            victims: AtomicUsize::new(0),
            dead: Default::default(),
        },
    });

    // The header follows the preflight: it says tokens are forged with the deployment's key
    // only once the key control was accepted, and a run that cannot judge says so in one line.
    if let Err(problem) = preflight(&context).await {
        console.line(&format!(
            "chalk-conformance: {}",
            redactor.redact(&problem.to_string())
        ));
        return ExitStatus::Unreachable;
    }
    print_header(console, &context, label, config, &declared);
    let unoffered = match unoffered_operations(&context, &capabilities).await {
        Ok(unoffered) => unoffered,
        Err(problem) => {
            console.line(&format!("chalk-conformance: {}", redactor.redact(&problem)));
            return ExitStatus::Unreachable;
        }
    };
    let refused = refused_liberties(&context, &capabilities).await;
    if !unoffered.is_empty() || !refused.is_empty() {
        for missing in unoffered {
            console.line(&format!(
                "not offered:  {} ({})",
                missing.operation.name(),
                missing.answer
            ));
            capabilities = capabilities.without(
                missing.operation.name(),
                format!("not offered by the deployment ({})", missing.answer),
            );
        }
        for (need, why) in refused {
            let why = redactor.redact(&why);
            console.line(&format!("not offered:  {need} ({why})"));
            capabilities =
                capabilities.without(need, format!("not offered by the deployment ({why})"));
        }
        plan = match decide(&capabilities) {
            Ok(plan) => Arc::new(plan),
            Err(e) => {
                console.line(&format!("chalk-conformance: {e}"));
                return ExitStatus::Usage;
            }
        };
        if let Some(nothing) = nothing_to_check(&plan) {
            console.line(&format!("chalk-conformance: {nothing}"));
            return ExitStatus::Usage;
        }
    }
    print_scenario_counts(console, &plan);

    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    // The failover scenarios take nodes down: they run after all others, one at a time.
    let loses_a_node = |s: &PlannedScenario| {
        catalogue
            .requirement(&s.requirement.id)
            .is_some_and(|r| r.needs.iter().any(|n| n == NODE_KILL))
    };
    let mut collector = Collector::new(
        console.clone(),
        Arc::clone(&redactor),
        Arc::clone(&catalogue),
        Arc::clone(&plan),
        config.strict,
    )
    .expecting(config.expectations.clone());
    let phases = [
        (
            long_sessions_first(
                plan.runnable_if(&features, |s| !loses_a_node(s)),
                &plan,
                &catalogue,
            ),
            config.concurrency,
        ),
        (plan.runnable_if(&features, loses_a_node), 1),
    ];
    for (runnable, concurrency) in phases {
        if !runnable.is_empty() {
            collector = execute(Arc::clone(&context), runnable, collector, concurrency).await;
        }
    }
    let (results, errors) = collector.into_results();
    let mut report = Report::assemble(
        &plan,
        results,
        errors,
        &catalogue,
        config.strict,
        started.elapsed(),
    );
    report.max_skipped_must = config.max_skipped_must;
    if let Some(expectations) = &config.expectations {
        let applied = expectations.apply(&mut report, &catalogue);
        for (id, status) in applied.unchecked {
            console.line(&format!(
                "note: {id} is listed in {} but was not checked by this run ({})",
                expectations.source,
                status.label()
            ));
        }
    }
    report.run = RunInfo {
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: run_id.clone(),
        target: redactor.redact(
            &context
                .nodes
                .iter()
                .map(|node| url_without_credentials(&node.target.url))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        target_label: label.map(str::to_owned),
        started_at,
        declared: declared.iter().cloned().collect(),
        origin,
        origin_mode: origin_mode.name().to_owned(),
        provisioning: match &context.provisioner.participants {
            ParticipantSource::Rest(_) => "REST API",
            ParticipantSource::Command(_) => "--token-command",
            ParticipantSource::Mint(_) => "tokens minted with the deployment's key",
        }
        .to_owned(),
    };
    console.write(&report.render(&catalogue));

    for (path, text) in [
        (
            &config.junit,
            config.junit.as_ref().map(|_| export::junit(&report)),
        ),
        (
            &config.cucumber_json,
            config
                .cucumber_json
                .as_ref()
                .map(|_| export::cucumber_json(&report)),
        ),
        (
            &config.summary,
            config
                .summary
                .as_ref()
                .map(|_| summary::render(&report, &catalogue)),
        ),
        (
            &config.results_json,
            config.results_json.as_ref().map(|_| {
                serde_json::to_string_pretty(&report.run_results(&catalogue)).unwrap_or_default()
            }),
        ),
    ] {
        if let (Some(path), Some(text)) = (path, text)
            && let Err(e) = write_scanned(path, &redactor.redact(&text), &redactor)
        {
            console.line(&format!(
                "chalk-conformance: cannot write {}: {e}",
                path.display()
            ));
            return ExitStatus::Usage;
        }
    }
    // The HTML redacts each text as it goes in (a pass over the finished page could break the
    // hashes its Content-Security-Policy allows its style and script by); the scan still applies.
    if let Some(path) = &config.report
        && let Err(e) = write_scanned(
            path,
            &html_report::render(&report, &catalogue, &redactor),
            &redactor,
        )
    {
        console.line(&format!(
            "chalk-conformance: cannot write {}: {e}",
            path.display()
        ));
        return ExitStatus::Usage;
    }
    if !report.conformant() {
        ExitStatus::NonConformant
    } else if report.too_many_skipped_must() {
        ExitStatus::Unreachable
    } else {
        ExitStatus::Conformant
    }
}

/// What the run can do with this provisioner and origin, less what `--without` says the
/// deployment does not offer; each lack with how to make up for it.
fn capabilities(
    provisioner: &Provisioner,
    allowed_origin: bool,
    without: &BTreeSet<String>,
) -> Capabilities {
    let mut capabilities = Capabilities::default();
    if provisioner.minter.is_none() {
        capabilities =
            capabilities.without("forge-tokens", "give --jwt-secret or --jwt-private-key");
    }
    if !allowed_origin {
        capabilities = capabilities.without("allowed-origin", "give --origin");
    }
    if provisioner.rest.is_none() {
        for need in ["rest-api", "participant-removal", "room-end"] {
            capabilities = capabilities.without(need, "give --api-url and --api-key");
        }
        if provisioner.recording_command.is_none() {
            capabilities = capabilities.without(
                "recordings",
                "give --api-url and --api-key, or --recording-command",
            );
        }
    }
    for need in without {
        capabilities = capabilities.without(need, format!("not offered (--without {need})"));
    }
    capabilities
}

/// Why the plan checks nothing (no scenario selected, or none of the selected can run), in
/// one line; `None` when some scenario runs.
fn nothing_to_check(plan: &Plan) -> Option<String> {
    let count = |wanted: fn(&Disposition) -> bool| {
        plan.scenarios
            .iter()
            .filter(|s| wanted(&s.disposition))
            .count()
    };
    if plan.scenarios.is_empty() {
        return Some(format!(
            "nothing to check: --tags/--name select none of the {} scenarios",
            plan.not_selected
        ));
    }
    (count(|d| *d == Disposition::Run) == 0).then(|| {
        format!(
            "nothing to check: none of the {} selected scenario(s) can run here ({} skipped, {} not declared)",
            plan.scenarios.len(),
            count(|d| matches!(d, Disposition::Skip(_))),
            count(|d| matches!(d, Disposition::NotDeclared(_)))
        )
    })
}

/// Tries, on a room of the run's own, the operator's operations through the REST API that the
/// scenarios would need and nobody said are missing; those the deployment does not offer. The
/// problem, in one line, when the room cannot be provisioned.
async fn unoffered_operations(
    context: &RunContext,
    capabilities: &Capabilities,
) -> Result<Vec<NotOffered>, String> {
    let provisioner = &context.provisioner;
    let operations: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|o| capabilities.lacks(o.name()).is_none())
        .collect();
    if provisioner.rest.is_none() || operations.is_empty() {
        return Ok(Vec::new());
    }
    let room_name = format!("chalk-conformance {} capabilities", context.run_id);
    let failed = |e: ProvisionError| format!("provisioning failed: {e}");
    let room = provisioner
        .create_room(&room_name, &format!("{}-capabilities", context.run_id))
        .await
        .map_err(failed)?;
    let participant = provisioner
        .add_participant(
            &room,
            &format!("{}-capabilities-p", context.run_id),
            "capabilities",
            "participant",
        )
        .await
        .map_err(failed)?;
    context
        .redactor
        .register_token(&participant.token, "capabilities");
    Ok(provisioner
        .unoffered(&room, &participant.participant_id, &operations)
        .await)
}

/// The room id the `name-rooms` probe chooses, after the run id.
const NAMED_ROOM_SUFFIX: &str = "named-room-probe";
/// The role other than `participant` the `custom-roles` probe asks for.
const CUSTOM_ROLE: &str = "moderator";

/// Tries the liberties some scenarios take beyond what the page shows, unless the run already
/// lacks them: `name-rooms` (a token signed with the run's key for a room id the suite chooses
/// is admitted; the page's flow verifies the room_id, and a deployment may admit only rooms it
/// created) and `custom-roles` (a participant with the role `moderator` is provisioned, recorded
/// with that role when the REST API answers one, and admitted; the page shows only
/// `participant`). Each one the deployment refuses, with why; the plan skips what needs it.
async fn refused_liberties(
    context: &RunContext,
    capabilities: &Capabilities,
) -> Vec<(&'static str, String)> {
    let provisioner = &context.provisioner;
    let mut refused = Vec::new();
    if capabilities.lacks("name-rooms").is_none()
        && let Some(minter) = provisioner.minter.as_deref()
    {
        let room_id = format!("{}-{NAMED_ROOM_SUFFIX}", context.run_id);
        let identity = Identity {
            room_id: room_id.clone(),
            participant_id: format!("{}-named-room-p", context.run_id),
            display_name: "capabilities".to_owned(),
            role: "participant".to_owned(),
        };
        let why = match minter.mint(&identity) {
            Ok(token) => {
                context
                    .redactor
                    .register_token(&token, "capabilities, a room the suite named");
                admitted(context, &token).await.err().map(|answer| {
                    format!(
                        "a token signed with the run's key for the room id {room_id:?}, which \
                         the suite chose, was refused: {answer}"
                    )
                })
            }
            Err(e) => Some(format!("no token could be minted: {e}")),
        };
        if let Some(why) = why {
            refused.push(("name-rooms", why));
        }
    }
    if capabilities.lacks("custom-roles").is_none()
        && let Some(why) = custom_role_refused(context).await
    {
        refused.push(("custom-roles", why));
    }
    refused
}

/// Why a participant with the role [`CUSTOM_ROLE`] cannot be had, or `None` when it can.
async fn custom_role_refused(context: &RunContext) -> Option<String> {
    let provisioner = &context.provisioner;
    let room = match provisioner
        .create_room(
            &format!("chalk-conformance {} roles", context.run_id),
            &format!("{}-roles", context.run_id),
        )
        .await
    {
        Ok(room) => room,
        Err(e) => return Some(format!("the probe's room was not provisioned: {e}")),
    };
    let participant = match provisioner
        .add_participant(
            &room,
            &format!("{}-roles-p", context.run_id),
            "capabilities",
            CUSTOM_ROLE,
        )
        .await
    {
        Ok(participant) => participant,
        Err(e) => {
            return Some(format!(
                "a participant with the role {CUSTOM_ROLE:?} was not provisioned: {e}"
            ));
        }
    };
    context
        .redactor
        .register_token(&participant.token, "capabilities, a custom role");
    if participant.role != CUSTOM_ROLE {
        return Some(format!(
            "a participant asked for with the role {CUSTOM_ROLE:?} was recorded with the role {:?}",
            participant.role
        ));
    }
    admitted(context, &participant.token)
        .await
        .err()
        .map(|answer| format!("a participant with the role {CUSTOM_ROLE:?} was refused: {answer}"))
}

/// Whether some way in (the preferred upgrade or a preflight alternative) admits `token`; the
/// answer to the preferred upgrade when none does.
async fn admitted(context: &RunContext, token: &str) -> Result<(), String> {
    let preferred = UpgradeRequest {
        query_token: None,
        protocols: vec!["chalk".to_owned(), format!("token.{token}")],
        origin: context.origin.clone(),
    };
    match way_in(context, &preferred, token).await {
        (_, Some(_)) => Ok(()),
        (refusal, None) => Err(answer(&refusal)),
    }
}

/// Writes a report file, unless it still shows a secret of the run (then nothing is written).
fn write_scanned(path: &std::path::Path, text: &str, redactor: &Redactor) -> std::io::Result<()> {
    let leaks = redactor.leaks(text);
    if !leaks.is_empty() {
        return Err(std::io::Error::other(format!(
            "it would show {} (not written)",
            leaks.join(", ")
        )));
    }
    std::fs::write(path, text)
}

fn print_header(
    console: &Console,
    context: &RunContext,
    label: Option<&str>,
    config: &Config,
    declared: &BTreeSet<String>,
) {
    let provisioning = match &context.provisioner.participants {
        ParticipantSource::Rest(rest) if context.provisioner.node_apis.is_empty() => {
            format!("REST API {}", rest.url())
        }
        ParticipantSource::Rest(_) => format!(
            "REST API of each node ({})",
            context
                .provisioner
                .node_apis
                .iter()
                .map(|api| api.url())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ParticipantSource::Command(_) => "--token-command".to_owned(),
        ParticipantSource::Mint(_) => "tokens minted with the deployment's key".to_owned(),
    };
    let forging = if context.provisioner.minter.is_some() {
        "defective tokens forged with the deployment's key"
    } else {
        "no signing key: scenarios that forge tokens are skipped"
    };
    console.line(&format!(
        "chalk-conformance {} (run {})",
        env!("CARGO_PKG_VERSION"),
        context.run_id
    ));
    if context.several_nodes() {
        for (i, node) in context.nodes.iter().enumerate() {
            console.line(&format!(
                "{}{} {}",
                if i == 0 {
                    "nodes:        "
                } else {
                    "              "
                },
                node.alias,
                url_without_credentials(&node.target.url)
            ));
        }
    } else {
        console.line(&format!(
            "target:       {}{}",
            url_without_credentials(&context.target.url),
            label.map(|l| format!(" ({l})")).unwrap_or_default()
        ));
    }
    console.line(&format!("provisioning: {provisioning}; {forging}"));
    console.line(&format!(
        "origin:       {} (forbidden: {}; allowed origins: {})",
        context.origin.as_deref().unwrap_or("none sent"),
        context.forbidden_origin,
        context.origin_mode
    ));
    console.line(&format!(
        "declared:     {}",
        if declared.is_empty() {
            "no extension".to_owned()
        } else {
            declared.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    ));
    let idle = &context.idle_timeout;
    console.line(&format!(
        "idle timeout: {idle}; {}",
        if config.skip_long {
            "scenarios longer than it are skipped (--skip-long)".to_owned()
        } else {
            format!(
                "the keepalive scenario pings for {}",
                seconds(idle.session_length())
            )
        }
    ));
    if let Some(expectations) = &config.expectations {
        console.line(&format!(
            "expectations: {} ({} requirement(s) expected to fail)",
            expectations.source,
            expectations.expected.len()
        ));
    }
}

/// The need of the scenarios that outlast the server's idle timeout (`--skip-long`).
const LONG_SESSION: &str = "long-session";

/// `features` with those that hold a long-lived session (a scenario whose requirement needs
/// [`LONG_SESSION`]) first, so that the long scenarios start at once and the rest runs beside
/// them: the run then lasts about as long as the longest of them, not that plus the rest.
fn long_sessions_first(
    mut features: Vec<gherkin::Feature>,
    plan: &Plan,
    catalogue: &Catalogue,
) -> Vec<gherkin::Feature> {
    let long: BTreeSet<&ScenarioKey> = plan
        .scenarios
        .iter()
        .filter(|s| {
            catalogue
                .requirement(&s.requirement.id)
                .is_some_and(|r| r.needs.iter().any(|n| n == LONG_SESSION))
        })
        .map(|s| &s.key)
        .collect();
    let holds_long = |feature: &gherkin::Feature| {
        crate::suite::plan::all_scenarios(std::slice::from_ref(feature))
            .any(|(f, _, s)| long.contains(&ScenarioKey::of(f, s)))
    };
    features.sort_by_key(|feature| !holds_long(feature));
    features
}

/// The header's last line: how many scenarios run, are skipped, and are not declared.
fn print_scenario_counts(console: &Console, plan: &Plan) {
    let count = |wanted: fn(&Disposition) -> bool| {
        plan.scenarios
            .iter()
            .filter(|s| wanted(&s.disposition))
            .count()
    };
    console.line(&format!(
        "scenarios:    {} to run, {} skipped, {} not declared\n",
        count(|d| *d == Disposition::Run),
        count(|d| matches!(d, Disposition::Skip(_))),
        count(|d| matches!(d, Disposition::NotDeclared(_)))
    ));
}

/// Why the preflight found that the run cannot judge the deployment (exit 3), as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum CannotJudge {
    /// No TCP connection to the target.
    #[error("target unreachable: cannot connect to {authority}: {reason}")]
    Unreachable {
        /// `host:port`.
        authority: String,
        /// Why the connect failed.
        reason: String,
    },
    /// A room or a participant could not be provisioned.
    #[error("provisioning failed: {0}")]
    Provisioning(String),
    /// No way in takes the token of a participant the run just provisioned.
    #[error(
        "cannot judge: the deployment refused the valid token of a freshly provisioned \
         participant ({answer}){hint}"
    )]
    ProvisionedRefused {
        /// The server's answer: status and a short body.
        answer: String,
        /// What to check, in parentheses, or nothing.
        hint: &'static str,
    },
    /// The key control: a valid token signed with the given key was refused, so every refusal
    /// of a token forged with it would prove nothing.
    #[error(
        "cannot judge: the deployment refused a valid token minted with the given signing key \
         ({answer}); the signing key ({flag}) is probably not the deployment's"
    )]
    KeyRefused {
        /// The server's answer: status and a short body.
        answer: String,
        /// The option and variable that gave the key.
        flag: &'static str,
    },
    /// The origin control: a valid token from the given origin was refused (and accepted
    /// without it), so every scenario's connection would be refused for its origin.
    #[error(
        "cannot judge: the deployment refused a valid token from the given origin {origin} \
         ({answer}); check --origin (CHALK_ORIGIN)"
    )]
    OriginRefused {
        /// The origin of `--origin`.
        origin: String,
        /// The server's answer: status and a short body.
        answer: String,
    },
}

/// At most this many characters of a refusal body go into a [`CannotJudge`] line.
const ANSWER_BODY_CHARS: usize = 60;

/// A refused upgrade's answer for one line: the status and the start of the body.
fn answer(attempt: &Handshake) -> String {
    let Some(response) = attempt.response() else {
        return attempt.summary();
    };
    let body: String = response
        .body_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if body.is_empty() {
        return response.status.to_string();
    }
    let mut short: String = body.chars().take(ANSWER_BODY_CHARS).collect();
    if short.len() < body.len() {
        short.push('\u{2026}');
    }
    format!("{} {short}", response.status)
}

/// The option and variable that gave `minter`'s key.
fn key_flag(minter: &Minter) -> &'static str {
    if minter.is_hmac() {
        "--jwt-secret / CHALK_JWT_SECRET"
    } else {
        "--jwt-private-key / CHALK_JWT_PRIVATE_KEY"
    }
}

/// `request` with `token` in place of the token it offers (query or header).
fn offering(request: &UpgradeRequest, token: &str) -> UpgradeRequest {
    UpgradeRequest {
        query_token: request.query_token.as_ref().map(|_| token.to_owned()),
        protocols: request
            .protocols
            .iter()
            .map(|p| {
                if p.starts_with("token.") {
                    format!("token.{token}")
                } else {
                    p.clone()
                }
            })
            .collect(),
        origin: request.origin.clone(),
    }
}

/// The run's checks before any scenario, the positive controls of its negative verdicts: one
/// TCP connect to each node, one provisioning round trip and an upgrade (on the first node) of the provisioned participant from
/// the given origin (the origin control), then an upgrade with the same token signed again with
/// the given key (the key control). Refusals count only when these are accepted; when one is
/// not, the run cannot judge and says why in one line.
async fn preflight(context: &RunContext) -> Result<(), CannotJudge> {
    for node in &context.nodes {
        context
            .connector
            .connect(&node.target, PREFLIGHT_TIMEOUT)
            .await
            .map_err(|e| CannotJudge::Unreachable {
                authority: node.target.authority(),
                reason: e.to_string(),
            })?;
    }
    let target = &context.target;
    let provisioner = &context.provisioner;
    let room_name = format!("chalk-conformance {} preflight", context.run_id);
    let room = provisioner
        .create_room(&room_name, &format!("{}-preflight", context.run_id))
        .await
        .map_err(|e| CannotJudge::Provisioning(e.to_string()))?;
    let participant = provisioner
        .add_participant(
            &room,
            &format!("{}-preflight-p", context.run_id),
            "preflight",
            "participant",
        )
        .await
        .map_err(|e| CannotJudge::Provisioning(e.to_string()))?;
    context
        .redactor
        .register_token(&participant.token, "preflight");
    let preferred = UpgradeRequest {
        query_token: None,
        protocols: vec!["chalk".to_owned(), format!("token.{}", participant.token)],
        origin: context.origin.clone(),
    };
    let (refusal, way_in) = way_in(context, &preferred, &participant.token).await;
    let minted = matches!(provisioner.participants, ParticipantSource::Mint(_));
    let Some(way_in) = way_in else {
        return Err(match (&provisioner.minter, refusal.status()) {
            (Some(minter), Some(401)) if minted => CannotJudge::KeyRefused {
                answer: answer(&refusal),
                flag: key_flag(minter),
            },
            _ => {
                let hint = match refusal.status() {
                    Some(403) if context.origin.is_none() => "; does the server need --origin?",
                    Some(401) => "; is the signing key or API key the deployment's?",
                    _ => "",
                };
                CannotJudge::ProvisionedRefused {
                    answer: answer(&refusal),
                    hint,
                }
            }
        });
    };
    // A server that refuses the header token (AUTH-001) but takes the same token in the query
    // has working credentials and is judged by the scenarios; one that takes the token only
    // without the given Origin would refuse every scenario's connection for its origin.
    if let Some(origin) = &context.origin
        && way_in.origin.is_none()
    {
        return Err(CannotJudge::OriginRefused {
            origin: origin.clone(),
            answer: answer(&refusal),
        });
    }
    let Some(minter) = provisioner.minter.as_deref().filter(|_| !minted) else {
        return Ok(());
    };
    let control = tokens::resigned(&participant.token, minter)
        .or_else(|_| {
            minter.mint(&Identity {
                room_id: participant.room_id.clone(),
                participant_id: participant.participant_id.clone(),
                display_name: participant.display_name.clone(),
                role: participant.role.clone(),
            })
        })
        .map_err(|e| CannotJudge::Provisioning(e.to_string()))?;
    context
        .redactor
        .register_token(&control, "preflight, signed with the given key");
    let request = offering(&way_in, &control);
    let (attempt, ws) =
        handshake::open(&context.connector, target, &request, context.event_timeout).await;
    match ws {
        Some(mut ws) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        None => Err(CannotJudge::KeyRefused {
            answer: answer(&attempt),
            flag: key_flag(minter),
        }),
    }
}

/// The first upgrade with `token` that the server accepts: `preferred`, else one of
/// [`preflight_alternatives`]; with the answer to `preferred`.
async fn way_in(
    context: &RunContext,
    preferred: &UpgradeRequest,
    token: &str,
) -> (Handshake, Option<UpgradeRequest>) {
    let open = |request: UpgradeRequest| async move {
        let (attempt, ws) = handshake::open(
            &context.connector,
            &context.target,
            &request,
            context.event_timeout,
        )
        .await;
        let accepted = match ws {
            Some(mut ws) => {
                let _ = ws.close(None).await;
                true
            }
            None => false,
        };
        (attempt, accepted.then_some(request))
    };
    let (refusal, accepted) = open(preferred.clone()).await;
    if accepted.is_some() {
        return (refusal, accepted);
    }
    for alternative in preflight_alternatives(preferred, token) {
        let (_, accepted) = open(alternative).await;
        if accepted.is_some() {
            return (refusal, accepted);
        }
    }
    (refusal, None)
}

/// Other upgrades with the same token that prove the credentials work when the preferred one is
/// refused: the deprecated query token, and both ways without the configured Origin.
fn preflight_alternatives(preferred: &UpgradeRequest, token: &str) -> Vec<UpgradeRequest> {
    let query = UpgradeRequest {
        query_token: Some(token.to_owned()),
        protocols: Vec::new(),
        origin: preferred.origin.clone(),
    };
    let mut alternatives = vec![query.clone()];
    if preferred.origin.is_some() {
        alternatives.push(UpgradeRequest {
            origin: None,
            ..preferred.clone()
        });
        alternatives.push(UpgradeRequest {
            origin: None,
            ..query
        });
    }
    alternatives
}

/// Feeds features that are already parsed to cucumber.
struct Prepared(Vec<gherkin::Feature>);

impl<I> cucumber::Parser<I> for Prepared {
    type Cli = cucumber::cli::Empty;
    type Output =
        futures_util::stream::Iter<std::vec::IntoIter<cucumber::parser::Result<gherkin::Feature>>>;

    fn parse(self, _input: I, _cli: Self::Cli) -> Self::Output {
        futures_util::stream::iter(self.0.into_iter().map(Ok).collect::<Vec<_>>())
    }
}

/// Runs the scenarios of `features`; the collector with their results.
async fn execute(
    context: Arc<RunContext>,
    features: Vec<gherkin::Feature>,
    collector: Collector,
    concurrency: usize,
) -> Collector {
    let scenarios = collector.scenarios();
    ChalkWorld::cucumber::<&str>()
        .with_parser(Prepared(features))
        .with_writer(collector)
        .with_default_cli()
        .max_concurrent_scenarios(concurrency)
        .before(move |feature, _rule, scenario, world| {
            let context = Arc::clone(&context);
            let scenarios = scenarios.clone();
            let key = ScenarioKey::of(feature, scenario);
            let id = scenario
                .tags
                .iter()
                .find_map(|t| t.strip_prefix(REQUIREMENT_TAG))
                .unwrap_or_default()
                .to_owned();
            async move {
                let requirement = context.requirement(&id);
                world.begin(context, requirement);
                let scene = world.scene();
                scenarios.file(key, scene.transcript_handle(), scene.failure_log());
            }
            .boxed_local()
        })
        .after(|_feature, _rule, _scenario, _finished, world| {
            async move {
                if let Some(world) = world {
                    world.finish().await;
                }
            }
            .boxed_local()
        })
        .run(())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cannot_judge_line_shows_no_secret_the_server_sent_back() {
        let redactor = Redactor::new();
        redactor.register("the-given-jwt-secret-0123456789", "jwt-secret");
        let token = Minter::hs256("the-given-jwt-secret-0123456789")
            .mint(&Identity {
                room_id: "r".into(),
                participant_id: "p".into(),
                display_name: "preflight".into(),
                role: "participant".into(),
            })
            .unwrap();
        redactor.register_token(&token, "preflight, signed with the given key");
        let problem = CannotJudge::KeyRefused {
            answer: format!("401 invalid token {token} (the-given-jwt-secret-0123456789)"),
            flag: "--jwt-secret / CHALK_JWT_SECRET",
        };
        let line = redactor.redact(&problem.to_string());
        assert!(!line.contains(&token), "{line}");
        assert!(!line.contains("the-given-jwt-secret"), "{line}");
        assert!(
            line.starts_with("cannot judge: the deployment refused a valid token minted"),
            "{line}"
        );
    }

    #[test]
    fn a_report_that_would_show_a_secret_is_not_written() {
        let dir = std::env::temp_dir().join(format!("chalk-scan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let redactor = Redactor::new();
        redactor.register("k3y-that-must-stay-secret", "api-key");
        let leaky = dir.join("leaky.html");
        let error = write_scanned(&leaky, "<td>k3y-that-must-stay-secret</td>", &redactor)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[api-key]"), "{error}");
        assert!(!error.contains("k3y-that-must-stay-secret"), "{error}");
        assert!(!leaky.exists());
        let clean = dir.join("clean.html");
        write_scanned(&clean, "<td>[api-key]</td>", &redactor).unwrap();
        assert!(clean.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
