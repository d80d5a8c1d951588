//! `chalk-conformance`: judges a server against the Chalk real-time WebSocket API.
//!
//! Without arguments it runs every scenario against an embedded reference server; `--help` lists
//! the ways to point it at another server. The exit code says what happened: 0 conformant,
//! 1 non-conformant, 2 usage or configuration error, 3 cannot judge (target unreachable,
//! provisioning failed, or a positive control of the preflight refused).

use std::process::ExitCode;

use chalk_conformance::commands;
use chalk_conformance::report::console::Console;

fn main() -> ExitCode {
    commands::execute_blocking(std::env::args_os(), &Console::stdout()).into()
}
