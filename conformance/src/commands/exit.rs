//! How a command ended: [`ExitStatus`], the process exit code of every subcommand.

use std::process::ExitCode;

/// How a run ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// 0: every scenario that counts passed (or `list`/`lint`/`--help` succeeded).
    Conformant,
    /// 1: a must-level (or declared extension, or `--strict` should-level) scenario failed.
    NonConformant,
    /// 2: bad options, unreadable files, unknown extension names, features that do not lint, a
    /// selection that leaves nothing to check.
    Usage,
    /// 3: the run cannot judge: the target cannot be reached, provisioning failed, a positive
    /// control of the preflight was refused (a valid token signed with the given key, or from
    /// the given origin), or more `must` scenarios were skipped than `--max-skipped-must` allows.
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
