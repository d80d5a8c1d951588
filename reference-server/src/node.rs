//! Who this server is among several: its node id ([`NodeId`]), the `Chalk-Node` response header
//! that names it on every HTTP answer ([`NODE_HEADER`], [`name_node`]), and the Redis URL that
//! puts it in cluster mode ([`RedisUrl`], whose password never shows).
//!
//! A single-process server has a node id too (generated), so that a client can always tell which
//! server answered; the header is an extension of the published API.

use std::fmt;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;

/// The response header that carries the node id on every HTTP answer of a node.
pub const NODE_HEADER: HeaderName = HeaderName::from_static("chalk-node");

/// Longest node id, in bytes.
pub const MAX_NODE_ID_BYTES: usize = 64;

/// A node's id: 1 to [`MAX_NODE_ID_BYTES`] characters of `[A-Za-z0-9._-]`, so that it fits in a
/// header, a Redis key and a log line as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(String);

/// A node id that breaks the rule of [`NodeId`]; the text is shown (a node id is no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid node id {0:?}: 1 to {max} characters of A-Z a-z 0-9 . _ -",
    max = MAX_NODE_ID_BYTES
)]
pub struct InvalidNodeId(pub String);

impl NodeId {
    /// `text`, if it is a valid node id.
    pub fn parse(text: &str) -> Result<NodeId, InvalidNodeId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.is_empty() || text.len() > MAX_NODE_ID_BYTES || !text.chars().all(allowed) {
            return Err(InvalidNodeId(text.to_owned()));
        }
        Ok(NodeId(text.to_owned()))
    }

    /// A fresh id: `n-` and 12 random hex digits (48 bits: two nodes of one cluster drawing the
    /// same id is a one-in-ten-million event even at a thousand nodes).
    pub fn generate() -> NodeId {
        let random = uuid::Uuid::new_v4().simple().to_string();
        NodeId(format!("n-{}", &random[..12]))
    }

    /// The configured id, or a generated one when none is configured.
    pub fn configured_or_generated(configured: Option<&str>) -> Result<NodeId, InvalidNodeId> {
        configured.map_or_else(|| Ok(NodeId::generate()), NodeId::parse)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Puts `Chalk-Node: <node>` on every response of `router`, whatever produced it (the route
/// table, its fallback, a refusal, an upgrade's 101), overwriting any value already there.
pub fn name_node(router: Router, node: &NodeId) -> Router {
    let value = HeaderValue::from_str(node.as_str())
        .expect("a node id is visible ASCII, so it is a header value");
    router.layer(SetResponseHeaderLayer::overriding(NODE_HEADER, value))
}

/// A Redis URL, `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`: what puts a node in cluster
/// mode. Its `Display` and `Debug` show it with the credentials replaced by `[redacted]`;
/// only [`RedisUrl::expose`] gives the URL itself, to the Redis client.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    full: String,
    /// The URL as it may be shown: credentials replaced.
    shown: String,
    /// The credentials as written in the URL (`user:password`), to scrub from client errors.
    credentials: Option<String>,
}

/// A Redis URL that cannot be used; the text in it is already redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redis URL {shown}: {reason} (expected redis://[:PASSWORD@]HOST[:PORT][/DB])")]
pub struct InvalidRedisUrl {
    /// The URL with its credentials redacted, or a placeholder when it could not be split.
    pub shown: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// What replaces credentials wherever a Redis URL is shown.
const REDACTED: &str = "[redacted]";

impl RedisUrl {
    /// Checks the shape of `text` (scheme, host, port, database number) without connecting.
    pub fn parse(text: &str) -> Result<RedisUrl, InvalidRedisUrl> {
        let text = text.trim();
        let invalid = |shown: String, reason| InvalidRedisUrl { shown, reason };
        let Some(rest) = text.strip_prefix("redis://") else {
            // Nothing is known of where the credentials are: show nothing of the text.
            return Err(invalid(
                "(not shown)".to_owned(),
                "the scheme must be redis://",
            ));
        };
        // The credentials end at the last `@` of the whole text, not of the part before the
        // first `/`: a password with a `/` in it (unescaped, as generated passwords often
        // are) is still credentials, never shown as a host or a path.
        let (credentials, after) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (host_port, path) = after.split_at(after.find('/').unwrap_or(after.len()));
        let shown = match credentials {
            Some(_) => format!("redis://{REDACTED}@{host_port}{path}"),
            None => format!("redis://{host_port}{path}"),
        };
        if shown.contains(['?', '#']) {
            return Err(invalid(shown, "query and fragment are not supported"));
        }
        // `[::1]` is an IPv6 host without a port; `[::1]:7000` one with a port.
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host_port.ends_with(']') => (host, Some(port)),
            _ => (host_port, None),
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(invalid(shown, "the host is missing or malformed"));
        }
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(invalid(shown, "the port is not a number from 0 to 65535"));
        }
        let database = path.strip_prefix('/').unwrap_or(path);
        if !database.is_empty() && database.parse::<u32>().is_err() {
            return Err(invalid(shown, "the database is not a number"));
        }
        Ok(RedisUrl {
            full: text.to_owned(),
            shown,
            credentials: credentials.map(str::to_owned),
        })
    }

    /// The URL itself, credentials included: only for the Redis client.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// Whether the URL carries a user or a password.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// `text` (such as a client's error message) with this URL's credentials, and the password
    /// alone, replaced by `[redacted]`, in case the client repeated them.
    pub fn scrub(&self, text: &str) -> String {
        let Some(credentials) = &self.credentials else {
            return text.to_owned();
        };
        let mut out = text.replace(self.full.as_str(), &self.shown);
        let password = credentials.split_once(':').map_or("", |(_, p)| p);
        for secret in [credentials.as_str(), password] {
            if !secret.is_empty() {
                out = out.replace(secret, REDACTED);
            }
        }
        out
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_short_printable_and_checked() {
        let generated = NodeId::generate();
        assert!(NodeId::parse(generated.as_str()).is_ok());
        assert_ne!(generated, NodeId::generate());
        assert!(generated.as_str().len() <= 16);
        for good in ["a", "node-1", "eu_west.3", &"x".repeat(MAX_NODE_ID_BYTES)] {
            assert_eq!(NodeId::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "two words",
            "é",
            "a/b",
            "a:b",
            &"x".repeat(MAX_NODE_ID_BYTES + 1),
        ] {
            assert_eq!(NodeId::parse(bad), Err(InvalidNodeId(bad.to_owned())));
        }
        assert_eq!(
            NodeId::configured_or_generated(Some("b-2"))
                .unwrap()
                .as_str(),
            "b-2"
        );
    }

    #[test]
    fn redis_urls_are_shown_without_their_password() {
        let url = RedisUrl::parse("redis://:hunter2-secret@cache.internal:6380/2").unwrap();
        assert_eq!(
            url.expose(),
            "redis://:hunter2-secret@cache.internal:6380/2"
        );
        assert_eq!(url.to_string(), "redis://[redacted]@cache.internal:6380/2");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.has_credentials());
        let said = "auth failed for redis://:hunter2-secret@cache.internal:6380/2 (hunter2-secret)";
        let scrubbed = url.scrub(said);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        let user = RedisUrl::parse("redis://app:pa55word@10.0.0.5").unwrap();
        assert_eq!(user.to_string(), "redis://[redacted]@10.0.0.5");
        assert!(
            !user
                .scrub("WRONGPASS for app:pa55word")
                .contains("pa55word")
        );
    }

    #[test]
    fn redis_urls_without_credentials_are_shown_as_given() {
        for text in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://[::1]:7000/0",
            "redis://[::1]",
        ] {
            let url = RedisUrl::parse(text).unwrap();
            assert_eq!(url.to_string(), text);
            assert!(!url.has_credentials());
        }
    }

    #[test]
    fn malformed_redis_urls_are_refused_without_showing_secrets() {
        for text in [
            "http://:pw-secret@host",
            "redis://:pw-secret@",
            "redis://:pw-secret@host:port",
            "redis://:pw-secret@host:6379/db",
            "redis://:pw-secret@host:6379/0?x=1",
            "rediss://:pw-secret@host",
            ":pw-secret@host:6379",
        ] {
            let error = RedisUrl::parse(text).unwrap_err().to_string();
            assert!(!error.contains("pw-secret"), "{error}");
        }
        // A password with a `/` in it is credentials all the same: shown redacted whether
        // the URL is accepted or refused.
        for text in [
            "redis://:pw/secret@host",
            "redis://:pw-secret/x@host:6379/0",
            "redis://user:a/b/pw-secret@",
        ] {
            let shown = match RedisUrl::parse(text) {
                Ok(url) => format!("{url} {url:?}"),
                Err(error) => error.to_string(),
            };
            assert!(!shown.contains("secret"), "{shown}");
        }
    }
}
