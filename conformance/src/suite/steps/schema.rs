//! The shape of frames, judged in the open: the envelope, each event's schema, `error` events.
//!
//! Every received frame is judged anyway as it arrives (see [`crate::contract::judge`]); these steps make
//! the judgement the subject of a scenario, so the report shows it under its own requirement.

use cucumber::then;
use serde_json::Value;

use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::{presence, schema};
use crate::suite::steps::parameters::{EventName, Name};
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, Scene};

/// Judges `frame` against the schema of its event.
fn matches_schema(scene: &Scene, frame: &Value, event: &str) -> Result<(), Failure> {
    scene.check(schema::matches_schema(
        scene.run().judge.schemas(),
        frame,
        event,
    ))
}

#[then(expr = "every frame {participant} received is a JSON event envelope")]
async fn every_frame_is_an_envelope(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let envelope = scene.run().judge.schemas().envelope();
            let frames = scene.connection(&listener)?.inbox().lock().frames.clone();
            scene.check(schema::every_frame_an_envelope(envelope, &frames))
        })
        .await
}

#[then(expr = "the {event} {participant} receives about {participant} matches its schema")]
async fn event_about_matches(
    world: &mut ChalkWorld,
    event: EventName,
    listener: Name,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = await_about(scene, &listener, &event, &subject).await?;
            matches_schema(scene, &frame, &event)
        })
        .await
}

#[then(expr = "the {event} {participant} receives matches its schema")]
async fn event_matches(
    world: &mut ChalkWorld,
    event: EventName,
    listener: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = scene
                .await_match(&listener, |frames| {
                    presence::event_received(frames, &listener, &event)
                })
                .await?;
            matches_schema(scene, &frame, &event)
        })
        .await
}

/// Waits for an `error` with `code` (and `event`, when given) at `listener`.
async fn await_error(
    scene: &Scene,
    listener: &str,
    code: &str,
    event: Option<&str>,
) -> Result<(), Failure> {
    scene
        .await_match(listener, |frames| {
            schema::error_received(frames, code, event)
        })
        .await
}

#[then(expr = "{participant} receives an error with the code {string}")]
async fn receives_error(
    world: &mut ChalkWorld,
    listener: Name,
    code: String,
) -> Result<(), Failed> {
    world
        .judge(async |scene| await_error(scene, &listener, &code, None).await)
        .await
}

#[then(expr = "{participant} receives an error with the code {string} about the event {string}")]
async fn receives_error_about(
    world: &mut ChalkWorld,
    listener: Name,
    code: String,
    event: String,
) -> Result<(), Failed> {
    world
        .judge(async |scene| await_error(scene, &listener, &code, Some(&event)).await)
        .await
}
