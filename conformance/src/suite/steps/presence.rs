//! Who is in the room: `participant.joined`, `participant.left`, the roster, and in general
//! "X receives event E about Y".
//!
//! Every look at received events is limited to what arrived since the scenario's action, and to
//! events about participants the scenario created; a server may send more than the page shows
//! (a `participant.joined` about the joiner itself, a `room.state`), and that is never held
//! against it here.

use cucumber::then;
use serde_json::Value;

use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::{presence, upgrade};
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
    scene
        .await_expected(listener, |frames| {
            presence::about_received(frames, listener, event, subject, &id)
        })
        .await
}

#[then(expr = "{participant} receives {event} about {participant}")]
async fn receives_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            await_about(scene, &listener, &event, &subject)
                .await
                .map(drop)
        })
        .await
}

#[then(expr = "{participant} receives no {event} about {participant}")]
async fn receives_none_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let id = scene.participant_id(&subject)?;
            let frames = scene.quiet_frames(&listener).await?;
            scene.check(presence::none_about(
                &frames,
                &listener,
                &event,
                (&subject, &id),
                &scene.names_by_id(),
            ))
        })
        .await
}

#[then(expr = "{participant} receives exactly one {event} about {participant}")]
async fn receives_one_about(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            await_about(scene, &listener, &event, &subject).await?;
            let id = scene.participant_id(&subject)?;
            let frames = scene.frames_after_a_quiet_window(&listener).await?;
            scene.check(presence::exactly_one_about(
                &frames,
                &listener,
                &event,
                (&subject, &id),
                &scene.names_by_id(),
            ))
        })
        .await
}

#[then(expr = "{participant} receives {event}")]
async fn receives(world: &mut ChalkWorld, listener: Name, event: EventName) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene
                .await_expected(&listener, |frames| {
                    presence::event_received(frames, &listener, &event)
                })
                .await
                .map(drop)
        })
        .await
}

#[then(expr = "{participant} receives no {event}")]
async fn receives_none(
    world: &mut ChalkWorld,
    listener: Name,
    event: EventName,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frames = scene.quiet_frames(&listener).await?;
            scene.check(presence::none_of_event(
                &frames,
                &listener,
                &event,
                |id| scene.is_ours(id),
                &scene.names_by_id(),
            ))
        })
        .await
}

#[then(
    expr = "the id in the participant.joined {participant} receives is {participant}'s participant id"
)]
async fn joined_id(world: &mut ChalkWorld, listener: Name, joiner: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            await_about(scene, &listener, "participant.joined", &joiner)
                .await
                .map(drop)
        })
        .await
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
    world
        .judge(async |scene| {
            // The REST API may answer what it recorded; that is what the others must be told.
            let recorded = scene.participant(&joiner)?.credentials.clone();
            if (recorded.display_name.as_str(), recorded.role.as_str())
                != (display_name.as_str(), role.as_str())
            {
                scene.note(
                    "setup",
                    format!(
                        "{joiner} was recorded as {:?} with the role {:?}; that is what is expected",
                        recorded.display_name, recorded.role
                    ),
                );
            }
            let frame = await_about(scene, &listener, "participant.joined", &joiner).await?;
            scene.check(presence::shows_name_and_role(
                &frame,
                &recorded.display_name,
                &recorded.role,
            ))
        })
        .await
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
    world
        .judge(async |scene| {
            let first_id = scene.participant_id(&first_subject)?;
            let second_id = scene.participant_id(&second_subject)?;
            scene
                .await_match(&listener, |frames| {
                    presence::in_sequence(
                        frames,
                        &listener,
                        (&first, &first_subject, &first_id),
                        (&second, &second_subject, &second_id),
                    )
                })
                .await
        })
        .await
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
    world
        .judge(async |scene| {
            let first_frame = scene
                .await_match(&listener, |frames| presence::first_frame(frames, &listener))
                .await?;
            let (first_id, second_id) = (
                scene.participant_id(&first)?,
                scene.participant_id(&second)?,
            );
            let (first, second): (&str, &str) = (&first, &second);
            scene.check(presence::roster_lists(
                &first_frame,
                [(first, &first_id), (second, &second_id)],
                |id| scene.is_ours(id),
                &scene.names_by_id(),
            ))
        })
        .await
}

#[then(expr = "{participant} can still join the room and {participant} hears of it")]
async fn newcomer_joins(
    world: &mut ChalkWorld,
    newcomer: Name,
    listener: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene
                .provision(&newcomer, RoomKey::Main, None, None)
                .await?;
            let request = scene.standard_request(&newcomer)?;
            let token = scene.participant(&newcomer)?.credentials.token.clone();
            scene
                .attempt(&newcomer, "a valid token", request, Some(token))
                .await;
            scene.check(upgrade::accepted(
                &scene.last_attempt()?.handshake,
                &format!("{newcomer} can still connect"),
            ))?;
            await_about(scene, &listener, "participant.joined", &newcomer)
                .await
                .map(drop)
        })
        .await
}
