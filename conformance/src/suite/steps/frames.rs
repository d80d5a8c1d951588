//! Sending frames by hand: JSON written in the feature, binary frames, invalid UTF-8, Ping
//! frames; and the hand events a scenario sets up with.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::driver::visible::quoted;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::frames;
use crate::suite::steps::parameters::Name;
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, Scene};

/// Bytes that are not UTF-8: a lone continuation byte and an overlong encoding.
const NOT_UTF8: &[u8] = b"{\"event\":\"chat.send\",\"data\":{\"text\":\"\x80\xc0\xaf\"}}";

/// Sends `text` as one text frame from `from`.
async fn send_text(scene: &mut Scene, from: &str, text: &str) -> Result<(), Failure> {
    let sent = scene.connection_mut(from)?.send_text(text).await;
    sent.map_err(|e| scene.fail(format!("{from} to send {}", quoted(text)), e.to_string()))?;
    scene.last_sent = serde_json::from_str::<Value>(text).ok();
    Ok(())
}

/// Sends any message from `from`.
async fn send_raw(
    scene: &mut Scene,
    from: &str,
    message: Message,
    described: &str,
) -> Result<(), Failure> {
    let sent = scene
        .connection_mut(from)?
        .send_raw(message, described)
        .await;
    sent.map_err(|e| scene.fail(format!("{from} to send {described}"), e.to_string()))
}

#[when(expr = "{participant} sends:")]
async fn sends(world: &mut ChalkWorld, step: &Step, from: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let text = step
                .docstring
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('\n');
            send_text(scene, &from, text).await
        })
        .await
}

#[when(expr = "{participant} sends a text frame that is not valid UTF-8")]
async fn sends_invalid_utf8(world: &mut ChalkWorld, from: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let frame = Frame::message(NOT_UTF8.to_vec(), OpCode::Data(Data::Text), true);
            let described = format!(
                "(text frame that is not UTF-8: {})",
                quoted(&String::from_utf8_lossy(NOT_UTF8))
            );
            send_raw(scene, &from, Message::Frame(frame), &described).await
        })
        .await
}

#[when(expr = "{participant} sends a binary frame")]
async fn sends_binary(world: &mut ChalkWorld, from: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let bytes = vec![0xde, 0xad, 0xbe, 0xef];
            send_raw(
                scene,
                &from,
                Message::binary(bytes),
                "(binary frame de ad be ef)",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} sends a ping frame with the payload {string}")]
async fn sends_ping(world: &mut ChalkWorld, from: Name, payload: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let ping = Message::Ping(payload.clone().into_bytes().into());
            send_raw(
                scene,
                &from,
                ping,
                &format!("(ping frame {})", quoted(&payload)),
            )
            .await
        })
        .await
}

#[then(expr = "{participant} receives a pong frame with the payload {string}")]
async fn receives_pong(
    world: &mut ChalkWorld,
    listener: Name,
    payload: String,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene
                .await_match(&listener, |frames| frames::pong_received(frames, &payload))
                .await
        })
        .await
}

#[given(expr = "{participant} has sent a hand.raise")]
async fn has_raised(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| send_text(scene, &who, r#"{"event":"hand.raise"}"#).await)
        .await
}

#[given(expr = "{participant}'s raised hand has been announced")]
async fn raised_and_announced(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            send_text(scene, &who, r#"{"event":"hand.raise"}"#).await?;
            let room = scene.participant(&who)?.room;
            let listeners: Vec<String> = scene.connected_in(room);
            for listener in listeners {
                await_about(scene, &listener, "hand.raised", &who).await?;
            }
            Ok(())
        })
        .await
}
