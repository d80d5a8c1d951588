//! Helpers shared by the workspace's integration tests.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chalk_conformance::commands::{self, exit::ExitStatus};
use chalk_conformance::report::console::Console;

/// Runs `chalk-conformance` with `args` in this process; its exit status and everything it
/// printed.
pub async fn conformance(args: &[&str]) -> (ExitStatus, String) {
    let (console, output) = Console::buffer();
    let argv = std::iter::once("chalk-conformance").chain(args.iter().copied());
    let status = commands::execute(argv, &console).await;
    (status, output.contents())
}

/// A directory of its own under the system's temporary directory, named after `name`, the
/// process and the time (tests of one binary share the process id).
pub fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("chalk-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The start of the first JWT-shaped run in `text`: `eyJ` (base64url of `{"`), at least ten
/// more base64url characters, then the `.` that ends a compact JWT's header segment.
///
/// A bare `contains("eyJ")` is not a leak check: reports show the handshake's random
/// `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` values (hundreds of them in a full run), and
/// now and then one contains those three letters by chance. Those are standard base64, so the
/// dot never follows them.
pub fn jwt_shaped(text: &str) -> Option<&str> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    text.match_indices("eyJ").find_map(|(at, _)| {
        let rest = &text.as_bytes()[at..];
        let run = rest.iter().take_while(|b| base64url(**b)).count();
        (run >= 13 && rest.get(run) == Some(&b'.')).then(|| &text[at..at + run.min(24)])
    })
}

/// The command that installs Redis for the cluster tests, for the failure message.
pub const REDIS_INSTALL: &str = "apt-get update && apt-get install -y redis-server";

/// How long a private Redis has to answer `PING` after it was started.
const REDIS_START_DEADLINE: Duration = Duration::from_secs(10);

/// A Redis server of a test's own: `redis-server` on a free loopback port, without persistence,
/// in a scratch directory, stopped (killed and reaped) when dropped. Never the system service.
///
/// `redis-server` must be installed (Debian's package; `.ci/run` installs it); without it the
/// test fails and says how to install it. `CHALK_REDIS_SERVER` may name another binary.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a Redis that anyone on loopback may use.
    pub fn start() -> RedisServer {
        RedisServer::launch(None)
    }

    /// Starts a Redis that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        RedisServer::launch(Some(password.to_owned()))
    }

    fn launch(password: Option<String>) -> RedisServer {
        let binary = redis_binary();
        // A free port can be taken by someone else between our probe and Redis's bind: try again.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_loopback_port();
            let dir = scratch("redis");
            let child = spawn_redis(&binary, port, &dir, password.as_deref());
            let mut server = RedisServer {
                child,
                port,
                dir,
                password: password.clone(),
            };
            if server.wait_until_answering() {
                return server;
            }
            last_log = std::fs::read_to_string(server.dir.join("redis.log")).unwrap_or_default();
        }
        panic!(
            "redis-server did not answer PING within {} s (three tries); its last log:\n{last_log}",
            REDIS_START_DEADLINE.as_secs()
        );
    }

    /// Polls `PING` until Redis answers (`+PONG`, or `-NOAUTH` when a password is required),
    /// the process exits, or [`REDIS_START_DEADLINE`] passes.
    fn wait_until_answering(&mut self) -> bool {
        let deadline = Instant::now() + REDIS_START_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_exited)) = self.child.try_wait() {
                return false;
            }
            if ping(self.addr())
                .is_some_and(|answer| answer.starts_with("+PONG") || answer.starts_with("-NOAUTH"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops it as a Redis restart does (`SHUTDOWN SAVE`: its data is written to its scratch
    /// directory first) and waits until the process is gone; [`RedisServer::restart`] starts
    /// it again on the same port with that data. Between the two nothing listens on the port.
    pub fn stop(&mut self) {
        let auth = self
            .password
            .as_ref()
            .map(|password| format!("AUTH {password}\r\n"))
            .unwrap_or_default();
        if let Ok(mut stream) = TcpStream::connect(self.addr()) {
            let _ = stream.write_all(format!("{auth}SHUTDOWN SAVE\r\n").as_bytes());
        }
        let deadline = Instant::now() + REDIS_START_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_exited)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("redis-server did not stop on SHUTDOWN SAVE; killed");
    }

    /// Starts it again after [`RedisServer::stop`], on the same port, with the data it saved.
    pub fn restart(&mut self) {
        self.child = spawn_redis(
            &redis_binary(),
            self.port,
            &self.dir,
            self.password.as_deref(),
        );
        assert!(
            self.wait_until_answering(),
            "redis-server did not answer PING again on port {}",
            self.port
        );
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:PORT`, with `:PASSWORD@` when it requires one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `binary` on loopback `port`, without persistence (but `SHUTDOWN SAVE` writes into
/// `dir`, which a restart reads), logging into `dir`.
fn spawn_redis(
    binary: &std::path::Path,
    port: u16,
    dir: &std::path::Path,
    password: Option<&str>,
) -> Child {
    let mut command = Command::new(binary);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(password) = password {
        command.args(["--requirepass", password]);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// `redis-server`, or `CHALK_REDIS_SERVER`; panics with the way to install it when missing.
fn redis_binary() -> PathBuf {
    let binary = std::env::var_os("CHALK_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"));
    let runs = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        runs,
        "redis-server not found: the cluster tests start their own Redis; install it with \
         `{REDIS_INSTALL}` (or set CHALK_REDIS_SERVER to its path)"
    );
    binary
}

/// A loopback port that was free a moment ago.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Sends `PING` in the inline protocol; the first line of the answer, if any came within a
/// second.
fn ping(addr: SocketAddr) -> Option<String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"PING\r\n").ok()?;
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).ok()?;
    Some(String::from_utf8_lossy(&answer[..n]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::jwt_shaped;

    #[test]
    fn tokens_are_found_wherever_they_are() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tX2lkIjoiciJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
        let line = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(jwt_shaped(&line), Some("eyJhbGciOiJIUzI1NiJ9"));
        // A header segment alone, as a truncated line might show it, still counts.
        assert!(jwt_shaped("token=eyJhbGciOiJub25lIn0.").is_some());
        assert!(jwt_shaped(&format!("?token={token}&x=1")).is_some());
    }

    #[test]
    fn handshake_nonces_that_happen_to_contain_eyj_are_not_tokens() {
        assert_eq!(
            jwt_shaped("Sec-WebSocket-Accept: zfVeyJbW669AhkwHf6lNwUiF12o=\r\n"),
            None
        );
        assert_eq!(
            jwt_shaped("Sec-WebSocket-Key: ze+EjZUeyJ21jmxAyBsyRg==\r\n"),
            None
        );
        assert_eq!(jwt_shaped("[token:Alice] eyJ. [jwt]"), None);
    }
}
