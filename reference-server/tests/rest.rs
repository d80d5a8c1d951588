//! The REST subset: shapes, authentication, errors, and the effects of removals, room ends and
//! recordings on connected sockets.

mod support;

use chalk_reference_server::app::MAX_REST_BODY_BYTES;
use chalk_reference_server::rest::{MAX_DISPLAY_NAME_BYTES, MAX_ROLE_BYTES, MAX_ROOM_NAME_BYTES};
use serde_json::json;
use support::{Rest, TestServer, unique};

fn assert_rfc3339_utc(value: &serde_json::Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(text.ends_with('Z') && text.contains('T'), "{text}");
}

#[tokio::test]
async fn health_needs_no_key() {
    let t = TestServer::start().await;
    let url = t.server.api_url().replace("/api/v1", "/healthz");
    // Through `http_client`, which installs the rustls provider: `reqwest::get` would panic when
    // this test ran before any other test of the file had installed it.
    let response = support::http_client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn refuses_missing_and_wrong_api_keys() {
    let t = TestServer::start().await;
    let anonymous = Rest {
        api_key: None,
        ..t.rest()
    };
    let answer = anonymous.post("/rooms", json!({"name": "x"})).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json, json!({"error": "invalid or missing API key"}));
    let wrong = Rest {
        api_key: Some("not-the-key".into()),
        ..t.rest()
    };
    assert_eq!(wrong.get("/rooms/anything").await.status, 401);
}

#[tokio::test]
async fn creates_and_reads_a_room() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let created = rest.post("/rooms", json!({"name": "Standup"})).await;
    assert_eq!(created.status, 201);
    let room = &created.json;
    assert!(room["id"].as_str().unwrap().starts_with("room_"));
    assert_eq!(room["name"], "Standup");
    assert_eq!(room["status"], "active");
    assert_rfc3339_utc(&room["created_at"]);

    let id = room["id"].as_str().unwrap();
    let fetched = rest.get(&format!("/rooms/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json["participant_count"], 0);
    assert_eq!(fetched.json["recording_id"], serde_json::Value::Null);

    let _alice = t.join(id, "alice").await;
    let fetched = rest.get(&format!("/rooms/{id}")).await;
    assert_eq!(fetched.json["participant_count"], 1);
    assert_eq!(fetched.json["connected_count"], 1);
}

#[tokio::test]
async fn rejects_bad_bodies_with_400() {
    let t = TestServer::start().await;
    let rest = t.rest();
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!([]),
    ] {
        let answer = rest.post("/rooms", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.json["error"].is_string());
    }
    let raw = rest
        .http
        .post(format!("{}/rooms", rest.base))
        .header("x-api-key", rest.api_key.clone().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let padding = " ".repeat(MAX_REST_BODY_BYTES);
    let oversized = rest
        .http
        .post(format!("{}/rooms", rest.base))
        .header("x-api-key", rest.api_key.clone().unwrap())
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"big\"}}{padding}"))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 400);
}

#[tokio::test]
async fn accepts_text_fields_up_to_their_limits_and_refuses_longer_ones() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let at = |n: usize| "n".repeat(n);
    assert_eq!(
        rest.post("/rooms", json!({"name": at(MAX_ROOM_NAME_BYTES)}))
            .await
            .status,
        201
    );
    assert_eq!(
        rest.post("/rooms", json!({"name": at(MAX_ROOM_NAME_BYTES + 1)}))
            .await
            .status,
        400
    );
    let room = rest.post("/rooms", json!({"name": "limits"})).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/rooms/{room}/participants");
    for (body, status) in [
        (
            json!({"display_name": at(MAX_DISPLAY_NAME_BYTES), "role": at(MAX_ROLE_BYTES)}),
            201,
        ),
        (json!({"display_name": at(MAX_DISPLAY_NAME_BYTES + 1)}), 400),
        (
            json!({"display_name": "A", "role": at(MAX_ROLE_BYTES + 1)}),
            400,
        ),
    ] {
        assert_eq!(
            rest.post(&path, body.clone()).await.status,
            status,
            "{body}"
        );
    }
}

#[tokio::test]
async fn answers_404_for_unknown_rooms_participants_and_paths() {
    let t = TestServer::start().await;
    let rest = t.rest();
    assert_eq!(rest.get("/rooms/room_nope").await.status, 404);
    let answer = rest
        .post(
            "/rooms/room_nope/participants",
            json!({"display_name": "A"}),
        )
        .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json, json!({"error": "room not found"}));
    let room = rest.create_room("r").await;
    assert_eq!(
        rest.get(&format!("/rooms/{room}/participants/p_nope"))
            .await
            .status,
        404
    );
    assert_eq!(
        rest.delete(&format!("/rooms/{room}/participants/p_nope"))
            .await
            .status,
        404
    );
    assert_eq!(rest.get("/nowhere").await.status, 404);
}

#[tokio::test]
async fn adds_a_participant_whose_token_joins_with_its_record() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("Design review").await;
    let added = rest.add_participant(&room, "Zoë Ångström", "host").await;
    assert_eq!(added["token_type"], "Bearer");
    assert_eq!(added["expires_in"], 3600);
    assert!(added["refresh_token"].is_string());
    assert_eq!(added["participant"]["room_id"], room.as_str());
    assert_eq!(added["participant"]["display_name"], "Zoë Ångström");
    assert_eq!(added["participant"]["role"], "host");
    assert_eq!(added["room"]["id"], room.as_str());
    let pid = added["participant"]["id"].as_str().unwrap().to_owned();

    let fetched = rest.get(&format!("/rooms/{room}/participants/{pid}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json["display_name"], "Zoë Ångström");

    let mut watcher = t.join(&room, "watcher").await;
    let token = added["access_token"].as_str().unwrap();
    let mut zoe = t.connect(t.request(token)).await;
    zoe.expect_event("room.state").await;
    let joined = watcher.expect_event("participant.joined").await;
    assert_eq!(
        joined["data"],
        json!({"id": pid, "display_name": "Zoë Ångström", "role": "host"})
    );
}

#[tokio::test]
async fn removing_a_participant_closes_its_socket_with_4003_and_refuses_it_later() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("r").await;
    let added = rest.add_participant(&room, "Bob", "participant").await;
    let pid = added["participant"]["id"].as_str().unwrap().to_owned();
    let token = added["access_token"].as_str().unwrap().to_owned();
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.connect(t.request(&token)).await;
    bob.expect_event("room.state").await;
    alice.expect_event("participant.joined").await;

    let answer = rest
        .delete(&format!("/rooms/{room}/participants/{pid}"))
        .await;
    assert_eq!(answer.status, 204);
    bob.expect_close_code(4003).await;
    assert_eq!(
        alice.expect_event("participant.left").await["data"]["id"],
        pid.as_str()
    );
    assert!(alice.drain_until_own_echo().await.is_empty());

    t.expect_refusal(t.request(&token), 403, "room access revoked")
        .await;
    assert_eq!(
        rest.get(&format!("/rooms/{room}/participants/{pid}"))
            .await
            .status,
        404
    );
    assert_eq!(
        rest.delete(&format!("/rooms/{room}/participants/{pid}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn removing_a_socket_only_participant_works_too() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = unique("adhoc");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    assert_eq!(
        rest.delete(&format!("/rooms/{room}/participants/bob"))
            .await
            .status,
        204
    );
    bob.expect_close_code(4003).await;
    alice.expect_event("participant.left").await;
    t.expect_refusal(
        t.request(&t.token(&room, "bob")),
        403,
        "room access revoked",
    )
    .await;
}

#[tokio::test]
async fn ending_a_room_closes_every_socket_with_4004_and_refuses_joins() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("r").await;
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    let ended = rest.post_empty(&format!("/rooms/{room}/end")).await;
    assert_eq!(ended.status, 200);
    assert_eq!(ended.json["status"], "ended");
    alice.expect_close_code(4004).await;
    bob.expect_close_code(4004).await;
    t.expect_refusal(
        t.request(&t.token(&room, "carol")),
        403,
        "room access revoked",
    )
    .await;
    assert_eq!(
        rest.get(&format!("/rooms/{room}")).await.json["status"],
        "ended"
    );
    assert_eq!(
        rest.post_empty(&format!("/rooms/{room}/end")).await.status,
        409
    );
    let late = rest
        .post(
            &format!("/rooms/{room}/participants"),
            json!({"display_name": "Late"}),
        )
        .await;
    assert_eq!(late.status, 409);
}

#[tokio::test]
async fn recordings_notify_everyone_and_conflict_when_repeated() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("r").await;
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;

    let stop_first = rest
        .post_empty(&format!("/rooms/{room}/recordings/stop"))
        .await;
    assert_eq!(stop_first.status, 409);
    let started = rest
        .post_empty(&format!("/rooms/{room}/recordings/start"))
        .await;
    assert_eq!(started.status, 201);
    let id = started.json["recording_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rec_"));
    assert_eq!(
        rest.post_empty(&format!("/rooms/{room}/recordings/start"))
            .await
            .status,
        409
    );
    assert_eq!(
        rest.get(&format!("/rooms/{room}")).await.json["recording_id"],
        id.as_str()
    );

    for client in [&mut alice, &mut bob] {
        let event = client.expect_event("recording.started").await;
        assert_eq!(event["data"], json!({"recording_id": id}));
    }
    let mut carol = t.connect(t.request(&t.token(&room, "carol"))).await;
    assert_eq!(
        carol.expect_event("room.state").await["data"]["recording_id"],
        id.as_str()
    );

    let stopped = rest
        .post_empty(&format!("/rooms/{room}/recordings/stop"))
        .await;
    assert_eq!(stopped.status, 200);
    assert_eq!(stopped.json["recording_id"], id.as_str());
    for client in [&mut alice, &mut bob, &mut carol] {
        let event = client.wait_for("recording.stopped").await;
        assert_eq!(event["data"], json!({"recording_id": id}));
    }
    assert_eq!(
        rest.post_empty(&format!("/rooms/{room}/recordings/stop"))
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn tenants_see_only_their_own_rooms_and_tokens_carry_the_tenant() {
    let t = TestServer::start_with(|c| {
        c.tenants.insert(
            "acme".into(),
            chalk_reference_server::TenantConfig {
                api_key: Some("acme-api-key-0123456789abcdef".into()),
                allowed_origins: vec![],
            },
        );
        c.origin_patterns = vec!["https://*.acme.test".into()];
    })
    .await;
    let acme = Rest {
        api_key: Some("acme-api-key-0123456789abcdef".into()),
        ..t.rest()
    };
    let room = acme.create_room("acme room").await;
    assert_eq!(t.rest().get(&format!("/rooms/{room}")).await.status, 404);
    let added = acme.add_participant(&room, "Wile", "participant").await;
    let token = added["access_token"].as_str().unwrap();
    // The minted token names the tenant, so acme's origin rules (patterns) apply.
    let mut request = t.request(token);
    request.headers_mut().insert(
        "origin",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("https://app.acme.test"),
    );
    let mut wile = t.connect(request).await;
    wile.expect_event("room.state").await;
    t.expect_refusal(t.request(token), 403, "origin not allowed")
        .await;
}

#[tokio::test]
async fn participant_creation_response_is_not_cacheable() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("r").await;
    let answer = rest
        .post(
            &format!("/rooms/{room}/participants"),
            json!({"display_name": "A"}),
        )
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json["participant"]["role"], "participant");
    assert_eq!(answer.headers["cache-control"], "no-store");
}

/// The value of the sample `name` (labels included) in a `/metrics` exposition.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[tokio::test]
async fn metrics_count_connections_deliveries_and_refusals_without_a_secret() {
    let t = TestServer::start().await;
    let url = t.server.api_url().replace("/api/v1", "/metrics");
    let scrape = || async {
        let response = support::http_client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        response.text().await.unwrap()
    };
    let before = scrape().await;
    assert_eq!(sample(&before, "chalk_connections"), 0.0);
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    bob.chat("hello").await;
    alice.wait_for("chat.message").await;
    // A forged token, refused before 101; the token itself never shows.
    let forged = format!("{}x", t.token(&room, "mallory"));
    t.expect_refusal(t.request(&forged), 401, "invalid or missing token")
        .await;
    let during = scrape().await;
    assert_eq!(sample(&during, "chalk_connections"), 2.0, "{during}");
    assert!(sample(&during, "chalk_rooms") >= 1.0, "{during}");
    // room.state twice, joined, and the chat to both: at least five frames.
    assert!(sample(&during, "chalk_deliveries_total") >= 5.0, "{during}");
    assert_eq!(
        sample(&during, r#"chalk_refusals_total{reason="invalid_token"}"#),
        1.0,
        "{during}"
    );
    assert_eq!(sample(&during, "chalk_outbound_drops_total"), 0.0);
    assert!(
        !during.contains(&forged) && !during.contains("mallory"),
        "{during}"
    );
    let key = t.config.api_key().unwrap_or_default().to_owned();
    assert!(key.is_empty() || !during.contains(&key), "{during}");
    alice.close().await;
    bob.close().await;
}
