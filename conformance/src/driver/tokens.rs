//! Participant tokens: minting valid ones, and forging ones with exactly one thing wrong.
//!
//! With a signing key (`--jwt-secret`, or `--jwt-private-key` and `--jwt-alg`) the suite mints
//! the tokens a deployment would issue: `room_id`, `participant_id`, `display_name`, `role`,
//! `iat`, `exp`, plus the configured issuer, audience and extra claims. A forged token always
//! starts from a token the deployment would accept (minted here or provisioned through the REST
//! API) and changes one thing, so that a refusal can only be caused by that one defect.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

/// How long a minted token is valid.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Two hours: far beyond any clock leeway.
const FAR_SECS: i64 = 2 * 3600;

/// The most clock leeway on `exp` and `nbf` a server may allow: RFC 7519 §4.1.4 speaks of "a
/// few minutes" (AUTH-009, AUTH-010).
pub const MAX_CLOCK_LEEWAY_SECS: i64 = 5 * 60;

/// How far past `exp` (or before `nbf`) the boundary tokens are: twice the allowed leeway, so
/// that a server within the bound refuses them whatever its clock's skew of a few seconds.
pub const BOUNDARY_SECS: i64 = 2 * MAX_CLOCK_LEEWAY_SECS;

/// Why a token could not be minted or forged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The private key is not a PEM key of the algorithm's family.
    #[error("the JWT private key is not a usable {alg} PEM key: {reason}")]
    BadKey {
        /// The algorithm the key was meant for.
        alg: String,
        /// What jsonwebtoken objected to.
        reason: String,
    },
    /// `--jwt-alg` names an algorithm the suite cannot sign with.
    #[error("unsupported JWT algorithm {0:?} (use HS256, RS256, ES256 or EdDSA)")]
    UnknownAlgorithm(String),
    /// Signing failed.
    #[error("cannot sign a token: {0}")]
    Signing(String),
    /// A forged token must start from a JWT whose claims can be read.
    #[error("cannot forge from the provisioned token: it is not a JWT with readable claims")]
    Opaque,
    /// The defect needs the deployment's signing key, and the run was not given one.
    #[error(
        "forging a token that {0} needs the deployment's signing key (--jwt-secret or --jwt-private-key)"
    )]
    NeedsKey(TokenDefect),
}

/// Who a token admits where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The room.
    pub room_id: String,
    /// The participant.
    pub participant_id: String,
    /// The name to show.
    pub display_name: String,
    /// The participant's role.
    pub role: String,
}

/// Signs tokens with the deployment's key.
pub struct Minter {
    alg: Algorithm,
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    extra_claims: Map<String, Value>,
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("alg", &self.alg)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// A minter for an HS256 shared secret.
    pub fn hs256(secret: &str) -> Self {
        Self {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret.as_bytes()),
            issuer: None,
            audience: None,
            extra_claims: Map::new(),
        }
    }

    /// A minter for a PEM private key of `alg` (RS256, ES256 or EdDSA).
    pub fn from_pem(pem: &str, alg: &str) -> Result<Self, TokenError> {
        let algorithm =
            Algorithm::from_str(alg).map_err(|_| TokenError::UnknownAlgorithm(alg.to_owned()))?;
        let key = match algorithm {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
                EncodingKey::from_rsa_pem(pem.as_bytes())
            }
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => return Err(TokenError::UnknownAlgorithm(alg.to_owned())),
        }
        .map_err(|e| TokenError::BadKey {
            alg: alg.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            alg: algorithm,
            key,
            issuer: None,
            audience: None,
            extra_claims: Map::new(),
        })
    }

    /// Adds `iss`, `aud` and extra claims to every minted token.
    pub fn with_claims(
        mut self,
        issuer: Option<String>,
        audience: Option<String>,
        extra_claims: Map<String, Value>,
    ) -> Self {
        self.issuer = issuer;
        self.audience = audience;
        self.extra_claims = extra_claims;
        self
    }

    /// Whether the key is a shared HMAC secret.
    pub fn is_hmac(&self) -> bool {
        matches!(
            self.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        )
    }

    /// A valid token for `identity`, valid from now for an hour.
    pub fn mint(&self, identity: &Identity) -> Result<String, TokenError> {
        let now = unix_now();
        let mut claims = self.extra_claims.clone();
        claims.insert("room_id".into(), json!(identity.room_id));
        claims.insert("participant_id".into(), json!(identity.participant_id));
        claims.insert("display_name".into(), json!(identity.display_name));
        claims.insert("role".into(), json!(identity.role));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + TOKEN_LIFETIME_SECS));
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), json!(issuer));
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), json!(audience));
        }
        self.sign_claims(&claims)
    }

    /// Signs arbitrary claims with the deployment's key.
    pub fn sign_claims(&self, claims: &Map<String, Value>) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        self.sign_payload(&payload)
    }

    /// Signs arbitrary payload bytes (JSON or not) with the deployment's key.
    fn sign_payload(&self, payload: &[u8]) -> Result<String, TokenError> {
        sign_with(&self.key, self.alg, payload)
    }
}

/// Signs `payload` under a `{"alg", "typ": "JWT"}` header.
fn sign_with(key: &EncodingKey, alg: Algorithm, payload: &[u8]) -> Result<String, TokenError> {
    let header = json!({ "alg": alg, "typ": "JWT" });
    let signing_input = format!("{}.{}", b64_json(&header), URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg)
        .map_err(|e| TokenError::Signing(e.to_string()))?;
    Ok(format!("{signing_input}.{signature}"))
}

/// One thing wrong with a token, as the feature files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenDefect {
    /// `exp` two hours in the past.
    ExpiredTwoHoursAgo,
    /// `nbf` two hours in the future.
    ValidOnlyInTwoHours,
    /// `exp` [`BOUNDARY_SECS`] (ten minutes) in the past.
    ExpiredTenMinutesAgo,
    /// `nbf` [`BOUNDARY_SECS`] (ten minutes) in the future.
    ValidOnlyInTenMinutes,
    /// Signed with a key that is not the deployment's.
    SignedWithAnotherKey,
    /// A claim changed after signing, signature kept.
    AlteredAfterSigning,
    /// An unsecured JWT: `alg: none` and no signature.
    AlgNone,
    /// No `room_id` claim.
    NoRoomId,
    /// No `participant_id` claim.
    NoParticipantId,
    /// `room_id` is the empty string.
    EmptyRoomId,
    /// `participant_id` is the empty string.
    EmptyParticipantId,
    /// `participant_id` is a number.
    NumericParticipantId,
    /// Header and payload only.
    TwoSegments,
    /// Three segments of characters outside base64url.
    NotBase64Url,
    /// A correctly signed payload that is not JSON.
    PayloadNotJson,
    /// A string that is not a JWT at all.
    NotAJwt,
}

impl TokenDefect {
    /// Every defect, in the order the phrases are listed.
    pub const ALL: [TokenDefect; 16] = [
        TokenDefect::ExpiredTwoHoursAgo,
        TokenDefect::ValidOnlyInTwoHours,
        TokenDefect::ExpiredTenMinutesAgo,
        TokenDefect::ValidOnlyInTenMinutes,
        TokenDefect::SignedWithAnotherKey,
        TokenDefect::AlteredAfterSigning,
        TokenDefect::AlgNone,
        TokenDefect::NoRoomId,
        TokenDefect::NoParticipantId,
        TokenDefect::EmptyRoomId,
        TokenDefect::EmptyParticipantId,
        TokenDefect::NumericParticipantId,
        TokenDefect::TwoSegments,
        TokenDefect::NotBase64Url,
        TokenDefect::PayloadNotJson,
        TokenDefect::NotAJwt,
    ];

    /// The phrase that completes "a token that …" in the feature files.
    pub fn phrase(self) -> &'static str {
        match self {
            TokenDefect::ExpiredTwoHoursAgo => "expired two hours ago",
            TokenDefect::ValidOnlyInTwoHours => "becomes valid only in two hours",
            TokenDefect::ExpiredTenMinutesAgo => "expired ten minutes ago",
            TokenDefect::ValidOnlyInTenMinutes => "becomes valid only in ten minutes",
            TokenDefect::SignedWithAnotherKey => "is signed with another key",
            TokenDefect::AlteredAfterSigning => "was altered after signing",
            TokenDefect::AlgNone => "declares the algorithm none",
            TokenDefect::NoRoomId => "has no room_id claim",
            TokenDefect::NoParticipantId => "has no participant_id claim",
            TokenDefect::EmptyRoomId => "has an empty room_id",
            TokenDefect::EmptyParticipantId => "has an empty participant_id",
            TokenDefect::NumericParticipantId => "has a numeric participant_id",
            TokenDefect::TwoSegments => "has only two segments",
            TokenDefect::NotBase64Url => "has segments that are not base64url",
            TokenDefect::PayloadNotJson => "has a payload that is not JSON",
            TokenDefect::NotAJwt => "is not a JWT at all",
        }
    }

    /// Whether forging it takes the deployment's signing key.
    pub fn needs_key(self) -> bool {
        matches!(
            self,
            TokenDefect::ExpiredTwoHoursAgo
                | TokenDefect::ValidOnlyInTwoHours
                | TokenDefect::ExpiredTenMinutesAgo
                | TokenDefect::ValidOnlyInTenMinutes
                | TokenDefect::NoRoomId
                | TokenDefect::NoParticipantId
                | TokenDefect::EmptyRoomId
                | TokenDefect::EmptyParticipantId
                | TokenDefect::NumericParticipantId
                | TokenDefect::PayloadNotJson
        )
    }
}

impl fmt::Display for TokenDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

/// The phrase is not one of [`TokenDefect::phrase`].
#[derive(Debug, thiserror::Error)]
#[error("unknown token defect {0:?}")]
pub struct UnknownDefect(String);

impl FromStr for TokenDefect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().trim_start_matches("a token that ").trim();
        Self::ALL
            .into_iter()
            .find(|d| d.phrase() == wanted)
            .ok_or_else(|| UnknownDefect(s.to_owned()))
    }
}

/// The claims of a compact JWS, read without checking the signature.
pub fn claims_of(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A token like `valid` but with `defect`; `minter` is the deployment's key, when known.
pub fn forge(
    valid: &str,
    defect: TokenDefect,
    minter: Option<&Minter>,
) -> Result<String, TokenError> {
    let resign = |claims: &Map<String, Value>| match minter {
        Some(minter) => minter.sign_claims(claims),
        None => Err(TokenError::NeedsKey(defect)),
    };
    let claims = || claims_of(valid).ok_or(TokenError::Opaque);
    let now = unix_now();
    let expired = |ago: i64| {
        let mut c = claims()?;
        c.insert("iat".into(), json!(now - ago - 3600));
        c.insert("exp".into(), json!(now - ago));
        if c.contains_key("nbf") {
            c.insert("nbf".into(), json!(now - ago - 3600));
        }
        resign(&c)
    };
    let not_yet_valid = |ahead: i64| {
        let mut c = claims()?;
        c.insert("iat".into(), json!(now));
        c.insert("nbf".into(), json!(now + ahead));
        c.insert("exp".into(), json!(now + ahead + TOKEN_LIFETIME_SECS));
        resign(&c)
    };
    match defect {
        TokenDefect::ExpiredTwoHoursAgo => expired(FAR_SECS),
        TokenDefect::ValidOnlyInTwoHours => not_yet_valid(FAR_SECS),
        TokenDefect::ExpiredTenMinutesAgo => expired(BOUNDARY_SECS),
        TokenDefect::ValidOnlyInTenMinutes => not_yet_valid(BOUNDARY_SECS),
        TokenDefect::SignedWithAnotherKey => {
            let stranger = EncodingKey::from_secret(random_secret().as_bytes());
            match minter {
                Some(minter) if !minter.is_hmac() => {
                    Ok(corrupt_signature(&minter.sign_claims(&claims()?)?))
                }
                _ => sign_with(
                    &stranger,
                    Algorithm::HS256,
                    &serde_json::to_vec(&claims()?)
                        .map_err(|e| TokenError::Signing(e.to_string()))?,
                ),
            }
        }
        TokenDefect::AlteredAfterSigning => Ok(alter_payload(valid)),
        TokenDefect::AlgNone => {
            let header = json!({ "alg": "none", "typ": "JWT" });
            Ok(format!(
                "{}.{}.",
                b64_json(&header),
                b64_json(&Value::Object(claims()?))
            ))
        }
        TokenDefect::NoRoomId => {
            let mut c = claims()?;
            c.remove("room_id");
            resign(&c)
        }
        TokenDefect::NoParticipantId => {
            let mut c = claims()?;
            c.remove("participant_id");
            resign(&c)
        }
        TokenDefect::EmptyRoomId => {
            let mut c = claims()?;
            c.insert("room_id".into(), json!(""));
            resign(&c)
        }
        TokenDefect::EmptyParticipantId => {
            let mut c = claims()?;
            c.insert("participant_id".into(), json!(""));
            resign(&c)
        }
        TokenDefect::NumericParticipantId => {
            let mut c = claims()?;
            c.insert("participant_id".into(), json!(42));
            resign(&c)
        }
        TokenDefect::TwoSegments => {
            let mut parts = valid.split('.');
            match (parts.next(), parts.next()) {
                (Some(header), Some(payload)) => Ok(format!("{header}.{payload}")),
                _ => Ok(valid.replace('.', "")),
            }
        }
        TokenDefect::NotBase64Url => Ok("****.####.~~~~".to_owned()),
        TokenDefect::PayloadNotJson => match minter {
            Some(minter) => minter.sign_payload(b"this is not json"),
            None => Err(TokenError::NeedsKey(defect)),
        },
        TokenDefect::NotAJwt => Ok("not-a-jwt".to_owned()),
    }
}

/// `valid` signed again with `minter`, claims unchanged: the positive control of a token the
/// suite forges with that key, the same token with the defect left out. The deployment accepts it
/// only when `minter` holds the deployment's key.
pub fn resigned(valid: &str, minter: &Minter) -> Result<String, TokenError> {
    minter.sign_claims(&claims_of(valid).ok_or(TokenError::Opaque)?)
}

/// The positive control of `forge(valid, defect, minter)`: the token it starts from, signed the
/// same way (again with `minter` when the forgery signs with it), without the defect.
pub fn control_of(
    valid: &str,
    defect: TokenDefect,
    minter: Option<&Minter>,
) -> Result<String, TokenError> {
    let signs_with_the_key = defect.needs_key()
        || (defect == TokenDefect::SignedWithAnotherKey && minter.is_some_and(|m| !m.is_hmac()));
    match minter {
        Some(minter) if signs_with_the_key => resigned(valid, minter),
        _ => Ok(valid.to_owned()),
    }
}

/// A token like `valid` that is already past `exp` but still inside the server's `leeway`, so
/// that the server accepts it and must end the session about `margin_secs` later.
pub fn about_to_expire(
    valid: &str,
    leeway_secs: u64,
    margin_secs: u64,
    minter: &Minter,
) -> Result<String, TokenError> {
    let mut claims = claims_of(valid).ok_or(TokenError::Opaque)?;
    let now = unix_now();
    let exp = now - i64::try_from(leeway_secs).unwrap_or(i64::MAX / 2)
        + i64::try_from(margin_secs).unwrap_or(0);
    claims.insert("iat".into(), json!(now.min(exp) - 60));
    claims.insert("exp".into(), json!(exp));
    minter.sign_claims(&claims)
}

/// The token with one claim changed in its payload and the old signature kept.
fn alter_payload(valid: &str) -> String {
    let segments: Vec<&str> = valid.split('.').collect();
    if segments.len() != 3 {
        return format!("{valid}x");
    }
    let altered = match claims_of(valid) {
        Some(mut claims) => {
            let changed = match claims.get("participant_id").and_then(Value::as_str) {
                Some(id) => format!("{id}-impostor"),
                None => "impostor".to_owned(),
            };
            claims.insert("participant_id".into(), json!(changed));
            b64_json(&Value::Object(claims))
        }
        None => format!("{}A", segments[1]),
    };
    format!("{}.{altered}.{}", segments[0], segments[2])
}

/// The token with bits of its signature flipped.
fn corrupt_signature(token: &str) -> String {
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return format!("{token}x");
    };
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    if bytes.is_empty() {
        return format!("{signing_input}.AAAA");
    }
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A fresh random secret (two v4 UUIDs' worth of randomness).
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    fn identity() -> Identity {
        Identity {
            room_id: "room-1".into(),
            participant_id: "p-1".into(),
            display_name: "Alice".into(),
            role: "participant".into(),
        }
    }

    fn verifies(token: &str, secret: &str) -> bool {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .is_ok()
    }

    #[test]
    fn minted_tokens_carry_identity_and_verify() {
        let minter = Minter::hs256("secret-for-tests");
        let token = minter.mint(&identity()).unwrap();
        let claims = claims_of(&token).unwrap();
        assert_eq!(claims["room_id"], "room-1");
        assert_eq!(claims["participant_id"], "p-1");
        assert_eq!(claims["display_name"], "Alice");
        assert!(claims["exp"].as_i64().unwrap() > unix_now());
        assert!(verifies(&token, "secret-for-tests"));
    }

    #[test]
    fn every_phrase_parses_back_to_its_defect() {
        for defect in TokenDefect::ALL {
            assert_eq!(defect.phrase().parse::<TokenDefect>().unwrap(), defect);
        }
    }

    #[test]
    fn forged_tokens_have_exactly_their_defect() {
        let minter = Minter::hs256("secret-for-tests");
        let valid = minter.mint(&identity()).unwrap();
        let forge = |d| forge(&valid, d, Some(&minter)).unwrap();

        let expired = claims_of(&forge(TokenDefect::ExpiredTwoHoursAgo)).unwrap();
        assert!(expired["exp"].as_i64().unwrap() < unix_now() - 3600);
        assert_eq!(expired["participant_id"], "p-1");

        let early = claims_of(&forge(TokenDefect::ValidOnlyInTwoHours)).unwrap();
        assert!(early["nbf"].as_i64().unwrap() > unix_now() + 3600);

        // The boundary tokens lie past the allowed leeway, but not far past it.
        let just = claims_of(&forge(TokenDefect::ExpiredTenMinutesAgo)).unwrap();
        let exp = just["exp"].as_i64().unwrap();
        assert!(exp < unix_now() - MAX_CLOCK_LEEWAY_SECS && exp > unix_now() - 3600);
        let soon = claims_of(&forge(TokenDefect::ValidOnlyInTenMinutes)).unwrap();
        let nbf = soon["nbf"].as_i64().unwrap();
        assert!(nbf > unix_now() + MAX_CLOCK_LEEWAY_SECS && nbf < unix_now() + 3600);

        assert!(!verifies(
            &forge(TokenDefect::SignedWithAnotherKey),
            "secret-for-tests"
        ));
        assert!(!verifies(
            &forge(TokenDefect::AlteredAfterSigning),
            "secret-for-tests"
        ));
        assert!(
            claims_of(&forge(TokenDefect::NoRoomId))
                .unwrap()
                .get("room_id")
                .is_none()
        );
        assert!(verifies(&forge(TokenDefect::NoRoomId), "secret-for-tests"));
        assert_eq!(
            claims_of(&forge(TokenDefect::NumericParticipantId)).unwrap()["participant_id"],
            42
        );
        assert!(forge(TokenDefect::AlgNone).ends_with('.'));
        assert_eq!(forge(TokenDefect::TwoSegments).matches('.').count(), 1);
        assert!(claims_of(&forge(TokenDefect::PayloadNotJson)).is_none());
    }

    #[test]
    fn forging_without_the_key_is_refused_only_where_it_is_needed() {
        let minter = Minter::hs256("secret-for-tests");
        let valid = minter.mint(&identity()).unwrap();
        assert!(matches!(
            forge(&valid, TokenDefect::ExpiredTwoHoursAgo, None),
            Err(TokenError::NeedsKey(_))
        ));
        assert!(forge(&valid, TokenDefect::AlteredAfterSigning, None).is_ok());
        assert!(forge(&valid, TokenDefect::SignedWithAnotherKey, None).is_ok());
    }

    #[test]
    fn the_control_of_a_forgery_is_the_same_token_without_the_defect() {
        let provisioned = Minter::hs256("the-deployments-key")
            .mint(&identity())
            .unwrap();
        let given = Minter::hs256("the-key-the-run-was-given");
        let control = control_of(&provisioned, TokenDefect::ExpiredTwoHoursAgo, Some(&given));
        let control = control.unwrap();
        assert_eq!(claims_of(&control), claims_of(&provisioned));
        assert!(verifies(&control, "the-key-the-run-was-given"));
        assert!(!verifies(&control, "the-deployments-key"));
        for defect in [TokenDefect::AlgNone, TokenDefect::SignedWithAnotherKey] {
            assert_eq!(
                control_of(&provisioned, defect, Some(&given)).unwrap(),
                provisioned
            );
        }
        assert!(matches!(
            resigned("not-a-jwt", &given),
            Err(TokenError::Opaque)
        ));
    }

    #[test]
    fn about_to_expire_is_past_exp_but_inside_the_leeway() {
        let minter = Minter::hs256("secret-for-tests");
        let valid = minter.mint(&identity()).unwrap();
        let token = about_to_expire(&valid, 10, 2, &minter).unwrap();
        let exp = claims_of(&token).unwrap()["exp"].as_i64().unwrap();
        let now = unix_now();
        assert!(exp < now && exp + 10 > now);
    }
}
