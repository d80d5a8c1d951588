//! Participant tokens: the verification policy applied at the handshake, and minting for the
//! REST API.
//!
//! The policy is explicit rather than jsonwebtoken's defaults: exactly one algorithm (fixed by
//! the configured key), `exp` required and at most `max_token_lifetime` ahead, `nbf` honoured,
//! `iat` (optional) an integer not in the future, a configurable leeway, a size cap and a
//! character check before any decoding, no `crit` header, bounded non-empty `room_id` and
//! `participant_id`, a known tenant, and `iss`/`aud` when configured.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::config::{Config, DEFAULT_TENANT, MIN_JWT_SECRET_BYTES};
use crate::error::StartError;

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Tenant id (`default` when the token has no `tenant_id`).
    pub tenant: String,
    /// Room the token admits to.
    pub room_id: String,
    /// The participant.
    pub participant_id: String,
    /// `display_name` claim, if any.
    pub display_name: Option<String>,
    /// `role` claim, if any.
    pub role: Option<String>,
    /// `exp` claim, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Why a token was refused. Logged (without the token), never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Larger than `max_token_bytes`.
    #[error("token larger than the limit")]
    TooLarge,
    /// Not three base64url segments.
    #[error("token is not a compact JWS")]
    Malformed,
    /// The header carries `crit`, which this server does not understand.
    #[error("token header has crit")]
    CriticalHeader,
    /// jsonwebtoken refused it (signature, algorithm, exp, nbf, iss, aud, claim types).
    #[error("token refused: {0}")]
    Invalid(String),
    /// `room_id` or `participant_id` is missing.
    #[error("claim {0} missing")]
    MissingClaim(&'static str),
    /// `room_id` or `participant_id` is empty or too long, or `tenant_id` is empty.
    #[error("claim {0} empty or too long")]
    BadClaim(&'static str),
    /// `tenant_id` names no configured tenant.
    #[error("unknown tenant")]
    UnknownTenant,
    /// `exp` lies further ahead than `max_token_lifetime` (plus leeway).
    #[error("token lifetime beyond the maximum")]
    LifetimeTooLong,
    /// `iat` lies in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInTheFuture,
}

/// The claims of a token whose signature and times were checked, before they are checked for
/// an identity ([`TokenVerifier::identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenClaims {
    /// `room_id`.
    #[serde(default)]
    pub room_id: Option<String>,
    /// `participant_id`.
    #[serde(default)]
    pub participant_id: Option<String>,
    /// `exp`, seconds since the Unix epoch.
    pub exp: u64,
    /// `iat`: optional, but when present an integer: `null`, a string or a float is refused
    /// rather than taken for "absent" (the mistake of GHSA-h395-gr6q-cpjc for `exp`/`nbf`).
    #[serde(default, deserialize_with = "present_numeric_date")]
    pub iat: Option<u64>,
    /// `tenant_id`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// `display_name`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `role`.
    #[serde(default)]
    pub role: Option<String>,
}

/// A claim that is present: a non-negative integer NumericDate, nothing else (not `null`).
fn present_numeric_date<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    u64::deserialize(deserializer)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("iat is not a non-negative integer NumericDate"))
}

/// Verifies participant tokens.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    /// `max_token_lifetime` in whole seconds.
    max_lifetime_secs: u64,
    max_token_bytes: usize,
    max_id_bytes: usize,
    tenants: HashSet<String>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Builds the verifier from the configured key; refuses weak or unusable keys.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let jwt = &config.jwt;
        let (key, algorithm) = match (&jwt.secret, &jwt.public_key_pem) {
            (None, None) => return Err(StartError::MissingJwtKey),
            (Some(_), Some(_)) => return Err(StartError::AmbiguousJwtKey),
            (Some(secret), None) => {
                if secret.len() < MIN_JWT_SECRET_BYTES {
                    return Err(StartError::WeakJwtSecret(secret.len()));
                }
                let alg = jwt.algorithm.unwrap_or(Algorithm::HS256);
                if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Err(StartError::InvalidJwtKey(format!(
                        "{alg:?} needs a public key, not a secret"
                    )));
                }
                (DecodingKey::from_secret(secret.expose().as_bytes()), alg)
            }
            (None, Some(pem)) => public_key(pem.as_bytes(), jwt.algorithm)?,
        };
        check_lifetimes(jwt)?;
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = jwt.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &jwt.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &jwt.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let mut tenants: HashSet<String> = config.tenants.keys().cloned().collect();
        tenants.insert(DEFAULT_TENANT.to_owned());
        Ok(Self {
            key,
            validation,
            max_lifetime_secs: jwt.max_token_lifetime.as_secs(),
            max_token_bytes: jwt.max_token_bytes,
            max_id_bytes: config.limits.max_id_bytes,
            tenants,
        })
    }

    /// Verifies `token` and returns the identity it carries.
    pub fn verify(&self, token: &str) -> Result<Identity, TokenRejection> {
        self.identity(self.decode(token)?)
    }

    /// The claims of `token` once its size, shape, signature and times are checked.
    pub fn decode(&self, token: &str) -> Result<TokenClaims, TokenRejection> {
        self.decode_with(token, &self.validation)
    }

    /// Like [`TokenVerifier::decode`], with `validation` (the algorithm, times and required
    /// claims to check) instead of the verifier's own ([`TokenVerifier::validation`]).
    pub fn decode_with(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<TokenClaims, TokenRejection> {
        if token.len() > self.max_token_bytes {
            return Err(TokenRejection::TooLarge);
        }
        if !is_compact_jws(token) {
            return Err(TokenRejection::Malformed);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenRejection::Invalid(e.to_string()))?;
        if header.crit.is_some() {
            return Err(TokenRejection::CriticalHeader);
        }
        let data = decode::<TokenClaims>(token, &self.key, validation)
            .map_err(|e| TokenRejection::Invalid(format!("{:?}", e.kind())))?;
        Ok(data.claims)
    }

    /// The identity of claims whose signature and times have been checked: the lifetime cap,
    /// `iat`, the identity claims and the tenant.
    pub fn identity(&self, claims: TokenClaims) -> Result<Identity, TokenRejection> {
        let now = unix_now();
        let leeway = self.validation.leeway;
        let latest_exp = now
            .saturating_add(self.max_lifetime_secs)
            .saturating_add(leeway);
        if claims.exp > latest_exp {
            return Err(TokenRejection::LifetimeTooLong);
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(TokenRejection::IssuedInTheFuture);
        }
        let room_id = claims
            .room_id
            .ok_or(TokenRejection::MissingClaim("room_id"))?;
        let participant_id = claims
            .participant_id
            .ok_or(TokenRejection::MissingClaim("participant_id"))?;
        let bounded = |v: &str| !v.is_empty() && v.len() <= self.max_id_bytes;
        if !bounded(&room_id) {
            return Err(TokenRejection::BadClaim("room_id"));
        }
        if !bounded(&participant_id) {
            return Err(TokenRejection::BadClaim("participant_id"));
        }
        let tenant = match claims.tenant_id {
            None => DEFAULT_TENANT.to_owned(),
            Some(t) if t.is_empty() => return Err(TokenRejection::BadClaim("tenant_id")),
            Some(t) => t,
        };
        if !self.tenants.contains(&tenant) {
            return Err(TokenRejection::UnknownTenant);
        }
        Ok(Identity {
            tenant,
            room_id,
            participant_id,
            display_name: claims.display_name.filter(|n| !n.is_empty()),
            role: claims.role.filter(|r| !r.is_empty()),
            expires_at: claims.exp,
        })
    }

    /// Seconds of leeway applied to `exp`, `nbf`, `iat` and the lifetime cap.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.validation.leeway)
    }

    /// What [`TokenVerifier::decode`] checks: the one algorithm, the times, `iss` and `aud`.
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// The one algorithm tokens must be signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.validation.algorithms[0]
    }

    /// Largest token accepted, checked before decoding.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

/// Refuses a zero `max_token_lifetime`, and a `token_ttl` above it (the server would refuse
/// the tokens its own REST API mints).
fn check_lifetimes(jwt: &crate::config::JwtConfig) -> Result<(), StartError> {
    let max = jwt.max_token_lifetime.as_secs();
    if max == 0 {
        return Err(StartError::InvalidTokenLifetime(
            "jwt.max_token_lifetime must be at least 1 s".to_owned(),
        ));
    }
    if jwt.token_ttl.as_secs() > max {
        return Err(StartError::InvalidTokenLifetime(format!(
            "jwt.token_ttl ({} s) is longer than jwt.max_token_lifetime ({max} s), so minted \
             tokens would be refused; lower token_ttl or raise max_token_lifetime",
            jwt.token_ttl.as_secs()
        )));
    }
    Ok(())
}

/// Parses a PEM public key and picks (or checks) its algorithm.
fn public_key(pem: &[u8], alg: Option<Algorithm>) -> Result<(DecodingKey, Algorithm), StartError> {
    let invalid = |e: jsonwebtoken::errors::Error| StartError::InvalidJwtKey(e.to_string());
    match alg {
        Some(alg) => {
            let key = match alg {
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem).map_err(invalid)?,
                Algorithm::ES256 | Algorithm::ES384 => {
                    DecodingKey::from_ec_pem(pem).map_err(invalid)?
                }
                Algorithm::EdDSA => DecodingKey::from_ed_pem(pem).map_err(invalid)?,
                other => {
                    return Err(StartError::InvalidJwtKey(format!(
                        "{other:?} needs a secret, not a public key"
                    )));
                }
            };
            Ok((key, alg))
        }
        None => {
            if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                Ok((key, Algorithm::EdDSA))
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                Ok((key, Algorithm::ES256))
            } else {
                DecodingKey::from_rsa_pem(pem)
                    .map(|key| (key, Algorithm::RS256))
                    .map_err(invalid)
            }
        }
    }
}

/// Three non-empty base64url segments separated by dots, nothing else.
pub fn is_compact_jws(token: &str) -> bool {
    let segments: Vec<&str> = token.split('.').collect();
    segments.len() == 3
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[derive(Serialize)]
struct OutgoingClaims<'a> {
    room_id: &'a str,
    participant_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    display_name: &'a str,
    role: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// What a minted token is about.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubject<'a> {
    /// Tenant id.
    pub tenant: &'a str,
    /// Room id.
    pub room_id: &'a str,
    /// Participant id.
    pub participant_id: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Role.
    pub role: &'a str,
}

/// Mints participant tokens for the REST API.
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    ttl: Duration,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("alg", &self.header.alg)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// The issuer for the configured signing key; `None` when there is none (public-key
    /// verification without a private key).
    pub fn new(config: &Config, verifier: &TokenVerifier) -> Result<Option<Self>, StartError> {
        let jwt = &config.jwt;
        let algorithm = verifier.validation.algorithms[0];
        let key = if let Some(secret) = &jwt.secret {
            EncodingKey::from_secret(secret.expose().as_bytes())
        } else if let Some(pem) = &jwt.private_key_pem {
            let pem = pem.expose().as_bytes();
            let parsed = match algorithm {
                Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                _ => EncodingKey::from_rsa_pem(pem),
            };
            parsed.map_err(|e| StartError::InvalidJwtKey(format!("private key: {e}")))?
        } else {
            return Ok(None);
        };
        let issuer = Self {
            key,
            header: Header::new(algorithm),
            ttl: jwt.token_ttl,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
        };
        // Self-test: a key pair that does not match (or a missing crypto backend) fails here,
        // at start, rather than at the first client.
        let probe = issuer
            .mint(TokenSubject {
                tenant: DEFAULT_TENANT,
                room_id: "self-test",
                participant_id: "self-test",
                display_name: "self-test",
                role: "participant",
            })
            .map_err(|e| StartError::InvalidJwtKey(e.to_string()))?;
        verifier.verify(&probe).map_err(|e| {
            StartError::InvalidJwtKey(format!(
                "the private key does not match the public key ({e})"
            ))
        })?;
        Ok(Some(issuer))
    }

    /// Signs a token for `subject`, valid for the configured lifetime.
    pub fn mint(&self, subject: TokenSubject<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let now = unix_now();
        let claims = OutgoingClaims {
            room_id: subject.room_id,
            participant_id: subject.participant_id,
            tenant_id: (subject.tenant != DEFAULT_TENANT).then_some(subject.tenant),
            display_name: subject.display_name,
            role: subject.role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        encode(&self.header, &claims, &self.key)
    }

    /// Lifetime of minted tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> (TokenVerifier, Config) {
        let config = Config::ephemeral();
        (TokenVerifier::new(&config).unwrap(), config)
    }

    fn sign(config: &Config, claims: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(config.jwt_secret().unwrap().as_bytes());
        encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    }

    #[test]
    fn accepts_a_well_formed_token_and_defaults_the_tenant() {
        let (v, c) = verifier();
        let t = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p", "exp": unix_now() + 60}),
        );
        let id = v.verify(&t).unwrap();
        assert_eq!(id.tenant, DEFAULT_TENANT);
        assert_eq!(
            (id.room_id.as_str(), id.participant_id.as_str()),
            ("r", "p")
        );
    }

    #[test]
    fn refuses_future_nbf_and_missing_exp() {
        let (v, c) = verifier();
        let nbf = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p",
                "exp": unix_now() + 600, "nbf": unix_now() + 300}),
        );
        assert!(v.verify(&nbf).is_err());
        let no_exp = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p"}),
        );
        assert!(v.verify(&no_exp).is_err());
    }

    #[test]
    fn refuses_unknown_tenants_and_overlong_ids() {
        let (v, c) = verifier();
        let exp = unix_now() + 60;
        let t = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p", "exp": exp, "tenant_id": "x"}),
        );
        assert_eq!(v.verify(&t), Err(TokenRejection::UnknownTenant));
        let long = "p".repeat(129);
        let t = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": long, "exp": exp}),
        );
        assert_eq!(
            v.verify(&t),
            Err(TokenRejection::BadClaim("participant_id"))
        );
    }

    #[test]
    fn caps_the_lifetime_with_leeway() {
        let (v, c) = verifier();
        let claims =
            |exp: u64| serde_json::json!({"room_id": "r", "participant_id": "p", "exp": exp});
        let max = c.jwt.max_token_lifetime.as_secs();
        let leeway = c.jwt.leeway.as_secs();
        assert!(v.verify(&sign(&c, claims(unix_now() + max))).is_ok());
        assert_eq!(
            v.verify(&sign(&c, claims(unix_now() + max + leeway + 5))),
            Err(TokenRejection::LifetimeTooLong)
        );
        assert_eq!(
            v.verify(&sign(&c, claims(u64::MAX))),
            Err(TokenRejection::LifetimeTooLong)
        );
        // The suite's "valid only in two hours" token is refused for its nbf, not its lifetime.
        let now = unix_now();
        let later = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p",
                "iat": now, "nbf": now + 7200, "exp": now + 3 * 3600}),
        );
        assert!(matches!(v.verify(&later), Err(TokenRejection::Invalid(_))));
    }

    #[test]
    fn refuses_future_and_mistyped_iat() {
        let (v, c) = verifier();
        let now = unix_now();
        let with_iat = |iat: serde_json::Value| {
            sign(
                &c,
                serde_json::json!({"room_id": "r", "participant_id": "p", "exp": now + 60, "iat": iat}),
            )
        };
        assert!(v.verify(&with_iat(serde_json::json!(now))).is_ok());
        assert!(v.verify(&with_iat(serde_json::json!(now + 5))).is_ok());
        assert_eq!(
            v.verify(&with_iat(serde_json::json!(now + 60))),
            Err(TokenRejection::IssuedInTheFuture)
        );
        for bad in [
            serde_json::json!(null),
            serde_json::json!(now.to_string()),
            serde_json::json!(now as f64 + 0.5),
            serde_json::json!(-1),
            serde_json::json!(true),
        ] {
            assert!(
                matches!(
                    v.verify(&with_iat(bad.clone())),
                    Err(TokenRejection::Invalid(_))
                ),
                "iat {bad} accepted"
            );
        }
        // exp gets the same treatment: a float is refused too.
        let float_exp = sign(
            &c,
            serde_json::json!({"room_id": "r", "participant_id": "p", "exp": now as f64 + 60.5}),
        );
        assert!(v.verify(&float_exp).is_err());
    }

    #[test]
    fn refuses_a_token_ttl_above_the_lifetime_cap_at_start() {
        let mut c = Config::ephemeral();
        c.jwt.token_ttl = Duration::from_secs(48 * 3600);
        let error = TokenVerifier::new(&c).unwrap_err();
        assert!(matches!(error, StartError::InvalidTokenLifetime(_)));
        assert!(error.to_string().contains("max_token_lifetime"), "{error}");
        c.jwt.max_token_lifetime = Duration::from_secs(48 * 3600);
        assert!(TokenVerifier::new(&c).is_ok());
        c.jwt.max_token_lifetime = Duration::ZERO;
        assert!(TokenVerifier::new(&c).is_err());
    }

    #[test]
    fn refuses_secrets_shorter_than_the_minimum_at_start() {
        let mut c = Config::ephemeral();
        c.jwt.secret = Some("s".repeat(MIN_JWT_SECRET_BYTES - 1).into());
        assert!(matches!(
            TokenVerifier::new(&c),
            Err(StartError::WeakJwtSecret(n)) if n == MIN_JWT_SECRET_BYTES - 1
        ));
        c.jwt.secret = Some("s".repeat(MIN_JWT_SECRET_BYTES).into());
        assert!(TokenVerifier::new(&c).is_ok());
    }

    #[test]
    fn minted_tokens_verify() {
        let (v, c) = verifier();
        let issuer = TokenIssuer::new(&c, &v).unwrap().unwrap();
        let t = issuer
            .mint(TokenSubject {
                tenant: DEFAULT_TENANT,
                room_id: "room",
                participant_id: "p_1",
                display_name: "Alice",
                role: "participant",
            })
            .unwrap();
        assert_eq!(v.verify(&t).unwrap().display_name.as_deref(), Some("Alice"));
    }
}
