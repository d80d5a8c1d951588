//! Faults of the handshake's admission: [`FaultyAdmission`] wraps the production policy
//! ([`StandardAdmission`]) and takes its steps in the same order (subprotocol offer → token →
//! origin → subprotocol selection), bending the decisions its faults are about.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use chalk_reference_server::admission::{
    AdmissionPolicy, Admitted, Handshake, ProtocolOffer, SUBPROTOCOL, StandardAdmission,
};
use chalk_reference_server::auth::{
    Identity, TokenClaims, TokenRejection, is_compact_jws, unix_now,
};
use chalk_reference_server::config::{Config, DEFAULT_TENANT};
use chalk_reference_server::error::ApiError;
use chalk_reference_server::origin::{Origin, OriginPolicy, OriginRejection};
use chalk_reference_server::protocol::ServerEvent;
use chalk_reference_server::rooms::RoomKey;
use jsonwebtoken::{EncodingKey, Validation};

use crate::directory::Directory;
use crate::fault::{Fault, Faults};
use crate::frames::BadInput;

/// The leeway on `exp` of `expiry-leeway-15-minutes`.
const LAX_EXPIRY_LEEWAY_SECS: u64 = 15 * 60;

/// The production admission policy with the admission faults of a set.
pub struct FaultyAdmission {
    standard: StandardAdmission,
    faults: Faults,
    /// What tokens are decoded with: the production validation, less the time checks that
    /// `accept-expired` and `ignore-nbf` skip.
    validation: Validation,
    /// The server's HMAC key, for `skip-signature-check` (which re-signs whatever it is given).
    signer: Option<EncodingKey>,
    /// Live sessions, for `announce-refused`.
    directory: Arc<Directory>,
    /// Whether some client sent bad input, for `stop-accepting-after-garbage`.
    bad_input: Arc<BadInput>,
}

impl fmt::Debug for FaultyAdmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyAdmission")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl FaultyAdmission {
    /// Wraps `standard` (built from `config`) with `faults`.
    pub fn new(
        standard: StandardAdmission,
        faults: Faults,
        config: &Config,
        directory: Arc<Directory>,
        bad_input: Arc<BadInput>,
    ) -> Self {
        let mut validation = standard.verifier().validation().clone();
        validation.validate_exp = !faults.has(Fault::AcceptExpired);
        validation.validate_nbf = !faults.has(Fault::IgnoreNbf);
        let signer = config
            .jwt
            .secret
            .as_ref()
            .map(|secret| EncodingKey::from_secret(secret.expose().as_bytes()));
        Self {
            standard,
            faults,
            validation,
            signer,
            directory,
            bad_input,
        }
    }

    fn has(&self, fault: Fault) -> bool {
        self.faults.has(fault)
    }

    /// `refuse-header-token`, `refuse-query-token`, `refuse-query-token-with-chalk`: whether
    /// the token is refused for where it travels; `refuse-every-token`: wherever it travels.
    fn refuses_token_source(&self, offer: &ProtocolOffer, in_query: bool) -> bool {
        let from_query = offer.token.is_none() && in_query;
        ((offer.token.is_some() || in_query) && self.has(Fault::RefuseEveryToken))
            || (offer.token.is_some() && self.has(Fault::RefuseHeaderToken))
            || (from_query && !offer.any && self.has(Fault::RefuseQueryToken))
            || (from_query && offer.chalk && self.has(Fault::RefuseQueryTokenWithChalk))
    }

    /// The identity of a token as the faults verify it, or the refusal every token problem
    /// gets (after `announce-refused` has told the room the token names).
    fn verify(&self, token: &str, from_query: bool) -> Result<Identity, ApiError> {
        self.verdict(token, from_query).map_err(|reason| {
            tracing::debug!(%reason, "upgrade refused: token");
            if self.has(Fault::AnnounceRefused) {
                self.announce_refused(token);
            }
            ApiError::InvalidToken
        })
    }

    /// The production verification with the token faults' steps bent; `from_query` says the
    /// token came in `?token=` (for `query-token-skips-expiry`).
    fn verdict(&self, token: &str, from_query: bool) -> Result<Identity, TokenRejection> {
        let verifier = self.standard.verifier();
        if token.len() > verifier.max_token_bytes() {
            return Err(TokenRejection::TooLarge);
        }
        if let Some(verdict) = self.admit_unverifiable(token) {
            return verdict;
        }
        let resigned = self.resigned(token);
        let token = resigned.as_deref().unwrap_or(token);
        let lax_expiry = (from_query && self.has(Fault::QueryTokenSkipsExpiry))
            || self.has(Fault::ExpiryLeeway15Minutes);
        let mut claims = if lax_expiry {
            let mut validation = self.validation.clone();
            validation.validate_exp = false;
            let claims = verifier.decode_with(token, &validation)?;
            let leeway = if self.has(Fault::ExpiryLeeway15Minutes) {
                LAX_EXPIRY_LEEWAY_SECS
            } else {
                u64::MAX / 2
            };
            if claims.exp.saturating_add(leeway) < unix_now() {
                return Err(TokenRejection::Invalid("expired".to_owned()));
            }
            claims
        } else {
            verifier.decode_with(token, &self.validation)?
        };
        if self.has(Fault::DefaultRoomId) {
            claims.room_id.get_or_insert_with(|| "lobby".to_owned());
        }
        if self.has(Fault::DefaultParticipantId) {
            claims
                .participant_id
                .get_or_insert_with(|| "anonymous".to_owned());
        }
        if !self.has(Fault::AcceptEmptyClaims) {
            return verifier.identity(claims);
        }
        // Empty ids stand in for a moment as a one-letter id, which passes the same checks.
        let empty = |claim: &mut Option<String>| {
            let empty = claim.as_deref() == Some("");
            if empty {
                *claim = Some("-".to_owned());
            }
            empty
        };
        let (empty_room, empty_participant) = (
            empty(&mut claims.room_id),
            empty(&mut claims.participant_id),
        );
        let mut identity = verifier.identity(claims)?;
        if empty_room {
            identity.room_id.clear();
        }
        if empty_participant {
            identity.participant_id.clear();
        }
        Ok(identity)
    }

    /// `accept-alg-none` and `accept-malformed-token`: a verdict for tokens that cannot be
    /// verified at all, or `None` to verify normally.
    fn admit_unverifiable(&self, token: &str) -> Option<Result<Identity, TokenRejection>> {
        let segments: Vec<&str> = token.split('.').collect();
        let unsecured = segments.len() == 3 && segments[2].is_empty();
        if unsecured && self.has(Fault::AcceptAlgNone) {
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(segments[0])
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())?;
            if header["alg"] == "none" {
                let claims: TokenClaims =
                    jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
                return Some(self.standard.verifier().identity(claims));
            }
        }
        let malformed = !is_compact_jws(token)
            || jsonwebtoken::decode_header(token).is_err()
            || jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token).is_err();
        if malformed && !unsecured && self.has(Fault::AcceptMalformedToken) {
            return Some(Ok(anonymous()));
        }
        None
    }

    /// `skip-signature-check`: the token re-signed with the server's own key, so that whatever
    /// signature it came with passes.
    fn resigned(&self, token: &str) -> Option<String> {
        if !self.has(Fault::SkipSignatureCheck) {
            return None;
        }
        let signer = self.signer.as_ref()?;
        let (message, _signature) = token.rsplit_once('.')?;
        let algorithm = self.standard.verifier().algorithm();
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), signer, algorithm).ok()?;
        Some(format!("{message}.{signature}"))
    }

    /// `announce-refused`: tells the room a refused token names that its participant joined.
    fn announce_refused(&self, token: &str) {
        let Ok(claims) =
            jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
        else {
            return;
        };
        let tenant = claims["tenant_id"].as_str().unwrap_or(DEFAULT_TENANT);
        let (Some(room_id), Some(participant_id)) = (
            claims["room_id"].as_str(),
            claims["participant_id"].as_str(),
        ) else {
            return;
        };
        let joined = ServerEvent::ParticipantJoined {
            id: participant_id,
            display_name: participant_id,
            role: "participant",
        }
        .encode();
        let room = RoomKey {
            tenant: tenant.to_owned(),
            room_id: room_id.to_owned(),
        };
        self.directory.send_to(&room, &joined);
    }

    /// The production origin check with `accept-null-origin`, `refuse-every-origin`,
    /// `ignore-origin` and `substring-origin-match` bending it.
    fn check_origin(&self, identity: &Identity, headers: &HeaderMap) -> Result<(), ApiError> {
        let values: Vec<_> = headers.get_all(header::ORIGIN).iter().collect();
        if self.has(Fault::AcceptNullOrigin) && values.len() == 1 && values[0] == "null" {
            return Ok(());
        }
        let origins = self.standard.origins();
        let verdict = match origins.check(&identity.tenant, headers) {
            Ok(()) if self.has(Fault::RefuseEveryOrigin) && !values.is_empty() => {
                Err(OriginRejection::NotAllowed)
            }
            Err(OriginRejection::NotAllowed)
                if self.tolerates(
                    origins,
                    &identity.tenant,
                    values.first().and_then(|v| v.to_str().ok()),
                ) =>
            {
                Ok(())
            }
            verdict => verdict,
        };
        verdict.map_err(|reason| {
            tracing::debug!(%reason, tenant = %identity.tenant, "upgrade refused: origin");
            ApiError::OriginNotAllowed
        })
    }

    /// `ignore-origin`, `substring-origin-match` and `subdomain-origin-match`: whether a
    /// well-formed origin that is not allowed passes anyway.
    fn tolerates(&self, origins: &OriginPolicy, tenant: &str, origin: Option<&str>) -> bool {
        if self.has(Fault::IgnoreOrigin) {
            return true;
        }
        let Some(raw) = origin.map(str::to_ascii_lowercase) else {
            return false;
        };
        let Some(origin) = Origin::parse(&raw) else {
            return false;
        };
        let Some(list) = origins.allowed_origins(tenant) else {
            return false;
        };
        let substring = |a: &Origin| origin.host().contains(a.host());
        // A subdomain: the allowed origin once the leading labels are taken off the host.
        let subdomain = |a: &Origin| {
            origin
                .host()
                .strip_suffix(a.host())
                .filter(|labels| labels.len() > 1 && labels.ends_with('.'))
                .and_then(|labels| Origin::parse(&raw.replacen(labels, "", 1)))
                .is_some_and(|parent| &parent == a)
        };
        list.iter().any(|a| {
            (self.has(Fault::SubstringOriginMatch) && substring(a))
                || (self.has(Fault::SubdomainOriginMatch) && subdomain(a))
        })
    }
}

impl AdmissionPolicy for FaultyAdmission {
    fn admit(&self, handshake: &Handshake<'_>) -> Result<Admitted, ApiError> {
        if self.has(Fault::StopAcceptingAfterGarbage) && self.bad_input.seen() {
            return Err(ApiError::ShuttingDown);
        }
        let offer = ProtocolOffer::parse(handshake.headers)?;
        if self.has(Fault::RequireChalkFirst) && token_before_chalk(handshake.headers)? {
            return Err(ApiError::MalformedUpgrade);
        }
        let from_query = StandardAdmission::query_token(handshake.query)?;
        if self.refuses_token_source(&offer, from_query.is_some()) {
            return Err(ApiError::InvalidToken);
        }
        let query_only = offer.token.is_none() && from_query.is_some();
        let mut identity = match offer.token.as_deref().or(from_query) {
            Some(token) => self.verify(token, query_only)?,
            None if self.has(Fault::AcceptMissingToken) => anonymous(),
            None => return Err(self.standard.missing_token()),
        };
        if !(query_only && self.has(Fault::QueryTokenSkipsOrigin)) {
            self.check_origin(&identity, handshake.headers)?;
        }
        if self.has(Fault::RoomFromQuery)
            && let Some((_, room)) = handshake.query.iter().find(|(k, _)| k == "room_id")
        {
            identity.room_id.clone_from(room);
        }
        let subprotocol = match &offer.token {
            _ if self.has(Fault::NoProtocolHeader) => None,
            Some(token) if self.has(Fault::EchoTokenProtocol) => {
                Some(Cow::Owned(format!("token.{token}")))
            }
            _ => StandardAdmission::subprotocol(&offer),
        };
        Ok(Admitted {
            identity,
            subprotocol,
        })
    }
}

/// `require-chalk-first`: whether a `token.` entry was offered before `chalk`.
fn token_before_chalk(headers: &HeaderMap) -> Result<bool, ApiError> {
    let mut chalk = false;
    for entry in ProtocolOffer::entries(headers)? {
        if entry == SUBPROTOCOL {
            chalk = true;
        } else if entry.starts_with("token.") && !chalk {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The identity given to clients admitted without a usable token.
fn anonymous() -> Identity {
    Identity {
        tenant: DEFAULT_TENANT.to_owned(),
        room_id: "lobby".to_owned(),
        participant_id: format!("anonymous-{}", uuid::Uuid::new_v4().simple()),
        display_name: None,
        role: None,
        expires_at: unix_now() + 3600,
    }
}
