//! Editing encoded events: the frame's top-level JSON object taken apart, edited, and encoded
//! again (keys then come out in alphabetical order; the meaning is unchanged).

use axum::extract::ws::Utf8Bytes;
use serde_json::{Map, Value};

/// The frame with its top-level JSON object edited; unchanged if it is not an object.
pub fn rewrite(frame: &Utf8Bytes, edit: impl FnOnce(&mut Map<String, Value>)) -> Utf8Bytes {
    match serde_json::from_str::<Value>(frame.as_str()) {
        Ok(Value::Object(mut object)) => {
            edit(&mut object);
            Utf8Bytes::from(Value::Object(object).to_string())
        }
        _ => frame.clone(),
    }
}

/// The `data` object of an event being rewritten.
pub fn data_of(object: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    object.get_mut("data").and_then(Value::as_object_mut)
}

/// The `event` name of an encoded frame, if it has one.
pub fn event_name(frame: &str) -> Option<String> {
    string_at(frame, "/event")
}

/// The string at `pointer` (such as `/data/sender_id`) of a frame, if any.
pub fn string_at(frame: &str, pointer: &str) -> Option<String> {
    let value: Value = serde_json::from_str(frame).ok()?;
    value.pointer(pointer)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_objects_and_leaves_anything_else_alone() {
        let frame = Utf8Bytes::from_static(r#"{"event":"x","data":{"id":"a"}}"#);
        let edited = rewrite(&frame, |event| {
            data_of(event).map(|data| data.insert("id".into(), "b".into()));
        });
        assert_eq!(string_at(&edited, "/data/id").as_deref(), Some("b"));
        assert_eq!(event_name(&edited).as_deref(), Some("x"));
        let text = Utf8Bytes::from_static("[1]");
        assert_eq!(rewrite(&text, |event| event.clear()), text);
    }
}
