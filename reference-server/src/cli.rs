//! The server's command line, shared by every binary that runs it: the flags ([`ServerArgs`],
//! flattened into a binary's own parser), the configuration they build, and [`run`], which
//! serves until Ctrl-C or SIGTERM.
//!
//! Configuration comes from a TOML file (`--config`), `CHALK_*` environment variables and
//! flags; flags win over the environment, the environment over the file. `--dev` starts with
//! documented development credentials. Without `--dev`, missing or weak secrets stop the start
//! with a one-line reason and exit code 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{self, Config, Secret, TlsConfig, dev};
use crate::node::{NodeId, RedisUrl};
use crate::seams::Seams;
use crate::server::{Server, serve_with};

/// Every flag of the server, to flatten into a binary's own `clap` parser.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, env = "CHALK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CHALK_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// HMAC secret for tokens (at least 32 bytes). Prefer the environment or the file.
    #[arg(
        long,
        env = "CHALK_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub jwt_secret: Option<String>,
    /// The one accepted algorithm: HS256/384/512 with a secret; RS256, ES256, EdDSA, ... with a key.
    #[arg(long, env = "CHALK_JWT_ALG", value_name = "ALG")]
    pub jwt_alg: Option<String>,
    /// PEM public key that verifies tokens (instead of a secret).
    #[arg(long, env = "CHALK_JWT_PUBLIC_KEY", value_name = "FILE")]
    pub jwt_public_key: Option<PathBuf>,
    /// PEM private key that signs tokens minted by the REST API (with --jwt-public-key).
    #[arg(long, env = "CHALK_JWT_PRIVATE_KEY", value_name = "FILE")]
    pub jwt_private_key: Option<PathBuf>,
    /// Required `iss` claim.
    #[arg(long, env = "CHALK_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "CHALK_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock-skew leeway on exp/nbf, e.g. `10s`.
    #[arg(long, env = "CHALK_JWT_LEEWAY", value_name = "DURATION")]
    pub jwt_leeway: Option<String>,
    /// Longest a token may still be valid for (`exp` − now, beyond the leeway), e.g. `24h`.
    #[arg(long, env = "CHALK_JWT_MAX_TOKEN_LIFETIME", value_name = "DURATION")]
    pub jwt_max_token_lifetime: Option<String>,
    /// API key of the default tenant (X-API-Key). Prefer the environment or the file.
    #[arg(
        long,
        env = "CHALK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Exact origin allowed for the default tenant (repeatable; comma-separated in the env).
    #[arg(
        long = "allowed-origin",
        env = "CHALK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Origin pattern for tenants without allowed origins, e.g. `https://*.example.com`.
    #[arg(
        long = "origin-pattern",
        env = "CHALK_ORIGIN_PATTERNS",
        value_delimiter = ','
    )]
    pub origin_patterns: Vec<String>,
    /// Refuse upgrades without an Origin header (non-browser clients).
    #[arg(long, env = "CHALK_DENY_MISSING_ORIGIN")]
    pub deny_missing_origin: bool,
    /// PEM certificate chain: serve wss:// and https://.
    #[arg(
        long,
        env = "CHALK_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(
        long,
        env = "CHALK_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,
    /// Cluster mode: the Redis the nodes share, `redis://[:PASSWORD@]HOST[:PORT][/DB]`.
    /// Without it the server is a single process with rooms in memory.
    #[arg(
        long,
        env = "CHALK_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// This node's id, 1-64 of `A-Z a-z 0-9 . _ -` (default: generated at start).
    #[arg(long, env = "CHALK_NODE_ID", value_name = "ID")]
    pub node_id: Option<String>,
    /// Start with the documented development credentials (never in production).
    #[arg(long, env = "CHALK_DEV")]
    pub dev: bool,
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

impl ServerArgs {
    /// Builds the configuration: `--dev` or plain defaults, then the file, then env and flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = if self.dev {
            Config::development()
        } else {
            Config::default()
        };
        if let Some(path) = &self.config {
            config.merge_toml_file(path)?;
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(secret) = &self.jwt_secret {
            config.jwt.secret = Some(Secret::new(secret.as_str()));
            config.jwt.public_key_pem = None;
        }
        if let Some(alg) = &self.jwt_alg {
            config.jwt.algorithm = Some(config::parse_algorithm(alg)?);
        }
        if let Some(path) = &self.jwt_public_key {
            config.jwt.public_key_pem = Some(read_file(path)?);
            if self.jwt_secret.is_none() {
                config.jwt.secret = None;
            }
        }
        if let Some(path) = &self.jwt_private_key {
            config.jwt.private_key_pem = Some(Secret::new(read_file(path)?));
        }
        if let Some(issuer) = &self.jwt_issuer {
            config.jwt.issuer = Some(issuer.clone());
        }
        if let Some(audience) = &self.jwt_audience {
            config.jwt.audience = Some(audience.clone());
        }
        if let Some(leeway) = &self.jwt_leeway {
            config.jwt.leeway = config::checked_leeway(config::parse_duration(leeway)?)?;
        }
        if let Some(lifetime) = &self.jwt_max_token_lifetime {
            config.jwt.max_token_lifetime = config::parse_duration(lifetime)?;
        }
        if let Some(key) = &self.api_key {
            config.default_tenant.api_key = Some(Secret::new(key.as_str()));
        }
        if !self.allowed_origins.is_empty() {
            config.default_tenant.allowed_origins = self.allowed_origins.clone();
        }
        if !self.origin_patterns.is_empty() {
            config.origin_patterns = self.origin_patterns.clone();
        }
        if self.deny_missing_origin {
            config.allow_missing_origin = false;
        }
        if let Some(url) = &self.redis_url {
            config.redis_url = Some(RedisUrl::parse(url)?);
        }
        if let Some(id) = &self.node_id {
            config.node_id = Some(NodeId::parse(id)?);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        Ok(config)
    }
}

/// Runs the server the flags describe, with the seams `seams` builds from its configuration,
/// until Ctrl-C or SIGTERM. Exit code 2 (3 when cluster mode cannot reach its Redis: see
/// [`crate::error::EXIT_REDIS_UNREACHABLE`]), with a line that starts with `program`, when the
/// configuration is unusable or the server does not start.
pub async fn run(
    program: &str,
    args: &ServerArgs,
    seams: impl FnOnce(&Config) -> Seams,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match args.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{program}: {error:#}");
            return ExitCode::from(2);
        }
    };
    let seams = seams(&config);
    let server = match serve_with(config.clone(), seams).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{program}: {error}");
            return ExitCode::from(error.exit_code());
        }
    };
    let stop = shutdown_signal();
    if args.dev {
        announce_development(&server, &config);
    }
    tracing::info!(ws = %server.ws_url(), api = %server.api_url(), node = %server.node_id(), "ready");
    stop.await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// The loud `--dev` banner, with a ready-to-paste way to get a token (never a token itself).
fn announce_development(server: &Server, config: &Config) {
    let api = server.api_url();
    let using_dev_key = config.api_key() == Some(dev::API_KEY);
    let key = if using_dev_key {
        dev::API_KEY
    } else {
        "<your --api-key>"
    };
    eprintln!(
        "\n\
         ================================================================================\n\
         !!  DEVELOPMENT MODE: documented, public credentials. Never expose this server. !!\n\
         ================================================================================\n\
         WebSocket: {ws}\n\
         REST API:  {api}   (X-API-Key: {key})\n\
         \n\
         Get a token (create a room, then add a participant; the reply has access_token):\n\
         \n\
         ROOM=$(curl -s -X POST {api}/rooms -H 'X-API-Key: {key}' \\\n\
         \x20   -H 'Content-Type: application/json' -d '{{\"name\":\"demo\"}}' | sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/')\n\
         curl -s -X POST {api}/rooms/$ROOM/participants -H 'X-API-Key: {key}' \\\n\
         \x20   -H 'Content-Type: application/json' -d '{{\"display_name\":\"Alice\",\"role\":\"participant\"}}'\n\
         \n\
         Then connect offering the subprotocols `chalk` and `token.<access_token>`.\n\
         ================================================================================\n",
        ws = server.ws_url(),
    );
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from the moment it is called, and resolves when one
/// comes. Called before the "ready" line, so that a signal sent as soon as that line is seen
/// stops the server gracefully instead of killing it with the default action.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
            }
            // No handler could be installed: Ctrl-C through tokio's own, else run until killed.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
