//! The admission policy: the seam where a WebSocket handshake's token, origin and subprotocol
//! are decided.
//!
//! [`AdmissionPolicy`] is shaped like tower-http's `ValidateRequest`: one method that takes the
//! handshake's facts and either admits (with the decisions taken: who the client is, which
//! subprotocol the `101` selects) or refuses with the [`ApiError`] that becomes the response.
//! The server calls the installed policy once per handshake, unconditionally, after the
//! shutdown and connection-cap checks and before room access; it is held as
//! `Arc<dyn AdmissionPolicy>` (a cold path). The default is [`StandardAdmission`], the
//! production rules; another policy usually wraps it and reuses its steps ([`ProtocolOffer`],
//! [`StandardAdmission::query_token`], [`StandardAdmission::verify`],
//! [`StandardAdmission::check_origin`]), bending one decision. Tokens are never logged, echoed or
//! put in a response.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use crate::auth::{Identity, TokenVerifier};
use crate::error::ApiError;
use crate::origin::OriginPolicy;

/// The subprotocol the server speaks.
pub const SUBPROTOCOL: &str = "chalk";

/// The facts of one upgrade request an admission policy decides on.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    /// The request's headers (`Sec-WebSocket-Protocol`, `Origin`, ...).
    pub headers: &'a HeaderMap,
    /// The query string's pairs, in order (`?token=`).
    pub query: &'a [(String, String)],
}

/// An admitted handshake: the decisions the policy took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Who the client is.
    pub identity: Identity,
    /// The subprotocol the `101` selects among those offered, if any.
    pub subprotocol: Option<Cow<'static, str>>,
}

/// Decides whether a WebSocket handshake may proceed (see the module documentation).
pub trait AdmissionPolicy: Send + Sync + fmt::Debug + 'static {
    /// Admits the handshake with its decisions, or refuses it with the response's error.
    fn admit(&self, handshake: &Handshake<'_>) -> Result<Admitted, ApiError>;
}

/// What the client offered in `Sec-WebSocket-Protocol`, in client order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProtocolOffer {
    /// Whether `chalk` was offered.
    pub chalk: bool,
    /// The token of the `token.{jwt}` entry, if any.
    pub token: Option<String>,
    /// Whether anything at all was offered.
    pub any: bool,
}

impl ProtocolOffer {
    /// Parses every `Sec-WebSocket-Protocol` header line: comma-separated, trimmed, empty
    /// elements skipped. Two different tokens, or a non-ASCII header, are malformed.
    pub fn parse(headers: &HeaderMap) -> Result<ProtocolOffer, ApiError> {
        let mut offer = ProtocolOffer::default();
        for entry in ProtocolOffer::entries(headers)? {
            offer.any = true;
            if entry == SUBPROTOCOL {
                offer.chalk = true;
            } else if let Some(token) = entry.strip_prefix("token.") {
                match &offer.token {
                    Some(existing) if existing != token => {
                        return Err(ApiError::MalformedUpgrade);
                    }
                    _ => offer.token = Some(token.to_owned()),
                }
            }
        }
        if offer.any && !offer.chalk {
            return Err(ApiError::MalformedUpgrade);
        }
        Ok(offer)
    }

    /// Every offered entry in client order, across header lines; a non-ASCII header is
    /// malformed.
    pub fn entries(headers: &HeaderMap) -> Result<Vec<&str>, ApiError> {
        let mut entries = Vec::new();
        for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
            let text = value.to_str().map_err(|_| ApiError::MalformedUpgrade)?;
            entries.extend(text.split(',').map(str::trim).filter(|e| !e.is_empty()));
        }
        Ok(entries)
    }
}

/// The production admission rules: a token in `Sec-WebSocket-Protocol` (beside `chalk`) or in
/// `?token=`, verified by the [`TokenVerifier`]; the `Origin` checked by the [`OriginPolicy`]
/// for the token's tenant; `chalk` selected when it was offered.
#[derive(Debug, Clone)]
pub struct StandardAdmission {
    verifier: Arc<TokenVerifier>,
    origins: Arc<OriginPolicy>,
}

impl StandardAdmission {
    /// The rules of this verifier and these origins.
    pub fn new(verifier: Arc<TokenVerifier>, origins: OriginPolicy) -> Self {
        Self {
            verifier,
            origins: Arc::new(origins),
        }
    }

    /// The token verifier.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// The origin rules.
    pub fn origins(&self) -> &OriginPolicy {
        &self.origins
    }

    /// The single `?token=` value, if any; different values are malformed.
    pub fn query_token(pairs: &[(String, String)]) -> Result<Option<&str>, ApiError> {
        let mut found: Option<&str> = None;
        for (_, value) in pairs.iter().filter(|(k, _)| k == "token") {
            match found {
                Some(existing) if existing != value => return Err(ApiError::MalformedUpgrade),
                _ => found = Some(value),
            }
        }
        Ok(found)
    }

    /// The identity of a token, or the refusal every token problem gets.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        self.verifier.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "upgrade refused: token");
            ApiError::InvalidToken
        })
    }

    /// The refusal of an upgrade without any token.
    pub fn missing_token(&self) -> ApiError {
        tracing::debug!("upgrade refused: no token");
        ApiError::InvalidToken
    }

    /// Checks the request's `Origin` for the identity's tenant.
    pub fn check_origin(&self, identity: &Identity, headers: &HeaderMap) -> Result<(), ApiError> {
        self.origins
            .check(&identity.tenant, headers)
            .map_err(|reason| {
                tracing::debug!(%reason, tenant = %identity.tenant, "upgrade refused: origin");
                ApiError::OriginNotAllowed
            })
    }

    /// The subprotocol selected for `offer`: `chalk` when it was offered.
    pub fn subprotocol(offer: &ProtocolOffer) -> Option<Cow<'static, str>> {
        offer.chalk.then_some(Cow::Borrowed(SUBPROTOCOL))
    }
}

impl AdmissionPolicy for StandardAdmission {
    fn admit(&self, handshake: &Handshake<'_>) -> Result<Admitted, ApiError> {
        let offer = ProtocolOffer::parse(handshake.headers)?;
        let from_query = Self::query_token(handshake.query)?;
        let identity = match offer.token.as_deref().or(from_query) {
            Some(token) => self.verify(token)?,
            None => return Err(self.missing_token()),
        };
        self.check_origin(&identity, handshake.headers)?;
        Ok(Admitted {
            identity,
            subprotocol: Self::subprotocol(&offer),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn offer(lines: &[&str]) -> Result<ProtocolOffer, ApiError> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(line).unwrap(),
            );
        }
        ProtocolOffer::parse(&headers)
    }

    #[test]
    fn finds_the_token_in_any_order_and_across_header_lines() {
        for lines in [
            &["chalk, token.a.b.c"][..],
            &["token.a.b.c, chalk"][..],
            &["token.a.b.c", "chalk"][..],
            &[" chalk ,, token.a.b.c , other"][..],
        ] {
            let o = offer(lines).unwrap();
            assert!(o.chalk);
            assert_eq!(o.token.as_deref(), Some("a.b.c"));
        }
    }

    #[test]
    fn refuses_tokens_without_chalk_and_conflicting_tokens() {
        assert_eq!(offer(&["token.a.b.c"]), Err(ApiError::MalformedUpgrade));
        assert_eq!(
            offer(&["Chalk, token.a.b.c"]),
            Err(ApiError::MalformedUpgrade)
        );
        assert_eq!(
            offer(&["chalk, token.a.b.c, token.x.y.z"]),
            Err(ApiError::MalformedUpgrade)
        );
        assert!(offer(&["chalk, token.a.b.c, token.a.b.c"]).is_ok());
        assert_eq!(offer(&[]).unwrap(), ProtocolOffer::default());
    }

    #[test]
    fn takes_one_query_token_and_refuses_two_different_ones() {
        let pairs = |values: &[&str]| -> Vec<(String, String)> {
            values
                .iter()
                .map(|v| ("token".to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(StandardAdmission::query_token(&pairs(&[])), Ok(None));
        assert_eq!(
            StandardAdmission::query_token(&pairs(&["a", "a"])),
            Ok(Some("a"))
        );
        assert_eq!(
            StandardAdmission::query_token(&pairs(&["a", "b"])),
            Err(ApiError::MalformedUpgrade)
        );
    }
}
