//! The one place that knows every secret of a run, so that no report ever shows one.
//!
//! A run is given secrets (the JWT secret or private key, the API key) and makes more (every
//! token it provisions or forges). Each is registered here with a label that says what it was
//! without saying what it is (`[token:Alice]`, `[api-key]`). Everything the suite prints or
//! writes to a file — failure messages, transcripts, error lines, JUnit, JSON, HTML and Markdown
//! reports — passes through [`Redactor::redact`] first. As a last line of defence, anything
//! shaped like a JWT that was never registered (a token a server made up and sent back, say) is
//! masked as `[jwt]`, and every file is scanned with [`Redactor::leaks`] before it is written:
//! a file that would still show a secret, raw or escaped, is not written at all.
//!
//! URLs are shown with [`url_without_credentials`]: no user-info, no `token` query parameter.

use std::sync::{LazyLock, RwLock};

use regex::Regex;
use reqwest::Url;

/// Secrets shorter than this are not registered: masking every occurrence of a two-letter API
/// key would garble the whole report while protecting nothing.
pub const MIN_SECRET_LEN: usize = 4;

/// Anything that looks like a compact JWS (base64url JSON header, payload, and signature when
/// present), so that even a token cut short is masked.
static JWT_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?")
        .expect("valid regex")
});

/// A registered secret and the label that replaces it.
#[derive(Debug, Clone)]
struct Secret {
    value: String,
    label: String,
}

/// Knows every secret of one run and masks them in any text.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    secrets: RwLock<Vec<Secret>>,
}

impl Redactor {
    /// A redactor that knows no secret yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret; every later [`redact`](Self::redact) replaces it with `[label]`,
    /// and its percent-encoded form too (as a request target carries a token in `?token=`,
    /// `=` written `%3D`, `+` written `%2B`, `/` written `%2F`).
    pub fn register(&self, value: &str, label: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let encoded = percent_encode(value);
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        for form in [value.to_owned(), encoded] {
            if secrets.iter().any(|s| s.value == form) {
                continue;
            }
            secrets.push(Secret {
                value: form,
                label: format!("[{label}]"),
            });
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    }

    /// Registers a token and, separately, its signature segment: a server that reflects only
    /// the signature still leaks a credential.
    pub fn register_token(&self, token: &str, holder: &str) {
        self.register(token, &format!("token:{holder}"));
        if let Some(signature) = token
            .rsplit('.')
            .next()
            .filter(|_| token.matches('.').count() == 2)
            && signature.len() >= 16
        {
            self.register(signature, &format!("signature:{holder}"));
        }
    }

    /// The text with every registered secret, and anything JWT-shaped, masked.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            if out.contains(&secret.value) {
                out = out.replace(&secret.value, &secret.label);
            }
        }
        JWT_SHAPE.replace_all(&out, "[jwt]").into_owned()
    }

    /// The labels of the registered secrets that `text` still shows, raw or escaped the way an
    /// HTML, XML or JSON file would carry them, plus `[jwt]` when anything JWT-shaped is left.
    /// Empty means the text is safe to write.
    pub fn leaks(&self, text: &str) -> Vec<String> {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<String> = secrets
            .iter()
            .filter(|secret| escaped_forms(&secret.value).any(|form| text.contains(&form)))
            .map(|secret| secret.label.clone())
            .collect();
        if JWT_SHAPE.is_match(text) {
            found.push("[jwt]".to_owned());
        }
        found
    }
}

/// A secret as it may appear in a file: raw, HTML/XML-escaped, JSON-escaped.
fn escaped_forms(value: &str) -> impl Iterator<Item = String> {
    let markup = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let apos = markup.replace("&#39;", "&apos;");
    let json = serde_json::to_string(value)
        .map(|quoted| quoted[1..quoted.len() - 1].to_owned())
        .unwrap_or_else(|_| value.to_owned());
    [value.to_owned(), markup, apos, json].into_iter()
}

/// Percent-encodes everything outside the URL "unreserved" set: how a query parameter's value
/// is written on the wire and in transcripts (the redactor registers each secret this way too, so this is the one definition).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The URL as a report may show it: without user-info (`user:password@`) and without the
/// value of any query parameter that carries a credential (`token`, `access_token`, `api_key`,
/// `key`). Text that is not a URL comes back unchanged.
pub fn url_without_credentials(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return url.to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(name, _)| {
                !matches!(
                    name.to_ascii_lowercase().as_str(),
                    "token" | "access_token" | "api_key" | "apikey" | "key"
                )
            })
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tX2lkIjoiciJ9.c2lnbmF0dXJlLXNlZ21lbnQtYWJj";

    #[test]
    fn masks_registered_secrets_with_their_labels() {
        let redactor = Redactor::new();
        redactor.register("s3cr3t-jwt-key", "jwt-secret");
        redactor.register("ck_live_123456", "api-key");
        let text = "secret s3cr3t-jwt-key, header X-API-Key: ck_live_123456";
        assert_eq!(
            redactor.redact(text),
            "secret [jwt-secret], header X-API-Key: [api-key]"
        );
    }

    #[test]
    fn masks_a_token_and_its_signature_alone() {
        let redactor = Redactor::new();
        redactor.register_token(TOKEN, "Alice");
        assert_eq!(
            redactor.redact(&format!("Sec-WebSocket-Protocol: chalk, token.{TOKEN}")),
            "Sec-WebSocket-Protocol: chalk, token.[token:Alice]"
        );
        assert_eq!(
            redactor.redact("bad signature c2lnbmF0dXJlLXNlZ21lbnQtYWJj"),
            "bad signature [signature:Alice]"
        );
    }

    #[test]
    fn masks_unregistered_jwt_shapes() {
        let redactor = Redactor::new();
        assert_eq!(
            redactor.redact(&format!("got {TOKEN} back")),
            "got [jwt] back"
        );
    }

    #[test]
    fn masks_a_token_cut_short() {
        let redactor = Redactor::new();
        let cut = &TOKEN[..50];
        assert_eq!(redactor.redact(&format!("token.{cut}")), "token.[jwt]");
    }

    #[test]
    fn masks_the_longer_of_two_overlapping_secrets_whole() {
        let redactor = Redactor::new();
        redactor.register("abcd", "short");
        redactor.register("abcdefgh", "long");
        assert_eq!(redactor.redact("abcdefgh abcd"), "[long] [short]");
    }

    #[test]
    fn finds_secrets_left_in_a_file_raw_or_escaped() {
        let redactor = Redactor::new();
        redactor.register("k3y<with>&\"quotes\"", "api-key");
        redactor.register("plain-secret-value", "jwt-secret");
        assert!(redactor.leaks("nothing to see [api-key]").is_empty());
        assert_eq!(
            redactor.leaks("x plain-secret-value y"),
            vec!["[jwt-secret]"]
        );
        assert_eq!(
            redactor.leaks("<td>k3y&lt;with&gt;&amp;&quot;quotes&quot;</td>"),
            vec!["[api-key]"]
        );
        assert_eq!(
            redactor.leaks(r#"{"key": "k3y<with>&\"quotes\""}"#),
            vec!["[api-key]"]
        );
        assert_eq!(redactor.leaks(&format!("a {TOKEN}")), vec!["[jwt]"]);
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            url_without_credentials("wss://user:pw@chalk.example/api/v1/ws?token=abc&room=r1"),
            "wss://chalk.example/api/v1/ws?room=r1"
        );
        assert_eq!(
            url_without_credentials("ws://127.0.0.1:8080/api/v1/ws?token=abc"),
            "ws://127.0.0.1:8080/api/v1/ws"
        );
        assert_eq!(
            url_without_credentials("ws://127.0.0.1:8080/api/v1/ws"),
            "ws://127.0.0.1:8080/api/v1/ws"
        );
        assert_eq!(url_without_credentials("not a url"), "not a url");
    }

    #[test]
    fn ignores_secrets_too_short_to_mask_usefully() {
        let redactor = Redactor::new();
        redactor.register("k", "api-key");
        assert_eq!(redactor.redact("keep"), "keep");
    }
}
