//! The shape of frames, judged in the open: the envelope, each event's schema, `error` events.
//!
//! Every received frame is judged anyway as it arrives (see [`crate::contract::judge`]); these steps make
//! the judgement the subject of a scenario, so the report shows it under its own requirement.

use cucumber::then;
use serde_json::Value;

use crate::driver::connection::ReceivedKind;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers;
use crate::suite::steps::parameters::{EventName, Name};
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, Scene};

/// Judges `frame` against the schema of its event.
fn matches_schema(scene: &Scene, frame: &Value, event: &str) -> Result<(), Failure> {
    let schemas = scene.run().judge.schemas();
    let Some(schema) = schemas.event(event) else {
        return Err(scene.fail(
            format!("a schema for {event}"),
            "schemas/index.json has none",
        ));
    };
    schema.check(frame).map_err(|violation| {
        scene.fail(
            format!("{event} to match its schema"),
            format!("{frame}\n{violation}"),
        )
    })
}

#[then(expr = "every frame {participant} received is a JSON event envelope")]
async fn every_frame_is_an_envelope(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let envelope = scene.run().judge.schemas().envelope();
        let frames = scene.connection(&listener)?.inbox().lock().frames.clone();
        for frame in &frames {
            let problem = match &frame.kind {
                ReceivedKind::Json(value) => envelope.check(value).err().map(|violations| {
                    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
                    format!("{value}\n{}", listed.join("\n"))
                }),
                ReceivedKind::NotJson(text) => {
                    Some(format!("a text frame that is not JSON: {text:?}"))
                }
                ReceivedKind::Binary(n) => Some(format!("a binary frame of {n} bytes")),
                ReceivedKind::Pong(_) => None,
            };
            if let Some(problem) = problem {
                return Err(scene.fail("every frame a JSON object with a string event", problem));
            }
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(expr = "the {event} {participant} receives about {participant} matches its schema")]
async fn event_about_matches(
    world: &mut ChalkWorld,
    event: EventName,
    listener: Name,
    subject: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let frame = await_about(scene, &listener, &event, &subject).await?;
        matches_schema(scene, &frame, &event)
    }
    .await;
    world.must(verdict)
}

#[then(expr = "the {event} {participant} receives matches its schema")]
async fn event_matches(
    world: &mut ChalkWorld,
    event: EventName,
    listener: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let found = scene
            .await_frames(&listener, |frames| {
                matchers::of_event(frames, &event).next().cloned()
            })
            .await?;
        let frame = found
            .map_err(|actual| scene.fail(format!("{listener} to receive {}", &*event), actual))?;
        matches_schema(scene, &frame, &event)
    }
    .await;
    world.must(verdict)
}

/// Waits for an `error` with `code` (and `event`, when given) at `listener`.
async fn await_error(
    scene: &Scene,
    listener: &str,
    code: &str,
    event: Option<&str>,
) -> Result<(), Failure> {
    let found = scene
        .await_frames(listener, |frames| {
            matchers::of_event(frames, "error")
                .any(|f| {
                    f.pointer("/data/code").and_then(Value::as_str) == Some(code)
                        && event.is_none_or(|e| {
                            f.pointer("/data/event").and_then(Value::as_str) == Some(e)
                        })
                })
                .then_some(())
        })
        .await?;
    let expected = match event {
        Some(event) => format!("error {code:?} naming the event {event:?}"),
        None => format!("error {code:?}"),
    };
    found.map_err(|actual| scene.fail(expected, actual))
}

#[then(expr = "{participant} receives an error with the code {string}")]
async fn receives_error(
    world: &mut ChalkWorld,
    listener: Name,
    code: String,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> =
        async { await_error(world.scene(), &listener, &code, None).await }.await;
    world.must(verdict)
}

#[then(expr = "{participant} receives an error with the code {string} about the event {string}")]
async fn receives_error_about(
    world: &mut ChalkWorld,
    listener: Name,
    code: String,
    event: String,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> =
        async { await_error(world.scene(), &listener, &code, Some(&event)).await }.await;
    world.must(verdict)
}
