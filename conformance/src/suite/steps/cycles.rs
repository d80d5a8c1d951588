//! Operations done again: leaving and coming back, recording twice, raising and lowering a hand
//! twice, the same chat text several times; and the exact events each produces.
//!
//! The second cycle is where servers break (state not reset, a second stop, a participant that
//! is remembered after it left), so each cycle is done twice. A `When` that leaves and comes
//! back, or records, waits, within the event timeout, for the others to hear each step before
//! the next, so that the order of what they hear is the order of what happened; whether they
//! did hear it is for the `Then` to judge.

use cucumber::gherkin::Step;
use cucumber::{then, when};
use serde_json::json;

use crate::driver::rest::RecordingAction;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::{self, once, presence};
use crate::suite::steps::chat::send_chat;
use crate::suite::steps::operator::recording;
use crate::suite::steps::parameters::{EventName, Name};
use crate::suite::world::{ChalkWorld, QUIET_PERIOD, RoomKey, Scene};

/// How many times each cycle is done.
const CYCLES: usize = 2;

/// Waits until every other participant connected to `subject`'s room has received `count`
/// `event` about it since the action (or the event timeout passed: the `Then` judges).
async fn others_hear(
    scene: &Scene,
    subject: &str,
    event: &str,
    count: usize,
) -> Result<(), Failure> {
    let id = scene.participant_id(subject)?;
    let room = scene.participant(subject)?.room;
    let deadline = scene.deadline();
    for listener in scene.connected_in(room) {
        if listener == subject {
            continue;
        }
        let connection = scene.connection(&listener)?;
        let mark = connection.mark();
        connection
            .inbox()
            .wait_for(deadline, |state| {
                let frames = state.frames.get(mark..).unwrap_or_default();
                (matchers::about(frames, event, &id).len() >= count).then_some(())
            })
            .await;
    }
    Ok(())
}

/// Waits until every participant connected to the main room has received `count` `event`
/// frames since the action (or the event timeout passed: the `Then` judges), so that the next
/// operation is not done before the last one was announced.
async fn everyone_hears(scene: &Scene, event: &str, count: usize) -> Result<(), Failure> {
    let deadline = scene.deadline();
    for listener in scene.connected_in(RoomKey::Main) {
        let connection = scene.connection(&listener)?;
        let mark = connection.mark();
        connection
            .inbox()
            .wait_for(deadline, |state| {
                let frames = state.frames.get(mark..).unwrap_or_default();
                (matchers::of_event(frames, event).count() >= count).then_some(())
            })
            .await;
    }
    Ok(())
}

#[when(expr = "{participant} leaves and comes back, twice")]
async fn leaves_and_comes_back(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for round in 1..=CYCLES {
                let closed = scene.connection_mut(&who)?.close(1000).await;
                closed.map_err(|e| {
                    scene.fail(format!("{who} to send a Close frame"), e.to_string())
                })?;
                scene.await_ending(scene.connection(&who)?).await;
                others_hear(scene, &who, "participant.left", round).await?;
                let request = scene.standard_request(&who)?;
                let token = scene.participant(&who)?.credentials.token.clone();
                scene
                    .attempt(&who, "a valid token, again", request, Some(token))
                    .await;
                scene.settle(&who).await;
                others_hear(scene, &who, "participant.joined", round).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "the room's recording starts and stops, twice")]
async fn records_twice(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for round in 1..=CYCLES {
                recording(scene, RecordingAction::Start).await?;
                everyone_hears(scene, "recording.started", round).await?;
                recording(scene, RecordingAction::Stop).await?;
                everyone_hears(scene, "recording.stopped", round).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "{participant} raises and lowers its hand, twice")]
async fn hand_twice(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for _ in 0..CYCLES {
                for event in ["hand.raise", "hand.lower"] {
                    let frame = json!({ "event": event }).to_string();
                    let sent = scene.connection_mut(&who)?.send_text(&frame).await;
                    sent.map_err(|e| scene.fail(format!("{who} to send {event}"), e.to_string()))?;
                }
            }
            Ok(())
        })
        .await
}

#[when(expr = "{participant} sends the chat message {string} {int} times")]
async fn sends_repeatedly(
    world: &mut ChalkWorld,
    from: Name,
    text: String,
    times: usize,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for _ in 0..times {
                send_chat(scene, &from, &text).await?;
            }
            Ok(())
        })
        .await
}

/// The event names of a step's table, one per row.
fn listed_events(scene: &Scene, step: &Step) -> Result<Vec<String>, Failure> {
    let rows = step
        .table
        .as_ref()
        .map(|t| t.rows.clone())
        .unwrap_or_default();
    let events: Vec<String> = rows.iter().filter_map(|row| row.first().cloned()).collect();
    if events.is_empty() {
        return Err(scene.fail(
            "a table of event names",
            "the step has none (a mistake in the feature)",
        ));
    }
    Ok(events)
}

/// Waits until `listener` has received as many of `expected` (about `subject`, when given) as
/// the list holds, then for the quiet period, and judges that it received exactly the list.
async fn exactly_these(
    scene: &Scene,
    listener: &str,
    expected: &[String],
    subject: Option<(&str, &str)>,
) -> Result<(), Failure> {
    let counted = |frames: &[crate::driver::connection::Received]| {
        frames
            .iter()
            .filter_map(|f| f.view())
            .filter(|f| f.event().is_some_and(|e| expected.iter().any(|x| x == e)))
            .filter(|f| subject.is_none_or(|(_, id)| f.subject() == Some(id)))
            .count()
    };
    // A shortfall is judged below, with everything that did arrive.
    let _ = scene
        .await_frames(listener, |frames| {
            (counted(frames) >= expected.len()).then_some(())
        })
        .await?;
    tokio::time::sleep(QUIET_PERIOD).await;
    let frames = scene.frames_since(listener)?;
    scene.check(once::exactly_in_order(&frames, listener, expected, subject))
}

#[then(expr = "{participant} receives exactly these events about {participant}, in this order:")]
async fn exactly_these_about(
    world: &mut ChalkWorld,
    step: &Step,
    listener: Name,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let expected = listed_events(scene, step)?;
            let id = scene.participant_id(&subject)?;
            exactly_these(scene, &listener, &expected, Some((&subject, &id))).await
        })
        .await
}

#[then(expr = "{participant} receives exactly these events, in this order:")]
async fn exactly_these_events(
    world: &mut ChalkWorld,
    step: &Step,
    listener: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let expected = listed_events(scene, step)?;
            exactly_these(scene, &listener, &expected, None).await
        })
        .await
}

#[then(expr = "{participant} receives exactly one {event}")]
async fn exactly_one(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene
                .await_expected(&listener, |frames| {
                    presence::event_received(frames, &listener, &event)
                })
                .await?;
            exactly_these(scene, &listener, std::slice::from_ref(&event.0), None).await
        })
        .await
}

#[then(
    expr = "{participant} receives the chat message {string} exactly {int} times, each with its own id"
)]
async fn repeated_text_received(
    world: &mut ChalkWorld,
    listener: Name,
    text: String,
    times: usize,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            // A shortfall is judged below, with everything that did arrive.
            let _ = scene
                .await_frames(&listener, |frames| {
                    (matchers::chat_with_text(frames, &text).len() >= times).then_some(())
                })
                .await?;
            tokio::time::sleep(QUIET_PERIOD).await;
            let frames = scene.frames_since(&listener)?;
            let matching = matchers::chat_with_text(&frames, &text);
            scene.check(once::exactly_n_with_own_ids(
                &matching,
                times,
                &format!("the chat message {}", crate::driver::visible::quoted(&text)),
            ))
        })
        .await
}
