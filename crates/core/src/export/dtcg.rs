//! W3C Design Tokens (DTCG format 2025.10) JSON: one `color` group, `$type` inherited.
//! Colour `$value`s are the spec's object form `{colorSpace, components, hex}` in sRGB.

use serde_json::{Map, Value, json};

use super::{Named, to_json};

/// Channel in 0..1, 4 decimals: enough to round-trip every 8-bit value.
fn component(v: u8) -> f64 {
    (f64::from(v) / 255.0 * 10_000.0).round() / 10_000.0
}

pub(super) fn render(set_name: &str, tokens: &[Named]) -> String {
    // Keys are inserted in byte order ("$" sorts before letters); see `to_json`.
    let mut group = Map::new();
    group.insert("$type".into(), json!("color"));
    for t in tokens {
        let mut token = Map::new();
        if let Some(role) = t.role {
            token.insert(
                "$extensions".into(),
                json!({ "app.copythat": { "role": role.as_str() } }),
            );
        }
        token.insert(
            "$value".into(),
            json!({
                "colorSpace": "srgb",
                "components": t.rgb.map(component),
                "hex": t.hex,
            }),
        );
        group.insert(t.name.clone(), Value::Object(token));
    }
    let mut root = Map::new();
    root.insert(
        "$description".into(),
        Value::String(format!("Copy That palette: {}", set_name.trim())),
    );
    root.insert("color".into(), Value::Object(group));
    to_json(&Value::Object(root))
}
