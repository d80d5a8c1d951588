//! What an operator does to a room from outside the WebSocket, through the REST API (or the
//! recording command): record it, remove a participant, end it; and the recording events.

use cucumber::{given, then, when};
use serde_json::Value;

use crate::driver::provision::ProvisionError;
use crate::driver::rest::{RecordingAction, RestError};
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::presence;
use crate::suite::matchers::recording::{self, recording_id_of};
use crate::suite::steps::parameters::Name;
use crate::suite::world::{ChalkWorld, ControlToken, RoomKey, Scene};

/// Starts or stops the main room's recording.
pub(crate) async fn recording(scene: &mut Scene, action: RecordingAction) -> Result<(), Failure> {
    let room = scene.room_id(RoomKey::Main).await?;
    let (api, through) = scene.room_api();
    scene.note(
        "operator",
        format!("recording {}{through}", action.as_str()),
    );
    let done = api.recording(&room, action).await;
    done.map_err(|e| {
        scene.fail(
            format!("the recording to {} (operator)", action.as_str()),
            e.to_string(),
        )
    })
}

/// Waits until everyone connected to the main room has received `event`; the recording id the
/// first of them saw.
async fn await_everyone(scene: &Scene, event: &str) -> Result<Option<String>, Failure> {
    let mut recording_id = None;
    for listener in scene.connected_in(RoomKey::Main) {
        let frame = await_recording_event(scene, &listener, event).await?;
        recording_id.get_or_insert(recording_id_of(&frame));
    }
    Ok(recording_id)
}

/// Waits until `listener` receives `event`; the frame.
async fn await_recording_event(
    scene: &Scene,
    listener: &str,
    event: &str,
) -> Result<Value, Failure> {
    scene
        .await_expected(listener, |frames| {
            presence::event_received(frames, listener, event)
        })
        .await
}

/// Starts the main room's recording and waits until everyone connected has heard of it; keeps
/// the recording id.
async fn start_recording_for_everyone(scene: &mut Scene) -> Result<(), Failure> {
    scene.begin_action();
    recording(scene, RecordingAction::Start).await?;
    if let Some(id) = await_everyone(scene, "recording.started").await? {
        scene.recordings.push(id);
    }
    Ok(())
}

/// The removal (or room end) is what the scenario's later refusal is about; its positive
/// control is a participant who was neither removed nor had its room ended, connecting.
#[given(expr = "{participant} has been removed from the room")]
async fn has_been_removed(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.control(ControlToken::AsProvisioned).await?;
            remove(scene, &who).await
        })
        .await
}

#[when(expr = "{participant} is removed from the room")]
async fn is_removed(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            remove(scene, &who).await
        })
        .await
}

async fn remove(scene: &mut Scene, who: &str) -> Result<(), Failure> {
    let room = scene.room_id(RoomKey::Main).await?;
    let id = scene.participant_id(who)?;
    let (api, through) = scene.participant_api(who)?;
    scene.note("operator", format!("removing {who}{through}"));
    let done = api.remove_participant(&room, &id).await;
    done.map_err(|e| scene.fail(format!("{who} to be removed (operator)"), e.to_string()))
}

#[given(expr = "the room has been ended")]
async fn has_been_ended(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.control(ControlToken::AsProvisioned).await?;
            end(scene).await
        })
        .await
}

#[when(expr = "the room is ended")]
async fn is_ended(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            end(scene).await
        })
        .await
}

async fn end(scene: &mut Scene) -> Result<(), Failure> {
    let room = scene.room_id(RoomKey::Main).await?;
    let (api, through) = scene.room_api();
    scene.note("operator", format!("ending the room{through}"));
    let done = api.end_room(&room).await;
    done.map_err(|e| scene.fail("the room to be ended (operator)", e.to_string()))
}

#[given(expr = "the room is being recorded")]
async fn being_recorded(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| start_recording_for_everyone(scene).await)
        .await
}

#[given(expr = "the room has been recorded once")]
async fn recorded_once(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            start_recording_for_everyone(scene).await?;
            scene.begin_action();
            recording(scene, RecordingAction::Stop).await?;
            await_everyone(scene, "recording.stopped").await.map(drop)
        })
        .await
}

#[when(expr = "the room's recording starts")]
async fn starts(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            recording(scene, RecordingAction::Start).await
        })
        .await
}

#[when(expr = "the room's recording stops")]
async fn stops(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            recording(scene, RecordingAction::Stop).await
        })
        .await
}

#[when(expr = "the room's recording is started again")]
async fn started_again(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let room = scene.room_id(RoomKey::Main).await?;
            let (api, through) = scene.room_api();
            scene.note("operator", format!("recording start, again{through}"));
            let answer = match api.recording(&room, RecordingAction::Start).await {
                Ok(()) => Ok(200),
                Err(ProvisionError::Rest(RestError::Status { status, .. })) => Ok(status),
                Err(other) => Err(other.to_string()),
            };
            scene.note(
                "operator",
                format!("the second start: {}", answered(&answer)),
            );
            scene.second_start = Some(answer);
            Ok(())
        })
        .await
}

/// How the API answered a call, for the transcript.
fn answered(answer: &Result<u16, String>) -> String {
    match answer {
        Ok(status) => format!("answered {status}"),
        Err(reason) => format!("no answer ({reason})"),
    }
}

#[then(expr = "the second start is refused with 409")]
async fn second_start_refused(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let answer = scene
                .second_start
                .clone()
                .unwrap_or_else(|| Err("the step that starts it again did not run".to_owned()));
            scene.check(recording::second_start_refused(&answer))
        })
        .await
}

#[then(expr = "the recording.stopped {participant} receives names the recording that was started")]
async fn stopped_matches(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let stopped = recording_id_of(
                &await_recording_event(scene, &listener, "recording.stopped").await?,
            );
            let started = scene.recordings.last().cloned().unwrap_or_default();
            scene.check(recording::stopped_names_started(&stopped, &started))
        })
        .await
}

#[then(expr = "the recording.started {participant} receives names a new recording")]
async fn started_is_new(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let started = recording_id_of(
                &await_recording_event(scene, &listener, "recording.started").await?,
            );
            scene.check(recording::started_is_new(&started, &scene.recordings))
        })
        .await
}
