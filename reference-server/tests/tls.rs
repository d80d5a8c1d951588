//! `wss://`: the server speaks TLS (rustls, ring) with the configured certificate, and the
//! WebSocket behaves exactly as over plain TCP.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use chalk_reference_server::{Config, TlsConfig, serve};
use futures_util::StreamExt;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn serves_wss_with_the_configured_certificate() {
    let mut config = Config::ephemeral();
    config.tls = Some(TlsConfig {
        cert: fixture("tls-cert.pem"),
        key: fixture("tls-key.pem"),
    });
    let server = serve(config.clone()).await.expect("TLS server starts");
    assert!(server.ws_url().starts_with("wss://"));
    assert!(server.api_url().starts_with("https://"));

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("tls-cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let client_config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(client_config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the configured certificate");

    let key = jsonwebtoken::EncodingKey::from_secret(config.jwt_secret().unwrap().as_bytes());
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"room_id": "secure", "participant_id": "alice", "exp": support::now() + 60}),
        &key,
    )
    .unwrap();
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("chalk, token.{token}")).unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chalk");
    let first = tokio::time::timeout(support::DEADLINE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("expected a text frame, got {first:?}")
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    support::schema::check_server_frame(&state);
    assert_eq!(state["event"], "room.state");
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn refuses_to_start_with_an_unreadable_certificate() {
    let mut config = Config::ephemeral();
    config.tls = Some(TlsConfig {
        cert: fixture("missing.pem"),
        key: fixture("tls-key.pem"),
    });
    let error = serve(config).await.expect_err("no certificate, no start");
    assert!(
        error.to_string().starts_with("TLS configuration"),
        "{error}"
    );
}
