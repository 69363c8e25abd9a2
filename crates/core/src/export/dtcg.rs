//! W3C Design Tokens (DTCG format 2025.10) JSON: one `color` group, `$type` inherited, a
//! `$description` per token. `$value` is the spec's colour object, or a hex string (`dtcg-hex`).
//!
//! The hex form is what Style Dictionary 4 and sd-transforms read (they print a colour object
//! as `[object Object]` or crash on it); Style Dictionary 5 and Terrazzo read both. Keys are
//! slugs (never `$`-prefixed, no `{ } .`), descriptions inert text (S28).

use serde_json::{Map, Value as Json, json};

use super::{Named, to_json};

/// How a colour's `$value` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    /// `{ "colorSpace": "srgb", "components": [r, g, b], "hex": "#rrggbb" }`.
    ColorObject,
    /// `"#rrggbb"`.
    Hex,
}

/// Channel in 0..1, 4 decimals: enough to round-trip every 8-bit value.
fn component(v: u8) -> f64 {
    (f64::from(v) / 255.0 * 10_000.0).round() / 10_000.0
}

pub(super) fn render(title: &str, tokens: &[Named], value: Value) -> String {
    // Keys are inserted in byte order ("$" sorts before letters); see `to_json`.
    let mut group = Map::new();
    group.insert("$type".into(), json!("color"));
    for t in tokens {
        let mut token = Map::new();
        token.insert("$description".into(), Json::String(t.description.clone()));
        let mut ours = Map::new();
        if let Some(role) = t.role {
            ours.insert("role".into(), json!(role.as_str()));
        }
        if let Some(share) = super::percent(t.share).and(t.share) {
            ours.insert("share".into(), json!(share));
        }
        if !ours.is_empty() {
            token.insert(
                "$extensions".into(),
                json!({ "app.copythat": Json::Object(ours) }),
            );
        }
        let v = match value {
            Value::ColorObject => json!({
                "colorSpace": "srgb",
                "components": t.rgb.map(component),
                "hex": t.hex,
            }),
            Value::Hex => Json::String(t.hex.clone()),
        };
        token.insert("$value".into(), v);
        group.insert(t.name.clone(), Json::Object(token));
    }
    let mut root = Map::new();
    root.insert(
        "$description".into(),
        Json::String(format!("Copy That palette: {title}")),
    );
    root.insert("color".into(), Json::Object(group));
    to_json(&Json::Object(root))
}
