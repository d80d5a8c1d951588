//! Chat texts of several lengths, up to the server's limit.
//!
//! The page sets no limit on a text. The suite tries lengths up to [`DEFAULT_TEXT_LIMIT`]
//! characters (the limit the `error-event` extension states; without it, the same figure as a
//! documented default) and holds a server to one rule: what it delivers, it delivers unaltered
//! (CHAT-003). It may refuse a text it finds too long, visibly: an `error` event to the sender
//! for each, or a close of the sender's connection (1009, say), after which the longer texts
//! are not sent. Only the longest texts may be refused (those not delivered are longer than
//! any delivered), and never one of [`ALWAYS_DELIVERED`] characters or fewer. A text neither
//! delivered nor refused is a failure too.

use cucumber::{then, when};

use crate::driver::connection::Received;
use crate::suite::failure::Failed;
use crate::suite::matchers::chat;
use crate::suite::steps::chat::send_chat;
use crate::suite::steps::parameters::Name;
use crate::suite::world::{ChalkWorld, QUIET_PERIOD, Scene};

/// The longest text tried, in characters (Unicode scalar values): the limit of the
/// `error-event` extension, and the suite's default when a server declares none.
pub const DEFAULT_TEXT_LIMIT: usize = 4000;

/// The length, in characters, up to which a text is never refused: every chat must carry a
/// sentence, so the texts of 1 and 100 characters are delivered whatever the server's limit.
pub const ALWAYS_DELIVERED: usize = 100;

/// The characters texts are made of, in turn: one, two, three and four bytes in UTF-8, a
/// right-to-left letter and a CJK one, so that a cut by bytes, by UTF-16 units or by
/// characters all show.
const TEXT_CYCLE: [char; 6] = ['a', 'é', '€', '😀', 'ש', '文'];

/// A text of exactly `length` characters made of [`TEXT_CYCLE`], marked with its length at
/// the start so that a failure says which one it was.
pub fn text_of(length: usize) -> String {
    let mark: Vec<char> = format!("[{length}]").chars().collect();
    let mut text: Vec<char> = mark.into_iter().take(length).collect();
    let mut cycle = TEXT_CYCLE.iter().cycle();
    while text.len() < length {
        text.push(*cycle.next().unwrap_or(&'a'));
    }
    text.into_iter().collect()
}

#[when(
    expr = "{participant} sends chat messages of {int}, {int}, {int}, {int} and {int} characters"
)]
async fn sends_sizes(
    world: &mut ChalkWorld,
    from: Name,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            for length in [a, b, c, d, e] {
                let length = length.min(DEFAULT_TEXT_LIMIT);
                // A server that refused a text by closing the connection has refused the longer
                // ones too; they are not sent.
                if scene.connection(&from)?.inbox().lock().ending.is_some() {
                    break;
                }
                if send_chat(scene, &from, &text_of(length)).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
        .await
}

/// How far the texts sent by `sender` have got: delivered to `listener`, refused with an
/// `error`, or the sender's connection ended.
fn settled(
    scene: &Scene,
    listener_frames: &[Received],
    (sender, sender_id): (&str, &str),
    sent: usize,
) -> bool {
    let Ok(connection) = scene.connection(sender) else {
        return true;
    };
    let state = connection.inbox().lock();
    let errors = chat::refusals(state.frames.get(connection.mark()..).unwrap_or_default());
    state.ending.is_some() || chat::texts_from(listener_frames, sender_id).len() + errors >= sent
}

#[then(
    expr = "{participant} receives each of those texts unaltered, unless {participant} was told it was refused"
)]
async fn sizes_received(
    world: &mut ChalkWorld,
    listener: Name,
    sender: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let sent = scene.sent_texts.clone();
            let sender_id = scene.participant_id(&sender)?;
            let _ = scene
                .await_frames(&listener, |frames| {
                    settled(scene, frames, (&sender, &sender_id), sent.len()).then_some(())
                })
                .await?;
            tokio::time::sleep(QUIET_PERIOD).await;
            let received = scene.frames_since(&listener)?;
            let connection = scene.connection(&sender)?;
            let (refusals, ended) = {
                let state = connection.inbox().lock();
                let frames = state.frames.get(connection.mark()..).unwrap_or_default();
                (
                    chat::refusals(frames),
                    state.ending.as_ref().map(|e| e.describe()),
                )
            };
            scene.check(chat::delivered_unaltered_or_refused(
                &sent,
                &chat::texts_from(&received, &sender_id),
                ALWAYS_DELIVERED,
                refusals,
                ended.as_deref(),
            ))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_have_the_length_asked_for_and_bytes_of_every_width() {
        for length in [1, 5, 100, 4000] {
            assert_eq!(text_of(length).chars().count(), length);
        }
        let long = text_of(100);
        assert!(long.starts_with("[100]"));
        assert!(long.len() > 200, "{} bytes", long.len());
        assert_eq!(text_of(1), "[");
    }
}
