//! Design-token exporters: one file per format under `export/`, all fed by [`ExportToken`]s.
//! Names are slugged here, once, so no user string reaches an output unescaped.
//!
//! Naming: a token with a role is named after the role (`primary`, then `primary-2`, ...);
//! one without a role after a slug of its name (lowercase ASCII `[a-z0-9-]`, runs of other
//! characters become one dash, a leading digit gets a `color-` prefix, empty becomes
//! `color`). Clashes get `-2`, `-3`, ... Tokens are first taken with roles in
//! [`Role::ALL`] order, then those without a role in input order; the output lists them in
//! byte order of their final names, in every format. Tokens whose hex does not parse are
//! skipped: an exporter never echoes an invalid value.

mod css;
mod dtcg;
mod scss;
mod style_dictionary;
mod tailwind;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::color::{parse_hex, to_hex};
use crate::tokens::Role;

/// What a stored token gives to an exporter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportToken {
    pub name: String,
    pub hex: String,
    pub role: Option<Role>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// W3C Design Tokens (DTCG 2025.10) JSON.
    Dtcg,
    /// CSS custom properties on `:root`.
    Css,
    /// SCSS variables plus a map.
    Scss,
    /// A `tailwind.config.js` module extending `theme.colors`.
    Tailwind,
    /// Style Dictionary source JSON.
    StyleDictionary,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 5] = [
        ExportFormat::Dtcg,
        ExportFormat::Css,
        ExportFormat::Scss,
        ExportFormat::Tailwind,
        ExportFormat::StyleDictionary,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dtcg => "dtcg",
            Self::Css => "css",
            Self::Scss => "scss",
            Self::Tailwind => "tailwind",
            Self::StyleDictionary => "style-dictionary",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Dtcg | Self::StyleDictionary => "application/json",
            Self::Css => "text/css",
            Self::Scss => "text/x-scss",
            Self::Tailwind => "text/javascript",
        }
    }

    /// Without the dot. DTCG uses the spec's recommended `.tokens.json`.
    pub fn file_extension(&self) -> &'static str {
        match self {
            Self::Dtcg => "tokens.json",
            Self::Css => "css",
            Self::Scss => "scss",
            Self::Tailwind => "js",
            Self::StyleDictionary => "json",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned for anything but the exact format names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format")]
pub struct UnknownFormat;

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(UnknownFormat)
    }
}

/// A token ready for output: a safe unique name and a validated colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub name: String,
    pub rgb: [u8; 3],
    pub hex: String,
    pub role: Option<Role>,
}

/// Lowercase ASCII slug `[a-z0-9-]`, no leading/trailing/double dashes, starting with a
/// letter (so it is a valid CSS, SCSS and JS identifier fragment). Empty -> `color`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(64));
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        // Keep names short enough for any tool; cut on a char boundary (ASCII only here).
        if out.len() >= 64 {
            break;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        return "color".to_owned();
    }
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert_str(0, "color-");
    }
    out
}

/// Apply the naming rules in the module docs.
pub(crate) fn name_tokens(tokens: &[ExportToken]) -> Vec<Named> {
    let valid: Vec<(&ExportToken, [u8; 3])> = tokens
        .iter()
        .filter_map(|t| parse_hex(&t.hex).map(|rgb| (t, rgb)))
        .collect();
    let mut ordered: Vec<(&ExportToken, [u8; 3], String)> = Vec::with_capacity(valid.len());
    for role in Role::ALL {
        for &(t, rgb) in valid.iter().filter(|(t, _)| t.role == Some(role)) {
            ordered.push((t, rgb, role.as_str().to_owned()));
        }
    }
    for &(t, rgb) in valid.iter().filter(|(t, _)| t.role.is_none()) {
        ordered.push((t, rgb, slug(&t.name)));
    }
    let mut used = BTreeSet::new();
    let mut out: Vec<Named> = ordered
        .into_iter()
        .map(|(t, rgb, base)| {
            let mut name = base.clone();
            let mut n = 2;
            while used.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            used.insert(name.clone());
            Named {
                name,
                rgb,
                hex: to_hex(rgb),
                role: t.role,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Slug of the set name for headers and identifiers.
pub(crate) fn set_slug(set_name: &str) -> String {
    let s = slug(set_name);
    if set_name.trim().is_empty() {
        "palette".to_owned()
    } else {
        s
    }
}

/// Render `tokens` in `format`. `set_name` only appears slugged (or JSON-escaped).
pub fn export(format: ExportFormat, set_name: &str, tokens: &[ExportToken]) -> String {
    let named = name_tokens(tokens);
    match format {
        ExportFormat::Dtcg => dtcg::render(set_name, &named),
        ExportFormat::Css => css::render(set_name, &named),
        ExportFormat::Scss => scss::render(set_name, &named),
        ExportFormat::Tailwind => tailwind::render(set_name, &named),
        ExportFormat::StyleDictionary => style_dictionary::render(set_name, &named),
    }
}

/// Pretty JSON with a trailing newline. Maps are always built with keys inserted in byte
/// order, so the text is the same whether or not serde_json's `preserve_order` is on.
pub(crate) fn to_json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(name: &str, hex: &str, role: Option<Role>) -> ExportToken {
        ExportToken {
            name: name.into(),
            hex: hex.into(),
            role,
        }
    }

    #[test]
    fn slug_rules() {
        assert_eq!(slug("Brand Blue!!"), "brand-blue");
        assert_eq!(slug("  --Über  cool--  "), "ber-cool");
        assert_eq!(slug(""), "color");
        assert_eq!(slug("***"), "color");
        assert_eq!(slug("2nd"), "color-2nd");
        assert_eq!(slug("a*/b</style>"), "a-b-style");
        assert!(slug(&"x".repeat(500)).len() <= 64);
    }

    #[test]
    fn names_by_role_then_slug_deduplicated() {
        let named = name_tokens(&[
            tok("x", "#111111", Some(Role::Primary)),
            tok("y", "#222222", Some(Role::Primary)),
            tok("Primary", "#333333", None),
            tok("Sky", "#444444", None),
            tok("sky", "#555555", None),
            tok("bad", "#zzzzzz", None),
        ]);
        let names: Vec<_> = named.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["primary", "primary-2", "primary-3", "sky", "sky-2"]);
        assert_eq!(named[2].hex, "#333333");
    }

    #[test]
    fn format_names_parse_exactly() {
        for f in ExportFormat::ALL {
            assert_eq!(f.as_str().parse::<ExportFormat>(), Ok(f));
        }
        assert!("CSS".parse::<ExportFormat>().is_err());
        assert!("style_dictionary".parse::<ExportFormat>().is_err());
    }
}
