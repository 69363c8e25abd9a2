//! Style Dictionary source JSON: `{ "color": { "<name>": { "value", "type" } } }`.
//! The classic (non-`$`) property names, which every Style Dictionary version reads.

use serde_json::{Map, Value, json};

use super::{Named, to_json};

pub(super) fn render(set_name: &str, tokens: &[Named]) -> String {
    let mut group = Map::new();
    for t in tokens {
        let mut token = Map::new();
        if let Some(role) = t.role {
            token.insert("attributes".into(), json!({ "role": role.as_str() }));
        }
        token.insert(
            "comment".into(),
            Value::String(format!("Copy That palette: {}", set_name.trim())),
        );
        token.insert("type".into(), json!("color"));
        token.insert("value".into(), Value::String(t.hex.clone()));
        group.insert(t.name.clone(), Value::Object(token));
    }
    let mut root = Map::new();
    root.insert("color".into(), Value::Object(group));
    to_json(&Value::Object(root))
}
