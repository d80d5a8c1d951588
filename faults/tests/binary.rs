//! The `chalk-faults` binary, as the kill matrix runs it: it lists every fault it can inject,
//! and refuses an unknown one with a one-line reason. (Having an integration test also makes
//! `cargo test --workspace` build the binary, which the kill matrix's failover runs start as
//! the nodes the suite kills.)

use std::process::Command;

use chalk_faults::Fault;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chalk-faults"))
}

#[test]
fn it_lists_every_fault_with_what_it_breaks() {
    let output = binary().arg("--list-faults").output().unwrap();
    assert!(output.status.success());
    let listed = String::from_utf8(output.stdout).unwrap();
    for fault in Fault::ALL {
        let line = listed
            .lines()
            .find(|line| line.split_whitespace().next() == Some(fault.name()))
            .unwrap_or_else(|| panic!("{} is listed: {listed}", fault.name()));
        if let Some(requirement) = fault.requirement() {
            assert!(line.contains(requirement), "{line}");
        }
    }
    assert_eq!(listed.lines().count(), Fault::ALL.len());
}

#[test]
fn an_unknown_fault_is_refused_on_one_line() {
    let output = binary()
        .args(["--dev", "--fault", "no-such-fault"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no-such-fault"), "{stderr}");
}
