//! Rooms as they are in real use: tens of members, and rooms whose ids look alike.
//!
//! A crowd is a scenario's members named `Member01`, `Member02`, … in the room, connected one
//! after another as any setup connects (each announced to those already there). Look-alike rooms
//! need ids the suite chooses, so their scenarios mint every token with the run's key
//! (`@needs.forge-tokens`): the room's id is made of the run id and the scenario's number, and
//! each look-alike room's id is derived from it. A deployment that admits tokens only for the
//! rooms it created refuses them; the run probes that once (`@needs.name-rooms`) and skips
//! these scenarios there, rather than fail them at setup.

use std::fmt;
use std::str::FromStr;

use cucumber::{Parameter, given, then, when};

use crate::suite::failure::Failed;
use crate::suite::steps::chat::{await_chat, send_chat};
use crate::suite::steps::parameters::Name;
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, RoomKey, Scene};

/// What the name of every member of a crowd starts with.
const MEMBER: &str = "Member";
/// The name of the participant that joins a crowd.
const NEWCOMER: &str = "Newcomer";

/// How a room's id is made to resemble the room's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "lookalike_id",
    regex = "in upper case|with \"-2\" appended|without its last character|with its last character replaced"
)]
pub enum LookalikeId {
    /// Every letter in upper case.
    UpperCase,
    /// The room's id is a prefix of it.
    Appended,
    /// It is a prefix of the room's id.
    Shortened,
    /// It shares all but the last character with the room's id.
    LastReplaced,
}

impl FromStr for LookalikeId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in upper case" => Ok(Self::UpperCase),
            "with \"-2\" appended" => Ok(Self::Appended),
            "without its last character" => Ok(Self::Shortened),
            "with its last character replaced" => Ok(Self::LastReplaced),
            other => Err(format!("unknown look-alike id {other:?}")),
        }
    }
}

impl fmt::Display for LookalikeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UpperCase => "in upper case",
            Self::Appended => "with \"-2\" appended",
            Self::Shortened => "without its last character",
            Self::LastReplaced => "with its last character replaced",
        })
    }
}

impl LookalikeId {
    /// The look-alike of the room id `id`.
    pub fn of(self, id: &str) -> String {
        let mut shortened = id.to_owned();
        let last = shortened.pop();
        match self {
            Self::UpperCase => id.to_uppercase(),
            Self::Appended => format!("{id}-2"),
            Self::Shortened => shortened,
            Self::LastReplaced => {
                let other = if last == Some('x') { 'y' } else { 'x' };
                format!("{shortened}{other}")
            }
        }
    }
}

/// The members of the scenario's crowd, in joining order.
fn crowd(scene: &Scene) -> Vec<String> {
    scene
        .connected_in(RoomKey::Main)
        .into_iter()
        .filter(|name| name.starts_with(MEMBER))
        .collect()
}

#[given(expr = "{int} participants are connected")]
async fn crowd_is_connected(world: &mut ChalkWorld, count: usize) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for n in 1..=count {
                let name = format!("{MEMBER}{n:02}");
                scene.join_for_setup(&name, RoomKey::Main).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "the first of them sends the chat message {string}")]
async fn first_sends(world: &mut ChalkWorld, text: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let first = crowd(scene).into_iter().next().unwrap_or_default();
            send_chat(scene, &first, &text).await
        })
        .await
}

#[then(expr = "every other one of them receives the chat message {string}, once")]
async fn every_other_receives(world: &mut ChalkWorld, text: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for listener in crowd(scene).iter().skip(1) {
                await_chat(scene, listener, &text).await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "one more participant connects")]
async fn newcomer_connects(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            scene.provision(NEWCOMER, RoomKey::Main, None, None).await?;
            let request = scene.standard_request(NEWCOMER)?;
            let token = scene.participant(NEWCOMER)?.credentials.token.clone();
            scene
                .attempt(NEWCOMER, "a valid token", request, Some(token))
                .await;
            Ok(())
        })
        .await
}

#[then(expr = "every one of them receives participant.joined about the newcomer, once")]
async fn everyone_hears_newcomer(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for listener in crowd(scene) {
                await_about(scene, &listener, "participant.joined", NEWCOMER).await?;
            }
            Ok(())
        })
        .await
}

#[given(expr = "{participant} is connected to a room whose id the suite chooses")]
async fn connected_to_chosen_room(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.choose_room_ids()?;
            scene.connect_for_setup(&name, RoomKey::Main).await
        })
        .await
}

#[given(
    expr = "{participant} and {participant} are connected to a room whose id the suite chooses"
)]
async fn two_connected_to_chosen_room(
    world: &mut ChalkWorld,
    first: Name,
    second: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.choose_room_ids()?;
            for name in [first, second] {
                scene.connect_for_setup(&name, RoomKey::Main).await?;
            }
            Ok(())
        })
        .await
}

#[given(expr = "{participant} is connected to a room whose id is that id {lookalike_id}")]
async fn connected_to_lookalike(
    world: &mut ChalkWorld,
    name: Name,
    lookalike: LookalikeId,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let room = scene.room_id(RoomKey::Main).await?;
            let key = scene.next_lookalike_room();
            scene.name_room(key, lookalike.of(&room));
            scene.connect_for_setup(&name, key).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalike_ids_differ_from_the_room_id_in_one_way_each() {
        let id = "cc1a2b3c-007-room";
        assert_eq!(LookalikeId::UpperCase.of(id), "CC1A2B3C-007-ROOM");
        assert_eq!(LookalikeId::Appended.of(id), "cc1a2b3c-007-room-2");
        assert_eq!(LookalikeId::Shortened.of(id), "cc1a2b3c-007-roo");
        assert_eq!(LookalikeId::LastReplaced.of(id), "cc1a2b3c-007-roox");
        for lookalike in [
            LookalikeId::UpperCase,
            LookalikeId::Appended,
            LookalikeId::Shortened,
            LookalikeId::LastReplaced,
        ] {
            assert_eq!(lookalike.to_string().parse::<LookalikeId>(), Ok(lookalike));
        }
    }
}
