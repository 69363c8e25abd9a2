//! Design-token exporters: one file per format under `export/`, all fed by [`ExportToken`]s.
//! User text is made inert here, once, so no name or description becomes code in any consumer (S28).
//!
//! Names (see [`names`]): a token with a role is named after the role, one without after a slug
//! of its name; twins that would share a name are told apart by how they differ
//! (`primary-lighter` / `primary-darker`, `indigo-warm` / `indigo-cool`). Every format lists
//! the tokens in byte order of their final names, and the output does not depend on the order
//! of the input. Tokens whose hex does not parse are skipped: an exporter never echoes an
//! invalid value.
//!
//! Descriptions: each token carries one sentence (its human name, pixel share when known,
//! contrast on white and black) in the place its format has for it: `$description` (DTCG),
//! `comment` (Style Dictionary), a comment (CSS, SCSS, Tailwind). Human text passes through
//! [`inert_text`]: letters, digits, spaces and `- . , : % ( ) + # ! ?` only, so it cannot end a
//! comment (`*/`), open a reference (`{x}`), quote, escape, start an `@`-rule or a tag.

mod css;
mod dtcg;
pub mod names;
mod ramp;
mod scss;
mod style_dictionary;
mod tailwind;
mod tailwind4;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::color::contrast_ratio;
use crate::tokens::{ColorToken, Role};

pub use self::names::slug;

/// What an exporter needs to know about one colour.
///
/// The server builds these from stored rows (`name`, `hex`, `role`, `share`); contrast is
/// computed here from the hex, the same way extraction computes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportToken {
    /// The human name (`vivid blue`, or one the user gave). Used as the key when there is no
    /// role, and in the description.
    pub name: String,
    /// `#rrggbb` (or `#rgb`); a token whose hex does not parse is left out.
    pub hex: String,
    pub role: Option<Role>,
    /// Fraction of the image's pixels, 0..=1, when the colour was extracted; `None` for one
    /// added by hand. Out-of-range or non-finite values are treated as unknown.
    #[serde(default)]
    pub share: Option<f64>,
}

impl ExportToken {
    /// A token with no known share.
    pub fn new(name: impl Into<String>, hex: impl Into<String>, role: Option<Role>) -> Self {
        Self {
            name: name.into(),
            hex: hex.into(),
            role,
            share: None,
        }
    }
}

impl From<&ColorToken> for ExportToken {
    fn from(c: &ColorToken) -> Self {
        Self {
            name: c.name.clone(),
            hex: c.hex.clone(),
            role: c.role,
            share: Some(c.share),
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// W3C Design Tokens (DTCG 2025.10) JSON, colours as `{colorSpace, components, hex}`.
    Dtcg,
    /// The same tree with hex-string `$value`s, for Style Dictionary 4 and sd-transforms.
    DtcgHex,
    /// CSS custom properties on `:root`.
    Css,
    /// SCSS variables plus a map.
    Scss,
    /// A Tailwind 3 `tailwind.config.js` module extending `theme.colors`.
    Tailwind,
    /// A Tailwind 4 stylesheet: `@theme { --color-*: ... }`.
    Tailwind4,
    /// Style Dictionary source JSON (`value`, `type`, `comment`).
    StyleDictionary,
}

impl ExportFormat {
    /// Every format, in the order documentation lists them.
    pub const ALL: [ExportFormat; 7] = [
        ExportFormat::Dtcg,
        ExportFormat::DtcgHex,
        ExportFormat::Css,
        ExportFormat::Scss,
        ExportFormat::Tailwind,
        ExportFormat::Tailwind4,
        ExportFormat::StyleDictionary,
    ];

    /// The format's name in the API (`?format=`) and the CLI (`--format`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dtcg => "dtcg",
            Self::DtcgHex => "dtcg-hex",
            Self::Css => "css",
            Self::Scss => "scss",
            Self::Tailwind => "tailwind",
            Self::Tailwind4 => "tailwind4",
            Self::StyleDictionary => "style-dictionary",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Dtcg | Self::DtcgHex | Self::StyleDictionary => "application/json",
            Self::Css | Self::Tailwind4 => "text/css",
            Self::Scss => "text/x-scss",
            Self::Tailwind => "text/javascript",
        }
    }

    /// Without the dot, distinct per format so files of one palette never overwrite each
    /// other. DTCG uses the spec's recommended `.tokens.json`.
    pub fn file_extension(&self) -> &'static str {
        match self {
            Self::Dtcg => "tokens.json",
            Self::DtcgHex => "hex.tokens.json",
            Self::Css => "css",
            Self::Scss => "scss",
            Self::Tailwind => "js",
            Self::Tailwind4 => "tailwind.css",
            Self::StyleDictionary => "json",
        }
    }

    /// Whether the output is one JSON document.
    pub fn is_json(&self) -> bool {
        matches!(self, Self::Dtcg | Self::DtcgHex | Self::StyleDictionary)
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

/// A token ready for output: a safe unique name, a validated colour, an inert description.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Named {
    pub name: String,
    pub rgb: [u8; 3],
    pub hex: String,
    pub role: Option<Role>,
    pub share: Option<f64>,
    pub description: String,
}

/// Longest human text kept, in characters: enough for a name, short enough for a comment.
const MAX_TEXT_CHARS: usize = 80;

/// User text made safe for comments, descriptions and JSON strings of every format (S28):
/// letters, digits, spaces and `- . , : % ( ) + # ! ?`; any other character becomes a space,
/// whitespace runs become one space, dash runs one dash, at most 80 characters, trimmed.
/// Nothing in that set ends a comment, opens a reference or a string, escapes, or starts an
/// `@`-rule, a tag or a Sass interpolation.
pub fn inert_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_TEXT_CHARS * 4));
    let mut chars = 0;
    for ch in s.chars() {
        let ch = if ch.is_alphanumeric() || "-.,:%()+#!?".contains(ch) {
            ch
        } else {
            ' '
        };
        let repeat = (ch == ' ' && (out.is_empty() || out.ends_with(' ')))
            || (ch == '-' && out.ends_with('-'));
        if repeat {
            continue;
        }
        if chars == MAX_TEXT_CHARS {
            break;
        }
        out.push(ch);
        chars += 1;
    }
    out.trim_end().to_owned()
}

/// A share as a percentage with one decimal, or `None` when it is not a fraction.
pub(crate) fn percent(share: Option<f64>) -> Option<String> {
    let s = share.filter(|s| s.is_finite() && (0.0..=1.0).contains(s))?;
    Some(if s > 0.0 && s < 0.0005 {
        "<0.1%".to_owned()
    } else {
        format!("{:.1}%", s * 100.0)
    })
}

/// `vivid blue, 42.1% of the image, contrast 5.17:1 on white and 4.06:1 on black`.
pub(crate) fn describe(name: &str, rgb: [u8; 3], share: Option<f64>) -> String {
    let mut human = inert_text(name);
    if human.is_empty() {
        human = crate::naming::name_of(rgb);
    }
    let on_white = contrast_ratio(rgb, [255, 255, 255]);
    let on_black = contrast_ratio(rgb, [0, 0, 0]);
    let share = percent(share)
        .map(|p| format!(", {p} of the image"))
        .unwrap_or_default();
    format!("{human}{share}, contrast {on_white:.2}:1 on white and {on_black:.2}:1 on black")
}

/// The set name as a title for file headers: inert, `palette` when nothing is left.
pub(crate) fn set_title(set_name: &str) -> String {
    match inert_text(set_name) {
        s if s.is_empty() => "palette".to_owned(),
        s => s,
    }
}

/// Render `tokens` in `format` under the title `set_name` (the project or file name).
pub fn export(format: ExportFormat, set_name: &str, tokens: &[ExportToken]) -> String {
    let named = names::name_tokens(tokens);
    let title = set_title(set_name);
    match format {
        ExportFormat::Dtcg => dtcg::render(&title, &named, dtcg::Value::ColorObject),
        ExportFormat::DtcgHex => dtcg::render(&title, &named, dtcg::Value::Hex),
        ExportFormat::Css => css::render(&title, &named),
        ExportFormat::Scss => scss::render(&title, &named),
        ExportFormat::Tailwind => tailwind::render(&title, &named),
        ExportFormat::Tailwind4 => tailwind4::render(&title, &named),
        ExportFormat::StyleDictionary => style_dictionary::render(&named),
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

    #[test]
    fn s28_inert_text_keeps_words_and_drops_syntax() {
        assert_eq!(inert_text("Acme Blue"), "Acme Blue");
        assert_eq!(inert_text("*/ body { x: 1 } /*"), "body x: 1");
        assert_eq!(inert_text("{color.primary}"), "color.primary");
        assert_eq!(inert_text("a\nb\u{2028}c\td"), "a b c d");
        assert_eq!(inert_text("\"q\" 'r' \\s `t`"), "q r s t");
        assert_eq!(inert_text("@import url(x.css);"), "import url(x.css)");
        assert_eq!(inert_text("</style><!-- -->"), "style !- -");
        assert_eq!(inert_text("#{$x} ${y}"), "# x y");
        assert_eq!(inert_text("Über grün 青"), "Über grün 青");
        assert_eq!(inert_text("  "), "");
        assert_eq!(inert_text(&"ab ".repeat(100)).chars().count(), 80);
        for s in [
            "*/", "{", "}", "\"", "'", "\\", "\n", "@", "<", ";", "$", "--",
        ] {
            assert!(!inert_text(&format!("a{s}b{s}{s}c")).contains(s), "{s:?}");
        }
    }

    #[test]
    fn descriptions_say_name_share_and_contrast() {
        let d = describe("Acme Blue", [0x25, 0x63, 0xeb], Some(0.421));
        assert_eq!(
            d,
            "Acme Blue, 42.1% of the image, contrast 5.17:1 on white and 4.06:1 on black"
        );
        let d = describe("*/", [0, 0, 0], None);
        assert_eq!(d, "black, contrast 21.00:1 on white and 1.00:1 on black");
        assert!(describe("x", [1, 2, 3], Some(f64::NAN)).starts_with("x, contrast"));
        assert!(describe("x", [1, 2, 3], Some(1e-5)).contains("<0.1% of the image"));
    }

    #[test]
    fn format_names_parse_exactly() {
        for f in ExportFormat::ALL {
            assert_eq!(f.as_str().parse::<ExportFormat>(), Ok(f));
        }
        let names: Vec<_> = ExportFormat::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "dtcg",
                "dtcg-hex",
                "css",
                "scss",
                "tailwind",
                "tailwind4",
                "style-dictionary"
            ]
        );
        assert!("CSS".parse::<ExportFormat>().is_err());
        assert!("style_dictionary".parse::<ExportFormat>().is_err());
        let mut exts: Vec<_> = ExportFormat::ALL
            .iter()
            .map(|f| f.file_extension())
            .collect();
        exts.sort_unstable();
        exts.dedup();
        assert_eq!(
            exts.len(),
            ExportFormat::ALL.len(),
            "one extension per format"
        );
    }
}
