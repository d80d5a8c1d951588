//! `chalk-reference-server`: runs the reference Chalk backend. The flags, the configuration
//! they build and the serving loop live in the library ([`chalk_reference_server::cli`]), so
//! that other binaries (the faults crate's) can offer the same command line.

use std::process::ExitCode;

use chalk_reference_server::Seams;
use chalk_reference_server::cli::{self, ServerArgs};
use clap::Parser;

/// The reference implementation of the Chalk real-time WebSocket API.
#[derive(Debug, Parser)]
#[command(name = "chalk-reference-server", version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::run("chalk-reference-server", &args.server, |_| Seams::default()).await
}
