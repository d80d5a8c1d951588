//! The commands of `chalk-conformance`: the command line ([`cli`]), one module per subcommand,
//! and [`execute`], the only place that maps a subcommand to its code.
//!
//! Each command is a thin layer over the layers below: it checks its options, builds what it
//! needs (the deployment under test, the plan, the report) and says how it ended with an
//! [`exit::ExitStatus`].

pub mod cli;
pub mod docs;
pub mod exit;
pub mod fuzz;
pub mod lint;
pub mod list;
pub mod load;
pub mod run;

use std::ffi::OsString;
use std::sync::{Arc, LazyLock};

use self::cli::{Command, Options};
use self::exit::ExitStatus;
use crate::contract::catalogue::Catalogue;
use crate::report::console::Console;
use crate::suite::plan;

/// Runs in one process never overlap: cucumber swaps the process-wide panic hook while it runs.
static ONE_RUN_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Runs `chalk-conformance` with `args` (the first is the program name) on a runtime of its own.
pub fn execute_blocking<I, T>(args: I, console: &Console) -> ExitStatus
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
    runtime.block_on(execute(args, console))
}

/// Runs `chalk-conformance` with `args` (the first is the program name): parses the command
/// line, then runs the subcommand it names (the suite when it names none).
pub async fn execute<I, T>(args: I, console: &Console) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let options = match parse(args, console) {
        Ok(options) => options,
        Err(status) => return status,
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
            docs::generate(args, options.features.as_deref(), &catalogue, console)
        }
        Some(Command::Load(args)) => load::run((**args).clone(), console).await,
        Some(Command::Fuzz(args)) => fuzz::run(args, &options, console).await,
        Some(Command::List) => list::run(&catalogue, &features, console),
        Some(Command::Lint) => lint::run(&catalogue, &features, console),
        None => run::suite(&options, features, catalogue, console).await,
    }
}

/// Environment variables that were renamed, with their new names: a CI job that still sets an
/// old one is told so, rather than losing the setting without a word.
const RENAMED_VARIABLES: &[(&str, &str)] = &[("CHALK_CLAIMS", "CHALK_CLAIM")];

/// The first renamed environment variable that is still set, with its new name.
fn renamed_variable_in_use() -> Option<(&'static str, &'static str)> {
    RENAMED_VARIABLES
        .iter()
        .copied()
        .find(|(old, _)| std::env::var_os(old).is_some())
}

/// The options of the command line, with those given after `fuzz` laid over the suite's and
/// the remote-only settings of the environment dropped (each noted on the console); the exit
/// status when there is nothing to run (`--help`, `--version`, a usage error).
fn parse<I, T>(args: I, console: &Console) -> Result<Options, ExitStatus>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = <Options as clap::CommandFactory>::command()
        .try_get_matches_from(args)
        .and_then(|matches| {
            <Options as clap::FromArgMatches>::from_arg_matches(&matches).map(|o| (o, matches))
        });
    match parsed {
        Ok(_) if let Some((old, new)) = renamed_variable_in_use() => {
            console.line(&format!(
                "chalk-conformance: the environment variable {old} is now {new}; rename it"
            ));
            Err(ExitStatus::Usage)
        }
        Ok((mut options, matches)) => {
            // `fuzz --url …` names its target after the subcommand; the checks below see it.
            if let (Some(Command::Fuzz(fuzz)), Some(("fuzz", given))) =
                (options.command.clone(), matches.subcommand())
            {
                fuzz.overlay(&mut options, given);
            }
            let ignored = options.drop_remote_settings_from_environment(&matches);
            // Only a command that talks to a server would have used them.
            let uses_a_server = !matches!(
                options.command,
                Some(Command::List | Command::Lint | Command::Docs(_))
            );
            for ignored in ignored.into_iter().filter(|_| uses_a_server) {
                console.line(&format!(
                    "chalk-conformance: note: ignoring {ignored} from the environment (it needs --url)"
                ));
            }
            Ok(options)
        }
        Err(error) => {
            use clap::error::ErrorKind;
            Err(match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    console.write(&error.to_string());
                    ExitStatus::Conformant
                }
                _ => {
                    console.line(&format!(
                        "chalk-conformance: {} (see --help)",
                        one_line(&error)
                    ));
                    ExitStatus::Usage
                }
            })
        }
    }
}

/// A command-line error in one line: clap's message up to its usage and tips, its lines joined
/// (a missing argument is named on the line after "were not provided:").
fn one_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| {
            !["Usage:", "tip:", "For more information"]
                .iter()
                .any(|end| line.starts_with(end))
        })
        .filter(|line| !line.is_empty())
        .collect();
    if message.is_empty() {
        return "invalid arguments".to_owned();
    }
    message.join(" ").trim_start_matches("error: ").to_owned()
}
