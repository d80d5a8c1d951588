//! The upgrade of `GET /api/v1/ws`: token sources, subprotocol selection, token validation,
//! origin rules, and the rule that a refusal changes nothing in any room.

mod support;

use jsonwebtoken::Algorithm;
use serde_json::json;
use support::{TestServer, now, unique};
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

const INVALID_TOKEN: &str = "invalid or missing token";

#[tokio::test]
async fn accepts_a_header_token_and_selects_exactly_chalk() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let mut client = t.connect(t.request(&token)).await;
    assert_eq!(
        client.response_header("sec-websocket-protocol"),
        Some("chalk")
    );
    for (_, value) in &client.response_headers {
        assert!(!value.contains(&token), "token echoed in a response header");
    }
    client.expect_event("room.state").await;
}

#[tokio::test]
async fn finds_the_token_whatever_the_order_of_offered_protocols() {
    let t = TestServer::start().await;
    let room = unique("room");
    for (i, offer) in [
        "token.{t}, chalk",
        "chalk, token.{t}",
        "chalk,token.{t},other",
        "other , token.{t} , chalk",
    ]
    .iter()
    .enumerate()
    {
        let token = t.token(&room, &format!("p{i}"));
        let mut request = t.request(&token);
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&offer.replace("{t}", &token)).unwrap(),
        );
        let client = t.connect(request).await;
        assert_eq!(
            client.response_header("sec-websocket-protocol"),
            Some("chalk"),
            "{offer}"
        );
    }
}

/// Sends a hand-written upgrade request and returns the response head (the tungstenite client
/// cannot send one offer split over several header lines).
async fn raw_upgrade(t: &TestServer, extra_headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(t.server.local_addr())
        .await
        .unwrap();
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra_headers}\r\n",
        t.server.local_addr()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(support::DEADLINE, async {
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
    })
    .await
    .expect("response head within the deadline");
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

#[tokio::test]
async fn reads_the_offer_across_several_header_lines() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let head = raw_upgrade(
        &t,
        &format!("Sec-WebSocket-Protocol: token.{token}\r\nSec-WebSocket-Protocol: chalk\r\n"),
    )
    .await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-protocol: chalk\r\n"), "{head}");
    assert!(!head.contains(&token.to_ascii_lowercase()), "{head}");
}

#[tokio::test]
async fn accepts_the_deprecated_query_token_without_selecting_a_protocol() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let mut request = t.bare_request(&format!("?token={token}"));
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static(support::ALLOWED_ORIGIN));
    let mut client = t.connect(request).await;
    assert_eq!(client.response_header("sec-websocket-protocol"), None);
    client.expect_event("room.state").await;
}

#[tokio::test]
async fn prefers_the_header_token_over_the_query_token() {
    let t = TestServer::start().await;
    let room = unique("room");
    let header_token = t.token(&room, "from-header");
    let query_token = t.token(&room, "from-query");
    let mut request = t.request(&header_token);
    *request.uri_mut() = format!("{}?token={query_token}", t.server.ws_url())
        .parse()
        .unwrap();
    let mut client = t.connect(request).await;
    let state = client.expect_event("room.state").await;
    assert_eq!(state["data"]["participants"][0]["id"], "from-header");
}

#[tokio::test]
async fn refuses_an_upgrade_without_any_token() {
    let t = TestServer::start().await;
    let mut request = t.bare_request("");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("chalk"));
    t.expect_refusal(request, 401, INVALID_TOKEN).await;
    t.expect_refusal(t.bare_request(""), 401, INVALID_TOKEN)
        .await;
}

#[tokio::test]
async fn refuses_a_token_offered_without_chalk() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let mut request = t.request(&token);
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("token.{token}")).unwrap(),
    );
    t.expect_refusal(request, 400, "malformed upgrade request")
        .await;
}

#[tokio::test]
async fn refuses_two_different_tokens() {
    let t = TestServer::start().await;
    let room = unique("room");
    let (a, b) = (t.token(&room, "a"), t.token(&room, "b"));
    let mut request = t.request(&a);
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("chalk, token.{a}, token.{b}")).unwrap(),
    );
    t.expect_refusal(request, 400, "malformed upgrade request")
        .await;
}

#[tokio::test]
async fn refuses_malformed_tokens_with_one_generic_body() {
    let t = TestServer::start().await;
    let valid = t.token(&unique("room"), "alice");
    let mut padded = valid.clone();
    padded.push('=');
    for token in [
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "..".to_owned(),
        padded,
        format!("{}+{}", &valid[..5], &valid[6..]), // standard-base64 character
        format!("{} {}", &valid[..5], &valid[5..]), // inner whitespace
        format!("{valid}.extra"),
    ] {
        let refusal = t
            .expect_refusal(t.request(&token), 401, INVALID_TOKEN)
            .await;
        assert!(!refusal.body.contains(&token));
    }
}

#[tokio::test]
async fn refuses_a_token_with_a_bad_signature() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let (head, sig) = token.rsplit_once('.').unwrap();
    let flipped: String = sig
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 3 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    t.expect_refusal(t.request(&format!("{head}.{flipped}")), 401, INVALID_TOKEN)
        .await;

    let other_key = jsonwebtoken::EncodingKey::from_secret(&[7u8; 32]);
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &json!({"room_id": "r", "participant_id": "p", "exp": now() + 60}),
        &other_key,
    )
    .unwrap();
    t.expect_refusal(t.request(&foreign), 401, INVALID_TOKEN)
        .await;
}

#[tokio::test]
async fn refuses_unsigned_alg_none_tokens() {
    let t = TestServer::start().await;
    let claims = b64(
        json!({"room_id": "r", "participant_id": "p", "exp": now() + 60})
            .to_string()
            .as_bytes(),
    );
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        for signature in ["", "AAAA"] {
            let token = format!("{header}.{claims}.{signature}");
            t.expect_refusal(t.request(&token), 401, INVALID_TOKEN)
                .await;
        }
    }
}

#[tokio::test]
async fn refuses_tokens_signed_with_another_algorithm_than_configured() {
    let t = TestServer::start().await;
    let claims = json!({"room_id": "r", "participant_id": "p", "exp": now() + 60});
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        t.expect_refusal(t.request(&t.sign_with(alg, &claims)), 401, INVALID_TOKEN)
            .await;
    }
}

#[tokio::test]
async fn refuses_expired_token_before_upgrade() {
    let t = TestServer::start().await;
    // Leeway is 10 s: 15 s in the past is expired, 5 s in the past is still accepted.
    let expired = t.sign(&json!({"room_id": "r", "participant_id": "p", "exp": now() - 15}));
    t.expect_refusal(t.request(&expired), 401, INVALID_TOKEN)
        .await;
    let within_leeway =
        t.sign(&json!({"room_id": unique("r"), "participant_id": "p", "exp": now() - 5}));
    t.connect(t.request(&within_leeway)).await;
}

#[tokio::test]
async fn refuses_token_that_is_not_yet_valid() {
    let t = TestServer::start().await;
    let future = t.sign(&json!({"room_id": "r", "participant_id": "p",
        "exp": now() + 600, "nbf": now() + 60}));
    t.expect_refusal(t.request(&future), 401, INVALID_TOKEN)
        .await;
    let string_nbf = t.sign(&json!({"room_id": "r", "participant_id": "p",
        "exp": now() + 600, "nbf": "99999999999"}));
    t.expect_refusal(t.request(&string_nbf), 401, INVALID_TOKEN)
        .await;
}

#[tokio::test]
async fn refuses_tokens_with_missing_empty_or_mistyped_claims() {
    let t = TestServer::start().await;
    let exp = now() + 60;
    let long = "x".repeat(129);
    for claims in [
        json!({"participant_id": "p", "exp": exp}),
        json!({"room_id": "r", "exp": exp}),
        json!({"room_id": "r", "participant_id": "p"}),
        json!({"room_id": "", "participant_id": "p", "exp": exp}),
        json!({"room_id": "r", "participant_id": "", "exp": exp}),
        json!({"room_id": null, "participant_id": "p", "exp": exp}),
        json!({"room_id": 5, "participant_id": "p", "exp": exp}),
        json!({"room_id": "r", "participant_id": long, "exp": exp}),
        json!({"room_id": "r", "participant_id": "p", "exp": "9999999999"}),
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "tenant_id": "nobody"}),
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "tenant_id": ""}),
    ] {
        t.expect_refusal(t.request(&t.sign(&claims)), 401, INVALID_TOKEN)
            .await;
    }
}

#[tokio::test]
async fn refuses_oversized_tokens_by_header_and_by_query() {
    let t = TestServer::start().await;
    let padding = "x".repeat(9 * 1024);
    let big =
        t.sign(&json!({"room_id": "r", "participant_id": "p", "exp": now() + 60, "pad": padding}));
    assert!(big.len() > 8 * 1024);
    t.expect_refusal(t.request(&big), 401, INVALID_TOKEN).await;
    let mut request = t.bare_request(&format!("?token={big}"));
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static(support::ALLOWED_ORIGIN));
    t.expect_refusal(request, 401, INVALID_TOKEN).await;
}

#[tokio::test]
async fn refuses_tokens_with_a_crit_header() {
    let t = TestServer::start().await;
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.crit = Some(vec!["x-unknown".into()]);
    let key = jsonwebtoken::EncodingKey::from_secret(t.config.jwt_secret().unwrap().as_bytes());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"room_id": "r", "participant_id": "p", "exp": now() + 60}),
        &key,
    )
    .unwrap();
    t.expect_refusal(t.request(&token), 401, INVALID_TOKEN)
        .await;
}

#[tokio::test]
async fn requires_issuer_and_audience_when_configured() {
    let t = TestServer::start_with(|c| {
        c.jwt.issuer = Some("https://issuer.chalk.test".into());
        c.jwt.audience = Some("chalk-ws".into());
    })
    .await;
    let exp = now() + 60;
    let good = t.sign(
        &json!({"room_id": unique("r"), "participant_id": "p", "exp": exp,
        "iss": "https://issuer.chalk.test", "aud": "chalk-ws"}),
    );
    t.connect(t.request(&good)).await;
    for claims in [
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "aud": "chalk-ws"}),
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "iss": "https://issuer.chalk.test"}),
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "iss": "https://evil", "aud": "chalk-ws"}),
        json!({"room_id": "r", "participant_id": "p", "exp": exp, "iss": "https://issuer.chalk.test", "aud": "other"}),
    ] {
        t.expect_refusal(t.request(&t.sign(&claims)), 401, INVALID_TOKEN)
            .await;
    }
}

#[tokio::test]
async fn verifies_rs256_es256_and_eddsa_tokens_with_a_configured_public_key() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (alg, name) in [
        (Algorithm::EdDSA, "ed25519"),
        (Algorithm::ES256, "es256"),
        (Algorithm::RS256, "rs256"),
    ] {
        let public =
            std::fs::read_to_string(fixtures.join(format!("jwt-{name}-public.pem"))).unwrap();
        let private = std::fs::read(fixtures.join(format!("jwt-{name}-private.pem"))).unwrap();
        let t = TestServer::start_with(|c| {
            c.jwt.secret = None;
            c.jwt.public_key_pem = Some(public.clone());
        })
        .await;
        let key = match alg {
            Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(&private).unwrap(),
            Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(&private).unwrap(),
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
        };
        let claims = json!({"room_id": unique("r"), "participant_id": "p", "exp": now() + 60});
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap();
        t.connect(t.request(&token)).await;
        // An HMAC token keyed with the public key text must not pass (key confusion).
        let confused = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        t.expect_refusal(t.request(&confused), 401, INVALID_TOKEN)
            .await;
        // Without a private key, the REST API cannot mint tokens.
        let rest = t.rest();
        let room = rest.create_room("no issuer").await;
        let answer = rest
            .post(
                &format!("/rooms/{room}/participants"),
                json!({"display_name": "A"}),
            )
            .await;
        assert_eq!(answer.status, 503);
        assert_eq!(
            answer.json,
            json!({"error": "token issuance not configured"})
        );

        // With the private key, it mints tokens of the same algorithm that the server accepts.
        let t = TestServer::start_with(|c| {
            c.jwt.secret = None;
            c.jwt.public_key_pem = Some(public.clone());
            c.jwt.private_key_pem = Some(String::from_utf8(private.clone()).unwrap().into());
        })
        .await;
        let rest = t.rest();
        let room = rest.create_room("issuer").await;
        let added = rest.add_participant(&room, "A", "participant").await;
        let minted = added["access_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(minted).unwrap().alg, alg);
        t.connect(t.request(minted)).await;
    }
}

#[tokio::test]
async fn refuses_to_start_with_a_private_key_that_does_not_match() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut config = chalk_reference_server::Config::ephemeral();
    config.jwt.secret = None;
    config.jwt.public_key_pem =
        Some(std::fs::read_to_string(fixtures.join("jwt-es256-public.pem")).unwrap());
    config.jwt.private_key_pem = Some(
        std::fs::read_to_string(fixtures.join("jwt-ed25519-private.pem"))
            .unwrap()
            .into(),
    );
    let error = chalk_reference_server::serve(config)
        .await
        .expect_err("mismatched keys");
    assert!(error.to_string().contains("JWT key"), "{error}");
}

fn with_origin(
    t: &TestServer,
    token: &str,
    origin: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = t.request(token);
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(origin).unwrap());
    request
}

#[tokio::test]
async fn refuses_forbidden_null_and_malformed_origins() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    for origin in [
        "https://evil.test",
        "null",
        "http://app.chalk.test",
        "https://app.chalk.test:8443",
        "https://app.chalk.test.evil.test",
        "https://app.chalk.test/",
        "https://user@app.chalk.test",
        "not an origin",
    ] {
        t.expect_refusal(with_origin(&t, &token, origin), 403, "origin not allowed")
            .await;
    }
    let mut two = t.request(&token);
    two.headers_mut()
        .append("origin", HeaderValue::from_static("https://app.chalk.test"));
    t.expect_refusal(two, 403, "origin not allowed").await;
}

#[tokio::test]
async fn accepts_allowed_origins_after_normalisation() {
    let t = TestServer::start().await;
    let room = unique("room");
    for (i, origin) in ["https://app.chalk.test", "HTTPS://App.Chalk.Test:443"]
        .iter()
        .enumerate()
    {
        t.connect(with_origin(&t, &t.token(&room, &format!("p{i}")), origin))
            .await;
    }
}

#[tokio::test]
async fn missing_origin_is_allowed_by_default_and_refusable() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let mut request = t.request(&token);
    request.headers_mut().remove("origin");
    t.connect(request).await;

    let strict = TestServer::start_with(|c| c.allow_missing_origin = false).await;
    let token = strict.token(&unique("room"), "alice");
    let mut request = strict.request(&token);
    request.headers_mut().remove("origin");
    strict
        .expect_refusal(request, 403, "origin not allowed")
        .await;
}

#[tokio::test]
async fn applies_label_wise_patterns_when_a_tenant_has_no_allowed_origins() {
    let t = TestServer::start_with(|c| {
        c.default_tenant.allowed_origins.clear();
        c.origin_patterns = vec!["https://*.example.com".into(), "http://localhost:*".into()];
    })
    .await;
    let room = unique("room");
    for (i, origin) in [
        "https://app.example.com",
        "https://a.b.example.com",
        "http://localhost:5173",
        "http://localhost",
    ]
    .iter()
    .enumerate()
    {
        t.connect(with_origin(&t, &t.token(&room, &format!("p{i}")), origin))
            .await;
    }
    let token = t.token(&room, "mallory");
    for origin in [
        "https://example.com.evil.com",
        "https://evil-example.com",
        "https://example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://localhost:5173",
        "http://localhost.evil.com",
        "https://example.com@evil.com",
        "null",
    ] {
        t.expect_refusal(with_origin(&t, &token, origin), 403, "origin not allowed")
            .await;
    }
}

#[tokio::test]
async fn refused_upgrades_change_nothing_in_the_room() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let expired = t.sign(&json!({"room_id": room, "participant_id": "bob", "exp": now() - 60}));
    t.expect_refusal(t.request(&expired), 401, INVALID_TOKEN)
        .await;
    t.expect_refusal(
        with_origin(&t, &t.token(&room, "carol"), "https://evil.test"),
        403,
        "origin not allowed",
    )
    .await;
    let seen = alice.drain_until_own_echo().await;
    assert!(
        seen.is_empty(),
        "a refused upgrade produced events: {seen:?}"
    );
}

#[tokio::test]
async fn answers_400_to_a_plain_get_with_a_valid_token() {
    let t = TestServer::start().await;
    let token = t.token(&unique("room"), "alice");
    let response = support::http_client()
        .get(format!(
            "{}?token={token}",
            t.server.ws_url().replacen("ws://", "http://", 1)
        ))
        .header("origin", support::ALLOWED_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "malformed upgrade request"}));
}

#[tokio::test]
async fn drops_a_client_that_never_finishes_its_request_head() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestServer::start_with(|c| {
        c.limits.header_read_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(t.server.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let ended = tokio::time::timeout(support::DEADLINE, tcp.read_to_end(&mut buf)).await;
    assert!(ended.is_ok(), "the half-sent request was kept open");
}

#[tokio::test]
async fn answers_431_to_a_huge_request_head_and_keeps_serving() {
    let t = TestServer::start().await;
    let mut request = t.request("x.y.z");
    request.headers_mut().insert(
        "x-filler",
        HeaderValue::from_str(&"f".repeat(256 * 1024)).unwrap(),
    );
    let refusal = t.try_connect(request).await.err().expect("refused");
    assert_eq!(refusal.status, 431);
    // The server still serves the next client.
    t.join(&unique("room"), "alice").await;
}

#[tokio::test]
async fn refuses_tokens_that_live_longer_than_the_maximum_lifetime() {
    let t = TestServer::start().await;
    let claims = |exp: u64| json!({"room_id": unique("r"), "participant_id": "p", "exp": exp});
    // The default cap is 24 h (plus the 10 s leeway).
    for exp in [u64::MAX, now() + 25 * 3600, now() + 24 * 3600 + 60] {
        t.expect_refusal(t.request(&t.sign(&claims(exp))), 401, INVALID_TOKEN)
            .await;
    }
    t.connect(t.request(&t.sign(&claims(now() + 23 * 3600))))
        .await;
    // The suite's "valid only in two hours" token (nbf now+2h, exp now+3h) is refused for its
    // nbf alone: the same token without nbf is within the cap and accepted.
    let t0 = now();
    let later = json!({"room_id": unique("r"), "participant_id": "p",
        "iat": t0, "nbf": t0 + 7200, "exp": t0 + 3 * 3600});
    t.expect_refusal(t.request(&t.sign(&later)), 401, INVALID_TOKEN)
        .await;
    let mut without_nbf = later.clone();
    without_nbf.as_object_mut().unwrap().remove("nbf");
    t.connect(t.request(&t.sign(&without_nbf))).await;

    // A configured cap applies the same way.
    let t = TestServer::start_with(|c| {
        c.jwt.max_token_lifetime = std::time::Duration::from_secs(3600);
    })
    .await;
    t.expect_refusal(
        t.request(&t.sign(&claims(now() + 2 * 3600))),
        401,
        INVALID_TOKEN,
    )
    .await;
    t.connect(t.request(&t.sign(&claims(now() + 1800)))).await;
}

#[tokio::test]
async fn refuses_tokens_issued_in_the_future_or_with_a_mistyped_iat() {
    let t = TestServer::start().await;
    let with_iat = |iat: serde_json::Value| json!({"room_id": unique("r"), "participant_id": "p", "exp": now() + 300, "iat": iat});
    // Leeway 10 s: 5 s ahead is clock skew, a minute ahead is refused.
    t.connect(t.request(&t.sign(&with_iat(json!(now() + 5)))))
        .await;
    t.connect(t.request(&t.sign(&with_iat(json!(now() - 60)))))
        .await;
    for iat in [
        json!(now() + 60),
        json!(now().to_string()),
        json!(null),
        json!(1.5e9),
        json!(-1),
        json!([now()]),
    ] {
        t.expect_refusal(t.request(&t.sign(&with_iat(iat))), 401, INVALID_TOKEN)
            .await;
    }
    // iat stays optional.
    t.connect(t.request(&t.token(&unique("r"), "p"))).await;
}

#[tokio::test]
async fn refuses_to_start_when_minted_tokens_would_outlive_the_maximum_lifetime() {
    let mut config = chalk_reference_server::Config::ephemeral();
    config.jwt.token_ttl = std::time::Duration::from_secs(48 * 3600);
    let error = chalk_reference_server::serve(config)
        .await
        .expect_err("token_ttl above max_token_lifetime");
    assert!(
        matches!(
            error,
            chalk_reference_server::StartError::InvalidTokenLifetime(_)
        ),
        "{error}"
    );
    assert!(error.to_string().contains("max_token_lifetime"), "{error}");
}

#[tokio::test]
async fn refuses_upgrades_over_the_connection_cap_with_503_until_a_slot_frees() {
    let t = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    let room = unique("room");
    let alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    let refusal = t
        .expect_refusal(
            t.request(&t.token(&room, "carol")),
            503,
            "too many connections",
        )
        .await;
    assert_eq!(refusal.retry_after.as_deref(), Some("5"), "{refusal:?}");
    // The connections already open are unaffected, and the refusal left no trace in the room.
    assert!(bob.drain_until_own_echo().await.is_empty());

    // Once Alice's connection has ended, its slot is free again.
    alice.close().await;
    assert_eq!(
        bob.wait_for("participant.left").await["data"]["id"],
        "alice"
    );
    let mut carol = connect_when_a_slot_frees(&t, || t.request(&t.token(&room, "carol"))).await;
    carol.expect_event("room.state").await;
    bob.wait_for("participant.joined").await;
    assert_eq!(t.server.live_sessions(), 2);
}

/// Retries an upgrade refused with 503 until it succeeds (bounded): a slot is given back when
/// the server has finished its side of the closing handshake, just after the client's side.
async fn connect_when_a_slot_frees(
    t: &TestServer,
    request: impl Fn() -> tokio_tungstenite::tungstenite::handshake::client::Request,
) -> support::Client {
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    loop {
        match t.try_connect(request()).await {
            Ok(client) => return client,
            Err(refusal) => {
                assert_eq!(refusal.status, 503, "{refusal:?}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot was never given back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn caps_connections_per_client_address_when_configured() {
    let t = TestServer::start_with(|c| c.limits.max_connections_per_ip = Some(1)).await;
    let room = unique("room");
    let alice = t.join(&room, "alice").await;
    let refusal = t
        .expect_refusal(
            t.request(&t.token(&room, "bob")),
            503,
            "too many connections",
        )
        .await;
    assert_eq!(refusal.retry_after.as_deref(), Some("5"));
    // Another client address has a cap of its own.
    let other = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let mut carol = match t
        .try_connect_from(other, t.request(&t.token(&room, "carol")))
        .await
    {
        Ok(client) => client,
        Err(refusal) => panic!("refused from another address: {refusal:?}"),
    };
    carol.expect_event("room.state").await;
    let refusal = t
        .try_connect_from(other, t.request(&t.token(&room, "dave")))
        .await
        .err()
        .expect("a second connection from 127.0.0.2 is refused");
    assert_eq!(refusal.status, 503);
    // Alice leaves: 127.0.0.1 may connect again.
    alice.close().await;
    connect_when_a_slot_frees(&t, || t.request(&t.token(&room, "bob")))
        .await
        .expect_event("room.state")
        .await;
}
