//! The embedded reference server: the deployment used when the options name no target.
//!
//! This is the only module of the suite that uses the reference server's crate, and only to
//! start it in this process and read what a client needs from its configuration (its URLs, API
//! key, signing secret, first allowed origin and clock leeway). Everything else reaches it as
//! any outside server is reached: over the wire.
//!
//! It runs as it ships, on the caller's runtime, for the suite and `fuzz`. For `load`
//! ([`Tuning::Load`]) its per-connection rate limit and connection cap are lifted (a load test
//! sends far above the 50 events per second a chat participant is allowed, and the generator's
//! own `--max-connections` bounds the run), and it gets worker threads of its own (named
//! [`SERVER_THREADS`]) so that its CPU time can be told apart from the load generator's, which
//! shares the process. Its memory cannot: the resident size of the process is the server's plus
//! the generator's, and the load report says so. Everything else (token verification, origin
//! check, parsing, validation, ids, timestamps, fan-out) is as it ships.
//!
//! For the suite ([`Tuning::Suite`]) its idle timeout and heartbeat are short
//! ([`SUITE_IDLE_TIMEOUT`], [`SUITE_HEARTBEAT`]) and it tells the suite its idle timeout, so that
//! the keepalive scenario, which has to outlast the idle timeout, takes seconds and not minutes.

use std::time::Duration;

/// Prefix of the embedded server's thread names when it has threads of its own.
pub const SERVER_THREADS: &str = "chalk-srv";

/// The idle timeout of the embedded server the suite runs against (as shipped: 75 s).
pub const SUITE_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The heartbeat interval of the embedded server the suite runs against (as shipped: 30 s): a
/// quarter of [`SUITE_IDLE_TIMEOUT`], so that a client that answers its pings has four chances
/// per idle timeout even on a loaded machine.
pub const SUITE_HEARTBEAT: Duration = Duration::from_millis(500);

/// How the embedded server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// As it ships, on the caller's runtime.
    AsShipped,
    /// For the suite: as it ships, on the caller's runtime, but with the short idle timeout and
    /// heartbeat [`SUITE_IDLE_TIMEOUT`] and [`SUITE_HEARTBEAT`].
    Suite,
    /// For a load run: limits lifted, on a runtime of its own with this many worker threads.
    Load {
        /// Worker threads of the server's runtime.
        threads: usize,
    },
}

/// A running embedded reference server and what a client needs to reach it;
/// [`EmbeddedServer::stop`] shuts it down.
#[derive(Debug)]
pub struct EmbeddedServer {
    /// Its WebSocket endpoint, `ws://127.0.0.1:PORT/api/v1/ws`.
    pub ws_url: String,
    /// Its REST API base, `http://127.0.0.1:PORT/api/v1`.
    pub api_url: String,
    /// The API key of its default tenant.
    pub api_key: Option<String>,
    /// The HMAC secret its tokens are signed with.
    pub jwt_secret: Option<String>,
    /// The first origin its default tenant allows.
    pub allowed_origin: Option<String>,
    /// Its clock leeway for `exp`/`nbf`.
    pub token_leeway: Duration,
    /// How long it keeps a connection it hears nothing from.
    pub idle_timeout: Duration,
    running: server::Running,
}

/// Why the embedded server did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// This binary was built without the cargo feature `embedded-server`: only `--url` targets.
    #[error(
        "no --url (CHALK_URL) given, and this binary was built without the embedded reference \
         server (cargo feature `embedded-server`): pass --url with the server to judge"
    )]
    NotBuilt,
    /// The server, its runtime or its thread could not start (the problem, as one line).
    #[error("{0}")]
    Failed(String),
}

impl EmbeddedServer {
    /// Starts the reference server with its ephemeral configuration (a free loopback port and
    /// fresh secrets), tuned as `tuning` says; [`StartError::NotBuilt`] in a binary built
    /// without it.
    pub async fn start(tuning: Tuning) -> Result<EmbeddedServer, StartError> {
        server::start(tuning).await
    }

    /// Shuts the server down and waits until it has stopped.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// Starting and stopping the reference server: the only code that names its crate.
#[cfg(feature = "embedded-server")]
mod server {
    use std::thread;

    use tokio::sync::oneshot;

    use super::{
        EmbeddedServer, SERVER_THREADS, SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT, StartError, Tuning,
    };

    /// Where the server runs, and how it is stopped.
    #[derive(Debug)]
    pub(super) enum Running {
        /// On the caller's runtime.
        Here(chalk_reference_server::Server),
        /// On a runtime of its own, in a thread of its own.
        OwnThreads(OwnThreads),
    }

    impl Running {
        /// Shuts the server down and waits until it has stopped.
        pub(super) async fn stop(self) {
            match self {
                Running::Here(server) => server.shutdown().await,
                Running::OwnThreads(mut own) => own.stop().await,
            }
        }
    }

    /// The thread a server with threads of its own runs in; a message on `stop` shuts it down,
    /// and dropping it sends that message.
    #[derive(Debug)]
    pub(super) struct OwnThreads {
        stop: Option<oneshot::Sender<()>>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl OwnThreads {
        /// Shuts the server down and waits for its thread.
        async fn stop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(thread) = self.thread.take() {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }

    impl Drop for OwnThreads {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    /// Starts the reference server with its ephemeral configuration, tuned as `tuning` says.
    pub(super) async fn start(tuning: Tuning) -> Result<EmbeddedServer, StartError> {
        let mut config = chalk_reference_server::Config::ephemeral();
        if let Tuning::Load { .. } = tuning {
            config.limits.rate_per_second = 1e12;
            config.limits.rate_burst = u32::MAX;
            config.limits.rate_close_after = u32::MAX;
            config.limits.max_connections = usize::MAX;
        }
        if let Tuning::Suite = tuning {
            config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
            config.limits.heartbeat_interval = SUITE_HEARTBEAT;
        }
        let api_key = config.api_key().map(str::to_owned);
        let jwt_secret = config.jwt_secret().map(str::to_owned);
        let allowed_origin = config.default_tenant.allowed_origins.first().cloned();
        let token_leeway = config.jwt.leeway;
        let idle_timeout = config.limits.idle_timeout;
        let (urls, running) = match tuning {
            Tuning::AsShipped | Tuning::Suite => {
                let server = chalk_reference_server::serve(config).await.map_err(|e| {
                    StartError::Failed(format!("cannot start the embedded reference server: {e}"))
                })?;
                ((server.ws_url(), server.api_url()), Running::Here(server))
            }
            Tuning::Load { threads } => start_on_own_threads(config, threads)
                .await
                .map_err(StartError::Failed)?,
        };
        let (ws_url, api_url) = urls;
        Ok(EmbeddedServer {
            ws_url,
            api_url,
            api_key,
            jwt_secret,
            allowed_origin,
            token_leeway,
            idle_timeout,
            running,
        })
    }

    /// Serves `config` on a runtime of `threads` workers in a thread of its own; its WebSocket
    /// and REST URLs once it listens.
    async fn start_on_own_threads(
        config: chalk_reference_server::Config,
        threads: usize,
    ) -> Result<((String, String), Running), String> {
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(String, String), String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the embedded server's runtime: {e}"))?;
        let thread = thread::Builder::new()
            .name(format!("{SERVER_THREADS}-main"))
            .spawn(move || {
                runtime.block_on(async move {
                    match chalk_reference_server::serve(config).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok((server.ws_url(), server.api_url())));
                            let _ = stop_rx.await;
                            server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!(
                                "cannot start the embedded reference server: {e}"
                            )));
                        }
                    }
                });
            })
            .map_err(|e| format!("cannot start the embedded server's thread: {e}"))?;
        let urls = ready_rx
            .await
            .map_err(|_| "the embedded reference server stopped while starting".to_owned())??;
        Ok((
            urls,
            Running::OwnThreads(OwnThreads {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
        ))
    }
}

/// A binary built without the reference server: nothing runs, nothing starts.
#[cfg(not(feature = "embedded-server"))]
mod server {
    use super::{EmbeddedServer, StartError, Tuning};

    /// No server is ever running: this type has no values.
    #[derive(Debug)]
    pub(super) enum Running {}

    impl Running {
        /// Unreachable: there is no running server to stop.
        pub(super) async fn stop(self) {
            match self {}
        }
    }

    /// Always [`StartError::NotBuilt`].
    pub(super) async fn start(_tuning: Tuning) -> Result<EmbeddedServer, StartError> {
        Err(StartError::NotBuilt)
    }
}

/// Whether this binary can start the embedded reference server (the cargo feature
/// `embedded-server`, on by default).
pub const AVAILABLE: bool = cfg!(feature = "embedded-server");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_without_the_server_says_so_and_asks_for_url_in_one_line() {
        let message = StartError::NotBuilt.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            message.contains("built without the embedded reference server"),
            "{message}"
        );
        assert!(message.contains("pass --url"), "{message}");
    }

    #[tokio::test]
    async fn the_server_starts_exactly_when_the_binary_was_built_with_it() {
        let started = EmbeddedServer::start(Tuning::AsShipped).await;
        let refused = (!AVAILABLE).then_some(&StartError::NotBuilt);
        assert_eq!(started.as_ref().err(), refused);
        if let Ok(server) = started {
            assert!(
                server.ws_url.starts_with("ws://127.0.0.1:"),
                "{}",
                server.ws_url
            );
            server.stop().await;
        }
    }
}
