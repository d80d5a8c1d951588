//! A connection is bound to its token: tries to steer it to another room or identity than its
//! claims name (query parameters, headers, fields of client events), and judges that the token's
//! room hears it as the token's participant while the room merely named hears nothing of it.

use cucumber::{then, when};
use serde_json::{Map, Value, json};

use crate::driver::handshake::{Extras, TokenChannel};
use crate::suite::failure::{Failed, Failure, Mismatch};
use crate::suite::matchers::{self, chat};
use crate::suite::steps::chat::{await_chat, send_chat};
use crate::suite::steps::parameters::{Channel, EventName, Name, Steer};
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, RoomKey, Scene};

/// The value a client names: the other room's id, or a participant's id.
async fn named(scene: &mut Scene, steer: &Steer) -> Result<String, Failure> {
    match steer {
        Steer::OtherRoom => scene.room_id(RoomKey::Other).await,
        Steer::Participant(name) => scene.participant_id(name),
    }
}

/// Connects `name` with its token on `channel` from the run's origin, with `extras` added to
/// the request.
async fn connect_with(
    scene: &mut Scene,
    name: &str,
    channel: TokenChannel,
    extras: Extras,
    what: &str,
) -> Result<(), Failure> {
    scene.provision(name, RoomKey::Main, None, None).await?;
    scene.begin_action();
    let token = scene.participant(name)?.credentials.token.clone();
    let request = channel.request(&token, scene.run().origin.clone());
    scene
        .attempt_with(name, what, request, &extras, Some(token))
        .await;
    Ok(())
}

#[when(expr = "{participant} connects with the query parameter {string} naming {steer}")]
async fn with_query_parameter(
    world: &mut ChalkWorld,
    name: Name,
    parameter: String,
    steer: Steer,
) -> Result<(), Failed> {
    steer_with_query_parameter(world, name, parameter, steer, TokenChannel::Header).await
}

#[when(
    expr = "{participant} connects with the query parameter {string} naming {steer}, its token {channel}"
)]
async fn with_query_parameter_on(
    world: &mut ChalkWorld,
    name: Name,
    parameter: String,
    steer: Steer,
    channel: Channel,
) -> Result<(), Failed> {
    steer_with_query_parameter(world, name, parameter, steer, channel.0).await
}

async fn steer_with_query_parameter(
    world: &mut ChalkWorld,
    name: Name,
    parameter: String,
    steer: Steer,
    channel: TokenChannel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let value = named(scene, &steer).await?;
            let what =
                format!("a valid token {channel} and the query parameter {parameter}={value}");
            let extras = Extras {
                query: vec![(parameter, value)],
                ..Extras::default()
            };
            connect_with(scene, &name, channel, extras, &what).await
        })
        .await
}

#[when(expr = "{participant} connects with the header {string} naming {steer}")]
async fn with_header(
    world: &mut ChalkWorld,
    name: Name,
    header: String,
    steer: Steer,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let value = named(scene, &steer).await?;
            let what = format!("a valid token and the header {header}: {value}");
            let extras = Extras {
                headers: vec![(header, value)],
                ..Extras::default()
            };
            connect_with(scene, &name, TokenChannel::Header, extras, &what).await
        })
        .await
}

#[when(expr = "{participant} sends {event} with the data field {string} naming {steer}")]
async fn sends_steering(
    world: &mut ChalkWorld,
    from: Name,
    event: EventName,
    field: String,
    steer: Steer,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let value = named(scene, &steer).await?;
            let mut data = Map::new();
            data.insert(field, Value::String(value));
            // After an event other than chat.send, a plain message shows where the connection
            // now speaks.
            let mut frames = Vec::new();
            if *event == *"chat.send" {
                let text = scene.next_probe(&from);
                data.insert("text".to_owned(), Value::String(text.clone()));
                frames.push((json!({ "event": "chat.send", "data": data }), text));
            } else {
                frames.push((json!({ "event": *event, "data": data }), String::new()));
                let text = scene.next_probe(&from);
                frames.push((
                    json!({ "event": "chat.send", "data": { "text": text } }),
                    text,
                ));
            }
            for (frame, text) in frames {
                let sent = scene
                    .connection_mut(&from)?
                    .send_text(&frame.to_string())
                    .await;
                sent.map_err(|e| scene.fail(format!("{from} to send {frame}"), e.to_string()))?;
                if !text.is_empty() {
                    scene.sent_texts.push(text);
                }
                scene.last_sent = Some(frame);
            }
            Ok(())
        })
        .await
}

#[then(expr = "{participant} is admitted to the room its token names, or refused")]
async fn bound_or_refused(world: &mut ChalkWorld, joiner: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempt = scene.last_attempt()?;
            if !attempt.handshake.accepted() {
                scene.note(
                    &joiner,
                    format!(
                        "refused ({}): allowed, nothing was steered",
                        attempt.handshake.summary()
                    ),
                );
                return Ok(());
            }
            let others: Vec<String> = scene
                .connected_in(RoomKey::Main)
                .into_iter()
                .filter(|n| *n != *joiner)
                .collect();
            for listener in &others {
                await_about(scene, listener, "participant.joined", &joiner).await?;
            }
            // Nobody else of the scenario may appear in the token's room under a steered id.
            let joiner_id = scene.participant_id(&joiner)?;
            let names = scene.names_by_id();
            for listener in &others {
                let frames = scene.quiet_frames(listener).await?;
                let strangers: Vec<String> = matchers::of_event(&frames, "participant.joined")
                    .map(|f| chat::data_text(f, "id"))
                    .filter(|id| *id != joiner_id && scene.is_ours(id))
                    .collect();
                if let Some(id) = strangers.first() {
                    return Err(scene.fail(
                        format!(
                            "{listener} to hear {joiner} join as {joiner_id:?}, the participant \
                             its token names, and no one else"
                        ),
                        format!(
                            "participant.joined about {}",
                            names.get(id).cloned().unwrap_or_else(|| id.clone())
                        ),
                    ));
                }
            }
            Ok(())
        })
        .await
}

#[then(
    expr = "{participant} receives every text {participant} sent, with its token's participant id as sender_id"
)]
async fn receives_from_token_id(
    world: &mut ChalkWorld,
    listener: Name,
    sender: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let expected = scene.participant_id(&sender)?;
            for text in scene.sent_texts.clone() {
                let frame = scene
                    .await_match(&listener, |frames| {
                        chat::chat_received(frames, &listener, &text)
                    })
                    .await?;
                // Whoever the event named, the message is the token's participant's.
                scene.check(chat::sender_is(&frame, &sender, &expected))?;
            }
            if scene.sent_texts.is_empty() {
                return Err(Mismatch::new(
                    "a text sent by the scenario's action",
                    "none was sent (a mistake in the feature)",
                )
                .against(scene.requirement().clone()));
            }
            Ok(())
        })
        .await
}

/// Whether `joiner`'s latest upgrade was accepted; notes the refusal when it was not.
fn admitted(scene: &Scene, joiner: &str) -> Result<bool, Failure> {
    let attempt = scene
        .attempts()
        .iter()
        .rev()
        .find(|a| a.who == joiner)
        .ok_or_else(|| {
            scene.fail(
                format!("an upgrade attempt by {joiner}"),
                "none was made (a mistake in the feature)",
            )
        })?;
    if attempt.handshake.accepted() {
        return Ok(true);
    }
    scene.note(
        joiner,
        format!(
            "refused ({}): nothing to listen to or speak in",
            attempt.handshake.summary()
        ),
    );
    Ok(false)
}

#[then(
    expr = "if {participant} was admitted, it hears nothing {participant} says, and what it says reaches {participant} from its token's participant id and not {participant}"
)]
async fn speaks_and_hears_in_its_room(
    world: &mut ChalkWorld,
    joiner: Name,
    outsider: Name,
    member: Name,
    outsider_again: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            if *outsider != *outsider_again {
                return Err(scene.fail(
                    format!("the same outsider twice, {outsider} and {outsider_again}"),
                    "two different names (a mistake in the feature)",
                ));
            }
            if !admitted(scene, &joiner)? {
                return Ok(());
            }
            // The outsider speaks in the room the client merely named; the joiner in its own.
            let overheard = scene.next_probe(&outsider);
            send_chat(scene, &outsider, &overheard).await?;
            let spoken = scene.next_probe(&joiner);
            send_chat(scene, &joiner, &spoken).await?;
            let joiner_id = scene.participant_id(&joiner)?;
            let frame = await_chat(scene, &member, &spoken).await?;
            scene.check(chat::sender_is(&frame, &joiner, &joiner_id))?;
            // The member heard the joiner: the outsider's message, sent first, has had a quiet
            // window more to reach the joiner if the server were to deliver it there.
            let names = scene.names_by_id();
            let heard_by_joiner = scene.frames_after_a_quiet_window(&joiner).await?;
            let heard_by_outsider = scene.frames_since(&outsider)?;
            for (listener, frames, text, speaker) in [
                (&*joiner, heard_by_joiner, &overheard, &*outsider),
                (&*outsider, heard_by_outsider, &spoken, &*joiner),
            ] {
                if let Some(frame) = matchers::chat_with_text(&frames, text).first() {
                    return Err(scene.fail(
                        format!(
                            "{listener} to hear nothing {speaker} says: they are in different \
                             rooms, whatever the client named"
                        ),
                        format!(
                            "{listener} received {speaker}'s chat message {text:?} (sender_id \
                             {})",
                            names
                                .get(&chat::data_text(frame, "sender_id"))
                                .cloned()
                                .unwrap_or_else(|| chat::data_text(frame, "sender_id"))
                        ),
                    ));
                }
            }
            Ok(())
        })
        .await
}
