//! Who is in the room: `participant.joined`, `participant.left`, the roster, and in general
//! "X receives event E about Y".
//!
//! Every look at received events is limited to what arrived since the scenario's action, and to
//! events about participants the scenario created; a server may send more than the page shows
//! (a `participant.joined` about the joiner itself, a `room.state`), and that is never held
//! against it here.

use cucumber::then;
use serde_json::Value;

use crate::driver::connection::FrameView;
use crate::driver::connection::ReceivedKind;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers;
use crate::suite::steps::parameters::{EventName, Name};
use crate::suite::world::{ChalkWorld, RoomKey, Scene};

/// Waits until `listener` receives `event` about `subject`; the frame.
pub(crate) async fn await_about(
    scene: &Scene,
    listener: &str,
    event: &str,
    subject: &str,
) -> Result<Value, Failure> {
    let id = scene.participant_id(subject)?;
    let found = scene
        .await_frames(listener, |frames| {
            matchers::about(frames, event, &id)
                .first()
                .map(|v| (*v).clone())
        })
        .await?;
    found.map_err(|actual| {
        scene.fail(
            format!("{listener} to receive {event} about {subject} (id {id:?})"),
            actual,
        )
    })
}

#[then(expr = "{participant} receives {event} about {participant}")]
async fn receives_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        await_about(world.scene(), &listener, &event, &subject)
            .await
            .map(drop)
    }
    .await;
    world.must(verdict)
}

#[then(expr = "{participant} receives no {event} about {participant}")]
async fn receives_none_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let id = scene.participant_id(&subject)?;
        let frames = scene.quiet_frames(&listener).await?;
        let found = matchers::about(&frames, &event, &id).len();
        if found > 0 {
            return Err(scene.fail(
                format!("no {event} about {subject} at {listener}"),
                format!(
                    "{found} arrived: {}",
                    matchers::summarize(&frames, &scene.names_by_id())
                ),
            ));
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(expr = "{participant} receives exactly one {event} about {participant}")]
async fn receives_one_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        await_about(scene, &listener, &event, &subject).await?;
        let id = scene.participant_id(&subject)?;
        let frames = scene.frames_after_a_quiet_window(&listener).await?;
        let count = matchers::about(&frames, &event, &id).len();
        if count != 1 {
            return Err(scene.fail(
                format!("exactly one {event} about {subject} at {listener}"),
                format!(
                    "{count}: {}",
                    matchers::summarize(&frames, &scene.names_by_id())
                ),
            ));
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(expr = "{participant} receives {event}")]
async fn receives(world: &mut ChalkWorld, listener: Name, event: EventName) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let found = scene
            .await_frames(&listener, |frames| {
                matchers::of_event(frames, &event).next().map(drop)
            })
            .await?;
        found.map_err(|actual| scene.fail(format!("{listener} to receive {event}"), actual))
    }
    .await;
    world.must(verdict)
}

#[then(expr = "{participant} receives no {event}")]
async fn receives_none(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let frames = scene.quiet_frames(&listener).await?;
        // Only events about nobody in particular, or about this scenario's participants, count.
        let found: Vec<&Value> = matchers::of_event(&frames, &event)
            .filter(|f| FrameView(f).subject().is_none_or(|id| scene.is_ours(id)))
            .collect();
        if !found.is_empty() {
            return Err(scene.fail(
                format!("no {event} at {listener}"),
                format!(
                    "{} arrived: {}",
                    found.len(),
                    matchers::summarize(&frames, &scene.names_by_id())
                ),
            ));
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(
    expr = "the id in the participant.joined {participant} receives is {participant}'s participant id"
)]
async fn joined_id(world: &mut ChalkWorld, listener: Name, joiner: Name) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        await_about(world.scene(), &listener, "participant.joined", &joiner)
            .await
            .map(drop)
    }
    .await;
    world.must(verdict)
}

#[then(
    expr = "the participant.joined {participant} receives about {participant} shows the display name {string} and the role {string}"
)]
async fn joined_shows(
    world: &mut ChalkWorld,
    listener: Name,
    joiner: Name,
    display_name: String,
    role: String,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let frame = await_about(scene, &listener, "participant.joined", &joiner).await?;
        let shown_name = frame
            .pointer("/data/display_name")
            .cloned()
            .unwrap_or(Value::Null);
        let shown_role = frame.pointer("/data/role").cloned().unwrap_or(Value::Null);
        if shown_name != display_name.as_str() || shown_role != role.as_str() {
            return Err(scene.fail(
                format!("display_name {display_name:?} and role {role:?}"),
                format!("display_name {shown_name} and role {shown_role}"),
            ));
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(
    expr = "{participant} receives {event} about {participant} and then {event} about {participant}"
)]
async fn receives_in_sequence(
    world: &mut ChalkWorld,
    listener: Name,
    first: EventName,
    first_subject: Name,
    second: EventName,
    second_subject: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let first_id = scene.participant_id(&first_subject)?;
        let second_id = scene.participant_id(&second_subject)?;
        let found = scene
            .await_frames(&listener, |frames| {
                let first_at = frames
                    .iter()
                    .position(|f| f.view().is_some_and(|f| f.is_about(&first, &first_id)))?;
                frames[first_at + 1..]
                    .iter()
                    .any(|f| {
                        f.view().is_some_and(|f| f.is_about(&second, &second_id))
                    })
                    .then_some(())
            })
            .await?;
        found.map_err(|actual| {
            scene.fail(
                format!(
                    "{first} about {first_subject}, then {second} about {second_subject}, at {listener}"
                ),
                actual,
            )
        })
    }
    .await;
    world.must(verdict)
}

#[then(
    expr = "the first frame {participant} receives is room.state listing {participant} and {participant}"
)]
async fn first_frame_is_roster(
    world: &mut ChalkWorld,
    listener: Name,
    first: Name,
    second: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        let first_data = scene
            .await_frames(&listener, |frames| {
                frames
                    .iter()
                    .find(|f| !matches!(f.kind, ReceivedKind::Pong(_)))
                    .cloned()
            })
            .await?
            .map_err(|actual| scene.fail(format!("a room.state frame at {listener}"), actual))?;
        let names = scene.names_by_id();
        let Some(frame) = first_data
            .json()
            .filter(|_| first_data.event() == Some("room.state"))
        else {
            return Err(scene.fail(
                "room.state as the first frame",
                matchers::summarize(std::slice::from_ref(&first_data), &names),
            ));
        };
        let listed: Vec<String> = frame
            .pointer("/data/participants")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("id")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut expected = vec![
            scene.participant_id(&first)?,
            scene.participant_id(&second)?,
        ];
        let mut ours: Vec<String> = listed
            .iter()
            .filter(|id| scene.is_ours(id))
            .cloned()
            .collect();
        expected.sort();
        ours.sort();
        if ours != expected {
            return Err(scene.fail(
                format!("a roster listing {first} and {second}"),
                format!("a roster listing {listed:?}"),
            ));
        }
        Ok(())
    }
    .await;
    world.must(verdict)
}

#[then(expr = "{participant} can still join the room and {participant} hears of it")]
async fn newcomer_joins(
    world: &mut ChalkWorld,
    newcomer: Name,
    listener: Name,
) -> Result<(), Failed> {
    let verdict: Result<(), Failure> = async {
        let scene = world.scene();
        scene
            .provision(&newcomer, RoomKey::Main, None, None)
            .await?;
        let request = scene.standard_request(&newcomer)?;
        let token = scene.participant(&newcomer)?.credentials.token.clone();
        if !scene
            .attempt(&newcomer, "a valid token", request, Some(token))
            .await
        {
            let summary = scene.last_attempt()?.handshake.summary();
            return Err(scene.fail(format!("{newcomer} can still connect"), summary));
        }
        await_about(scene, &listener, "participant.joined", &newcomer)
            .await
            .map(drop)
    }
    .await;
    world.must(verdict)
}
