//! One run of the suite, from command line to exit code.
//!
//! 1. Parse and check the options (exit 2 on a usage or configuration error).
//! 2. Without `--url`, start the reference server in-process and take its URL, API key, JWT
//!    secret and allowed origin; declare all its extensions (unless told otherwise).
//! 3. Plan: decide every scenario (run, skipped with a reason, extension not declared).
//! 4. Preflight: one TCP connect and one provisioning round trip (exit 3 when they fail).
//! 5. Run the runnable scenarios with cucumber, concurrently.
//! 6. Report: verdict on the console; JUnit, Cucumber JSON, HTML, Markdown summary and
//!    run-result JSON files, all from one results model, each redacted and scanned for secrets
//!    before it is written; exit 0 or 1.
//!
//! `list`, `lint` and `docs` need no server: they read the features, the catalogue and the
//! schemas only.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cucumber::{World as _, gherkin};
use futures_util::FutureExt as _;

use crate::commands::cli::{Api, Command, Config, Options};
use crate::commands::docs;
use crate::contract::catalogue::{Catalogue, KNOWN_EXTENSIONS};
use crate::contract::judge::FrameJudge;
use crate::contract::schemas::SchemaSet;
use crate::driver::handshake::{self, UpgradeRequest};
use crate::driver::provision::ParticipantSource;
use crate::driver::redact::{Redactor, url_without_credentials};
use crate::driver::transport::{Connector, Target};
use crate::report::console::{Collector, Console, Report};
use crate::report::export;
use crate::report::html_report;
use crate::report::results::RunInfo;
use crate::report::summary;
use crate::suite::lint;
use crate::suite::listing;
use crate::suite::plan::{self, Capabilities, Disposition, Plan, REQUIREMENT_TAG, ScenarioKey};
use crate::suite::world::{ChalkWorld, RunContext};

/// How long the preflight's TCP connect may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs in one process never overlap: cucumber swaps the process-wide panic hook while it runs.
static ONE_RUN_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// How a run ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// 0: every scenario that counts passed (or `list`/`lint`/`--help` succeeded).
    Conformant,
    /// 1: a must-level (or declared extension, or `--strict` should-level) scenario failed.
    NonConformant,
    /// 2: bad options, unreadable files, unknown extension names, features that do not lint.
    Usage,
    /// 3: the target cannot be reached, or provisioning failed.
    Unreachable,
}

impl ExitStatus {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Conformant => 0,
            ExitStatus::NonConformant => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Unreachable => 3,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// Runs `chalk-conformance` with `args` (the first is the program name) on a runtime of its own.
pub fn run_blocking<I, T>(args: I, console: &Console) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            console.line(&format!(
                "chalk-conformance: cannot start the async runtime: {e}"
            ));
            return ExitStatus::Usage;
        }
    };
    runtime.block_on(run(args, console))
}

/// Runs `chalk-conformance` with `args` (the first is the program name).
pub async fn run<I, T>(args: I, console: &Console) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = <Options as clap::CommandFactory>::command()
        .try_get_matches_from(args)
        .and_then(|matches| {
            <Options as clap::FromArgMatches>::from_arg_matches(&matches).map(|o| (o, matches))
        });
    let options = match parsed {
        Ok((mut options, matches)) => {
            // `fuzz --url …` names its target after the subcommand; the checks below see it.
            if let (Some(Command::Fuzz(fuzz)), Some(("fuzz", given))) =
                (options.command.clone(), matches.subcommand())
            {
                fuzz.overlay(&mut options, given);
            }
            for ignored in options.drop_remote_settings_from_environment(&matches) {
                console.line(&format!(
                    "chalk-conformance: note: ignoring {ignored} from the environment (it needs --url)"
                ));
            }
            options
        }
        Err(error) => {
            use clap::error::ErrorKind;
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    console.write(&error.to_string());
                    ExitStatus::Conformant
                }
                _ => {
                    let text = error.to_string();
                    let first = text.lines().next().unwrap_or("invalid arguments");
                    console.line(&format!(
                        "chalk-conformance: {} (see --help)",
                        first.trim_start_matches("error: ")
                    ));
                    ExitStatus::Usage
                }
            };
        }
    };
    let _one_run = ONE_RUN_AT_A_TIME.lock().await;
    let usage = |message: String| {
        console.line(&format!("chalk-conformance: {message}"));
        ExitStatus::Usage
    };
    let catalogue = match Catalogue::bundled() {
        Ok(catalogue) => Arc::new(catalogue),
        Err(e) => return usage(e.to_string()),
    };
    let features = match &options.features {
        Some(dir) => plan::features_in(dir),
        None => plan::embedded_features(),
    };
    let features = match features {
        Ok(features) => features,
        Err(e) => return usage(e.to_string()),
    };
    match &options.command {
        Some(Command::Docs(args)) => {
            return docs::generate(args, options.features.as_deref(), &catalogue, console);
        }
        Some(Command::Load(args)) => {
            return crate::commands::load::run((**args).clone(), console).await;
        }
        Some(Command::Fuzz(args)) => {
            return crate::commands::fuzz::run(args, &options, console).await;
        }
        Some(Command::List) => {
            console.write(&listing::render(&catalogue, &features));
            return ExitStatus::Conformant;
        }
        Some(Command::Lint) => {
            let problems = lint::lint(&features, &catalogue);
            for problem in &problems {
                console.line(&problem.to_string());
            }
            console.line(&format!("{} problem(s)", problems.len()));
            return if problems.is_empty() {
                ExitStatus::Conformant
            } else {
                ExitStatus::Usage
            };
        }
        None => {}
    }
    let config = match Config::from_options(&options) {
        Ok(config) => config,
        Err(e) => return usage(e.to_string()),
    };
    match config.access.target.clone() {
        Some(target) => run_against(config, target, None, features, catalogue, console).await,
        None => run_embedded(config, features, catalogue, console).await,
    }
}

/// Starts the reference server in-process and runs the suite against it.
async fn run_embedded(
    mut config: Config,
    features: Vec<gherkin::Feature>,
    catalogue: Arc<Catalogue>,
    console: &Console,
) -> ExitStatus {
    let server_config = chalk_reference_server::Config::ephemeral();
    let secret = server_config.jwt_secret().map(str::to_owned);
    let api_key = server_config.api_key().map(str::to_owned);
    let allowed_origin = server_config
        .default_tenant
        .allowed_origins
        .first()
        .cloned();
    let leeway = server_config.jwt.leeway;
    let server = match chalk_reference_server::serve(server_config).await {
        Ok(server) => server,
        Err(e) => {
            console.line(&format!(
                "chalk-conformance: cannot start the embedded reference server: {e}"
            ));
            return ExitStatus::Unreachable;
        }
    };
    let target = match Target::parse(&server.ws_url()) {
        Ok(target) => target,
        Err(e) => {
            console.line(&format!(
                "chalk-conformance: the embedded server's URL is unusable: {e}"
            ));
            server.shutdown().await;
            return ExitStatus::Unreachable;
        }
    };
    let access = &mut config.access;
    if let Some(key) = api_key {
        access.secrets.push((key.clone(), "api-key"));
        access.api = Some(Api {
            url: server.api_url(),
            key,
        });
    }
    if let Some(secret) = secret {
        access.secrets.push((secret.clone(), "jwt-secret"));
        access.minter = Some(crate::driver::tokens::Minter::hs256(&secret));
    }
    if access.origin.is_none() {
        access.origin = allowed_origin;
    }
    if config.declared.is_none() {
        config.declared = Some(KNOWN_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect());
    }
    config.token_leeway = leeway;
    let status = run_against(
        config,
        target,
        Some("embedded reference server"),
        features,
        catalogue,
        console,
    )
    .await;
    server.shutdown().await;
    status
}

/// Plans, preflights, runs and reports against `target`.
async fn run_against(
    mut config: Config,
    target: Target,
    label: Option<&str>,
    features: Vec<gherkin::Feature>,
    catalogue: Arc<Catalogue>,
    console: &Console,
) -> ExitStatus {
    let redactor = Arc::new(Redactor::new());
    for (secret, label) in &config.access.secrets {
        redactor.register(secret, label);
    }
    let declared = config.declared.clone().unwrap_or_default();
    let capabilities = Capabilities {
        forge_tokens: config.access.minter.is_some(),
        allowed_origin: config.access.origin.is_some(),
        rest_api: config.access.api.is_some(),
        recordings: config.access.api.is_some() || config.recording_command.is_some(),
    };
    let plan = match Plan::decide(
        &features,
        &catalogue,
        capabilities,
        &declared,
        &config.selection,
    ) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            return ExitStatus::Usage;
        }
    };
    let schemas = match SchemaSet::bundled() {
        Ok(schemas) => schemas,
        Err(e) => {
            console.line(&format!("chalk-conformance: {e}"));
            return ExitStatus::Usage;
        }
    };
    let provisioner = match config.access.provisioner(config.recording_command.clone()) {
        Ok(provisioner) => provisioner,
        Err(e) => {
            console.line(&format!("chalk-conformance: {}", redactor.redact(&e)));
            return ExitStatus::Usage;
        }
    };
    let run_id = format!("cc{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let context = Arc::new(RunContext {
        target: target.clone(),
        connector: Connector::new(Arc::clone(&config.access.tls)),
        provisioner,
        judge: Arc::new(FrameJudge::new(schemas, &catalogue, declared.clone())),
        catalogue: Arc::clone(&catalogue),
        redactor: Arc::clone(&redactor),
        origin: config.access.origin.clone(),
        forbidden_origin: config.forbidden_origin.clone(),
        event_timeout: config.event_timeout,
        quiet_window: config.quiet_window,
        token_leeway: config.token_leeway,
        run_id: run_id.clone(),
        scenario_counter: AtomicUsize::new(0),
    });

    print_header(console, &context, label, &config, &declared, &plan);
    if let Err(problem) = preflight(&context).await {
        console.line(&format!("chalk-conformance: {}", redactor.redact(&problem)));
        return ExitStatus::Unreachable;
    }

    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let collector = execute(
        Arc::clone(&context),
        plan.runnable(&features),
        Collector::new(
            console.clone(),
            Arc::clone(&redactor),
            Arc::clone(&catalogue),
            Arc::clone(&plan),
            config.strict,
        )
        .expecting(config.expectations.clone()),
        config.concurrency,
    )
    .await;
    let (results, errors) = collector.into_results();
    let mut report = Report::assemble(
        &plan,
        results,
        errors,
        &catalogue,
        config.strict,
        started.elapsed(),
    );
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
        target: redactor.redact(&url_without_credentials(&target.url)),
        target_label: label.map(str::to_owned),
        started_at,
        declared: declared.iter().cloned().collect(),
        origin: config.access.origin.clone(),
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
            &config.json,
            config.json.as_ref().map(|_| export::cucumber_json(&report)),
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
    if report.conformant() {
        ExitStatus::Conformant
    } else {
        ExitStatus::NonConformant
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
    plan: &Plan,
) {
    let provisioning = match &context.provisioner.participants {
        ParticipantSource::Rest(_) => format!(
            "REST API {}",
            config
                .access
                .api
                .as_ref()
                .map(|a| a.url.as_str())
                .unwrap_or_default()
        ),
        ParticipantSource::Command(_) => "--token-command".to_owned(),
        ParticipantSource::Mint(_) => "tokens minted with the deployment's key".to_owned(),
    };
    let forging = if context.provisioner.minter.is_some() {
        "defective tokens forged with the deployment's key"
    } else {
        "no signing key: scenarios that forge tokens are skipped"
    };
    let count = |wanted: fn(&Disposition) -> bool| {
        plan.scenarios
            .iter()
            .filter(|s| wanted(&s.disposition))
            .count()
    };
    console.line(&format!(
        "chalk-conformance {} (run {})",
        env!("CARGO_PKG_VERSION"),
        context.run_id
    ));
    console.line(&format!(
        "target:       {}{}",
        url_without_credentials(&context.target.url),
        label.map(|l| format!(" ({l})")).unwrap_or_default()
    ));
    console.line(&format!("provisioning: {provisioning}; {forging}"));
    console.line(&format!(
        "origin:       {} (forbidden: {})",
        context.origin.as_deref().unwrap_or("none sent"),
        context.forbidden_origin
    ));
    console.line(&format!(
        "declared:     {}",
        if declared.is_empty() {
            "no extension".to_owned()
        } else {
            declared.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    ));
    if let Some(expectations) = &config.expectations {
        console.line(&format!(
            "expectations: {} ({} requirement(s) expected to fail)",
            expectations.source,
            expectations.expected.len()
        ));
    }
    console.line(&format!(
        "scenarios:    {} to run, {} skipped, {} not declared\n",
        count(|d| *d == Disposition::Run),
        count(|d| matches!(d, Disposition::Skip(_))),
        count(|d| matches!(d, Disposition::NotDeclared(_)))
    ));
}

/// One TCP connect and one provisioning round trip, with an upgrade of the provisioned
/// participant; the problem, in one line, when they fail.
async fn preflight(context: &RunContext) -> Result<(), String> {
    let target = &context.target;
    context
        .connector
        .connect(target, PREFLIGHT_TIMEOUT)
        .await
        .map_err(|e| {
            format!(
                "target unreachable: cannot connect to {}: {e}",
                target.authority()
            )
        })?;
    let provisioner = &context.provisioner;
    let room_name = format!("chalk-conformance {} preflight", context.run_id);
    let room = provisioner
        .create_room(&room_name, &format!("{}-preflight", context.run_id))
        .await
        .map_err(|e| format!("provisioning failed: {e}"))?;
    let participant = provisioner
        .add_participant(
            &room,
            &format!("{}-preflight-p", context.run_id),
            "preflight",
            "participant",
        )
        .await
        .map_err(|e| format!("provisioning failed: {e}"))?;
    context
        .redactor
        .register_token(&participant.token, "preflight");
    let preferred = UpgradeRequest {
        query_token: None,
        protocols: vec!["chalk".to_owned(), format!("token.{}", participant.token)],
        origin: context.origin.clone(),
    };
    let (attempt, ws) = handshake::open(
        &context.connector,
        target,
        &preferred,
        context.event_timeout,
    )
    .await;
    if let Some(mut ws) = ws {
        let _ = ws.close(None).await;
        return Ok(());
    }
    // The preferred upgrade was refused. That is a provisioning problem only when no other way in
    // works either: a server that refuses the header token (AUTH-001) or the configured origin
    // (ORIGIN-001) but takes the same token otherwise has working credentials and is judged by
    // the scenarios, not dismissed as unreachable.
    for alternative in preflight_alternatives(&preferred, &participant.token) {
        let (_, ws) = handshake::open(
            &context.connector,
            target,
            &alternative,
            context.event_timeout,
        )
        .await;
        if let Some(mut ws) = ws {
            let _ = ws.close(None).await;
            return Ok(());
        }
    }
    let hint = match attempt.status() {
        Some(403) if context.origin.is_none() => " (does the server need --origin?)",
        Some(401) => " (is the signing key or API key the deployment's?)",
        _ => "",
    };
    Err(format!(
        "provisioning failed: the server refused a freshly provisioned participant: {}{hint}",
        attempt.summary()
    ))
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
