//! Palettes read from design-token files: DTCG JSON, Style Dictionary JSON, and CSS custom
//! properties (SCSS variables too). The format is sniffed from the text.
//!
//! - JSON: a token is an object with `$value` (DTCG) or a string `value` (Style
//!   Dictionary). It is a colour when its `$type`/`type`, or its nearest group's `$type`,
//!   is `color`, or when it has no type and its value reads as a colour; tokens of other
//!   types are skipped. Values: a hex string, a CSS `rgb()`/`oklch()`/`oklab()` string, a
//!   DTCG 2025.10 colour object (`hex` when given, else `components` in `srgb`,
//!   `srgb-linear`, `hsl`, `oklab` or `oklch`), or a reference `{group.token}`. Names are
//!   the token paths joined with dots.
//! - Otherwise CSS: every `--name: value;` (and `$name: value;`) whose value reads as a
//!   colour or refers to one (`var(--other)`, `$other`). Names drop the `--`/`$`.
//!
//! Alpha is ignored: a check compares the colours a screen shows.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{PaletteColor, printable};
use crate::Error;
use crate::color::{Oklab, linear_to_srgb_u8, oklab_to_rgb, parse_hex, to_hex};

/// References are followed at most this deep, so a cycle is an error and not a hang.
const MAX_ALIAS_DEPTH: usize = 16;

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidTokensFile {
        reason: reason.into(),
    }
}

/// Read the colour tokens of a DTCG, Style Dictionary or CSS file, in file order for CSS
/// and in path order for JSON. A file without any colour is an error.
pub fn palette_from_tokens_file(text: &str) -> Result<Vec<PaletteColor>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let palette = if text.trim_start().starts_with('{') {
        from_json(text)?
    } else {
        from_css(text)?
    };
    if palette.is_empty() {
        return Err(invalid(
            "no colour tokens found: expected DTCG or Style Dictionary JSON, \
             or CSS custom properties such as `--brand: #2563eb;`",
        ));
    }
    Ok(palette)
}

/// A token found in a JSON file, before its value is read.
struct Entry<'a> {
    path: String,
    value: &'a Value,
    kind: Option<&'a str>,
}

fn from_json(text: &str) -> Result<Vec<PaletteColor>, Error> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(root) = &root else {
        return Err(invalid("the JSON is not an object of tokens"));
    };
    let mut entries = Vec::new();
    let root_kind = root.get("$type").and_then(Value::as_str);
    collect(root, &mut Vec::new(), root_kind, &mut entries);
    let by_path: BTreeMap<&str, &Entry<'_>> =
        entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    for entry in &entries {
        if entry.kind.is_some_and(|k| k != "color") {
            continue;
        }
        let explicit = entry.kind == Some("color");
        match json_colour(entry.value, &by_path, 0) {
            Ok(Some(rgb)) => out.push(PaletteColor {
                name: entry.path.clone(),
                hex: to_hex(rgb),
            }),
            Ok(None) if !explicit => {}
            Ok(None) => {
                return Err(invalid(format!(
                    "token {:?} is typed as a colour but its value is not one",
                    printable(&entry.path)
                )));
            }
            Err(reason) => {
                return Err(invalid(format!(
                    "token {:?}: {reason}",
                    printable(&entry.path)
                )));
            }
        }
    }
    Ok(out)
}

/// Walk groups depth-first; `kind` is the nearest group's `$type`.
fn collect<'a>(
    group: &'a Map<String, Value>,
    path: &mut Vec<&'a str>,
    kind: Option<&'a str>,
    out: &mut Vec<Entry<'a>>,
) {
    for (key, child) in group {
        let Value::Object(obj) = child else { continue };
        if key.starts_with('$') {
            continue;
        }
        path.push(key);
        let own_kind = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_str))
                .or(kind)
        };
        if let Some(value) = obj.get("$value") {
            out.push(Entry {
                path: path.join("."),
                value,
                kind: own_kind(&["$type"]),
            });
        } else if let Some(value @ Value::String(_)) = obj.get("value") {
            out.push(Entry {
                path: path.join("."),
                value,
                kind: own_kind(&["type", "$type"]),
            });
        } else {
            collect(obj, path, own_kind(&["$type"]), out);
        }
        path.pop();
    }
}

/// `{a.b.c}` -> `a.b.c`.
fn alias(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    (!inner.is_empty() && !inner.contains(['{', '}'])).then_some(inner)
}

/// The colour of a JSON value: `Ok(None)` when it is not a colour at all, `Err` when it
/// tries to be one and fails (a broken reference, an unsupported colour space).
fn json_colour(
    value: &Value,
    by_path: &BTreeMap<&str, &Entry<'_>>,
    depth: usize,
) -> Result<Option<[u8; 3]>, String> {
    match value {
        Value::String(s) => match alias(s) {
            Some(target) => {
                if depth >= MAX_ALIAS_DEPTH {
                    return Err("its references go in a circle or too deep".into());
                }
                // Style Dictionary references may end in `.value`.
                let entry = by_path
                    .get(target)
                    .or_else(|| target.strip_suffix(".value").and_then(|t| by_path.get(t)))
                    .ok_or_else(|| {
                        format!(
                            "refers to {:?}, which is not in the file",
                            printable(target)
                        )
                    })?;
                json_colour(entry.value, by_path, depth + 1)
            }
            None => Ok(parse_colour(s)),
        },
        Value::Object(obj) => dtcg_colour(obj),
        _ => Ok(None),
    }
}

/// A DTCG 2025.10 colour object. `hex`, when present, is the colour as authored for sRGB.
fn dtcg_colour(obj: &Map<String, Value>) -> Result<Option<[u8; 3]>, String> {
    if let Some(hex) = obj.get("hex").and_then(Value::as_str) {
        return parse_colour(hex)
            .filter(|_| hex.trim_start().starts_with('#'))
            .map(Some)
            .ok_or_else(|| format!("hex {:?} is not a colour such as #1a2b3c", printable(hex)));
    }
    let Some(space) = obj.get("colorSpace").and_then(Value::as_str) else {
        return Ok(None);
    };
    let components: Vec<f64> = match obj.get("components") {
        Some(Value::Array(items)) if items.len() == 3 => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
                // `none` is a missing component, which CSS treats as zero.
                Value::String(s) if s == "none" => Some(0.0),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or("components must be three numbers")?,
        _ => return Err("a colour object needs three components".into()),
    };
    let [x, y, z] = [components[0], components[1], components[2]];
    let rgb = match space {
        "srgb" => [x, y, z].map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8),
        "srgb-linear" => [x, y, z].map(linear_to_srgb_u8),
        "hsl" => hsl_to_rgb(x, y / 100.0, z / 100.0),
        "oklab" => oklab_to_rgb(Oklab { l: x, a: y, b: z }),
        "oklch" => oklab_to_rgb(Oklab::from_lch(x, y, z)),
        other => {
            return Err(format!(
                "colour space {:?} is not supported here: add a `hex` fallback",
                printable(other)
            ));
        }
    };
    Ok(Some(rgb))
}

/// HSL (h in degrees, s and l in 0..1) to 8-bit sRGB.
fn hsl_to_rgb(h: f64, s: f64, l: f64) -> [u8; 3] {
    let (s, l) = (s.clamp(0.0, 1.0), l.clamp(0.0, 1.0));
    let h = h.rem_euclid(360.0);
    let a = s * l.min(1.0 - l);
    [0.0, 8.0, 4.0].map(|n: f64| {
        let k = (n + h / 30.0) % 12.0;
        let v = l - a * (k - 3.0).min(9.0 - k).clamp(-1.0, 1.0);
        (v * 255.0).round().clamp(0.0, 255.0) as u8
    })
}

/// A CSS colour string: `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()`,
/// `oklch()` or `oklab()`. Anything else is not read as a colour.
fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(hex) = s.strip_prefix('#') {
        return match hex.len() {
            3 | 6 => parse_hex(hex),
            4 | 8 => parse_hex(&hex[..hex.len() / 4 * 3])
                .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit())),
            _ => None,
        };
    }
    let (name, args) = s.strip_suffix(')')?.split_once('(')?;
    let args: Vec<&str> = args
        .split([',', ' ', '/'])
        .filter(|a| !a.is_empty())
        .collect();
    if !(3..=4).contains(&args.len()) {
        return None;
    }
    let number = |a: &str, percent_of: f64| -> Option<f64> {
        let v = if a == "none" {
            0.0
        } else if let Some(p) = a.strip_suffix('%') {
            p.parse::<f64>().ok()? / 100.0 * percent_of
        } else {
            a.strip_suffix("deg").unwrap_or(a).parse::<f64>().ok()?
        };
        v.is_finite().then_some(v)
    };
    match name.trim() {
        "rgb" | "rgba" => {
            let mut rgb = [0u8; 3];
            for (c, a) in rgb.iter_mut().zip(&args) {
                *c = number(a, 255.0)?.round().clamp(0.0, 255.0) as u8;
            }
            Some(rgb)
        }
        "oklch" => Some(oklab_to_rgb(Oklab::from_lch(
            number(args[0], 1.0)?,
            number(args[1], 0.4)?,
            number(args[2], 1.0)?,
        ))),
        "oklab" => Some(oklab_to_rgb(Oklab {
            l: number(args[0], 1.0)?,
            a: number(args[1], 0.4)?,
            b: number(args[2], 0.4)?,
        })),
        _ => None,
    }
}

/// CSS and SCSS: `--name: value` and `$name: value` declarations, in file order.
fn from_css(text: &str) -> Result<Vec<PaletteColor>, Error> {
    let text = strip_comments(text);
    let mut declared: Vec<(String, &str)> = Vec::new();
    for piece in text.split([';', '{', '}']) {
        let piece = piece.trim();
        let Some((name, value)) = piece.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let key = if let Some(n) = name.strip_prefix("--") {
            format!("--{n}")
        } else if let Some(n) = name.strip_prefix('$') {
            format!("${n}")
        } else {
            continue;
        };
        if key.len() < 3 || key.contains(char::is_whitespace) {
            continue;
        }
        let value = value.trim();
        let value = value.strip_suffix("!default").unwrap_or(value);
        let value = value.strip_suffix("!important").unwrap_or(value).trim();
        declared.push((key, value));
    }
    // The last declaration of a name wins, as in CSS.
    let by_name: BTreeMap<&str, &str> = declared.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut out = Vec::new();
    for (key, value) in &declared {
        if by_name.get(key.as_str()) != Some(value) {
            continue;
        }
        if let Some(rgb) = css_colour(value, &by_name, 0)
            .map_err(|reason| invalid(format!("{:?}: {reason}", printable(key))))?
        {
            out.push(PaletteColor {
                name: key.trim_start_matches(['-', '$']).to_owned(),
                hex: to_hex(rgb),
            });
        }
    }
    Ok(out)
}

fn css_colour(
    value: &str,
    by_name: &BTreeMap<&str, &str>,
    depth: usize,
) -> Result<Option<[u8; 3]>, String> {
    let value = value.trim();
    let target = if let Some(inner) = value.strip_prefix("var(").and_then(|v| v.strip_suffix(')')) {
        // `var(--x, fallback)`: the fallback only matters when --x is missing.
        let (name, fallback) = match inner.split_once(',') {
            Some((n, f)) => (n.trim(), Some(f.trim())),
            None => (inner.trim(), None),
        };
        match (by_name.contains_key(name), fallback) {
            (true, _) => name,
            (false, Some(f)) => return css_colour(f, by_name, depth + 1),
            (false, None) => return Ok(None),
        }
    } else if value.starts_with('$') && !value.contains(char::is_whitespace) {
        value
    } else {
        return Ok(parse_colour(value));
    };
    if depth >= MAX_ALIAS_DEPTH {
        return Err("its references go in a circle or too deep".into());
    }
    match by_name.get(target) {
        Some(v) => css_colour(v, by_name, depth + 1),
        None => Ok(None),
    }
}

/// Drop `/* ... */` comments, and `//` line comments (SCSS), whole-line or trailing (a
/// `//` at the start of a line or after whitespace or `;`, so `url(https://...)` stays).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find("*/") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.lines()
        .map(|line| {
            let bytes = line.as_bytes();
            let cut = (0..bytes.len().saturating_sub(1)).find(|&i| {
                bytes[i] == b'/'
                    && bytes[i + 1] == b'/'
                    && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b';'))
            });
            cut.map_or(line, |i| &line[..i])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scss_trailing_comments_are_not_declarations() {
        let text = "$paper: #ffffff; // white, 42% of the image, contrast 1.00:1\n\
                    $brand: #2563eb; // blue: 5.17:1\n--logo: url(https://x/y.png);\n";
        let palette = from_css(&strip_comments(text)).unwrap();
        let hexes: Vec<&str> = palette.iter().map(|c| c.hex.as_str()).collect();
        assert_eq!(hexes, ["#ffffff", "#2563eb"]);
    }

    #[test]
    fn css_colour_strings() {
        assert_eq!(parse_colour("#2563EB"), Some([0x25, 0x63, 0xeb]));
        assert_eq!(parse_colour("#fff"), Some([255, 255, 255]));
        assert_eq!(parse_colour("#2563eb80"), Some([0x25, 0x63, 0xeb]));
        assert_eq!(parse_colour("#f008"), Some([255, 0, 0]));
        assert_eq!(parse_colour("#2563ebzz"), None);
        assert_eq!(parse_colour("2563eb"), None);
        assert_eq!(parse_colour("rgb(37, 99, 235)"), Some([37, 99, 235]));
        assert_eq!(parse_colour("rgb(37 99 235 / 50%)"), Some([37, 99, 235]));
        assert_eq!(parse_colour("rgba(100%, 0%, 0%, 1)"), Some([255, 0, 0]));
        // Tailwind 4's blue-600.
        let blue = parse_colour("oklch(54.6% 0.245 262.881)").unwrap();
        assert!(
            blue.iter()
                .zip([0x15, 0x5d, 0xfc])
                .all(|(a, b)| a.abs_diff(b) <= 2)
        );
        assert_eq!(parse_colour("16px"), None);
        assert_eq!(parse_colour("rgb(1, 2)"), None);
        assert_eq!(parse_colour("calc(1px + 2px)"), None);
    }

    #[test]
    fn hsl_reference_values() {
        assert_eq!(hsl_to_rgb(0.0, 1.0, 0.5), [255, 0, 0]);
        assert_eq!(hsl_to_rgb(120.0, 1.0, 0.25), [0, 128, 0]);
        assert_eq!(hsl_to_rgb(221.21, 0.8311, 0.5333), [0x25, 0x63, 0xeb]);
    }
}
