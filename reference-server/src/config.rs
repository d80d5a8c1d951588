//! Server configuration: every setting with its default, secrets that never show in `Debug`,
//! and loading a TOML file.
//!
//! Precedence (flags over environment over file) is applied by [`crate::cli`]: it loads the file
//! with [`Config::merge_toml_file`] and then overwrites the fields given on the command line or
//! in `CHALK_*` variables. [`Config::default`] carries no credentials at all; [`Config::ephemeral`]
//! carries fresh random ones for tests and the embedded conformance run.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::node::{InvalidNodeId, InvalidRedisUrl, NodeId, RedisUrl};

/// Default of [`Limits::max_message_bytes`]: the largest frame and message a client may send
/// (16 KiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Shortest HMAC secret accepted for tokens ([`JwtConfig::secret`]), in bytes; a shorter one
/// stops the server from starting.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Shortest API key accepted ([`TenantConfig::api_key`]), in bytes; a shorter one (or one that
/// two tenants share) stops the server from starting.
pub const MIN_API_KEY_BYTES: usize = 16;

/// Most clock leeway on `exp`, `nbf` and `iat` an operator may configure ([`JwtConfig::leeway`]):
/// RFC 7519 allows "a few minutes", and the conformance suite requires a token expired ten
/// minutes ago to be refused (AUTH-009). A longer leeway in the file or on the command line
/// stops the server from starting.
pub const MAX_JWT_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// Name of the tenant that owns tokens without a `tenant_id` claim.
pub const DEFAULT_TENANT: &str = "default";

/// A secret string (signing key, API key) whose `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself; call sites are the few places that need it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the secret in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How participant tokens are verified and minted.
    pub jwt: JwtConfig,
    /// The tenant of tokens without a `tenant_id` claim (and of the top-level API key).
    pub default_tenant: TenantConfig,
    /// Further tenants by id; a token names one with its `tenant_id` claim.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Origin patterns used for a tenant that has no `allowed_origins`
    /// (`https://*.example.com`, `http://localhost:*`).
    pub origin_patterns: Vec<String>,
    /// Whether an upgrade without an `Origin` header (a non-browser client) is allowed.
    pub allow_missing_origin: bool,
    /// Message sizes, rates, queues and timers.
    pub limits: Limits,
    /// Serve `wss://` with these PEM files instead of plain `ws://`.
    pub tls: Option<TlsConfig>,
    /// How long graceful shutdown waits for sockets to finish their closing handshake.
    pub shutdown_drain: Duration,
    /// Cluster mode: the Redis that the nodes of one deployment share. `None`: a single
    /// process, rooms in memory.
    pub redis_url: Option<RedisUrl>,
    /// This node's id (the `Chalk-Node` header, and its name in the cluster); `None`: one is
    /// generated at start.
    pub node_id: Option<NodeId>,
}

/// Token verification and minting settings.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// HMAC secret (HS256/384/512); at least [`MIN_JWT_SECRET_BYTES`].
    pub secret: Option<Secret>,
    /// The one algorithm accepted; `None` means HS256 for a secret, or inferred from the public key.
    pub algorithm: Option<Algorithm>,
    /// PEM public key (RSA, EC or Ed25519) used to verify tokens instead of a secret.
    pub public_key_pem: Option<String>,
    /// PEM private key used to mint tokens when verification uses a public key.
    pub private_key_pem: Option<Secret>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds are used).
    pub leeway: Duration,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
    /// Largest token accepted, checked before decoding.
    pub max_token_bytes: usize,
    /// Lifetime of tokens minted by the REST API; at most `max_token_lifetime`.
    pub token_ttl: Duration,
    /// Longest a token may still be valid for: a token whose `exp` is further than this (plus
    /// `leeway`) beyond now is refused, so that no token lives forever (`exp = u64::MAX`).
    pub max_token_lifetime: Duration,
}

/// Per-tenant settings.
#[derive(Clone, Debug, Default)]
pub struct TenantConfig {
    /// The tenant's REST API key (`X-API-Key`); at least [`MIN_API_KEY_BYTES`], unique.
    pub api_key: Option<Secret>,
    /// Exact origins allowed for this tenant's sockets; empty means "use the patterns".
    pub allowed_origins: Vec<String>,
}

/// Paths of the certificate chain and private key for `wss://`.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Limits and timers of a connection.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest frame and largest message a client may send (close 1009 above it).
    pub max_message_bytes: usize,
    /// Most Unicode scalar values in a `chat.send` text.
    pub max_text_chars: usize,
    /// Longest `room_id` / `participant_id` claim, in bytes.
    pub max_id_bytes: usize,
    /// Token-bucket refill rate of client events per connection.
    pub rate_per_second: f64,
    /// Token-bucket size.
    pub rate_burst: u32,
    /// Dropped events after which the connection is closed with 4008.
    pub rate_close_after: u32,
    /// Frames queued towards one client before it counts as a slow consumer (4010).
    pub outbound_queue: usize,
    /// Interval of server WebSocket pings.
    pub heartbeat_interval: Duration,
    /// Close with 4011 after receiving nothing for this long.
    pub idle_timeout: Duration,
    /// Bound on sending a close frame and waiting for the client's reply.
    pub close_timeout: Duration,
    /// Per-connection read buffer, allocated and zeroed for every connection (2 KiB: what a
    /// client sends is a few small events; a larger message still arrives, the buffer grows).
    pub read_buffer_bytes: usize,
    /// Per-connection write buffer: queued frames are written out together up to this size.
    pub write_buffer_bytes: usize,
    /// Time a client has to send a complete request head (against slowloris).
    pub header_read_timeout: Duration,
    /// Token-bucket refill rate of client WebSocket control frames (ping and pong) per
    /// connection. One pong per server heartbeat ping is free. Over the bucket: close 1008.
    pub control_frames_per_second: f64,
    /// Token-bucket size of client control frames.
    pub control_frame_burst: u32,
    /// Most WebSocket connections open at once; further upgrades get 503 with `Retry-After`.
    pub max_connections: usize,
    /// Most WebSocket connections open at once from one client IP address; `None` means no
    /// per-address cap (the default: every local client and test comes from 127.0.0.1, and
    /// behind a proxy every client has the proxy's address).
    pub max_connections_per_ip: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_text_chars: 4000,
            max_id_bytes: 128,
            rate_per_second: 50.0,
            rate_burst: 100,
            rate_close_after: 200,
            outbound_queue: 1024,
            heartbeat_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            close_timeout: Duration::from_secs(5),
            read_buffer_bytes: 2 * 1024,
            write_buffer_bytes: 4 * 1024,
            header_read_timeout: Duration::from_secs(10),
            control_frames_per_second: 20.0,
            control_frame_burst: 40,
            max_connections: 10_000,
            max_connections_per_ip: None,
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            algorithm: None,
            public_key_pem: None,
            private_key_pem: None,
            leeway: Duration::from_secs(10),
            issuer: None,
            audience: None,
            max_token_bytes: 8 * 1024,
            token_ttl: Duration::from_secs(3600),
            max_token_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jwt: JwtConfig::default(),
            default_tenant: TenantConfig::default(),
            tenants: BTreeMap::new(),
            origin_patterns: Vec::new(),
            allow_missing_origin: true,
            limits: Limits::default(),
            tls: None,
            shutdown_drain: Duration::from_secs(5),
            redis_url: None,
            node_id: None,
        }
    }
}

/// The documented development credentials of `--dev`. Never use them anywhere else.
pub mod dev {
    /// HS256 secret of `--dev`.
    pub const JWT_SECRET: &str = "chalk-dev-jwt-secret-NOT-FOR-PRODUCTION-0123456789";
    /// Default-tenant API key of `--dev`.
    pub const API_KEY: &str = "chalk-dev-api-key";
}

/// The one origin the default tenant of [`Config::ephemeral`] allows.
pub const EPHEMERAL_ALLOWED_ORIGIN: &str = "https://app.chalk.test";

impl Config {
    /// Loopback on a free port, a fresh random 32-byte HS256 secret, a random API key, the
    /// default tenant allowing [`EPHEMERAL_ALLOWED_ORIGIN`], production limits.
    pub fn ephemeral() -> Config {
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Config::default()
        };
        config.jwt.secret = Some(Secret::new(random_token(32)));
        config.default_tenant = TenantConfig {
            api_key: Some(Secret::new(format!("ck_{}", random_token(24)))),
            allowed_origins: vec![EPHEMERAL_ALLOWED_ORIGIN.to_owned()],
        };
        config
    }

    /// Development settings: fixed, documented credentials and local origins. Loudly announced
    /// by the binary; see [`dev`].
    pub fn development() -> Config {
        let mut config = Config::default();
        config.jwt.secret = Some(Secret::new(dev::JWT_SECRET));
        config.default_tenant.api_key = Some(Secret::new(dev::API_KEY));
        config.origin_patterns = vec![
            "http://localhost:*".to_owned(),
            "http://127.0.0.1:*".to_owned(),
            "https://localhost:*".to_owned(),
        ];
        config
    }

    /// The HMAC secret as configured.
    pub fn jwt_secret(&self) -> Option<&str> {
        self.jwt.secret.as_ref().map(Secret::expose)
    }

    /// The default tenant's API key.
    pub fn api_key(&self) -> Option<&str> {
        self.default_tenant.api_key.as_ref().map(Secret::expose)
    }

    /// Reads a TOML file and applies it over [`Config::default`].
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.merge_toml_file(path)?;
        Ok(config)
    }

    /// Reads a TOML file and applies the keys it sets over this configuration; relative key
    /// paths are resolved against the file's directory.
    pub fn merge_toml_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        self.merge_toml_str(&text, base)
    }

    /// Parses TOML text and applies it over [`Config::default`]; relative key paths are resolved
    /// against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.merge_toml_str(text, base_dir)?;
        Ok(config)
    }

    /// Parses TOML text and applies the keys it sets over this configuration.
    pub fn merge_toml_str(&mut self, text: &str, base_dir: &Path) -> Result<(), ConfigError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        file.apply(self, base_dir)
    }
}

/// Failure to read or understand configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML text is not valid or has unknown keys.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A duration was not an integer of seconds or a string such as `250ms`, `30s`, `5m`, `24h`.
    #[error(
        "invalid duration {0:?} (use seconds, or a string like \"250ms\", \"30s\", \"5m\", \"24h\")"
    )]
    Duration(String),
    /// An algorithm name that jsonwebtoken does not know.
    #[error("unknown JWT algorithm {0:?}")]
    Algorithm(String),
    /// A JWT leeway above [`MAX_JWT_LEEWAY`].
    #[error(
        "jwt leeway of {0} s is more than the {max} s allowed (RFC 7519: a few minutes)",
        max = MAX_JWT_LEEWAY.as_secs()
    )]
    Leeway(u64),
    /// `redis_url` is not a usable Redis URL (the message shows it without credentials).
    #[error(transparent)]
    RedisUrl(#[from] InvalidRedisUrl),
    /// `node_id` breaks the rule of [`NodeId`].
    #[error(transparent)]
    NodeId(#[from] InvalidNodeId),
}

/// `leeway`, unless it is above [`MAX_JWT_LEEWAY`].
pub fn checked_leeway(leeway: Duration) -> Result<Duration, ConfigError> {
    if leeway > MAX_JWT_LEEWAY {
        return Err(ConfigError::Leeway(leeway.as_secs()));
    }
    Ok(leeway)
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"24h"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let bad = || ConfigError::Duration(text.to_owned());
    let (digits, scale_ms) = if let Some(d) = text.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix('s') {
        (d, 1000)
    } else if let Some(d) = text.strip_suffix('m') {
        (d, 60_000)
    } else if let Some(d) = text.strip_suffix('h') {
        (d, 3_600_000)
    } else {
        (text, 1000)
    };
    let value: u64 = digits.trim().parse().map_err(|_| bad())?;
    value
        .checked_mul(scale_ms)
        .map(Duration::from_millis)
        .ok_or_else(bad)
}

/// Parses an algorithm name such as `HS256` or `EdDSA`.
pub fn parse_algorithm(text: &str) -> Result<Algorithm, ConfigError> {
    text.parse()
        .map_err(|_| ConfigError::Algorithm(text.to_owned()))
}

/// A duration in TOML: integer seconds or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

impl DurationValue {
    fn resolve(self) -> Result<Duration, ConfigError> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(s)),
            DurationValue::Text(t) => parse_duration(&t),
        }
    }
}

/// The TOML layout; every key optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    api_key: Option<Secret>,
    allowed_origins: Option<Vec<String>>,
    origin_patterns: Option<Vec<String>>,
    allow_missing_origin: Option<bool>,
    shutdown_drain: Option<DurationValue>,
    redis_url: Option<Secret>,
    node_id: Option<String>,
    #[serde(default)]
    jwt: FileJwt,
    #[serde(default)]
    limits: FileLimits,
    tls: Option<FileTls>,
    #[serde(default)]
    tenants: BTreeMap<String, FileTenant>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileJwt {
    secret: Option<Secret>,
    algorithm: Option<String>,
    public_key_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
    leeway: Option<DurationValue>,
    issuer: Option<String>,
    audience: Option<String>,
    max_token_bytes: Option<usize>,
    token_ttl: Option<DurationValue>,
    max_token_lifetime: Option<DurationValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_message_bytes: Option<usize>,
    max_text_chars: Option<usize>,
    max_id_bytes: Option<usize>,
    rate_per_second: Option<f64>,
    rate_burst: Option<u32>,
    rate_close_after: Option<u32>,
    outbound_queue: Option<usize>,
    heartbeat_interval: Option<DurationValue>,
    idle_timeout: Option<DurationValue>,
    close_timeout: Option<DurationValue>,
    read_buffer_bytes: Option<usize>,
    write_buffer_bytes: Option<usize>,
    header_read_timeout: Option<DurationValue>,
    control_frames_per_second: Option<f64>,
    control_frame_burst: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileTenant {
    api_key: Option<Secret>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

fn read_key(base: &Path, path: &Path) -> Result<String, ConfigError> {
    let full = base.join(path);
    std::fs::read_to_string(&full).map_err(|source| ConfigError::Read { path: full, source })
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_duration(slot: &mut Duration, value: Option<DurationValue>) -> Result<(), ConfigError> {
    if let Some(v) = value {
        *slot = v.resolve()?;
    }
    Ok(())
}

impl FileConfig {
    fn apply(self, config: &mut Config, base: &Path) -> Result<(), ConfigError> {
        set(&mut config.listen, self.listen);
        if self.api_key.is_some() {
            config.default_tenant.api_key = self.api_key;
        }
        set(
            &mut config.default_tenant.allowed_origins,
            self.allowed_origins,
        );
        set(&mut config.origin_patterns, self.origin_patterns);
        set(&mut config.allow_missing_origin, self.allow_missing_origin);
        set_duration(&mut config.shutdown_drain, self.shutdown_drain)?;
        if let Some(url) = self.redis_url {
            config.redis_url = Some(RedisUrl::parse(url.expose())?);
        }
        if let Some(id) = self.node_id {
            config.node_id = Some(NodeId::parse(&id)?);
        }

        let jwt = &mut config.jwt;
        if self.jwt.secret.is_some() {
            jwt.secret = self.jwt.secret;
        }
        if let Some(name) = self.jwt.algorithm {
            jwt.algorithm = Some(parse_algorithm(&name)?);
        }
        if let Some(path) = self.jwt.public_key_file {
            jwt.public_key_pem = Some(read_key(base, &path)?);
        }
        if let Some(path) = self.jwt.private_key_file {
            jwt.private_key_pem = Some(Secret::new(read_key(base, &path)?));
        }
        set_duration(&mut jwt.leeway, self.jwt.leeway)?;
        checked_leeway(jwt.leeway)?;
        if self.jwt.issuer.is_some() {
            jwt.issuer = self.jwt.issuer;
        }
        if self.jwt.audience.is_some() {
            jwt.audience = self.jwt.audience;
        }
        set(&mut jwt.max_token_bytes, self.jwt.max_token_bytes);
        set_duration(&mut jwt.token_ttl, self.jwt.token_ttl)?;
        set_duration(&mut jwt.max_token_lifetime, self.jwt.max_token_lifetime)?;

        let l = &mut config.limits;
        let f = self.limits;
        set(&mut l.max_message_bytes, f.max_message_bytes);
        set(&mut l.max_text_chars, f.max_text_chars);
        set(&mut l.max_id_bytes, f.max_id_bytes);
        set(&mut l.rate_per_second, f.rate_per_second);
        set(&mut l.rate_burst, f.rate_burst);
        set(&mut l.rate_close_after, f.rate_close_after);
        set(&mut l.outbound_queue, f.outbound_queue);
        set_duration(&mut l.heartbeat_interval, f.heartbeat_interval)?;
        set_duration(&mut l.idle_timeout, f.idle_timeout)?;
        set_duration(&mut l.close_timeout, f.close_timeout)?;
        set(&mut l.read_buffer_bytes, f.read_buffer_bytes);
        set(&mut l.write_buffer_bytes, f.write_buffer_bytes);
        set_duration(&mut l.header_read_timeout, f.header_read_timeout)?;
        set(
            &mut l.control_frames_per_second,
            f.control_frames_per_second,
        );
        set(&mut l.control_frame_burst, f.control_frame_burst);
        set(&mut l.max_connections, f.max_connections);
        if f.max_connections_per_ip.is_some() {
            l.max_connections_per_ip = f.max_connections_per_ip;
        }

        if let Some(tls) = self.tls {
            config.tls = Some(TlsConfig {
                cert: base.join(tls.cert),
                key: base.join(tls.key),
            });
        }
        for (id, tenant) in self.tenants {
            config.tenants.insert(
                id,
                TenantConfig {
                    api_key: tenant.api_key,
                    allowed_origins: tenant.allowed_origins,
                },
            );
        }
        Ok(())
    }
}

/// `n` random bytes, hex-encoded (uuid v4 supplies the randomness from the OS).
fn random_token(n: usize) -> String {
    let mut out = String::with_capacity(n * 2);
    while out.len() < n * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(n * 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let config = Config::ephemeral();
        let shown = format!("{config:?}");
        assert!(!shown.contains(config.jwt_secret().unwrap()));
        assert!(!shown.contains(config.api_key().unwrap()));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_leeway_of_more_than_a_few_minutes_is_refused() {
        assert!(Config::default().jwt.leeway <= MAX_JWT_LEEWAY);
        let file = |leeway: &str| {
            let text = format!(
                "[jwt]\nsecret = \"0123456789abcdef0123456789abcdef\"\nleeway = \"{leeway}\"\n"
            );
            Config::from_toml_str(&text, Path::new("."))
        };
        assert_eq!(file("5m").unwrap().jwt.leeway, MAX_JWT_LEEWAY);
        assert!(matches!(file("15m"), Err(ConfigError::Leeway(900))));
        assert!(checked_leeway(Duration::from_secs(301)).is_err());
    }

    #[test]
    fn toml_file_overrides_defaults_and_declares_tenants() {
        let text = r#"
            listen = "127.0.0.1:9000"
            api_key = "default-tenant-api-key-0123"
            allowed_origins = ["https://app.example.com"]
            allow_missing_origin = false
            [jwt]
            secret = "0123456789abcdef0123456789abcdef"
            leeway = "3s"
            max_token_lifetime = "2h"
            [limits]
            idle_timeout = "500ms"
            control_frames_per_second = 5.0
            control_frame_burst = 8
            max_connections = 300
            max_connections_per_ip = 20
            [tenants.acme]
            api_key = "acme-api-key-0123456789"
            allowed_origins = ["https://acme.example"]
        "#;
        let config = Config::from_toml_str(text, Path::new(".")).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.jwt.leeway, Duration::from_secs(3));
        assert_eq!(config.limits.idle_timeout, Duration::from_millis(500));
        assert!(!config.allow_missing_origin);
        assert_eq!(
            config.tenants["acme"].allowed_origins,
            ["https://acme.example"]
        );
        assert_eq!(config.limits.outbound_queue, 1024);
        assert_eq!(config.jwt.max_token_lifetime, Duration::from_secs(7200));
        assert_eq!(config.limits.control_frames_per_second, 5.0);
        assert_eq!(config.limits.control_frame_burst, 8);
        assert_eq!(config.limits.max_connections, 300);
        assert_eq!(config.limits.max_connections_per_ip, Some(20));
        let defaults = Config::from_toml_str("", Path::new(".")).unwrap();
        assert_eq!(defaults.limits.max_connections, 10_000);
        assert_eq!(defaults.limits.max_connections_per_ip, None);
        assert_eq!(
            defaults.jwt.max_token_lifetime,
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn toml_file_puts_a_node_in_cluster_mode_without_showing_the_password() {
        let text = r#"
            redis_url = "redis://:file-secret-pw@127.0.0.1:6390/1"
            node_id = "node-a"
        "#;
        let config = Config::from_toml_str(text, Path::new(".")).unwrap();
        let url = config.redis_url.as_ref().unwrap();
        assert_eq!(url.expose(), "redis://:file-secret-pw@127.0.0.1:6390/1");
        assert_eq!(config.node_id.as_ref().unwrap().as_str(), "node-a");
        assert!(!format!("{config:?}").contains("file-secret-pw"));
        let bad = Config::from_toml_str(
            "redis_url = \"redis://:file-secret-pw@host:nope\"",
            Path::new("."),
        );
        let message = bad.unwrap_err().to_string();
        assert!(message.contains("invalid Redis URL"), "{message}");
        assert!(!message.contains("file-secret-pw"), "{message}");
        assert!(Config::from_toml_str("node_id = \"a b\"", Path::new(".")).is_err());
        let single = Config::from_toml_str("", Path::new(".")).unwrap();
        assert!(single.redis_url.is_none() && single.node_id.is_none());
    }

    #[test]
    fn toml_with_unknown_keys_is_refused() {
        assert!(Config::from_toml_str("lissen = 1", Path::new(".")).is_err());
    }

    #[test]
    fn ephemeral_configs_have_distinct_strong_secrets() {
        let a = Config::ephemeral();
        let b = Config::ephemeral();
        assert_ne!(a.jwt_secret(), b.jwt_secret());
        assert!(a.jwt_secret().unwrap().len() >= 32);
        assert!(a.api_key().unwrap().len() >= 32);
    }
}
