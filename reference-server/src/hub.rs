//! The shared state of a running server ([`Hub`]): limits, the admission policy, rooms, live
//! sessions, connection caps and the session frame adapter, built once from a validated
//! [`Config`] and the installed [`Seams`].

use std::sync::Arc;

use crate::admission::{AdmissionPolicy, StandardAdmission};
use crate::auth::{TokenIssuer, TokenVerifier};
use crate::capacity::Capacity;
use crate::cluster::Cluster;
use crate::config::{Config, DEFAULT_TENANT, Limits, MIN_API_KEY_BYTES, Secret};
use crate::directory::{LocalDirectory, RoomDirectory};
use crate::error::StartError;
use crate::frames::FrameAdapter;
use crate::metrics::Metrics;
use crate::node::NodeId;
use crate::origin::OriginPolicy;
use crate::rooms::Rooms;
use crate::seams::Seams;
use crate::tracker::SessionTracker;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Hub {
    /// This node's id (configured or generated).
    pub node: NodeId,
    /// The link to the cluster's Redis, in cluster mode; set by [`crate::serve_with`] once
    /// connected.
    pub cluster: Option<Cluster>,
    /// Connection limits and timers.
    pub limits: Limits,
    /// Token verification policy (also consulted for the leeway of a session's expiry).
    pub verifier: Arc<TokenVerifier>,
    /// Token minting, when a signing key is configured.
    pub issuer: Option<TokenIssuer>,
    /// Who is admitted at the handshake, and with which decisions.
    pub admission: Arc<dyn AdmissionPolicy>,
    /// All rooms.
    pub rooms: Arc<Rooms>,
    /// Where the REST API and the handshake find and change rooms' records.
    pub directory: Arc<dyn RoomDirectory>,
    /// All live sockets, for shutdown.
    pub sessions: Arc<SessionTracker>,
    /// The caps on open WebSocket connections.
    pub capacity: Arc<Capacity>,
    /// The adapter around each session's frames, if one is installed.
    pub frames: Option<Arc<dyn FrameAdapter>>,
    /// What `GET /metrics` shows.
    pub metrics: Metrics,
    /// API keys and the tenant each belongs to.
    api_keys: Vec<(Secret, String)>,
}

impl Hub {
    /// Validates the configuration and builds the state with the production behaviour; every
    /// refusal is a [`StartError`].
    pub fn new(config: &Config) -> Result<Hub, StartError> {
        Hub::with_seams(config, &mut Seams::default())
    }

    /// Like [`Hub::new`], with the hub's seams (admission, rooms, frames) taken from `seams`.
    pub fn with_seams(config: &Config, seams: &mut Seams) -> Result<Hub, StartError> {
        validate_limits(&config.limits)?;
        let verifier = Arc::new(TokenVerifier::new(config)?);
        let issuer = TokenIssuer::new(config, &verifier)?;
        let origins = OriginPolicy::new(config)?;
        let mut api_keys = Vec::new();
        let default_key = config
            .default_tenant
            .api_key
            .clone()
            .ok_or(StartError::MissingApiKey)?;
        api_keys.push((default_key, DEFAULT_TENANT.to_owned()));
        for (id, tenant) in &config.tenants {
            if id == DEFAULT_TENANT || id.is_empty() {
                return Err(StartError::WeakApiKey(id.clone()));
            }
            if let Some(key) = &tenant.api_key {
                api_keys.push((key.clone(), id.clone()));
            }
        }
        for (i, (key, tenant)) in api_keys.iter().enumerate() {
            let duplicate = api_keys[..i].iter().any(|(k, _)| k == key);
            if key.len() < MIN_API_KEY_BYTES || duplicate {
                return Err(StartError::WeakApiKey(tenant.clone()));
            }
        }
        let standard = StandardAdmission::new(verifier.clone(), origins);
        let admission = match seams.admission.take() {
            Some(wrap) => wrap(standard),
            None => Arc::new(standard),
        };
        let rooms = Arc::new(Rooms::new(seams.room_events.take(), seams.join_rule.take()));
        Ok(Hub {
            node: config.node_id.clone().unwrap_or_else(NodeId::generate),
            cluster: None,
            limits: config.limits.clone(),
            verifier,
            issuer,
            admission,
            directory: Arc::new(LocalDirectory::new(rooms.clone())),
            rooms,
            sessions: Arc::new(SessionTracker::default()),
            capacity: Arc::new(Capacity::new(&config.limits)),
            frames: seams.frames.take(),
            metrics: Metrics::new(),
            api_keys,
        })
    }

    /// The tenant whose API key this is, compared in constant time.
    pub fn tenant_for_api_key(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (key, tenant) in &self.api_keys {
            if constant_time_eq(key.expose().as_bytes(), presented.as_bytes()) {
                found = Some(tenant.as_str());
            }
        }
        found
    }
}

fn validate_limits(l: &Limits) -> Result<(), StartError> {
    let checks: [(bool, &'static str); 9] = [
        (
            l.max_message_bytes >= 256,
            "max_message_bytes must be at least 256",
        ),
        (l.max_text_chars >= 1, "max_text_chars must be at least 1"),
        (l.max_id_bytes >= 1, "max_id_bytes must be at least 1"),
        (l.outbound_queue >= 1, "outbound_queue must be at least 1"),
        (
            !l.heartbeat_interval.is_zero() && !l.idle_timeout.is_zero(),
            "heartbeat_interval and idle_timeout must be positive",
        ),
        (
            l.rate_per_second.is_finite() && l.rate_per_second >= 0.0 && l.rate_burst >= 1,
            "rate_per_second must be finite and rate_burst at least 1",
        ),
        (
            l.read_buffer_bytes >= 256 && l.write_buffer_bytes >= 256,
            "buffers must be at least 256 bytes",
        ),
        (
            l.control_frames_per_second.is_finite()
                && l.control_frames_per_second >= 0.0
                && l.control_frame_burst >= 1,
            "control_frames_per_second must be finite and control_frame_burst at least 1",
        ),
        (
            l.max_connections >= 1 && l.max_connections_per_ip.is_none_or(|n| n >= 1),
            "max_connections and max_connections_per_ip must be at least 1",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, message)) => Err(StartError::InvalidLimit(message)),
        None => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_api_keys_shorter_than_the_minimum_or_shared() {
        let mut config = Config::ephemeral();
        config.default_tenant.api_key = Some(Secret::new("k".repeat(MIN_API_KEY_BYTES - 1)));
        assert!(matches!(Hub::new(&config), Err(StartError::WeakApiKey(_))));
        let key = "k".repeat(MIN_API_KEY_BYTES);
        config.default_tenant.api_key = Some(Secret::new(key.as_str()));
        assert!(Hub::new(&config).is_ok());
        config.tenants.insert(
            "acme".to_owned(),
            crate::config::TenantConfig {
                api_key: Some(Secret::new(key.as_str())),
                allowed_origins: Vec::new(),
            },
        );
        assert!(matches!(Hub::new(&config), Err(StartError::WeakApiKey(t)) if t == "acme"));
    }
}
