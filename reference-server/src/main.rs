//! `chalk-reference-server`: runs the reference Chalk backend.
//!
//! Configuration comes from a TOML file (`--config`), `CHALK_*` environment variables and
//! flags; flags win over the environment, the environment over the file. `--dev` starts with
//! documented development credentials. Without `--dev`, missing or weak secrets stop the start
//! with a one-line reason and exit code 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chalk_reference_server::config::{self, Config, Secret, TlsConfig, dev};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The reference implementation of the Chalk real-time WebSocket API.
#[derive(Debug, Parser)]
#[command(name = "chalk-reference-server", version)]
struct Args {
    /// TOML configuration file.
    #[arg(long, env = "CHALK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CHALK_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// HMAC secret for tokens (at least 32 bytes). Prefer the environment or the file.
    #[arg(
        long,
        env = "CHALK_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    jwt_secret: Option<String>,
    /// The one accepted algorithm: HS256/384/512 with a secret; RS256, ES256, EdDSA, ... with a key.
    #[arg(long, env = "CHALK_JWT_ALG", value_name = "ALG")]
    jwt_alg: Option<String>,
    /// PEM public key that verifies tokens (instead of a secret).
    #[arg(long, env = "CHALK_JWT_PUBLIC_KEY", value_name = "FILE")]
    jwt_public_key: Option<PathBuf>,
    /// PEM private key that signs tokens minted by the REST API (with --jwt-public-key).
    #[arg(long, env = "CHALK_JWT_PRIVATE_KEY", value_name = "FILE")]
    jwt_private_key: Option<PathBuf>,
    /// Required `iss` claim.
    #[arg(long, env = "CHALK_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "CHALK_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Clock-skew leeway on exp/nbf, e.g. `10s`.
    #[arg(long, env = "CHALK_JWT_LEEWAY", value_name = "DURATION")]
    jwt_leeway: Option<String>,
    /// Longest a token may still be valid for (`exp` − now, beyond the leeway), e.g. `24h`.
    #[arg(long, env = "CHALK_JWT_MAX_TOKEN_LIFETIME", value_name = "DURATION")]
    jwt_max_token_lifetime: Option<String>,
    /// API key of the default tenant (X-API-Key). Prefer the environment or the file.
    #[arg(
        long,
        env = "CHALK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// Exact origin allowed for the default tenant (repeatable; comma-separated in the env).
    #[arg(
        long = "allowed-origin",
        env = "CHALK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Origin pattern for tenants without allowed origins, e.g. `https://*.example.com`.
    #[arg(
        long = "origin-pattern",
        env = "CHALK_ORIGIN_PATTERNS",
        value_delimiter = ','
    )]
    origin_patterns: Vec<String>,
    /// Refuse upgrades without an Origin header (non-browser clients).
    #[arg(long, env = "CHALK_DENY_MISSING_ORIGIN")]
    deny_missing_origin: bool,
    /// PEM certificate chain: serve wss:// and https://.
    #[arg(
        long,
        env = "CHALK_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(
        long,
        env = "CHALK_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_key: Option<PathBuf>,
    /// Start with the documented development credentials (never in production).
    #[arg(long, env = "CHALK_DEV")]
    dev: bool,
    /// Inject a named fault, to test a conformance suite (repeatable; see --list-faults).
    #[cfg(feature = "faults")]
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<chalk_reference_server::Fault>,
    /// List the faults --fault can inject, and exit.
    #[cfg(feature = "faults")]
    #[arg(long)]
    list_faults: bool,
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Builds the configuration: `--dev` or plain defaults, then the file, then env and flags.
fn configuration(args: &Args) -> anyhow::Result<Config> {
    let mut config = if args.dev {
        Config::development()
    } else {
        Config::default()
    };
    if let Some(path) = &args.config {
        config.merge_toml_file(path)?;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(secret) = &args.jwt_secret {
        config.jwt.secret = Some(Secret::new(secret.as_str()));
        config.jwt.public_key_pem = None;
    }
    if let Some(alg) = &args.jwt_alg {
        config.jwt.algorithm = Some(config::parse_algorithm(alg)?);
    }
    if let Some(path) = &args.jwt_public_key {
        config.jwt.public_key_pem = Some(read_file(path)?);
        if args.jwt_secret.is_none() {
            config.jwt.secret = None;
        }
    }
    if let Some(path) = &args.jwt_private_key {
        config.jwt.private_key_pem = Some(Secret::new(read_file(path)?));
    }
    if let Some(issuer) = &args.jwt_issuer {
        config.jwt.issuer = Some(issuer.clone());
    }
    if let Some(audience) = &args.jwt_audience {
        config.jwt.audience = Some(audience.clone());
    }
    if let Some(leeway) = &args.jwt_leeway {
        config.jwt.leeway = config::parse_duration(leeway)?;
    }
    if let Some(lifetime) = &args.jwt_max_token_lifetime {
        config.jwt.max_token_lifetime = config::parse_duration(lifetime)?;
    }
    if let Some(key) = &args.api_key {
        config.default_tenant.api_key = Some(Secret::new(key.as_str()));
    }
    if !args.allowed_origins.is_empty() {
        config.default_tenant.allowed_origins = args.allowed_origins.clone();
    }
    if !args.origin_patterns.is_empty() {
        config.origin_patterns = args.origin_patterns.clone();
    }
    if args.deny_missing_origin {
        config.allow_missing_origin = false;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    #[cfg(feature = "faults")]
    for fault in &args.faults {
        config.faults.insert(*fault);
    }
    Ok(config)
}

/// `--list-faults`: one line per fault, with what it breaks.
#[cfg(feature = "faults")]
fn list_faults() {
    use chalk_reference_server::faults::{Fault, Kind};
    for fault in Fault::ALL {
        let what = match fault.kind() {
            Kind::Fault { requirement } => format!("fault      breaks {requirement}"),
            Kind::Variation {
                withdraws: Some(extension),
            } => {
                format!("variation  without extension {extension}")
            }
            Kind::Variation { withdraws: None } => "variation  allowed by the page".to_owned(),
        };
        println!("{:<30} {what}", fault.name());
    }
}

/// The loud `--dev` banner, with a ready-to-paste way to get a token (never a token itself).
fn announce_development(server: &chalk_reference_server::Server, config: &Config) {
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    #[cfg(feature = "faults")]
    if args.list_faults {
        list_faults();
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match configuration(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("chalk-reference-server: {error:#}");
            return ExitCode::from(2);
        }
    };
    let server = match chalk_reference_server::serve(config.clone()).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("chalk-reference-server: {error}");
            return ExitCode::from(2);
        }
    };
    if args.dev {
        announce_development(&server, &config);
    }
    tracing::info!(ws = %server.ws_url(), api = %server.api_url(), "ready");
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
