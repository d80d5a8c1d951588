//! Who holds a member in Redis: a run of a node ([`Incarnation`]) and the entries of the index
//! of members it holds ([`MemberEntry`]), which the room-event bus keeps and the reaper reads
//! (see [`super::liveness`]).

use std::fmt;

use serde_json::Value;

use crate::events::RoomKey;
use crate::node::NodeId;

/// One run of a node: the node id and a random id drawn at start, shown `NODE@RANDOM` (`@` is
/// not allowed in a node id, so the two parts never blur).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incarnation {
    node: NodeId,
    text: String,
}

impl Incarnation {
    /// A new incarnation of `node`.
    pub fn new(node: &NodeId) -> Incarnation {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Incarnation {
            node: node.clone(),
            text: format!("{node}@{}", &random[..12]),
        }
    }

    /// `NODE@RANDOM`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The node this is a run of.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The set of this incarnation's members (see [`MemberEntry`]).
    pub(crate) fn members_key(&self) -> String {
        members_key(&self.text)
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

pub(crate) fn members_key(incarnation: &str) -> String {
    format!("chalk:node:{incarnation}:members")
}

/// A member as its incarnation's index lists it: where, who, and which connection holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberEntry {
    pub(crate) room: RoomKey,
    pub(crate) participant_id: String,
    /// `INCARNATION/CONN`, as in the member record.
    pub(crate) owner: String,
}

impl MemberEntry {
    pub(crate) fn new(room: &RoomKey, participant_id: &str, owner: &str) -> MemberEntry {
        MemberEntry {
            room: room.clone(),
            participant_id: participant_id.to_owned(),
            owner: owner.to_owned(),
        }
    }

    /// `["TENANT","ROOM","PARTICIPANT","OWNER"]`: the set member in the index.
    pub(crate) fn encode(&self) -> String {
        serde_json::json!([
            self.room.tenant,
            self.room.room_id,
            self.participant_id,
            self.owner
        ])
        .to_string()
    }

    /// The entry of [`MemberEntry::encode`]'s text, if it is one.
    pub(crate) fn decode(text: &str) -> Option<MemberEntry> {
        let value: Value = serde_json::from_str(text).ok()?;
        let part = |i: usize| value.get(i)?.as_str().map(str::to_owned);
        Some(MemberEntry {
            room: RoomKey {
                tenant: part(0)?,
                room_id: part(1)?,
            },
            participant_id: part(2)?,
            owner: part(3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_of_one_node_differ_and_name_it() {
        let node = NodeId::parse("b-2").unwrap();
        let (first, second) = (Incarnation::new(&node), Incarnation::new(&node));
        assert_ne!(first, second);
        assert!(first.as_str().starts_with("b-2@"));
        assert_eq!(first.node(), &node);
        assert_eq!(first.members_key(), format!("chalk:node:{first}:members"));
    }

    #[test]
    fn member_entries_survive_their_encoding() {
        let room = RoomKey {
            tenant: "acme".to_owned(),
            room_id: "room \"1\"".to_owned(),
        };
        let entry = MemberEntry::new(&room, "ada", "a@0123/7");
        assert_eq!(MemberEntry::decode(&entry.encode()), Some(entry));
        assert_eq!(MemberEntry::decode("[\"only\"]"), None);
    }
}
