//! Criterion benchmarks of the suite's per-frame work: judging a received `chat.message`
//! (JSON parse, envelope schema, event schema), and the load generator's reading of a frame.
//!
//! `cargo bench -p chalk-conformance`.

use std::hint::black_box;

use chalk_conformance::commands::load::marker::{Marker, marker_of};
use chalk_conformance::contract::catalogue::{Catalogue, KNOWN_EXTENSIONS};
use chalk_conformance::contract::judge::FrameJudge;
use chalk_conformance::contract::schemas::SchemaSet;
use criterion::{Criterion, criterion_group, criterion_main};

/// A `chat.message` as the reference server sends it, with a 100-byte text.
fn chat_message() -> String {
    let text = Marker {
        room: 0,
        sender: 0,
        seq: 12_345,
        sent_ns: 987_654_321,
    }
    .text(100);
    format!(
        r#"{{"event":"chat.message","data":{{"id":"msg_0f8e7d6c5b4a39281706f5e4d3c2b1a0","sender_id":"p0","text":"{text}","timestamp":"2026-01-06T10:45:00.123Z"}}}}"#
    )
}

fn schema_validation(c: &mut Criterion) {
    let catalogue = Catalogue::bundled().expect("bundled catalogue");
    let schemas = SchemaSet::bundled().expect("bundled schemas");
    let declared = KNOWN_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect();
    let judge = FrameJudge::new(schemas, &catalogue, declared);
    let frame = chat_message();
    let (_, violation) = judge.judge_text(&frame);
    assert!(
        violation.is_none(),
        "the sample frame is valid: {violation:?}"
    );
    c.bench_function(
        "judge chat.message (parse + envelope + event schema)",
        |b| b.iter(|| judge.judge_text(black_box(&frame))),
    );
}

fn load_frame_reading(c: &mut Criterion) {
    let frame = chat_message();
    c.bench_function("load generator: marker of a chat.message", |b| {
        b.iter(|| marker_of(black_box(&frame)).expect("has a marker"))
    });
}

criterion_group!(frame_validation, schema_validation, load_frame_reading);
criterion_main!(frame_validation);
