//! Origin checking against Cross-Site WebSocket Hijacking.
//!
//! Origins are compared as normalised (scheme, host, port) tuples: lower-cased, default ports
//! made explicit, no path, query, userinfo, trailing dot or non-ASCII. A tenant with
//! `allowed_origins` gets an exact match; a tenant without any falls back to patterns whose
//! wildcards match whole DNS labels (`https://*.example.com` matches `https://a.example.com`,
//! never `https://example.com.evil.com` or `https://evil-example.com`) and ports
//! (`http://localhost:*`).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::config::{Config, DEFAULT_TENANT};
use crate::error::StartError;

/// A normalised origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Splits `scheme://authority` into its parts; `None` for anything else.
fn split(text: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    if rest.is_empty()
        || rest
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\'))
    {
        return None;
    }
    Some((scheme, rest))
}

/// Splits `host[:port]` (with `[v6]` literals) into host text and port text.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let host = &authority[..=end];
        let rest = &authority[end + 1..];
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// A DNS name of ASCII letters, digits and inner hyphens, or a bracketed IPv6 literal.
fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 5 {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

impl Origin {
    /// Parses and normalises an `Origin` header value; `None` for `null` and anything malformed.
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, authority) = split(text)?;
        let (host, port) = split_port(authority)?;
        let host = host.to_ascii_lowercase();
        if !valid_host(&host) {
            return None;
        }
        let port = match port {
            Some(p) => parse_port(p)?,
            None => scheme.default_port(),
        };
        Some(Origin { scheme, host, port })
    }

    /// The host, lower-cased (a bracketed literal for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Parses a configured origin, tolerating one trailing `/`.
    fn parse_configured(text: &str) -> Option<Origin> {
        Origin::parse(text.strip_suffix('/').unwrap_or(text))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// One or more labels in front of this suffix (which has at least two labels).
    Subdomains(String),
}

/// A configured origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: Scheme,
    host: HostPattern,
    /// `None` means any port.
    port: Option<u16>,
}

impl OriginPattern {
    /// Parses `https://*.example.com`, `http://localhost:*`, or a plain origin.
    pub fn parse(text: &str) -> Option<OriginPattern> {
        let text = text.strip_suffix('/').unwrap_or(text);
        let (scheme, authority) = split(text)?;
        let (host, port) = split_port(authority)?;
        let host = host.to_ascii_lowercase();
        let host = match host.strip_prefix("*.") {
            Some(suffix) if valid_host(suffix) && suffix.contains('.') => {
                HostPattern::Subdomains(suffix.to_owned())
            }
            Some(_) => return None,
            None if valid_host(&host) => HostPattern::Exact(host),
            None => return None,
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(parse_port(p)?),
            None => Some(scheme.default_port()),
        };
        Some(OriginPattern { scheme, host, port })
    }

    /// Whether `origin` matches this pattern.
    pub fn matches(&self, origin: &Origin) -> bool {
        if origin.scheme != self.scheme || self.port.is_some_and(|p| p != origin.port) {
            return false;
        }
        match &self.host {
            HostPattern::Exact(h) => *h == origin.host,
            HostPattern::Subdomains(suffix) => origin
                .host
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty()),
        }
    }
}

/// Why an `Origin` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginRejection {
    /// No `Origin` header and missing origins are not allowed.
    #[error("missing Origin")]
    Missing,
    /// More than one `Origin` header.
    #[error("several Origin headers")]
    Duplicate,
    /// `null`, non-ASCII, or not `scheme://host[:port]`.
    #[error("malformed or null Origin")]
    Malformed,
    /// Well-formed but not allowed for the tenant.
    #[error("Origin not allowed for the tenant")]
    NotAllowed,
}

/// The configured origin rules of every tenant.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    tenants: HashMap<String, Vec<Origin>>,
    patterns: Vec<OriginPattern>,
    allow_missing: bool,
}

impl OriginPolicy {
    /// Parses the configured origins and patterns; a bad entry stops the server from starting.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let parse_list = |list: &[String]| -> Result<Vec<Origin>, StartError> {
            list.iter()
                .map(|o| {
                    Origin::parse_configured(o).ok_or_else(|| StartError::InvalidOrigin(o.clone()))
                })
                .collect()
        };
        let mut tenants = HashMap::new();
        tenants.insert(
            DEFAULT_TENANT.to_owned(),
            parse_list(&config.default_tenant.allowed_origins)?,
        );
        for (id, tenant) in &config.tenants {
            tenants.insert(id.clone(), parse_list(&tenant.allowed_origins)?);
        }
        let patterns = config
            .origin_patterns
            .iter()
            .map(|p| OriginPattern::parse(p).ok_or_else(|| StartError::InvalidOrigin(p.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            tenants,
            patterns,
            allow_missing: config.allow_missing_origin,
        })
    }

    /// The exact origins configured for `tenant` (empty: the patterns apply), if it is known.
    pub fn allowed_origins(&self, tenant: &str) -> Option<&[Origin]> {
        self.tenants.get(tenant).map(Vec::as_slice)
    }

    /// Checks the request's `Origin` header(s) for `tenant`.
    pub fn check(&self, tenant: &str, headers: &HeaderMap) -> Result<(), OriginRejection> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return if self.allow_missing {
                Ok(())
            } else {
                Err(OriginRejection::Missing)
            };
        };
        if values.next().is_some() {
            return Err(OriginRejection::Duplicate);
        }
        let origin = value
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .ok_or(OriginRejection::Malformed)?;
        let allowed = match self.tenants.get(tenant) {
            Some(list) if !list.is_empty() => list.contains(&origin),
            _ => self.patterns.iter().any(|p| p.matches(&origin)),
        };
        if allowed {
            Ok(())
        } else {
            Err(OriginRejection::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> OriginPattern {
        OriginPattern::parse(p).unwrap()
    }

    fn origin(o: &str) -> Origin {
        Origin::parse(o).unwrap()
    }

    #[test]
    fn normalises_case_and_default_ports() {
        assert_eq!(
            origin("HTTPS://App.Example.com:443"),
            origin("https://app.example.com")
        );
        assert_ne!(origin("http://example.com"), origin("https://example.com"));
        assert_ne!(
            origin("https://example.com:8443"),
            origin("https://example.com")
        );
    }

    #[test]
    fn refuses_null_and_malformed_origins() {
        for bad in [
            "null",
            "",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com@evil.com",
            "https://example.com.",
            "https://exa mple.com",
            "https://exämple.com",
            "https://example.com:0",
            "https://example.com:99999",
            "ftp://example.com",
            "https://example.com?x=1",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn wildcard_patterns_match_whole_labels_only() {
        let p = pattern("https://*.example.com");
        assert!(p.matches(&origin("https://app.example.com")));
        assert!(p.matches(&origin("https://a.b.example.com")));
        assert!(!p.matches(&origin("https://example.com")));
        assert!(!p.matches(&origin("https://example.com.evil.com")));
        assert!(!p.matches(&origin("https://evil-example.com")));
        assert!(!p.matches(&origin("https://evilexample.com")));
        assert!(!p.matches(&origin("http://app.example.com")));
        assert!(!p.matches(&origin("https://app.example.com:8443")));
    }

    #[test]
    fn localhost_any_port_pattern_matches_every_port() {
        let p = pattern("http://localhost:*");
        assert!(p.matches(&origin("http://localhost:3000")));
        assert!(p.matches(&origin("http://localhost")));
        assert!(!p.matches(&origin("https://localhost:3000")));
        assert!(!p.matches(&origin("http://localhost.evil.com:3000")));
    }

    #[test]
    fn refuses_too_broad_patterns() {
        assert!(OriginPattern::parse("https://*").is_none());
        assert!(OriginPattern::parse("https://*.com").is_none());
        assert!(OriginPattern::parse("*").is_none());
    }
}
