//! Chat: sending `chat.send`, and judging the `chat.message` frames that come of it.

use cucumber::gherkin::Step;
use cucumber::{then, when};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::{self, chat};
use crate::suite::steps::parameters::Name;
use crate::suite::world::{ChalkWorld, Scene};

/// Sends one `chat.send` with `text` as `from`.
pub(crate) async fn send_chat(scene: &mut Scene, from: &str, text: &str) -> Result<(), Failure> {
    let frame = json!({ "event": "chat.send", "data": { "text": text } });
    let sent = scene
        .connection_mut(from)?
        .send_text(&frame.to_string())
        .await;
    sent.map_err(|e| scene.fail(format!("{from} to send a chat message"), e.to_string()))?;
    scene.sent_texts.push(text.to_owned());
    scene.last_sent = Some(frame);
    Ok(())
}

/// Waits until `listener` receives a `chat.message` with `text`; the frame.
pub(crate) async fn await_chat(
    scene: &Scene,
    listener: &str,
    text: &str,
) -> Result<Value, Failure> {
    scene
        .await_expected(listener, |frames| {
            chat::chat_received(frames, listener, text)
        })
        .await
}

/// Waits until `listener` has received every text the action sent; their texts in arrival order.
async fn await_all_sent(scene: &Scene, listener: &str) -> Result<Vec<String>, Failure> {
    scene
        .await_match(listener, |frames| {
            chat::all_sent_received(frames, listener, &scene.sent_texts)
        })
        .await
}

#[when(expr = "{participant} sends the chat message {string}")]
async fn sends_chat(world: &mut ChalkWorld, from: Name, text: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            send_chat(scene, &from, &text).await
        })
        .await
}

#[when(expr = "{participant} sends a chat message with each of these texts:")]
async fn sends_each_text(world: &mut ChalkWorld, step: &Step, from: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let listed: Value = serde_json::from_str(step.docstring.as_deref().unwrap_or_default())
                .map_err(|e| {
                    scene.fail(
                        "a JSON array of {\"text\"} objects",
                        format!("{e} (a mistake in the feature)"),
                    )
                })?;
            let texts: Vec<String> = listed
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.get("text")?.as_str().map(str::to_owned))
                .collect();
            for text in texts {
                send_chat(scene, &from, &text).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "{participant} sends {int} numbered chat messages")]
async fn sends_numbered(world: &mut ChalkWorld, from: Name, count: usize) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for n in 1..=count {
                send_chat(scene, &from, &format!("numbered message {n} of {count}")).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "{participant} sends a chat message of {int} characters")]
async fn sends_long(world: &mut ChalkWorld, from: Name, length: usize) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            send_chat(scene, &from, &"a".repeat(length)).await
        })
        .await
}

#[then(expr = "{participant} receives the chat message {string}")]
async fn receives_chat(world: &mut ChalkWorld, listener: Name, text: String) -> Result<(), Failed> {
    world
        .judge(async |scene| await_chat(scene, &listener, &text).await.map(drop))
        .await
}

#[then(
    expr = "the chat message {string} that {participant} receives has {participant}'s participant id as sender_id"
)]
async fn sender_is(
    world: &mut ChalkWorld,
    text: String,
    listener: Name,
    sender: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = await_chat(scene, &listener, &text).await?;
            let expected = scene.participant_id(&sender)?;
            scene.check(chat::sender_is(&frame, &sender, &expected))
        })
        .await
}

#[then(expr = "{participant} receives each of those texts byte for byte")]
async fn receives_each_text(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let sent = scene.sent_texts.clone();
            let found = scene
                .await_frames(&listener, |frames| {
                    chat::all_sent_received(frames, &listener, &sent).ok()
                })
                .await?;
            if found.is_err() {
                let received = matchers::chat_texts(&scene.quiet_frames(&listener).await?);
                return scene.check(Err(chat::texts_missing(&sent, &received)));
            }
            Ok(())
        })
        .await
}

#[then(expr = "the ids of the chat messages {participant} received are all different")]
async fn ids_differ(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            await_all_sent(scene, &listener).await?;
            let frames = scene.frames_after_a_quiet_window(&listener).await?;
            let ids = chat::ids_of_texts(&frames, &scene.sent_texts);
            scene.check(matchers::all_distinct(&ids))
        })
        .await
}

#[then(expr = "{participant} and {participant} see the same id for the chat message {string}")]
async fn same_id(
    world: &mut ChalkWorld,
    first: Name,
    second: Name,
    text: String,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let a = chat::data_text(&await_chat(scene, &first, &text).await?, "id");
            let b = chat::data_text(&await_chat(scene, &second, &text).await?, "id");
            scene.check(chat::same_id(&first, &a, &second, &b))
        })
        .await
}

#[then(
    expr = "the chat message {string} that {participant} receives has an RFC 3339 timestamp with a time zone"
)]
async fn rfc3339(world: &mut ChalkWorld, text: String, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = await_chat(scene, &listener, &text).await?;
            scene
                .check(matchers::rfc3339_timestamp(&chat::data_text(
                    &frame,
                    "timestamp",
                )))
                .map(drop)
        })
        .await
}

#[then(
    expr = "the chat message {string} that {participant} receives has a UTC timestamp within five minutes of now"
)]
async fn utc_now(world: &mut ChalkWorld, text: String, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = await_chat(scene, &listener, &text).await?;
            let timestamp = chat::data_text(&frame, "timestamp");
            scene.check(matchers::utc_near(
                &timestamp,
                OffsetDateTime::now_utc(),
                time::Duration::minutes(5),
            ))
        })
        .await
}

#[then(expr = "{participant} receives each numbered message exactly once")]
async fn exactly_once(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            await_all_sent(scene, &listener).await?;
            let received =
                matchers::chat_texts(&scene.frames_after_a_quiet_window(&listener).await?);
            scene.check(matchers::each_exactly_once(&scene.sent_texts, &received))
        })
        .await
}

#[then(expr = "{participant} receives the numbered messages in the order they were sent")]
async fn in_order(world: &mut ChalkWorld, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let received = await_all_sent(scene, &listener).await?;
            scene.check(matchers::in_sent_order(&scene.sent_texts, &received))
        })
        .await
}

#[then(
    expr = "the chat message {string} that {participant} receives has an id and a timestamp of the server's own"
)]
async fn server_fields(world: &mut ChalkWorld, text: String, listener: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let frame = await_chat(scene, &listener, &text).await?;
            let sent = scene.last_sent.clone().unwrap_or(Value::Null);
            scene.check(chat::server_chose_id_and_timestamp(&sent, &frame))
        })
        .await
}

#[then(
    expr = "{participant} also receives the chat message {string}, with the id {participant} sees"
)]
async fn echo(
    world: &mut ChalkWorld,
    sender: Name,
    text: String,
    other: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let theirs = chat::data_text(&await_chat(scene, &other, &text).await?, "id");
            let own = chat::data_text(&await_chat(scene, &sender, &text).await?, "id");
            scene.check(chat::echo_has_id(&sender, &other, &theirs, &own))
        })
        .await
}

#[then(expr = "{participant} and {participant} can still chat with each other")]
async fn can_still_chat(world: &mut ChalkWorld, first: Name, second: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for (from, to) in [(&first, &second), (&second, &first)] {
                let probe = scene.next_probe(from);
                let frame = json!({ "event": "chat.send", "data": { "text": probe } });
                let sent = scene
                    .connection_mut(from)?
                    .send_text(&frame.to_string())
                    .await;
                sent.map_err(|e| {
                    scene.fail(
                        format!("{from}'s connection to be still usable"),
                        e.to_string(),
                    )
                })?;
                await_chat(scene, to, &probe).await?;
            }
            Ok(())
        })
        .await
}
