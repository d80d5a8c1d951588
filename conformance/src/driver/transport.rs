//! Reaching the server: the target URL, TCP, and TLS for `wss://`.
//!
//! `wss://` targets are verified against the system's root certificates, plus a private CA when
//! `--ca-cert` names one. The TLS stack is rustls with the ring provider. The same client
//! configuration serves the WebSocket connections and the REST calls of an `https://` API.

use std::fs;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Why a target URL or the TLS setup is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL does not parse.
    #[error("{url:?} is not a URL: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The URL's scheme is not the one expected.
    #[error("{url:?} must use {expected}")]
    BadScheme {
        /// The URL as given.
        url: String,
        /// The schemes allowed.
        expected: &'static str,
    },
    /// The CA certificate file cannot be read or holds no certificate.
    #[error("cannot use the CA certificate {path}: {reason}")]
    CaCert {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// The WebSocket endpoint under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// Whether the connection is TLS (`wss://`).
    pub secure: bool,
    /// The host name or address (without IPv6 brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The request target: path and query of the URL.
    pub path_and_query: String,
    /// The value of the `Host` header.
    pub host_header: String,
}

impl Target {
    /// Parses a `ws://` or `wss://` URL.
    pub fn parse(url: &str) -> Result<Self, TransportError> {
        let parsed = Url::parse(url).map_err(|e| TransportError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let secure = match parsed.scheme() {
            "ws" => false,
            "wss" => true,
            _ => {
                return Err(TransportError::BadScheme {
                    url: url.to_owned(),
                    expected: "ws:// or wss://",
                });
            }
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| TransportError::BadUrl {
                url: url.to_owned(),
                reason: "no host".to_owned(),
            })?
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if secure { 443 } else { 80 });
        let host_header = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let mut path_and_query = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Ok(Self {
            url: url.to_owned(),
            secure,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path_and_query,
            host_header,
        })
    }

    /// `host:port`, for messages.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Checks that an API base URL is `http://` or `https://`.
pub fn check_api_url(url: &str) -> Result<Url, TransportError> {
    let parsed = Url::parse(url).map_err(|e| TransportError::BadUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        _ => Err(TransportError::BadScheme {
            url: url.to_owned(),
            expected: "http:// or https://",
        }),
    }
}

/// The rustls client configuration: system roots plus an optional private CA.
pub fn tls_config(ca_cert: Option<&Path>) -> Result<ClientConfig, TransportError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate must not stop the run; it simply is not trusted.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_cert {
        let shown = path.display().to_string();
        let pem = fs::read(path).map_err(|e| TransportError::CaCert {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| TransportError::CaCert {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| TransportError::CaCert {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(TransportError::CaCert {
                path: shown,
                reason: "no PEM certificate in it".to_owned(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A byte stream to the server: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Transport {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens byte streams to the target.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector that uses `tls` for `wss://` targets.
    pub fn new(tls: Arc<ClientConfig>) -> Self {
        Self {
            tls: TlsConnector::from(tls),
        }
    }

    /// Opens TCP (and TLS for `wss://`) to the target within `timeout`.
    pub async fn connect(&self, target: &Target, timeout: Duration) -> io::Result<Transport> {
        let open = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            if !target.secure {
                return Ok(Transport::Plain(tcp));
            }
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = self.tls.connect(name, tcp).await.map_err(hint_ca_cert)?;
            Ok(Transport::Tls(Box::new(tls)))
        };
        tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?
    }
}

/// What a TLS failure whose certificate has an issuer nobody trusts adds to its message.
pub const CA_CERT_HINT: &str = "if the server's certificate comes from a private CA, give that CA with --ca-cert (CHALK_CA_CERT)";

/// A TLS handshake error, with [`CA_CERT_HINT`] added when the server's certificate was issued
/// by a CA that neither the system roots nor `--ca-cert` hold (a self-signed one included).
fn hint_ca_cert(error: io::Error) -> io::Error {
    let unknown_issuer = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            )
        });
    if unknown_issuer {
        io::Error::new(error.kind(), format!("{error}; {CA_CERT_HINT}"))
    } else {
        error
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls_with_and_without_ports() {
        let t = Target::parse("ws://127.0.0.1:8080/api/v1/ws").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.secure),
            ("127.0.0.1", 8080, false)
        );
        assert_eq!(t.path_and_query, "/api/v1/ws");
        assert_eq!(t.host_header, "127.0.0.1:8080");

        let t = Target::parse("wss://api.example.test/api/v1/ws?v=1").unwrap();
        assert_eq!((t.port, t.secure), (443, true));
        assert_eq!(t.host_header, "api.example.test");
        assert_eq!(t.path_and_query, "/api/v1/ws?v=1");

        let t = Target::parse("ws://[::1]:9000/ws").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.host_header, "[::1]:9000");
    }

    #[test]
    fn refuses_other_schemes() {
        assert!(matches!(
            Target::parse("http://example.test/ws"),
            Err(TransportError::BadScheme { .. })
        ));
        assert!(check_api_url("ws://example.test").is_err());
        assert!(check_api_url("https://example.test/api/v1").is_ok());
    }
}
