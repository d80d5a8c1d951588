//! What the kernel says about a process: resident memory and CPU time, from `/proc`.
//!
//! Linux only; elsewhere every reading is `None` and the report says "not measured".

use std::fs;

/// Which process to read, and which of its threads count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `None`: this process.
    pub pid: Option<u32>,
    /// Only threads whose name starts with this (`None`: all threads).
    pub threads: Option<String>,
}

impl Probe {
    /// Every thread of `pid` (`None`: this process).
    pub fn process(pid: Option<u32>) -> Self {
        Self { pid, threads: None }
    }

    /// The threads of this process whose names start with `prefix`.
    pub fn own_threads(prefix: &str) -> Self {
        Self {
            pid: None,
            threads: Some(prefix.to_owned()),
        }
    }

    fn dir(&self) -> String {
        match self.pid {
            Some(pid) => format!("/proc/{pid}"),
            None => "/proc/self".to_owned(),
        }
    }

    /// Resident set size of the whole process, in bytes (threads do not matter here).
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("{}/status", self.dir())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// CPU time of the chosen threads so far, in nanoseconds (`schedstat`: exact, not ticks).
    pub fn cpu_ns(&self) -> Option<u64> {
        let tasks = fs::read_dir(format!("{}/task", self.dir())).ok()?;
        let mut total = 0u64;
        let mut seen = false;
        for task in tasks.flatten() {
            let path = task.path();
            if let Some(prefix) = &self.threads {
                let name = fs::read_to_string(path.join("comm")).unwrap_or_default();
                if !name.starts_with(prefix.as_str()) {
                    continue;
                }
            }
            let Ok(schedstat) = fs::read_to_string(path.join("schedstat")) else {
                continue;
            };
            if let Some(ns) = schedstat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += ns;
                seen = true;
            }
        }
        seen.then_some(total)
    }
}

/// The soft and hard limits on open files of this process.
pub fn open_file_limits() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line["Max open files".len()..].split_whitespace();
    let parse = |v: Option<&str>| match v? {
        "unlimited" => Some(u64::MAX),
        v => v.parse().ok(),
    };
    Some((parse(numbers.next())?, parse(numbers.next())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if !std::path::Path::new("/proc/self/status").exists() {
            return;
        }
        let me = Probe::process(None);
        assert!(me.rss_bytes().unwrap() > 0);
        assert!(me.cpu_ns().is_some());
        let (soft, hard) = open_file_limits().unwrap();
        assert!(soft <= hard);
        assert_eq!(Probe::own_threads("no-such-thread").cpu_ns(), None);
    }
}
