//! `chalk-faults`: the reference server with faults injected on purpose, to test a conformance
//! suite. Every flag of `chalk-reference-server`, plus `--fault NAME` (repeatable) and
//! `--list-faults`.

use std::process::ExitCode;

use chalk_faults::{Fault, Faults, Kind};
use chalk_reference_server::cli::{self, ServerArgs};
use clap::Parser;

/// The reference Chalk server, broken on purpose by the named faults.
#[derive(Debug, Parser)]
#[command(name = "chalk-faults", version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Inject a named fault, to test a conformance suite (repeatable; see --list-faults).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// List the faults --fault can inject, and exit.
    #[arg(long)]
    list_faults: bool,
}

/// `--list-faults`: one line per fault, with what it breaks.
fn list_faults() {
    for fault in Fault::ALL {
        let what = match fault.kind() {
            Kind::Fault { requirement } => format!("fault      breaks {requirement}"),
            Kind::Control { requirement } => {
                format!("control    breaks {requirement}; the suite cannot judge")
            }
            Kind::Variation {
                withdraws: Some(extension),
            } => {
                format!("variation  without extension {extension}")
            }
            Kind::Variation { withdraws: None } => "variation  allowed by the page".to_owned(),
        };
        println!("{:<30} {what}", fault.name());
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_faults {
        list_faults();
        return ExitCode::SUCCESS;
    }
    let faults: Faults = args.faults.iter().copied().collect();
    cli::run("chalk-faults", &args.server, |config| {
        chalk_faults::seams(faults, config)
    })
    .await
}
