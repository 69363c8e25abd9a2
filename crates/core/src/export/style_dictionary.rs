//! Style Dictionary source JSON: `{ "color": { "<name>": { "value", "type", "comment" } } }`.
//! The classic (non-`$`) property names, which every Style Dictionary version reads.
//!
//! `comment` is the token's own description (Style Dictionary writes it into `/** ... */` or
//! `//` comments), inert text (S28); names never equal a property Style Dictionary reserves.
//! No palette-wide comment: it would be repeated on every generated line.

use serde_json::{Map, Value, json};

use super::{Named, to_json};

pub(super) fn render(tokens: &[Named]) -> String {
    let mut group = Map::new();
    for t in tokens {
        let mut token = Map::new();
        if let Some(role) = t.role {
            token.insert("attributes".into(), json!({ "role": role.as_str() }));
        }
        token.insert("comment".into(), Value::String(t.description.clone()));
        token.insert("type".into(), json!("color"));
        token.insert("value".into(), Value::String(t.hex.clone()));
        group.insert(t.name.clone(), Value::Object(token));
    }
    let mut root = Map::new();
    root.insert("color".into(), Value::Object(group));
    to_json(&Value::Object(root))
}
