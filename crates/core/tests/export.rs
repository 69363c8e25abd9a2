//! Exporters: committed golden files, themselves checked against values computed here
//! independently (hex/255, WCAG contrast, OKLCH ramp lightness and hue), and no way for a
//! user string to become code in any output (S28). The tests never rewrite a golden file:
//! `cargo run -p copythat-core --example export_tokens -- --write-goldens` does, on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use copythat_core::{ExportFormat, ExportToken, Role, export};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn sample() -> Vec<ExportToken> {
    let text = std::fs::read_to_string(golden_dir().join("sample-input.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn golden(format: ExportFormat) -> String {
    let path = golden_dir().join(format!("{format}-sample.{}", format.file_extension()));
    std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing golden {}", path.display()))
}

/// What the sample must become, by the naming rules: roles name tokens, the two primaries
/// differ most in hue (#4f46e5 is nearer red), a nameless token is `color`, a bad hex is
/// left out. (name, hex, role, share, human name).
type Expected = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<f64>,
    &'static str,
);

const EXPECTED: [Expected; 8] = [
    (
        "background",
        "#ffffff",
        Some("background"),
        Some(0.42),
        "white",
    ),
    ("brand-pink", "#db2777", None, None, "Brand Pink!"),
    ("color", "#aabbcc", None, Some(0.01), "light muted blue"),
    (
        "primary-cool",
        "#2563eb",
        Some("primary"),
        Some(0.12),
        "Acme Blue",
    ),
    (
        "primary-warm",
        "#4f46e5",
        Some("primary"),
        Some(0.05),
        "indigo",
    ),
    ("success", "#16a34a", Some("success"), Some(0.04), "green"),
    (
        "surface",
        "#f3f4f6",
        Some("surface"),
        Some(0.2),
        "very light grey",
    ),
    ("text", "#111827", Some("text"), Some(0.1), "very dark blue"),
];

fn rgb_of(hex: &str) -> [u8; 3] {
    let h = hex.trim_start_matches('#');
    assert_eq!(h.len(), 6, "{hex}");
    [0, 2, 4].map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
}

// --- Independent colour maths (not the crate's): sRGB curve, WCAG, Ottosson's OKLab. ---

fn linear(v: u8) -> f64 {
    let c = f64::from(v) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let lum = |c: [u8; 3]| 0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2]);
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// OKLCH (L, C, h degrees) of an 8-bit colour.
fn oklch(c: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = c.map(linear);
    let l = (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b).cbrt();
    let m = (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b).cbrt();
    let s = (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b).cbrt();
    let ok_l = 0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s;
    let a = 1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s;
    let bb = 0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s;
    [
        ok_l,
        a.hypot(bb),
        bb.atan2(a).to_degrees().rem_euclid(360.0),
    ]
}

fn hue_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// The description each expected token must carry, from the values above.
fn expected_description(hex: &str, share: Option<f64>, human: &str) -> String {
    let rgb = rgb_of(hex);
    let share = share
        .map(|s| format!(", {:.1}% of the image", s * 100.0))
        .unwrap_or_default();
    format!(
        "{human}{share}, contrast {:.2}:1 on white and {:.2}:1 on black",
        contrast(rgb, [255; 3]),
        contrast(rgb, [0; 3])
    )
}

/// Lightness targets of the ramp steps (the documented Tailwind-like scale).
const STEP_L: [(u16, f64); 11] = [
    (50, 0.971),
    (100, 0.936),
    (200, 0.885),
    (300, 0.808),
    (400, 0.711),
    (500, 0.627),
    (600, 0.550),
    (700, 0.485),
    (800, 0.422),
    (900, 0.372),
    (950, 0.280),
];

/// A ramp is right when: one step is the colour itself, the one nearest its lightness; every
/// other step has its target lightness (within 8-bit rounding) and, where it has colour at
/// all, the base hue; lightness falls strictly.
fn check_ramp(name: &str, base: &str, steps: &[(u16, String)]) {
    let found: Vec<u16> = steps.iter().map(|(s, _)| *s).collect();
    let wanted: Vec<u16> = STEP_L.iter().map(|(s, _)| *s).collect();
    assert_eq!(found, wanted, "{name}: steps");
    let [base_l, base_c, base_h] = oklch(rgb_of(base));
    let nearest = STEP_L
        .iter()
        .min_by(|a, b| (a.1 - base_l).abs().total_cmp(&(b.1 - base_l).abs()))
        .unwrap()
        .0;
    let mut last_l = f64::MAX;
    for ((step, hex), (_, target)) in steps.iter().zip(STEP_L) {
        let [l, c, h] = oklch(rgb_of(hex));
        assert!(
            l < last_l,
            "{name}-{step}: lightness falls ({l} after {last_l})"
        );
        last_l = l;
        if *step == nearest {
            assert_eq!(hex, base, "{name}: DEFAULT is step {nearest}");
            continue;
        }
        assert_ne!(hex, base, "{name}-{step}: only one step is the base colour");
        assert!(
            (l - target).abs() < 0.006,
            "{name}-{step}: L {l} vs {target}"
        );
        if base_c > 0.03 && c > 0.03 {
            assert!(
                hue_gap(h, base_h) < 4.0,
                "{name}-{step}: hue {h} vs {base_h}"
            );
        }
        if base_c < 0.002 {
            assert!(c < 0.002, "{name}-{step}: a grey's ramp stays grey");
        }
    }
}

// --- Parsers of the text formats, so checks read values, not whole files. ---

/// `--color-<name>: #hex;` lines (CSS and Tailwind 4), in file order.
fn css_vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("--color-"))
        .map(|rest| {
            let (name, value) = rest.split_once(": ").unwrap();
            (name.to_owned(), value.split(';').next().unwrap().to_owned())
        })
        .collect()
}

/// One key of the Tailwind 3 module: name, DEFAULT (or flat value), ramp steps.
type TailwindColor = (String, String, Vec<(u16, String)>);

fn tailwind3_colors(text: &str) -> Vec<TailwindColor> {
    let mut out: Vec<TailwindColor> = Vec::new();
    let unquote = |s: &str| s.trim().trim_end_matches(',').trim_matches('"').to_owned();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix('"') {
            let (key, value) = rest.split_once("\": ").unwrap();
            let flat = if value == "{" {
                String::new()
            } else {
                unquote(value)
            };
            out.push((key.to_owned(), flat, Vec::new()));
        } else if let Some(v) = line.strip_prefix("DEFAULT: ") {
            out.last_mut().unwrap().1 = unquote(v);
        } else if let Some((Ok(step), v)) =
            line.split_once(": ").map(|(s, v)| (s.parse::<u16>(), v))
        {
            out.last_mut().unwrap().2.push((step, unquote(v)));
        }
    }
    out
}

fn expected_names() -> Vec<&'static str> {
    EXPECTED.iter().map(|e| e.0).collect()
}

#[test]
fn every_format_matches_its_golden_file() {
    for format in ExportFormat::ALL {
        assert_eq!(
            export(format, "Acme web", &sample()),
            golden(format),
            "{format} differs from its golden file"
        );
    }
}

#[test]
fn dtcg_goldens_hold_hex_over_255_descriptions_and_roles() {
    for format in [ExportFormat::Dtcg, ExportFormat::DtcgHex] {
        let v: serde_json::Value = serde_json::from_str(&golden(format)).unwrap();
        assert_eq!(v["$description"], "Copy That palette: Acme web");
        let group = v["color"].as_object().unwrap();
        assert_eq!(group["$type"], "color");
        let names: Vec<&str> = group
            .keys()
            .filter(|k| !k.starts_with('$'))
            .map(String::as_str)
            .collect();
        assert_eq!(names, expected_names(), "{format}");
        for (name, hex, role, share, human) in EXPECTED {
            let t = &group[name];
            assert_eq!(t["$description"], expected_description(hex, share, human));
            let ours = &t["$extensions"]["app.copythat"];
            assert_eq!(ours["role"].as_str(), role, "{name}");
            assert_eq!(ours["share"].as_f64(), share, "{name}");
            let value = &t["$value"];
            if format == ExportFormat::DtcgHex {
                assert_eq!(value.as_str(), Some(hex), "{name}");
                continue;
            }
            assert_eq!(value["colorSpace"], "srgb");
            assert_eq!(value["hex"], hex);
            let comps: Vec<f64> = value["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap())
                .collect();
            let want = rgb_of(hex).map(|c| f64::from(c) / 255.0);
            assert_eq!(comps.len(), 3);
            for (got, want) in comps.iter().zip(want) {
                assert!((got - want).abs() <= 5e-5, "{name}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn style_dictionary_golden_has_one_comment_per_token_and_no_palette_comment() {
    let v: serde_json::Value =
        serde_json::from_str(&golden(ExportFormat::StyleDictionary)).unwrap();
    let group = v["color"].as_object().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "only the colour group");
    let names: Vec<&str> = group.keys().map(String::as_str).collect();
    assert_eq!(names, expected_names());
    for (name, hex, role, share, human) in EXPECTED {
        let t = &group[name];
        assert_eq!(t["value"], hex);
        assert_eq!(t["type"], "color");
        assert_eq!(t["comment"], expected_description(hex, share, human));
        assert_eq!(t["attributes"]["role"].as_str(), role);
    }
    assert!(!golden(ExportFormat::StyleDictionary).contains("palette"));
}

#[test]
fn css_scss_and_tailwind4_goldens_hold_the_expected_values() {
    let want: Vec<(String, String)> = EXPECTED
        .iter()
        .map(|e| (e.0.to_owned(), e.1.to_owned()))
        .collect();
    let css = golden(ExportFormat::Css);
    assert_eq!(css_vars(&css), want);
    for (name, hex, _, share, human) in EXPECTED {
        let line = format!(
            "  --color-{name}: {hex}; /* {} */",
            expected_description(hex, share, human)
        );
        assert!(css.lines().any(|l| l == line), "{line}");
    }

    let scss = golden(ExportFormat::Scss);
    let vars: Vec<(String, String)> = scss
        .lines()
        .filter_map(|l| l.strip_prefix("$color-"))
        .map(|r| {
            let (n, v) = r.split_once(": ").unwrap();
            (n.to_owned(), v.split(';').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(vars, want);
    for (name, ..) in EXPECTED {
        assert!(
            scss.contains(&format!("  \"{name}\": $color-{name},\n")),
            "{name}"
        );
    }

    // Tailwind 4: each token's variable, and for roles its ramp right after it.
    let vars = css_vars(&golden(ExportFormat::Tailwind4));
    let mut by_token: BTreeMap<&str, Vec<(u16, String)>> = BTreeMap::new();
    let mut flat = Vec::new();
    for (name, value) in &vars {
        match name
            .rsplit_once('-')
            .and_then(|(n, s)| Some((n, s.parse::<u16>().ok()?)))
        {
            Some((token, step)) => by_token
                .entry(token)
                .or_default()
                .push((step, value.clone())),
            None => flat.push((name.clone(), value.clone())),
        }
    }
    assert_eq!(flat, want);
    for (name, hex, role, ..) in EXPECTED {
        match role {
            Some(_) => check_ramp(name, hex, &by_token[name]),
            None => assert!(!by_token.contains_key(name), "{name} has no ramp"),
        }
    }
}

#[test]
fn tailwind3_golden_has_hex_ramps_around_each_role_colour() {
    let text = golden(ExportFormat::Tailwind);
    assert!(text.contains("module.exports = {"));
    let colors = tailwind3_colors(&text);
    let keys: Vec<&str> = colors.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(keys, expected_names());
    for ((key, value, ramp), (_, hex, role, ..)) in colors.iter().zip(EXPECTED) {
        assert_eq!(value, hex, "{key}");
        match role {
            // Hex strings only: Tailwind 3 can apply `/50` opacity to those.
            Some(_) => check_ramp(key, hex, ramp),
            None => assert!(ramp.is_empty(), "{key}"),
        }
    }
}

#[test]
fn output_does_not_depend_on_input_order() {
    let input = sample();
    let mut reversed = input.clone();
    reversed.reverse();
    let mut rotated = input.clone();
    rotated.rotate_left(4);
    for format in ExportFormat::ALL {
        let a = export(format, "x", &input);
        assert_eq!(a, export(format, "x", &reversed), "{format}");
        assert_eq!(a, export(format, "x", &rotated), "{format}");
    }
    // And tokens are listed in byte order of their names, whatever the input order.
    let css = export(ExportFormat::Css, "x", &reversed);
    let names: Vec<String> = css_vars(&css).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, expected_names());
}

#[test]
fn content_types_and_extensions() {
    let want = [
        (ExportFormat::Dtcg, "application/json", "tokens.json"),
        (ExportFormat::DtcgHex, "application/json", "hex.tokens.json"),
        (ExportFormat::Css, "text/css", "css"),
        (ExportFormat::Scss, "text/x-scss", "scss"),
        (ExportFormat::Tailwind, "text/javascript", "js"),
        (ExportFormat::Tailwind4, "text/css", "tailwind.css"),
        (ExportFormat::StyleDictionary, "application/json", "json"),
    ];
    assert_eq!(ExportFormat::ALL.len(), want.len());
    for (format, content_type, ext) in want {
        assert_eq!(format.content_type(), content_type, "{format}");
        assert_eq!(format.file_extension(), ext, "{format}");
    }
}

// --- S28: user text never becomes code. ---

fn hostile() -> Vec<ExportToken> {
    let t = |name: &str, hex: &str| ExportToken::new(name, hex, None);
    let mut v = vec![
        t("*/ body { display: none } /*", "#ff0000"),
        t("x; } :root { --evil: url(http://x) } /*", "#00ff00"),
        t("\"); alert(1); //", "#0000ff"),
        t("</script><script>alert(1)</script>", "#123456"),
        t("line\nbreak\u{2028}sep", "#654321"),
        t("{color.primary}", "#111111"),
        t("value", "#222222"),
        t("back\\slash 'single' `tick` @import", "#333333"),
        t("ok", "#fff\"; x: 1"),
    ];
    v.push(ExportToken {
        role: Some(Role::Primary),
        ..t("*/ .pwn { color: red } /* {x}", "#2563eb")
    });
    v
}

const HOSTILE_SET: &str = "*/ } \n alert('x') // \"; $evil: 1; {x} @import </style> \\";

/// Characters that could end a comment or string, open a reference, escape or start an
/// `@`-rule, checked in everything that is not a key or a value the exporter itself wrote.
const SYNTAX: [&str; 13] = [
    "*/", "/*", "{", "}", "\"", "'", "\\", "@", "<", ">", ";", "`", "$",
];

/// The comments (CSS `/* */`, `//` lines) of an output.
fn comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some((_, c)) = line.split_once("/* ") {
            out.push(c.rsplit_once(" */").map_or(c, |(c, _)| c).to_owned());
        } else if let Some((_, c)) = line.split_once("// ") {
            out.push(c.to_owned());
        }
    }
    out
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().unwrap().is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_hex(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The line shapes the text exporters write (comments removed, trimmed).
fn is_structure(line: &str) -> bool {
    const FIXED: [&str; 11] = [
        ":root {",
        "@theme {",
        "}",
        "$colors: (",
        ");",
        "/** @type {import('tailwindcss').Config} */",
        "module.exports = {",
        "theme: {",
        "extend: {",
        "colors: {",
        "},",
    ];
    if FIXED.contains(&line) || line == "};" {
        return true;
    }
    let decl = |l: &str, prefix: &str, end: &str| {
        l.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(end))
            .and_then(|r| r.split_once(": "))
            .is_some_and(|(n, v)| is_slug(n) && is_hex(v))
    };
    if decl(line, "--color-", ";") || decl(line, "$color-", ";") {
        return true;
    }
    // SCSS map entry `"name": $color-name,`.
    if let Some((key, var)) = line.strip_suffix(',').and_then(|l| l.split_once(": ")) {
        let key = key.strip_prefix('"').and_then(|k| k.strip_suffix('"'));
        if key.is_some_and(is_slug) && var.strip_prefix("$color-") == key {
            return true;
        }
    }
    // Tailwind 3: `"name": {`, `"name": "#hex",`, `DEFAULT: "#hex",`, `500: "#hex",`.
    let Some((key, value)) = line.split_once(": ") else {
        return false;
    };
    let quoted = |s: &str| {
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .map(str::to_owned)
    };
    let key_ok =
        key == "DEFAULT" || key.parse::<u16>().is_ok() || quoted(key).is_some_and(|k| is_slug(&k));
    let value_ok = value == "{"
        || value
            .strip_suffix(',')
            .and_then(quoted)
            .is_some_and(|v| is_hex(&v));
    key_ok && value_ok
}

#[test]
fn s28_text_formats_hold_user_text_only_inside_inert_comments() {
    for format in [
        ExportFormat::Css,
        ExportFormat::Scss,
        ExportFormat::Tailwind,
        ExportFormat::Tailwind4,
    ] {
        let out = export(format, HOSTILE_SET, &hostile());
        let comments = comments(&out);
        assert!(
            comments.len() >= 10,
            "{format}: one comment per token plus the header"
        );
        for c in &comments {
            for s in SYNTAX {
                assert!(!c.contains(s), "{format}: comment {c:?} holds {s:?}");
            }
        }
        // Outside comments, only the exporter's own structure: every line is one of the
        // shapes it writes, with a slug for a name and a hex for a value.
        let code: Vec<&str> = out
            .lines()
            .map(|l| {
                l.split("/* ")
                    .next()
                    .unwrap()
                    .split("// ")
                    .next()
                    .unwrap()
                    .trim()
            })
            .filter(|l| !l.is_empty())
            .collect();
        for line in &code {
            assert!(
                is_structure(line),
                "{format}: unexpected line {line:?}:\n{out}"
            );
        }
        assert!(!out.contains('\u{2028}'), "{format}");
        if matches!(format, ExportFormat::Css | ExportFormat::Tailwind4) {
            assert_eq!(
                out.matches("*/").count(),
                out.matches("/*").count(),
                "{format}"
            );
        }
        let code = code.join("\n");
        // Names are slugs, never a reserved key.
        assert!(code.contains("value-color"), "{format}:\n{out}");
    }
}

#[test]
fn s28_json_formats_hold_slug_keys_and_inert_strings() {
    for format in [
        ExportFormat::Dtcg,
        ExportFormat::DtcgHex,
        ExportFormat::StyleDictionary,
    ] {
        let out = export(format, HOSTILE_SET, &hostile());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let group = v["color"].as_object().unwrap();
        let keys: Vec<&String> = group.keys().filter(|k| !k.starts_with('$')).collect();
        assert_eq!(
            keys.len(),
            9,
            "the token with a bad hex is left out: {keys:?}"
        );
        for k in &keys {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{k}"
            );
            assert!(!["value", "type", "comment"].contains(&k.as_str()), "{k}");
        }
        let mut texts: Vec<&str> = group
            .values()
            .filter_map(|t| t.get("$description").or_else(|| t.get("comment")))
            .filter_map(|d| d.as_str())
            .collect();
        if let Some(d) = v["$description"].as_str() {
            texts.push(d);
        }
        assert!(texts.len() >= 9, "{format}: every token is described");
        for text in texts {
            for s in SYNTAX {
                assert!(!text.contains(s), "{format}: {text:?} holds {s:?}");
            }
        }
    }
}
