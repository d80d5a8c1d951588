//! The embedded target of a load run: the reference server on a runtime of its own.
//!
//! The server gets its own worker threads (named `chalk-srv`), so that its CPU time can be told
//! apart from the load generator's, which shares the process. Its memory cannot: the resident
//! size of the process is the server's plus the generator's, and the report says so.
//!
//! The server is the reference server with its per-connection rate limit lifted (a load test
//! sends far above the 50 events per second a chat participant is allowed); everything else
//! (token verification, origin check, parsing, validation, ids, timestamps, fan-out) is as it
//! ships.

use std::thread;

use tokio::sync::oneshot;

/// Prefix of the embedded server's thread names.
pub const SERVER_THREADS: &str = "chalk-srv";

/// What the load generator needs to reach the embedded server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `ws://127.0.0.1:PORT/api/v1/ws`.
    pub ws_url: String,
    /// The HMAC secret tokens are minted with.
    pub jwt_secret: String,
    /// An origin the server allows.
    pub origin: Option<String>,
}

/// A running embedded server; [`Embedded::stop`] shuts it down.
#[derive(Debug)]
pub struct Embedded {
    /// Where it listens and how to get in.
    pub endpoint: Endpoint,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Embedded {
    /// Starts the reference server on `threads` worker threads.
    pub async fn start(threads: usize) -> Result<Embedded, String> {
        let mut config = chalk_reference_server::Config::ephemeral();
        config.limits.rate_per_second = 1e12;
        config.limits.rate_burst = u32::MAX;
        config.limits.rate_close_after = u32::MAX;
        // The generator's own --max-connections bounds the run; the server's cap must not
        // refuse sockets the generator is allowed to open.
        config.limits.max_connections = usize::MAX;
        let endpoint = |ws_url: String| Endpoint {
            ws_url,
            jwt_secret: config.jwt_secret().unwrap_or_default().to_owned(),
            origin: config.default_tenant.allowed_origins.first().cloned(),
        };
        let (ready_tx, ready_rx) = oneshot::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server_config = config.clone();
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
                    match chalk_reference_server::serve(server_config).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok(server.ws_url()));
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
        let ws_url = ready_rx
            .await
            .map_err(|_| "the embedded reference server stopped while starting".to_owned())??;
        Ok(Embedded {
            endpoint: endpoint(ws_url),
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Shuts the server down and waits for its thread.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
