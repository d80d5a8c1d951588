//! One received frame seen through the event envelope of `schemas/`: the shared, judgement-free
//! way every layer above reads an event (its name, its `data` members, who it is about).

use serde_json::Value;

/// A JSON frame seen through the event envelope: its event name, its `data` members, and the
/// participant it is about. The one way the matchers, the fuzz oracle and the load marker read
/// a received frame; it judges nothing (a frame may lack any part, and then that part is `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameView<'a>(pub &'a Value);

impl<'a> FrameView<'a> {
    /// The event name, when the frame has a string `event`.
    pub fn event(self) -> Option<&'a str> {
        self.0.get("event")?.as_str()
    }

    /// Whether the frame is the event `name`.
    pub fn is(self, name: &str) -> bool {
        self.event() == Some(name)
    }

    /// The `data` member.
    pub fn data(self) -> Option<&'a Value> {
        self.0.get("data")
    }

    /// The string member `field` of `data`.
    pub fn text(self, field: &str) -> Option<&'a str> {
        self.data()?.get(field)?.as_str()
    }

    /// The participant the event is about: the joiner or leaver (`data.id`), the hand's owner
    /// (`data.participant_id`), the chat sender (`data.sender_id`).
    pub fn subject(self) -> Option<&'a str> {
        let field = match self.event()? {
            "participant.joined" | "participant.left" => "id",
            "hand.raised" | "hand.lowered" => "participant_id",
            "chat.message" => "sender_id",
            _ => return None,
        };
        self.text(field)
    }

    /// The participant ids a roster (`room.state`) lists in `data.participants`, in order.
    pub fn roster(self) -> Vec<&'a str> {
        self.data()
            .and_then(|d| d.get("participants"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|p| p.get("id")?.as_str()).collect())
            .unwrap_or_default()
    }

    /// Whether the frame is the event `name` about participant `id`.
    pub fn is_about(self, name: &str, id: &str) -> bool {
        self.is(name) && self.subject() == Some(id)
    }
}
