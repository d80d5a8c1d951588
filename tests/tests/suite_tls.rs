//! The suite over TLS: `wss://` and an `https://` REST API, verified against a private CA given
//! with `--ca-cert`, and refused without it. The CA and the server certificate are made here,
//! for this run only.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use chalk_conformance::commands::exit::ExitStatus;
use chalk_conformance::contract::catalogue::KNOWN_EXTENSIONS;
use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
use chalk_reference_server::{Config, TlsConfig, serve};
use chalk_tests::conformance;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

/// A directory with `ca.pem`, `server.pem` and `server-key.pem` for 127.0.0.1 and localhost.
fn certificates() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chalk-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "chalk-conformance test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_targets_pass_with_the_private_ca_and_are_unreachable_without_it() {
    let dir = certificates();
    let mut config = Config::ephemeral();
    config.tls = Some(TlsConfig {
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    });
    config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
    config.limits.heartbeat_interval = SUITE_HEARTBEAT;
    let secret = config.jwt_secret().unwrap().to_owned();
    let api_key = config.api_key().unwrap().to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let server = serve(config)
        .await
        .expect("the TLS reference server starts");
    let (url, api_url) = (server.ws_url(), server.api_url());
    assert!(url.starts_with("wss://") && api_url.starts_with("https://"));
    let ca = dir.join("ca.pem");
    let declared = KNOWN_EXTENSIONS.join(",");
    let idle = format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis());
    let mut args = vec![
        "--idle-timeout",
        &idle,
        "--url",
        &url,
        "--api-url",
        &api_url,
        "--api-key",
        &api_key,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--declare",
        &declared,
    ];

    let (status, output) = conformance(&args).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert!(
        output
            .lines()
            .last()
            .unwrap()
            .contains("target unreachable"),
        "{output}"
    );
    assert!(output.contains("give that CA with --ca-cert"), "{output}");

    args.extend(["--ca-cert", ca.to_str().unwrap()]);
    let (status, output) = conformance(&args).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    // The only skips: the scenarios written for the other origin mode, and (one node) those
    // written for several nodes, one line each.
    let skipped = output.matches(" — needs --origin-mode ").count()
        + output.matches(" — needs two nodes: ").count();
    assert!(
        output.ends_with(&format!(
            " passed, 0 failed, 0 warned, 0 failed as expected, {skipped} skipped, 0 not declared\n"
        )),
        "{output}"
    );

    server.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_without_ca_cert_is_unreachable_with_the_hint_to_give_one() {
    let dir = std::env::temp_dir().join(format!("chalk-tls-self-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).unwrap();
    let mut config = Config::ephemeral();
    config.tls = Some(TlsConfig {
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    });
    let secret = config.jwt_secret().unwrap().to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let server = serve(config)
        .await
        .expect("the TLS reference server starts");
    let url = server.ws_url();

    let (status, output) =
        conformance(&["--url", &url, "--jwt-secret", &secret, "--origin", &origin]).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    let line = output
        .lines()
        .find(|l| l.contains("target unreachable"))
        .unwrap_or_else(|| panic!("no unreachable line: {output}"));
    assert!(
        line.contains(
            "if the server's certificate comes from a private CA, give that CA with --ca-cert (CHALK_CA_CERT)"
        ),
        "{output}"
    );

    server.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
