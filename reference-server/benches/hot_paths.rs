//! Criterion benchmarks of the reference server's hot paths: verifying a token at the upgrade,
//! parsing a client frame, and fanning one chat message out to a 1,000-member room.
//!
//! `cargo bench -p chalk-reference-server` runs them; the load-level comparison with other
//! servers is `benches/compare.sh` at the repository root.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chalk_reference_server::Config;
use chalk_reference_server::auth::{Identity, TokenVerifier};
use chalk_reference_server::connection::Connection;
use chalk_reference_server::outbound;
use chalk_reference_server::protocol::parse_client_event;
use chalk_reference_server::rooms::Rooms;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

/// A chat text of 100 bytes, the size the load shapes use.
fn text() -> String {
    "x".repeat(100)
}

fn token_verification(c: &mut Criterion) {
    let config = Config::ephemeral();
    let verifier = TokenVerifier::new(&config).expect("ephemeral configs verify");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = json!({
        "room_id": "room-1",
        "participant_id": "p-1",
        "display_name": "Alice",
        "role": "participant",
        "iat": now,
        "exp": now + 3600,
    });
    let secret = config.jwt_secret().expect("ephemeral has a secret");
    let token = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs");
    c.bench_function("token verification (HS256)", |b| {
        b.iter(|| verifier.verify(black_box(&token)).expect("valid"))
    });
}

fn client_frame_parsing(c: &mut Criterion) {
    let frame = json!({"event": "chat.send", "data": {"text": text()}}).to_string();
    c.bench_function("parse chat.send (100-byte text)", |b| {
        b.iter(|| parse_client_event(black_box(&frame), 4000).expect("valid"))
    });
}

fn fan_out(c: &mut Criterion) {
    const MEMBERS: usize = 1000;
    let rooms = Rooms::default();
    let mut queues = Vec::with_capacity(MEMBERS);
    let mut room = None;
    for i in 0..MEMBERS {
        let (conn, queue) = Connection::new(1024);
        let identity = Identity {
            tenant: "default".into(),
            room_id: "bench".into(),
            participant_id: format!("p{i}"),
            display_name: None,
            role: None,
            expires_at: u64::MAX,
        };
        room = Some(rooms.join(&identity, &conn).expect("joins"));
        queues.push((conn, queue));
    }
    let room: Arc<_> = room.expect("a room");
    let sender = queues[0].0.id();
    let drain = |queues: &mut Vec<(Arc<Connection>, outbound::Receiver)>| {
        for (_, queue) in queues.iter_mut() {
            while queue.try_recv().is_some() {}
        }
    };
    drain(&mut queues);
    let text = text();
    c.bench_function(
        "chat.message to 1,000 members (serialise once, queue 1,000)",
        |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    let started = Instant::now();
                    room.chat(sender, black_box("p0"), black_box(&text));
                    spent += started.elapsed();
                    drain(&mut queues);
                }
                spent
            })
        },
    );
}

criterion_group!(hot_paths, token_verification, client_frame_parsing, fan_out);
criterion_main!(hot_paths);
