//! The two error types at the crate's edges: [`ApiError`] is every HTTP refusal (it becomes the
//! JSON response), [`StartError`] is every reason the server will not start.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A refused HTTP request: upgrade refusals before `101` and REST errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Not a valid WebSocket upgrade, a `token.*` protocol without `chalk`, or two different tokens.
    #[error("malformed upgrade request")]
    MalformedUpgrade,
    /// Any token problem; deliberately one message for all of them.
    #[error("invalid or missing token")]
    InvalidToken,
    /// The `Origin` is not allowed for the token's tenant, is `null`, or is malformed.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The participant was removed, or the room was ended, through the REST API.
    #[error("room access revoked")]
    AccessRevoked,
    /// Graceful shutdown has started.
    #[error("server shutting down")]
    ShuttingDown,
    /// `max_connections` (or `max_connections_per_ip` for the client's address) are open.
    #[error("too many connections")]
    TooManyConnections,
    /// The `X-API-Key` header is missing or does not name a tenant.
    #[error("invalid or missing API key")]
    InvalidApiKey,
    /// A REST request body or parameter is not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// The room or participant does not exist (for this tenant).
    #[error("{0}")]
    NotFound(&'static str),
    /// The request conflicts with the current state (recording already started, room ended).
    #[error("{0}")]
    Conflict(&'static str),
    /// Cluster mode: this node cannot reach Redis (or Redis did not answer in time), so it can
    /// neither admit a connection nor read or change a room's records; try again shortly.
    #[error("cluster storage unavailable")]
    RedisUnavailable,
    /// Participant creation without a signing key.
    #[error("token issuance not configured")]
    TokenIssuanceNotConfigured,
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedUpgrade | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidToken | ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::OriginNotAllowed | ApiError::AccessRevoked => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::ShuttingDown
            | ApiError::TooManyConnections
            | ApiError::TokenIssuanceNotConfigured
            | ApiError::RedisUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        let retry_after = match self {
            ApiError::ShuttingDown | ApiError::TooManyConnections => Some(RETRY_AFTER_SECONDS),
            ApiError::RedisUnavailable => Some(REDIS_RETRY_AFTER_SECONDS),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        response
    }
}

/// `Retry-After` of the 503 refusals (shutdown, connection caps), in seconds.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// `Retry-After` of the 503 answered while a cluster node cannot reach Redis, in seconds: a
/// short outage (a Redis restart) is over within a few seconds, and a client that retries
/// sooner than the liveness TTL may find the node usable again.
pub const REDIS_RETRY_AFTER_SECONDS: &str = "2";

/// Why [`crate::serve`] refused to start. Each message fits on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Neither an HMAC secret nor a public key is configured.
    #[error("no token verification key: set --jwt-secret or --jwt-public-key (or use --dev)")]
    MissingJwtKey,
    /// Both an HMAC secret and a public key are configured; exactly one is allowed.
    #[error("both --jwt-secret and --jwt-public-key are set; configure exactly one")]
    AmbiguousJwtKey,
    /// The HMAC secret is shorter than 32 bytes.
    #[error(
        "the JWT secret is {0} bytes long; at least {min} random bytes are required",
        min = crate::config::MIN_JWT_SECRET_BYTES
    )]
    WeakJwtSecret(usize),
    /// The configured algorithm does not fit the key, or a key file is not a usable key.
    #[error("unusable JWT key: {0}")]
    InvalidJwtKey(String),
    /// The default tenant has no API key.
    #[error("no API key: set --api-key (or use --dev)")]
    MissingApiKey,
    /// An API key is shorter than 16 bytes, or two tenants share one.
    #[error(
        "API key of tenant {0:?} is too short ({min} bytes minimum) or not unique",
        min = crate::config::MIN_API_KEY_BYTES
    )]
    WeakApiKey(String),
    /// An allowed origin or origin pattern cannot be parsed.
    #[error("invalid origin or origin pattern {0:?}")]
    InvalidOrigin(String),
    /// A limit is zero or out of range.
    #[error("invalid limit: {0}")]
    InvalidLimit(&'static str),
    /// `jwt.max_token_lifetime` is zero, or shorter than the REST API's `jwt.token_ttl`.
    #[error("invalid token lifetime: {0}")]
    InvalidTokenLifetime(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A Redis URL is configured but this build has no cluster mode.
    #[error(
        "this build has no cluster mode: --redis-url needs chalk-reference-server's `cluster` feature"
    )]
    ClusterNotBuilt,
    /// Redis did not accept the connection or did not answer `PING` in time; both texts are
    /// free of credentials. The binary exits with [`EXIT_REDIS_UNREACHABLE`].
    #[error("cannot reach Redis at {url}: {reason}")]
    RedisUnreachable {
        /// The Redis URL, credentials redacted.
        url: String,
        /// Why, credentials scrubbed.
        reason: String,
    },
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Exit code of the binary when the server does not start: unusable configuration, a port
/// in use, a bad key.
pub const EXIT_START_FAILED: u8 = 2;

/// Exit code of the binary when cluster mode cannot reach its Redis at start, told apart from
/// [`EXIT_START_FAILED`] so that a supervisor can retry this one.
pub const EXIT_REDIS_UNREACHABLE: u8 = 3;

impl StartError {
    /// The binary's exit code for this refusal.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::RedisUnreachable { .. } => EXIT_REDIS_UNREACHABLE,
            _ => EXIT_START_FAILED,
        }
    }
}
