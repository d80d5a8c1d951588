//! The command line of `chalk-conformance`, and its check into a usable [`Config`].
//!
//! Every subcommand's options are defined here, in one place ([`Options`], [`DocsArgs`],
//! [`FuzzArgs`], [`LoadArgs`] and the [`Provisioning`] options they share); the subcommands read
//! them and none defines its own.
//!
//! Every option of every subcommand can also be given as an environment variable, which is the
//! way to pass secrets in CI (an argument shows up in process listings): `CHALK_<FLAG>` for the
//! suite's options and those a subcommand shares with it, `CHALK_<SUBCOMMAND>_<FLAG>` for an
//! option only a subcommand has; switches read `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`. A configuration that cannot work —
//! a missing file, an unknown extension name, a key without its algorithm — is refused with one
//! line and exit code 2 before anything is sent.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::contract::catalogue::KNOWN_EXTENSIONS;
use crate::driver::deployment::{Access, Api, OriginMode};
use crate::driver::tokens::{Minter, TokenError};
use crate::driver::transport::{self, Target, TransportError};
use crate::suite::plan::{PlanError, STATABLE_ABSENCES, Selection};

/// The origin refused by default: `.invalid` can never be anybody's site.
pub const DEFAULT_FORBIDDEN_ORIGIN: &str = "https://forbidden.invalid";

/// Judges a server against the Chalk real-time WebSocket API.
///
/// Without --url, the suite starts the reference server in-process and runs every scenario
/// against it. With --url, it judges that server; say how to get participants with --api-url and
/// --api-key (REST), --token-command, or --jwt-secret / --jwt-private-key (minted tokens).
#[derive(Debug, Parser)]
#[command(name = "chalk-conformance", version, about, long_about)]
pub struct Options {
    /// What to do instead of running the suite.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where the target is and how to get in (shared with `load` and `fuzz`).
    #[command(flatten)]
    pub provisioning: Provisioning,

    /// Shell command starting or stopping a recording; gets CHALK_ROOM_ID and
    /// CHALK_RECORDING_ACTION=start|stop.
    #[arg(long, env = "CHALK_RECORDING_COMMAND", value_name = "CMD")]
    pub recording_command: Option<String>,

    /// Shell command that kills a node of the deployment without a goodbye (SIGKILL, say), for
    /// the failover scenarios; gets CHALK_NODE_URL and CHALK_NODE_INDEX (1 for the first
    /// --url). Without it they are skipped. A killed node is taken to stay down.
    #[arg(long, env = "CHALK_NODE_KILL_COMMAND", value_name = "CMD")]
    pub node_kill_command: Option<String>,

    /// Shell command that brings a killed node back (same environment), returning once it takes
    /// connections: enables the restart scenario.
    #[arg(long, env = "CHALK_NODE_RESTART_COMMAND", value_name = "CMD")]
    pub node_restart_command: Option<String>,

    /// How long after a node is killed the others must report its members gone.
    #[arg(long, env = "CHALK_FAILOVER_BOUND", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub failover_bound: Duration,

    /// An origin the server must refuse.
    #[arg(long, env = "CHALK_FORBIDDEN_ORIGIN", value_name = "ORIGIN", default_value = DEFAULT_FORBIDDEN_ORIGIN)]
    pub forbidden_origin: String,

    /// How the deployment's tenant validates origins: `exact` (an explicit allowed_origins list:
    /// accepting a look-alike of the allowed origin is a must-level failure; this assumes the
    /// list holds none of --origin's look-alikes: no other scheme or port, no subdomain, no
    /// longer host) or `patterns` (no list, the server's own patterns: a look-alike is a
    /// should-level warning). Default: exact for the embedded reference server, patterns for
    /// --url.
    #[arg(long, env = "CHALK_ORIGIN_MODE", value_name = "MODE", value_enum)]
    pub origin_mode: Option<OriginMode>,

    /// An extension the server claims (repeatable; see spec/extensions.md).
    #[arg(
        long = "declare",
        env = "CHALK_DECLARE",
        value_name = "EXTENSION",
        value_delimiter = ','
    )]
    pub declare: Vec<String>,

    /// TOML profile of the server: `extensions = ["chat-echo", ...]`.
    #[arg(long, env = "CHALK_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Make should-level failures fail the run (CHALK_STRICT: 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "CHALK_STRICT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub strict: bool,

    /// Exit 3 (the run cannot judge) when more than N must scenarios are skipped because the
    /// run lacks what they need; without N, or with 0: when any is.
    #[arg(
        long,
        env = "CHALK_MAX_SKIPPED_MUST",
        value_name = "N",
        num_args = 0..=1,
        default_missing_value = "0"
    )]
    pub max_skipped_must: Option<usize>,

    /// A capability the deployment does not offer (repeatable): its scenarios are skipped with
    /// that reason, never run.
    #[arg(
        long,
        env = "CHALK_WITHOUT",
        value_name = "CAPABILITY",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(STATABLE_ABSENCES)
    )]
    pub without: Vec<String>,

    /// Only scenarios matching this tag expression, e.g. '@must and not @req.REC-001'.
    #[arg(long, env = "CHALK_TAGS", value_name = "EXPR")]
    pub tags: Option<String>,

    /// Only scenarios whose name matches this regular expression.
    #[arg(long, env = "CHALK_NAME", value_name = "REGEX")]
    pub name: Option<String>,

    /// How many scenarios run at once.
    #[arg(
        long,
        env = "CHALK_CONCURRENCY",
        value_name = "N",
        default_value_t = 32
    )]
    pub concurrency: usize,

    /// How long to wait for an expected event (e.g. 2s, 500ms).
    #[arg(long, env = "CHALK_EVENT_TIMEOUT", value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub event_timeout: Duration,

    /// How long "receives nothing" waits.
    #[arg(long, env = "CHALK_QUIET_WINDOW", value_name = "DURATION", default_value = "300ms", value_parser = parse_duration)]
    pub quiet_window: Duration,

    /// The server's clock leeway for exp/nbf (for the token-expiry extension).
    #[arg(long, env = "CHALK_TOKEN_LEEWAY", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub token_leeway: Duration,

    /// The server's idle timeout: the keepalive scenario pings for longer than this (default:
    /// what the embedded server says, else 75s when close-codes is declared, else 30s).
    #[arg(long, env = "CHALK_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Leave out the scenarios that last longer than the idle timeout, for a quick run; they
    /// are reported as skipped (CHALK_SKIP_LONG: 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "CHALK_SKIP_LONG", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub skip_long: bool,

    /// Write a JUnit XML report here.
    #[arg(long, env = "CHALK_JUNIT", value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write a Cucumber JSON report here.
    #[arg(
        long,
        env = "CHALK_CUCUMBER_JSON",
        value_name = "FILE",
        conflicts_with = "json"
    )]
    pub cucumber_json: Option<PathBuf>,

    /// The old name of --cucumber-json (and CHALK_JSON of CHALK_CUCUMBER_JSON), still accepted.
    #[arg(long, env = "CHALK_JSON", value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report here: verdict, every requirement and scenario, the
    /// failures' Expected/Actual and every scenario's wire transcript, secrets redacted.
    #[arg(long, env = "CHALK_REPORT", value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Write a short Markdown summary here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, env = "CHALK_SUMMARY", value_name = "FILE.md")]
    pub summary: Option<PathBuf>,

    /// Write the run-result JSON here (read back by `chalk-conformance docs --results`).
    #[arg(long, env = "CHALK_RESULTS_JSON", value_name = "FILE")]
    pub results_json: Option<PathBuf>,

    /// Read the features from this directory instead of the copies built into the binary.
    #[arg(long, env = "CHALK_FEATURES", value_name = "DIR")]
    pub features: Option<PathBuf>,

    /// TOML file of requirements known to fail, each with a reason: their failures are reported
    /// as expected; one that passes fails the run (the file is stale).
    #[arg(long, env = "CHALK_EXPECTATIONS", value_name = "FILE")]
    pub expectations: Option<PathBuf>,
}

/// Where the target server is and how to get participants into it: the options the suite,
/// `load` and `fuzz` share (each with its `CHALK_*` variable).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// The WebSocket endpoint, e.g. wss://staging.example.com/api/v1/ws (default: an embedded
    /// reference server, in builds with the default feature embedded-server). Repeatable (or
    /// comma-separated): the endpoints of the nodes of one deployment.
    #[arg(long, env = "CHALK_URL", value_name = "URL", value_delimiter = ',')]
    pub url: Vec<String>,

    /// HS256 secret of the deployment: mint participant tokens (the run also forges defective
    /// ones from them).
    #[arg(
        long,
        env = "CHALK_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,

    /// PEM file with the deployment's private signing key (needs --jwt-alg).
    #[arg(long, env = "CHALK_JWT_PRIVATE_KEY", value_name = "PEM_FILE")]
    pub jwt_private_key: Option<PathBuf>,

    /// Algorithm of --jwt-private-key.
    #[arg(long, env = "CHALK_JWT_ALG", value_name = "ALG", value_parser = ["RS256", "ES256", "EdDSA"])]
    pub jwt_alg: Option<String>,

    /// `iss` claim of minted tokens.
    #[arg(long, env = "CHALK_JWT_ISSUER", value_name = "ISS")]
    pub jwt_issuer: Option<String>,

    /// `aud` claim of minted tokens.
    #[arg(long, env = "CHALK_JWT_AUDIENCE", value_name = "AUD")]
    pub jwt_audience: Option<String>,

    /// Extra claim of minted tokens, e.g. tenant_id=t_acme (repeatable).
    #[arg(
        long = "claim",
        env = "CHALK_CLAIM",
        value_name = "KEY=VALUE",
        value_delimiter = ','
    )]
    pub claims: Vec<String>,

    /// REST API base, e.g. https://staging.example.com/api/v1: provision rooms and participants
    /// (and, in the run, recordings) through it. With several --url: one for all nodes, or one
    /// per node (repeatable or comma-separated, the i-th for the i-th --url).
    #[arg(long, env = "CHALK_API_URL", value_name = "URL", value_delimiter = ',')]
    pub api_url: Vec<String>,

    /// Tenant API key for --api-url (header X-API-Key).
    #[arg(
        long,
        env = "CHALK_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// Shell command printing a participant token; gets CHALK_ROOM_ID, CHALK_PARTICIPANT_ID,
    /// CHALK_DISPLAY_NAME and CHALK_ROLE in its environment.
    #[arg(long, env = "CHALK_TOKEN_COMMAND", value_name = "CMD")]
    pub token_command: Option<String>,

    /// Origin header of connections meant to succeed (none by default).
    #[arg(long, env = "CHALK_ORIGIN", value_name = "ORIGIN")]
    pub origin: Option<String>,

    /// PEM file of a private CA to trust for wss:// and https://, added to the system roots (not
    /// replacing them).
    #[arg(long, env = "CHALK_CA_CERT", value_name = "PEM_FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl Provisioning {
    /// Checks the options; the first problem found, as one line. Without `--url` the options
    /// that only apply to a remote target are refused.
    pub fn check(&self) -> Result<Access, ConfigError> {
        let bad = |message: &str| Err(ConfigError::Options(message.to_owned()));
        let targets = self
            .url
            .iter()
            .map(|url| Target::parse(url.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            let remote_only = [
                ("--jwt-secret", self.jwt_secret.is_some()),
                ("--jwt-private-key", self.jwt_private_key.is_some()),
                ("--api-url", !self.api_url.is_empty()),
                ("--api-key", self.api_key.is_some()),
                ("--token-command", self.token_command.is_some()),
            ];
            if let Some((flag, _)) = remote_only.iter().find(|(_, given)| *given) {
                return Err(needs_url(flag));
            }
        }
        let api = match (&self.api_url[..], &self.api_key) {
            ([], None) => None,
            ([], Some(_)) => return bad("--api-key needs --api-url"),
            (_, None) => return bad("--api-url needs --api-key"),
            (urls, Some(key)) => {
                if urls.len() != 1 && urls.len() != targets.len() {
                    return Err(ConfigError::Options(api_url_count(
                        urls.len(),
                        targets.len(),
                    )));
                }
                let urls: Vec<String> = urls.iter().map(|u| u.trim().to_owned()).collect();
                for url in &urls {
                    transport::check_api_url(url)?;
                }
                Some(Api {
                    urls,
                    key: key.clone(),
                })
            }
        };
        let mut secrets = Vec::new();
        if let Some(api) = &api {
            secrets.push((api.key.clone(), "api-key"));
        }
        let mut claims = Map::new();
        for claim in &self.claims {
            let Some((key, value)) = claim.split_once('=').filter(|(k, _)| !k.trim().is_empty())
            else {
                return Err(ConfigError::Options(format!(
                    "--claim {claim:?} is not KEY=VALUE"
                )));
            };
            claims.insert(key.trim().to_owned(), Value::String(value.to_owned()));
        }
        let minter = match (&self.jwt_secret, &self.jwt_private_key, &self.jwt_alg) {
            (Some(_), Some(_), _) => {
                return bad("give --jwt-secret or --jwt-private-key, not both");
            }
            (Some(secret), None, None) => {
                secrets.push((secret.clone(), "jwt-secret"));
                Some(Minter::hs256(secret))
            }
            (Some(_), None, Some(_)) => {
                return bad("--jwt-alg goes with --jwt-private-key (--jwt-secret is HS256)");
            }
            (None, Some(path), Some(alg)) => {
                let pem = fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                secrets.push((pem.trim().to_owned(), "jwt-private-key"));
                Some(Minter::from_pem(&pem, alg)?)
            }
            (None, Some(_), None) => {
                return bad("--jwt-private-key needs --jwt-alg (RS256, ES256 or EdDSA)");
            }
            (None, None, Some(_)) => return bad("--jwt-alg needs --jwt-private-key"),
            (None, None, None) => None,
        }
        .map(|m| m.with_claims(self.jwt_issuer.clone(), self.jwt_audience.clone(), claims));
        if !targets.is_empty() && api.is_none() && self.token_command.is_none() && minter.is_none()
        {
            return bad(
                "no way to get participants: give --api-url and --api-key, --token-command, or --jwt-secret / --jwt-private-key",
            );
        }
        let tls = Arc::new(transport::tls_config(self.ca_cert.as_deref())?);
        Ok(Access {
            targets,
            api,
            token_command: self.token_command.clone(),
            minter,
            secrets,
            origin: self.origin.clone(),
            tls,
        })
    }

    /// Lays over `self` the options of `given` that `matches` (a subcommand's, e.g. `fuzz --url
    /// …`) has from its command line; its `CHALK_*` values are the ones `self` already has, and
    /// must not displace what was given before the subcommand.
    pub fn overlay(&mut self, given: &Provisioning, matches: &clap::ArgMatches) {
        let on_command_line =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        macro_rules! overlay {
            ($($field:ident),*) => {$(
                if on_command_line(stringify!($field)) {
                    self.$field = given.$field.clone();
                }
            )*};
        }
        overlay!(
            url,
            jwt_secret,
            jwt_private_key,
            jwt_alg,
            jwt_issuer,
            jwt_audience,
            claims,
            api_url,
            api_key,
            token_command,
            origin,
            ca_cert
        );
    }
}

/// The error of a count of `--api-url` that matches neither one for all nodes nor one per node.
fn api_url_count(apis: usize, nodes: usize) -> String {
    format!(
        "--api-url given {apis} times for {nodes} --url: give one for all nodes, or one per node \
         (the i-th for the i-th --url)"
    )
}

/// The error of an option that only applies to a remote target, given without `--url`.
fn needs_url(flag: &str) -> ConfigError {
    ConfigError::Options(format!(
        "{flag} needs --url (without --url the suite runs against its embedded reference server)"
    ))
}

impl Options {
    /// Without `--url`, options that only apply to a remote target are ignored when they come
    /// from `CHALK_*` variables (a shell that runs a reference server has `CHALK_JWT_SECRET` and
    /// `CHALK_API_KEY` set for it); given on the command line they remain an error. The names
    /// of the variables ignored.
    pub fn drop_remote_settings_from_environment(
        &mut self,
        matches: &clap::ArgMatches,
    ) -> Vec<&'static str> {
        if !self.provisioning.url.is_empty() {
            return Vec::new();
        }
        let from_env =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable);
        let mut ignored = Vec::new();
        let mut drop = |id: &str, variable: &'static str, present: bool| {
            if present && from_env(id) {
                ignored.push(variable);
                true
            } else {
                false
            }
        };
        let p = &mut self.provisioning;
        if drop("jwt_secret", "CHALK_JWT_SECRET", p.jwt_secret.is_some()) {
            p.jwt_secret = None;
        }
        if drop(
            "jwt_private_key",
            "CHALK_JWT_PRIVATE_KEY",
            p.jwt_private_key.is_some(),
        ) {
            p.jwt_private_key = None;
        }
        if drop("jwt_alg", "CHALK_JWT_ALG", p.jwt_alg.is_some()) {
            p.jwt_alg = None;
        }
        if drop("api_url", "CHALK_API_URL", !p.api_url.is_empty()) {
            p.api_url.clear();
        }
        if drop("api_key", "CHALK_API_KEY", p.api_key.is_some()) {
            p.api_key = None;
        }
        if drop(
            "token_command",
            "CHALK_TOKEN_COMMAND",
            p.token_command.is_some(),
        ) {
            p.token_command = None;
        }
        if drop(
            "recording_command",
            "CHALK_RECORDING_COMMAND",
            self.recording_command.is_some(),
        ) {
            self.recording_command = None;
        }
        if drop(
            "node_kill_command",
            "CHALK_NODE_KILL_COMMAND",
            self.node_kill_command.is_some(),
        ) {
            self.node_kill_command = None;
        }
        if drop(
            "node_restart_command",
            "CHALK_NODE_RESTART_COMMAND",
            self.node_restart_command.is_some(),
        ) {
            self.node_restart_command = None;
        }
        ignored
    }
}

/// Commands other than running the suite.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print requirement -> scenarios -> level, without a server.
    List,
    /// Check the features against the catalogue (tags, levels, coverage).
    Lint,
    /// Write the living documentation: a static HTML site of the features, the requirement
    /// catalogue and the schemas, with each requirement's latest result when given one.
    Docs(DocsArgs),
    /// Load a Chalk server (or, with --raw, a plain broadcast server) and measure it.
    // The doc comment of a variant is its help, short and long: the long one has to be named
    // here, or `load --help` would show only this line.
    #[command(long_about = LOAD_LONG_ABOUT)]
    Load(Box<LoadArgs>),
    /// Seeded protocol fuzzing: random sequences of joins, leaves, valid and invalid events,
    /// checked against the protocol's invariants; failures shrink to a minimal replayable case.
    #[command(long_about = FUZZ_LONG_ABOUT)]
    Fuzz(Box<FuzzArgs>),
}

/// The options of `chalk-conformance docs`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DocsArgs {
    /// The directory to write the site into (created if missing).
    #[arg(long, env = "CHALK_DOCS_OUT", value_name = "DIR")]
    pub out: PathBuf,

    /// A run's results to show: the run-result JSON of `--results-json`, or a Cucumber JSON
    /// report of `--cucumber-json`.
    #[arg(long, env = "CHALK_DOCS_RESULTS", value_name = "FILE")]
    pub results: Option<PathBuf>,
}

/// The long help of `chalk-conformance fuzz`.
pub const FUZZ_LONG_ABOUT: &str = "Seeded protocol fuzzing: random sequences of joins, leaves (Close \
frames with 1000, 1001, 4000 or no code, dropped connections), valid events with hard Unicode \
and invalid frames, for participants in several rooms (--scale for rooms of tens of members and \
hundreds of actions), checked against the protocol's invariants (schemas, exactly-once in-order \
delivery within the room, presence, the server keeps accepting). A failing case is printed at \
once with the commands that replay it, then shrinks (within --shrink-budget) to a minimal one, \
printed the same way. --time-budget runs cases for a fixed time instead of --cases.\n\n\
Without --url, the reference server runs embedded in this process. With --url, provision \
participants as for the suite (--api-url/--api-key, --token-command, or \
--jwt-secret/--jwt-private-key) and say what the server claims with --declare/--profile. These \
options can also come before `fuzz`, and from the suite's CHALK_* variables.\n\n\
Exit code: 0 every case passed, 1 a case failed, 2 usage error, 3 target unreachable.";

/// The long help of `chalk-conformance load`.
pub const LOAD_LONG_ABOUT: &str = "Loads a Chalk server and measures it: connections and their setup \
latency, deliveries per second, fan-out latency, loss, duplicates, close codes, server memory and \
CPU.\n\n\
Without --url, the reference server runs embedded in this process (rate limit lifted). With \
--url, provision participants as for the suite (--api-url/--api-key, --token-command, or \
--jwt-secret/--jwt-private-key). Targets outside loopback need --allow-remote.\n\n\
Exit code: 0 nothing lost, duplicated or misrouted and no error, 1 otherwise, 2 usage error, \
3 target unreachable (no connection opened) or provisioning failed.";

/// The most actions a generated case has (unless `--max-actions` says otherwise).
pub const DEFAULT_MAX_ACTIONS: usize = 24;

/// The options of `chalk-conformance fuzz`: seeded protocol fuzzing (see [`crate::commands::fuzz`]).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct FuzzArgs {
    /// Where the cases go and how to get participants: the suite's options.
    #[command(flatten)]
    pub provisioning: Provisioning,

    /// An extension the server claims (repeatable; see spec/extensions.md).
    #[arg(
        long = "declare",
        env = "CHALK_DECLARE",
        value_name = "EXTENSION",
        value_delimiter = ','
    )]
    pub declare: Vec<String>,

    /// TOML profile of the server: `extensions = ["chat-echo", ...]`.
    #[arg(long, env = "CHALK_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Seed of the run (default: a random one, printed).
    #[arg(long, env = "CHALK_FUZZ_SEED", value_name = "N")]
    pub seed: Option<u64>,

    /// How many cases to run.
    #[arg(
        long,
        env = "CHALK_FUZZ_CASES",
        default_value_t = 100,
        value_name = "M"
    )]
    pub cases: usize,

    /// Run cases until this much time is spent instead of a number of cases (e.g. 10m, for a
    /// staging job after the suite); stops cleanly, exit 0 when no case failed.
    #[arg(long, env = "CHALK_FUZZ_TIME_BUDGET", value_name = "DURATION", value_parser = parse_duration, conflicts_with = "cases")]
    pub time_budget: Option<Duration>,

    /// How big the cases are: 1 is six participants in two rooms and up to --max-actions
    /// actions; N is N times the participants and actions in more rooms (most join first).
    #[arg(long, env = "CHALK_FUZZ_SCALE", default_value_t = 1, value_name = "N")]
    pub scale: usize,

    /// Play exactly the case of a replay file (written when a case fails), once.
    #[arg(long, env = "CHALK_FUZZ_REPLAY", value_name = "FILE", conflicts_with_all = ["seed", "cases", "time_budget"])]
    pub replay: Option<PathBuf>,

    /// Where to write the minimal failing case (default: chalk-fuzz-<seed>.json); the case as
    /// found goes beside it, as NAME-found.json.
    #[arg(long, env = "CHALK_FUZZ_CASE_FILE", value_name = "FILE")]
    pub case_file: Option<PathBuf>,

    /// Cases played at once (each in rooms of its own).
    #[arg(
        long,
        env = "CHALK_FUZZ_CONCURRENCY",
        default_value_t = 8,
        value_name = "N"
    )]
    pub concurrency: usize,

    /// The most actions in a case.
    #[arg(long, env = "CHALK_FUZZ_MAX_ACTIONS", default_value_t = DEFAULT_MAX_ACTIONS, value_name = "N")]
    pub max_actions: usize,

    /// How long to wait for anything owed (a delivery, a presence event, a close).
    #[arg(long, env = "CHALK_FUZZ_EVENT_TIMEOUT", default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub event_timeout: Duration,

    /// How long the end of a case waits for frames that must not come (duplicates, strays).
    #[arg(long, env = "CHALK_FUZZ_QUIET_WINDOW", default_value = "200ms", value_parser = parse_duration, value_name = "DURATION")]
    pub quiet_window: Duration,

    /// The most one case may take.
    #[arg(long, env = "CHALK_FUZZ_CASE_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub case_timeout: Duration,

    /// With --cases, the most time spent playing cases: no case starts after it (shrinking has
    /// --shrink-budget of its own).
    #[arg(long, env = "CHALK_FUZZ_TIME_LIMIT", conflicts_with = "time_budget", default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub time_limit: Duration,

    /// The most time spent shrinking a failure, counted from the failure (the failure itself is
    /// printed before).
    #[arg(long, env = "CHALK_FUZZ_SHRINK_BUDGET", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub shrink_budget: Duration,

    /// The most plays spent shrinking a failure.
    #[arg(
        long,
        env = "CHALK_FUZZ_MAX_SHRINK_RUNS",
        default_value_t = 300,
        value_name = "N"
    )]
    pub max_shrink_runs: usize,
}

impl FuzzArgs {
    /// Puts the options given after `fuzz` (`matches` are the subcommand's) over the suite's,
    /// given before it or by `CHALK_*` variables.
    pub fn overlay(&self, options: &mut Options, matches: &clap::ArgMatches) {
        options.provisioning.overlay(&self.provisioning, matches);
        if self.profile.is_some() {
            options.profile.clone_from(&self.profile);
        }
        if !self.declare.is_empty() {
            options.declare.clone_from(&self.declare);
        }
    }
}

/// The options of `chalk-conformance load`, which loads a Chalk server (or, with --raw, a plain
/// broadcast server) and measures it (see [`crate::commands::load`]).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LoadArgs {
    /// Where the load goes and how to get participants: the suite's options.
    #[command(flatten)]
    pub provisioning: Provisioning,
    /// Allow a target outside loopback (only a server you operate) (CHALK_LOAD_ALLOW_REMOTE: 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "CHALK_LOAD_ALLOW_REMOTE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_remote: bool,
    /// Plain broadcast server: no token, no subprotocol; the room goes in `?room=` (CHALK_LOAD_RAW: 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "CHALK_LOAD_RAW", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub raw: bool,
    /// Rooms with traffic.
    #[arg(long, env = "CHALK_LOAD_ROOMS", default_value_t = 1, value_name = "R")]
    pub rooms: u32,
    /// Participants per room.
    #[arg(
        long,
        env = "CHALK_LOAD_PARTICIPANTS",
        default_value_t = 10,
        value_name = "M"
    )]
    pub participants: u32,
    /// Participants per room that send.
    #[arg(
        long,
        env = "CHALK_LOAD_SENDERS",
        default_value_t = 1,
        value_name = "S"
    )]
    pub senders: u32,
    /// Chat messages per second per room, on a fixed schedule.
    #[arg(
        long,
        env = "CHALK_LOAD_RATE",
        value_name = "N",
        conflicts_with = "window"
    )]
    pub rate: Option<u32>,
    /// Messages each sender keeps in flight (default 8 when --rate is not given).
    #[arg(long, env = "CHALK_LOAD_WINDOW", value_name = "W")]
    pub window: Option<u32>,
    /// How long the senders send, e.g. 5s, 1m.
    #[arg(long, env = "CHALK_LOAD_DURATION", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Length of each chat text.
    #[arg(
        long,
        env = "CHALK_LOAD_PAYLOAD_BYTES",
        default_value_t = 100,
        value_name = "BYTES"
    )]
    pub payload_bytes: usize,
    /// Extra authenticated connections that only stay connected.
    #[arg(
        long,
        env = "CHALK_LOAD_IDLE_CONNECTIONS",
        default_value_t = 0,
        value_name = "K"
    )]
    pub idle_connections: u32,
    /// Idle connections per room.
    #[arg(
        long,
        env = "CHALK_LOAD_IDLE_ROOM_SIZE",
        default_value_t = 10,
        value_name = "N"
    )]
    pub idle_room_size: u32,
    /// Refuse shapes with more connections than this.
    #[arg(
        long,
        env = "CHALK_LOAD_MAX_CONNECTIONS",
        default_value_t = 20_000,
        value_name = "N"
    )]
    pub max_connections: u32,
    /// Connection attempts at once.
    #[arg(
        long,
        env = "CHALK_LOAD_CONNECT_CONCURRENCY",
        default_value_t = 64,
        value_name = "N"
    )]
    pub connect_concurrency: usize,
    /// Bound on one connection attempt.
    #[arg(long, env = "CHALK_LOAD_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// How long to wait for messages still in flight when sending stops.
    #[arg(long, env = "CHALK_LOAD_DRAIN", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub drain: Duration,
    /// Write the results as JSON here (old name: --json, still accepted).
    #[arg(
        long,
        env = "CHALK_LOAD_RESULTS_JSON",
        visible_alias = "json",
        value_name = "FILE"
    )]
    pub results_json: Option<PathBuf>,
    /// No progress lines on stderr (CHALK_LOAD_QUIET: 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "CHALK_LOAD_QUIET", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub quiet: bool,
    /// Process id of the server, to read its memory and CPU from /proc.
    #[arg(long, env = "CHALK_LOAD_SERVER_PID", value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Worker threads of the load generator.
    #[arg(
        long,
        env = "CHALK_LOAD_THREADS",
        default_value_t = 1,
        value_name = "N"
    )]
    pub threads: usize,
    /// Worker threads of the embedded server.
    #[arg(
        long,
        env = "CHALK_LOAD_SERVER_THREADS",
        default_value_t = 1,
        value_name = "N"
    )]
    pub server_threads: usize,
    /// Name of the target in the table and the JSON.
    #[arg(long, env = "CHALK_LOAD_LABEL", value_name = "NAME")]
    pub label: Option<String>,
}

/// Parses `2s`, `300ms`, `1.5s`, `1m`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (use e.g. 2s, 300ms)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Why the command line cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two options contradict each other, or one lacks its partner.
    #[error("{0}")]
    Options(String),
    /// A file named on the command line cannot be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The profile is not TOML of the expected shape.
    #[error("the profile {path} is not valid: {reason}")]
    Profile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `--declare` or the profile names an extension that does not exist.
    #[error("unknown extension {0:?} (known: {known})", known = KNOWN_EXTENSIONS.join(", "))]
    UnknownExtension(String),
    /// A URL or the TLS setup is unusable.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The signing key is unusable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The features or the selection are unusable.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The expectations file is unusable (unreadable, malformed, or naming an unknown ID).
    #[error(transparent)]
    Expectations(#[from] crate::report::expectations::ExpectationsError),
}

/// A checked configuration, ready to run (the target and the ways into it are its [`Access`]).
#[derive(Debug)]
pub struct Config {
    /// The recording command.
    pub recording_command: Option<String>,
    /// `--node-kill-command`.
    pub node_kill_command: Option<String>,
    /// `--node-restart-command`.
    pub node_restart_command: Option<String>,
    /// `--failover-bound`.
    pub failover_bound: Duration,
    /// The origin that must be refused.
    pub forbidden_origin: String,
    /// `--origin-mode` (`None`: not given, the deployment's own or `patterns`).
    pub origin_mode: Option<OriginMode>,
    /// Declared extensions (`None`: not given).
    pub declared: Option<BTreeSet<String>>,
    /// `--strict`.
    pub strict: bool,
    /// `--tags` / `--name`.
    pub selection: Selection,
    /// `--max-skipped-must`.
    pub max_skipped_must: Option<usize>,
    /// `--without`: capabilities the user says the deployment does not offer.
    pub without: BTreeSet<String>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--event-timeout`.
    pub event_timeout: Duration,
    /// `--quiet-window`.
    pub quiet_window: Duration,
    /// `--token-leeway`.
    pub token_leeway: Duration,
    /// `--idle-timeout` (`None`: not stated).
    pub idle_timeout: Option<Duration>,
    /// `--skip-long`.
    pub skip_long: bool,
    /// `--junit`.
    pub junit: Option<PathBuf>,
    /// `--cucumber-json` (or its old name `--json`).
    pub cucumber_json: Option<PathBuf>,
    /// `--report`.
    pub report: Option<PathBuf>,
    /// `--summary`.
    pub summary: Option<PathBuf>,
    /// `--results-json`.
    pub results_json: Option<PathBuf>,
    /// `--expectations`, checked against the catalogue.
    pub expectations: Option<crate::report::expectations::Expectations>,
}

/// The shape of a `--profile` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    #[serde(default)]
    extensions: Vec<String>,
}

impl Config {
    /// Checks the options: the target and the ways into it (for
    /// [`Deployment::start`](crate::driver::deployment::Deployment::start)), and the rest of the
    /// configuration; the first problem found, as one line.
    pub fn from_options(options: &Options) -> Result<(Access, Self), ConfigError> {
        let bad = |message: &str| Err(ConfigError::Options(message.to_owned()));
        let access = options.provisioning.check()?;
        if access.targets.is_empty() && options.recording_command.is_some() {
            return Err(needs_url("--recording-command"));
        }
        if access.targets.is_empty() && options.node_kill_command.is_some() {
            return Err(needs_url("--node-kill-command"));
        }
        if options.node_restart_command.is_some() && options.node_kill_command.is_none() {
            return bad("--node-restart-command needs --node-kill-command");
        }
        if options.failover_bound.is_zero() {
            return bad("--failover-bound must be more than zero");
        }
        let declared = declared_extensions(options)?;
        if options.concurrency == 0 {
            return bad("--concurrency must be at least 1");
        }
        if options.event_timeout.is_zero() {
            return bad("--event-timeout must be more than zero");
        }
        if options.idle_timeout.is_some_and(|idle| idle.is_zero()) {
            return bad("--idle-timeout must be more than zero");
        }
        let expectations = match &options.expectations {
            Some(path) => {
                let catalogue = crate::contract::catalogue::Catalogue::bundled()
                    .map_err(|e| ConfigError::Options(e.to_string()))?;
                Some(crate::report::expectations::Expectations::load(
                    path, &catalogue,
                )?)
            }
            None => None,
        };
        Ok((
            access,
            Self {
                recording_command: options.recording_command.clone(),
                node_kill_command: options.node_kill_command.clone(),
                node_restart_command: options.node_restart_command.clone(),
                failover_bound: options.failover_bound,
                forbidden_origin: options.forbidden_origin.clone(),
                origin_mode: options.origin_mode,
                declared,
                strict: options.strict,
                selection: Selection::new(options.tags.as_deref(), options.name.as_deref())?,
                max_skipped_must: options.max_skipped_must,
                without: options.without.iter().cloned().collect(),
                concurrency: options.concurrency,
                event_timeout: options.event_timeout,
                quiet_window: options.quiet_window,
                token_leeway: options.token_leeway,
                idle_timeout: options.idle_timeout,
                skip_long: options.skip_long,
                junit: options.junit.clone(),
                cucumber_json: options.cucumber_json.clone().or(options.json.clone()),
                report: options.report.clone(),
                summary: options.summary.clone(),
                results_json: options.results_json.clone(),
                expectations,
            },
        ))
    }
}

/// The extensions named by `--declare` and `--profile`; `None` when neither was given.
fn declared_extensions(options: &Options) -> Result<Option<BTreeSet<String>>, ConfigError> {
    let mut names: Vec<String> = options
        .declare
        .iter()
        .map(|d| d.trim().to_owned())
        .collect();
    if let Some(path) = &options.profile {
        let shown = path.display().to_string();
        let text = fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let profile: Profile = toml::from_str(&text).map_err(|e| ConfigError::Profile {
            path: shown,
            reason: e.message().to_owned(),
        })?;
        names.extend(profile.extensions);
    }
    if options.declare.is_empty() && options.profile.is_none() {
        return Ok(None);
    }
    let mut declared = BTreeSet::new();
    for name in names.into_iter().filter(|n| !n.is_empty()) {
        if !KNOWN_EXTENSIONS.contains(&name.as_str()) {
            return Err(ConfigError::UnknownExtension(name));
        }
        declared.insert(name);
    }
    Ok(Some(declared))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(Access, Config), ConfigError> {
        let options = Options::try_parse_from(
            std::iter::once("chalk-conformance").chain(args.iter().copied()),
        )
        .expect("parses");
        Config::from_options(&options)
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn no_url_means_the_embedded_server() {
        let (access, config) = parse(&[]).unwrap();
        assert!(access.targets.is_empty());
        assert!(config.declared.is_none());
    }

    #[test]
    fn the_origin_mode_is_exact_or_patterns_and_unset_by_default() {
        assert_eq!(parse(&[]).unwrap().1.origin_mode, None);
        let (_, config) = parse(&["--origin-mode", "exact"]).unwrap();
        assert_eq!(config.origin_mode, Some(OriginMode::Exact));
        let (_, config) = parse(&["--origin-mode", "patterns"]).unwrap();
        assert_eq!(config.origin_mode, Some(OriginMode::Patterns));
        let unknown = ["chalk-conformance", "--origin-mode", "some"];
        assert!(Options::try_parse_from(unknown).is_err());
    }

    #[test]
    fn refuses_contradictions_and_gaps() {
        let error = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(error(&["--jwt-secret", "s"]).contains("needs --url"));
        assert!(error(&["--url", "ws://h/ws"]).contains("no way to get participants"));
        assert!(
            error(&["--url", "ws://h/ws", "--api-url", "http://h/api/v1"]).contains("--api-key")
        );
        assert!(error(&["--url", "http://h/ws", "--jwt-secret", "s"]).contains("ws:// or wss://"));
        assert!(error(&["--declare", "telepathy"]).contains("unknown extension \"telepathy\""));
        assert!(
            error(&[
                "--url",
                "ws://h/ws",
                "--jwt-private-key",
                "/nonexistent.pem",
                "--jwt-alg",
                "RS256"
            ])
            .contains("cannot read /nonexistent.pem")
        );
        assert!(
            error(&[
                "--url",
                "ws://h/ws",
                "--jwt-secret",
                "s",
                "--claim",
                "novalue"
            ])
            .contains("KEY=VALUE")
        );
        assert!(error(&["--tags", "@a and"]).contains("--tags"));
    }

    #[test]
    fn several_urls_are_the_nodes_of_one_deployment_with_one_api_or_one_per_node() {
        let two = ["--url", "ws://a/ws", "--url", "ws://b/ws", "--api-key", "k"];
        let urls = |access: &Access| {
            access
                .targets
                .iter()
                .map(|t| t.url.clone())
                .collect::<Vec<_>>()
        };
        let (access, _) = parse(&[&two[..], &["--api-url", "http://a/api"]].concat()).unwrap();
        assert_eq!(urls(&access), vec!["ws://a/ws", "ws://b/ws"]);
        assert_eq!(access.api.unwrap().urls, vec!["http://a/api"]);
        let per_node = ["--api-url", "http://a/api", "--api-url", "http://b/api"];
        let (access, _) = parse(&[&two[..], &per_node[..]].concat()).unwrap();
        assert_eq!(
            access.api.unwrap().urls,
            vec!["http://a/api", "http://b/api"]
        );
        let (access, _) = parse(&["--url", "ws://a/ws,ws://b/ws", "--jwt-secret", "s"]).unwrap();
        assert_eq!(urls(&access), vec!["ws://a/ws", "ws://b/ws"]);
        let three_apis = ["--api-url", "http://a/api,http://b/api,http://c/api"];
        let error = parse(&[&two[..], &three_apis[..]].concat())
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "--api-url given 3 times for 2 --url: give one for all nodes, or one per node (the \
             i-th for the i-th --url)"
        );
        assert!(!error.contains('\n'));
    }

    #[test]
    fn node_commands_need_a_target_and_a_restart_needs_a_kill() {
        let error = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(error(&["--node-kill-command", "true"]).contains("needs --url"));
        let two = ["--url", "ws://a/ws,ws://b/ws", "--jwt-secret", "s"];
        let restart_alone = [&two[..], &["--node-restart-command", "true"]].concat();
        assert_eq!(
            error(&restart_alone),
            "--node-restart-command needs --node-kill-command"
        );
        let (_, config) = parse(&two).unwrap();
        assert_eq!(config.failover_bound, Duration::from_secs(5));
        assert!(config.node_kill_command.is_none());
        let given = [
            &two[..],
            &["--node-kill-command", "k", "--node-restart-command", "r"],
            &["--failover-bound", "2s"],
        ]
        .concat();
        let (_, config) = parse(&given).unwrap();
        assert_eq!(config.node_kill_command.as_deref(), Some("k"));
        assert_eq!(config.node_restart_command.as_deref(), Some("r"));
        assert_eq!(config.failover_bound, Duration::from_secs(2));
    }

    #[test]
    fn errors_never_show_secrets() {
        let error = parse(&["--url", "ws://h/ws", "--api-key", "very-secret-key"])
            .unwrap_err()
            .to_string();
        assert!(!error.contains("very-secret-key"), "{error}");
    }

    #[test]
    fn docs_take_an_output_directory_and_optional_results() {
        let options =
            Options::try_parse_from(["chalk-conformance", "docs", "--out", "site"]).unwrap();
        assert_eq!(
            options.command,
            Some(Command::Docs(DocsArgs {
                out: PathBuf::from("site"),
                results: None
            }))
        );
        assert!(Options::try_parse_from(["chalk-conformance", "docs"]).is_err());
        let (_, config) = parse(&[
            "--report",
            "r.html",
            "--summary",
            "s.md",
            "--results-json",
            "r.json",
        ])
        .unwrap();
        assert_eq!(config.report, Some(PathBuf::from("r.html")));
        assert_eq!(config.summary, Some(PathBuf::from("s.md")));
        assert_eq!(config.results_json, Some(PathBuf::from("r.json")));
    }

    #[test]
    fn json_outputs_have_names_of_their_own_and_the_old_json_still_works() {
        let (_, config) = parse(&["--cucumber-json", "c.json"]).unwrap();
        assert_eq!(config.cucumber_json, Some(PathBuf::from("c.json")));
        let (_, config) = parse(&["--json", "old.json"]).unwrap();
        assert_eq!(config.cucumber_json, Some(PathBuf::from("old.json")));
        assert!(
            Options::try_parse_from(["chalk-conformance", "--json", "a", "--cucumber-json", "b"])
                .is_err()
        );
        for flag in ["--results-json", "--json"] {
            let options =
                Options::try_parse_from(["chalk-conformance", "load", flag, "load.json"]).unwrap();
            let Some(Command::Load(load)) = options.command else {
                panic!("not load");
            };
            assert_eq!(load.results_json, Some(PathBuf::from("load.json")));
        }
    }

    #[test]
    fn declarations_come_from_flags_and_profiles() {
        let dir = std::env::temp_dir().join(format!("chalk-profile-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let profile = dir.join("profile.toml");
        fs::write(&profile, "extensions = [\"chat-echo\"]\n").unwrap();
        let (_, config) = parse(&[
            "--declare",
            "pong-event",
            "--profile",
            profile.to_str().unwrap(),
        ])
        .unwrap();
        let declared: Vec<String> = config.declared.unwrap().into_iter().collect();
        assert_eq!(declared, vec!["chat-echo", "pong-event"]);
        fs::write(&profile, "extension = [\"chat-echo\"]\n").unwrap();
        assert!(parse(&["--profile", profile.to_str().unwrap()]).is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    /// The help `chalk-conformance <args…>` prints, with its lines joined (wrapping varies).
    fn help(args: &[&str]) -> String {
        let error = Options::try_parse_from(
            std::iter::once("chalk-conformance").chain(args.iter().copied()),
        )
        .expect_err("help is shown as an error");
        assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelp);
        let text = error.render().to_string();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn subcommands_show_their_long_description_with_long_help() {
        let fuzz = help(&["fuzz", "--help"]);
        assert!(
            fuzz.contains("A failing case is printed at once with the commands that replay it"),
            "{fuzz}"
        );
        assert!(fuzz.contains("Exit code: 0 every case passed"), "{fuzz}");
        let load = help(&["load", "--help"]);
        assert!(load.contains("fan-out latency, loss, duplicates"), "{load}");
        assert!(
            load.contains("Targets outside loopback need --allow-remote"),
            "{load}"
        );
        // -h keeps the one-line description.
        let fuzz = help(&["fuzz", "-h"]);
        assert!(fuzz.starts_with("Seeded protocol fuzzing: random sequences of joins, leaves, valid and invalid events"), "{fuzz}");
        assert!(!fuzz.contains("Exit code"), "{fuzz}");
        let load = help(&["load", "-h"]);
        assert!(
            load.starts_with("Load a Chalk server (or, with --raw"),
            "{load}"
        );
    }

    #[test]
    fn the_suite_load_and_fuzz_take_the_same_provisioning_options() {
        use clap::{Args as _, CommandFactory as _};
        let shared = Provisioning::augment_args(clap::Command::new("shared"));
        let suite = Options::command();
        for command in [
            &suite,
            suite.find_subcommand("load").unwrap(),
            suite.find_subcommand("fuzz").unwrap(),
        ] {
            for flag in shared.get_arguments() {
                let found = command
                    .get_arguments()
                    .find(|a| a.get_id() == flag.get_id())
                    .unwrap_or_else(|| panic!("{} has no {}", command.get_name(), flag.get_id()));
                assert_eq!(found.get_long(), flag.get_long());
                assert_eq!(found.get_env(), flag.get_env());
                assert!(
                    found
                        .get_env()
                        .is_some_and(|e| e.to_string_lossy().starts_with("CHALK_"))
                );
                assert_eq!(found.get_value_names(), flag.get_value_names());
                assert_eq!(
                    found.get_help().map(ToString::to_string),
                    flag.get_help().map(ToString::to_string)
                );
            }
        }
    }

    /// Every option of `command` and its subcommands, with the path of subcommand names to it.
    fn every_option(command: &clap::Command, path: &str, found: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            if !matches!(arg.get_id().as_str(), "help" | "version") {
                found.push((path.to_owned(), arg.clone()));
            }
        }
        for sub in command.get_subcommands() {
            every_option(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }

    #[test]
    fn every_option_of_every_subcommand_has_a_variable_named_like_it() {
        use clap::CommandFactory as _;
        let suite = Options::command().bin_name("chalk-conformance");
        let mut options = Vec::new();
        every_option(&suite, "chalk-conformance", &mut options);
        // The suite's options, and those a subcommand takes over from it (the provisioning
        // options; --declare and --profile of `fuzz`), are CHALK_<FLAG>; an option only a
        // subcommand has is CHALK_<SUBCOMMAND>_<FLAG>, even where the suite has a flag of the
        // same name meaning something else (`fuzz --concurrency`).
        use clap::Args as _;
        let mut shared: Vec<String> = Provisioning::augment_args(clap::Command::new("shared"))
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        shared.extend(["declare".to_owned(), "profile".to_owned()]);
        let mut names = Vec::new();
        for (path, arg) in &options {
            let long = arg.get_long().expect("every option is a --flag");
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("{path} --{long} has no environment variable"))
                .to_string_lossy()
                .into_owned();
            let flag = long.to_uppercase().replace('-', "_");
            let subcommand = path.split(' ').nth(1);
            let expected = match subcommand {
                Some(sub) if !shared.iter().any(|s| s == long) => {
                    format!("CHALK_{}_{flag}", sub.to_uppercase())
                }
                _ => format!("CHALK_{flag}"),
            };
            assert_eq!(env, expected, "{path} --{long}");
            names.push(env);
        }
        for sub in ["fuzz", "load", "docs"] {
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with(&format!("CHALK_{}_", sub.to_uppercase())))
            );
        }
    }

    #[test]
    fn boolean_options_read_1_0_true_and_false() {
        use clap::CommandFactory as _;
        let suite = Options::command();
        let mut options = Vec::new();
        every_option(&suite, "chalk-conformance", &mut options);
        let booleans: Vec<_> = options
            .iter()
            .filter(|(_, arg)| matches!(arg.get_action(), ArgAction::SetTrue))
            .collect();
        assert!(booleans.len() >= 4, "{booleans:?}");
        for (path, arg) in booleans {
            // The value a variable gives goes through the option's value parser; here it is
            // handed one as an argument value.
            let probe = clap::Command::new("probe").arg(
                clap::Arg::new("value")
                    .long("value")
                    .value_parser(arg.get_value_parser().clone()),
            );
            let read = |text: &str| {
                let matches = probe
                    .clone()
                    .try_get_matches_from(["probe", "--value", text])
                    .unwrap_or_else(|e| panic!("{path} {}: {text}: {e}", arg.get_id()));
                *matches.get_one::<bool>("value").expect("a bool")
            };
            for (text, meaning) in [("1", true), ("0", false), ("true", true), ("false", false)] {
                assert_eq!(read(text), meaning, "{path} {} {text}", arg.get_id());
            }
        }
    }

    #[test]
    fn boolean_variables_say_what_they_accept_in_the_help() {
        for args in [&["--help"][..], &["load", "--help"][..]] {
            let text = help(args);
            assert!(text.contains("1/0, true/false"), "{text}");
        }
    }

    /// The options of `chalk-conformance <args…> fuzz …`, with those after `fuzz` laid over
    /// the suite's as [`crate::commands::execute`] does.
    fn fuzz_options(args: &[&str]) -> Options {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let matches = Options::command()
            .try_get_matches_from(std::iter::once("chalk-conformance").chain(args.iter().copied()))
            .expect("parses");
        let mut options = Options::from_arg_matches(&matches).expect("parses");
        let Some(Command::Fuzz(fuzz)) = options.command.clone() else {
            panic!("not fuzz");
        };
        fuzz.overlay(&mut options, matches.subcommand_matches("fuzz").unwrap());
        options
    }

    #[test]
    fn fuzz_takes_the_provisioning_options_before_or_after_it() {
        let before = fuzz_options(&["--url", "ws://a/ws", "--claim", "t=1", "fuzz"]);
        assert_eq!(before.provisioning.url, vec!["ws://a/ws"]);
        assert_eq!(before.provisioning.claims, vec!["t=1"]);
        let after = fuzz_options(&[
            "--url",
            "ws://a/ws",
            "--origin",
            "https://o.example",
            "fuzz",
            "--url",
            "ws://b/ws",
            "--jwt-secret",
            "s",
            "--declare",
            "pong-event",
        ]);
        let p = &after.provisioning;
        assert_eq!(p.url, vec!["ws://b/ws"]);
        assert_eq!(p.jwt_secret.as_deref(), Some("s"));
        assert_eq!(p.origin.as_deref(), Some("https://o.example"));
        assert_eq!(after.declare, vec!["pong-event"]);
        let (access, _) = Config::from_options(&after).unwrap();
        let urls: Vec<String> = access.targets.into_iter().map(|t| t.url).collect();
        assert_eq!(urls, vec!["ws://b/ws"]);
        assert!(access.minter.is_some());
    }
}
