//! The binary's messages, run as a process with an environment of its own: a missing argument is
//! named, and a command that never talks to a server says nothing about the server settings it
//! would ignore.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_chalk-conformance");

/// Runs the binary with `args` and `CHALK_JWT_SECRET` set, as in a shell that also runs a
/// reference server; the rest of the suite's variables cleared.
fn run(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHALK_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("CHALK_JWT_SECRET", "a-secret-for-the-reference-server")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn docs_without_out_names_the_missing_argument_in_one_line() {
    let output = run(&["docs"]);
    assert_eq!(output.status.code(), Some(2));
    let shown = text(&output.stdout) + &text(&output.stderr);
    assert_eq!(
        shown,
        "chalk-conformance: the following required arguments were not provided: --out <DIR> (see --help)\n"
    );
}

#[test]
fn commands_that_never_use_the_signing_key_say_nothing_of_ignoring_it() {
    for args in [&["list"][..], &["lint"][..]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let shown = text(&output.stdout) + &text(&output.stderr);
        assert!(!shown.contains("CHALK_JWT_SECRET"), "{args:?}: {shown}");
        assert!(!shown.contains("a-secret-for"), "{args:?}: {shown}");
    }
    let site = std::env::temp_dir().join(format!("chalk-docs-note-{}", std::process::id()));
    let output = run(&["docs", "--out", site.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let shown = text(&output.stdout) + &text(&output.stderr);
    assert!(!shown.contains("CHALK_JWT_SECRET"), "{shown}");
    std::fs::remove_dir_all(site).unwrap();
}

#[test]
fn the_suite_without_url_still_notes_the_signing_key_it_ignores() {
    let output = run(&["--tags", "@no-such-tag"]);
    assert_eq!(output.status.code(), Some(2));
    let shown = text(&output.stdout);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert_eq!(
        lines[0],
        "chalk-conformance: note: ignoring CHALK_JWT_SECRET from the environment (it needs --url)"
    );
    assert!(
        lines[1].starts_with("chalk-conformance: nothing to check: --tags/--name select none"),
        "{shown}"
    );
}

/// Runs the binary with `args` and the one variable `name=value`, the rest of `CHALK_*` cleared.
fn run_with(args: &[&str], name: &str, value: &str) -> Output {
    let mut command = Command::new(BIN);
    for (variable, _) in std::env::vars_os() {
        if variable.to_string_lossy().starts_with("CHALK_") {
            command.env_remove(variable);
        }
    }
    command
        .args(args)
        .env(name, value)
        .output()
        .expect("the binary runs")
}

#[test]
fn switches_read_1_0_true_and_false_from_their_variables_and_refuse_anything_else() {
    for value in ["1", "0", "true", "false"] {
        let output = run_with(&["list"], "CHALK_STRICT", value);
        assert_eq!(output.status.code(), Some(0), "CHALK_STRICT={value}");
    }
    let output = run_with(&["list"], "CHALK_STRICT", "maybe");
    assert_eq!(output.status.code(), Some(2));
    let shown = text(&output.stdout) + &text(&output.stderr);
    assert!(shown.contains("maybe"), "{shown}");
}

#[test]
fn a_renamed_variable_still_set_is_a_one_line_usage_error_naming_the_new_name() {
    let output = run_with(&["list"], "CHALK_CLAIMS", "tenant_id=t_acme");
    assert_eq!(output.status.code(), Some(2));
    let shown = text(&output.stdout) + &text(&output.stderr);
    assert_eq!(shown.trim().lines().count(), 1, "{shown}");
    assert!(shown.contains("CHALK_CLAIMS is now CHALK_CLAIM"), "{shown}");
    let output = run_with(&["list"], "CHALK_CLAIM", "tenant_id=t_acme");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn help_names_each_variable_and_what_switches_accept() {
    let output = run_with(&["load", "--help"], "CHALK_UNUSED", "");
    let shown = text(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "[env: CHALK_LOAD_ROOMS=]",
        "[env: CHALK_LOAD_QUIET=]",
        "CHALK_LOAD_QUIET: 1/0, true/false",
        "[env: CHALK_CLAIM=]",
    ] {
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
}
