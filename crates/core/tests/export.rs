//! Exporters: golden files for every format, and no way for a user string to break out of
//! any output (CSS comments and rules, SCSS, JS strings, JSON).

use std::path::PathBuf;

use copythat_core::{ExportFormat, ExportToken, Role, export};

fn tok(name: &str, hex: &str, role: Option<Role>) -> ExportToken {
    ExportToken {
        name: name.into(),
        hex: hex.into(),
        role,
    }
}

fn sample() -> Vec<ExportToken> {
    vec![
        tok("white", "#FFFFFF", Some(Role::Background)),
        tok("very light grey", "#f3f4f6", Some(Role::Surface)),
        tok("very dark blue", "#111827", Some(Role::Text)),
        tok("vivid blue", "#2563eb", Some(Role::Primary)),
        tok("indigo", "#4f46e5", Some(Role::Primary)),
        tok("green", "#16a34a", Some(Role::Success)),
        tok("Brand Pink!", "#db2777", None),
        tok("", "#abc", None),
        tok("broken", "not-a-colour", None),
    ]
}

fn golden(format: ExportFormat) -> PathBuf {
    let name = format!("sample.{}", format.file_extension());
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{}-{name}", format.as_str()))
}

/// Compare with the committed golden file; `UPDATE_GOLDEN=1` rewrites them.
#[test]
fn every_format_matches_its_golden_file() {
    for format in ExportFormat::ALL {
        let out = export(format, "Acme web", &sample());
        let path = golden(format);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &out).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing golden {}", path.display()));
        assert_eq!(out, expected, "{format} differs from {}", path.display());
    }
}

#[test]
fn output_is_deterministic_and_independent_of_input_order() {
    let mut reversed = sample();
    reversed.reverse();
    for format in ExportFormat::ALL {
        assert_eq!(
            export(format, "x", &sample()),
            export(format, "x", &sample())
        );
        // Only the order of same-role tokens (primary, primary-2) depends on input order.
        let a = export(format, "x", &sample());
        let b = export(format, "x", &reversed);
        assert_eq!(a.len(), b.len(), "{format}");
    }
}

#[test]
fn json_formats_are_valid_json_with_dtcg_colour_objects() {
    let out = export(ExportFormat::Dtcg, "Acme \"web\"\n", &sample());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["$description"], "Copy That palette: Acme \"web\"");
    assert_eq!(v["color"]["$type"], "color");
    let primary = &v["color"]["primary"]["$value"];
    assert_eq!(primary["colorSpace"], "srgb");
    assert_eq!(primary["hex"], "#2563eb");
    let comps = primary["components"].as_array().unwrap();
    assert_eq!(comps.len(), 3);
    assert!((comps[0].as_f64().unwrap() - 0x25 as f64 / 255.0).abs() < 1e-4);
    assert_eq!(v["color"]["primary-2"]["$value"]["hex"], "#4f46e5");
    assert_eq!(v["color"]["color"]["$value"]["hex"], "#aabbcc");
    assert!(v["color"].get("broken").is_none(), "invalid hex is skipped");

    let sd: serde_json::Value =
        serde_json::from_str(&export(ExportFormat::StyleDictionary, "x", &sample())).unwrap();
    assert_eq!(sd["color"]["brand-pink"]["value"], "#db2777");
    assert_eq!(sd["color"]["background"]["value"], "#ffffff");
}

fn hostile() -> Vec<ExportToken> {
    vec![
        tok("*/ body { display: none } /*", "#ff0000", None),
        tok("x; } :root { --evil: url(http://x) } /*", "#00ff00", None),
        tok("\"); alert(1); //", "#0000ff", None),
        tok("</script><script>alert(1)</script>", "#123456", None),
        tok("line\nbreak\u{2028}sep", "#654321", None),
        tok("ok", "#fff\"; x: 1", None),
    ]
}

const HOSTILE_SET: &str = "*/ } \n alert('x') // \"; $evil: 1; </style>";

#[test]
fn css_and_scss_cannot_be_broken_out_of() {
    for format in [ExportFormat::Css, ExportFormat::Scss] {
        let out = export(format, HOSTILE_SET, &hostile());
        // Words survive as slugs (`body-display-none`); the punctuation that would
        // end a comment, a declaration or a rule does not.
        for bad in ["*/ ", "</", "alert(", "url(", "\"; ", "$evil:", "{ display"] {
            assert!(!out.contains(bad), "{format} contains {bad:?}:\n{out}");
        }
        // Only the one comment we open, closed once.
        let comment_closes = out.matches("*/").count();
        assert!(comment_closes <= 1, "{format}:\n{out}");
        let allowed = |c: char| c.is_ascii_alphanumeric() || " -:;#$(){}/*,\"\n_.'".contains(c);
        assert!(out.chars().all(allowed), "{format}:\n{out}");
    }
    let css = export(ExportFormat::Css, HOSTILE_SET, &hostile());
    assert_eq!(css.matches('{').count(), 1);
    assert_eq!(css.matches('}').count(), 1);
}

#[test]
fn tailwind_module_strings_cannot_be_broken_out_of() {
    let out = export(ExportFormat::Tailwind, HOSTILE_SET, &hostile());
    assert!(!out.contains("alert("), "{out}");
    assert!(!out.contains("</script"), "{out}");
    assert!(!out.contains('\u{2028}'));
    // The set name sits in a `//` comment: it must not carry a newline into code.
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("// Copy That palette: "), "{first}");
    assert!(out.lines().nth(1).unwrap().starts_with("/** @type"));
    for line in out.lines().skip(3) {
        let t = line.trim();
        let key_ok = t.is_empty()
            || t.starts_with('"')
            || t.starts_with("DEFAULT:")
            || t.starts_with('}')
            || t.chars().next().unwrap().is_ascii_digit()
            || ["theme: {", "extend: {", "colors: {"].contains(&t);
        assert!(key_ok, "unexpected line {t:?}");
    }
}

#[test]
fn json_outputs_escape_hostile_strings() {
    for format in [ExportFormat::Dtcg, ExportFormat::StyleDictionary] {
        let out = export(format, HOSTILE_SET, &hostile());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<String> = v["color"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('$'))
            .cloned()
            .collect();
        for k in &keys {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{k}"
            );
        }
        assert_eq!(
            keys.len(),
            5,
            "the token with a bad hex is skipped: {keys:?}"
        );
    }
}

#[test]
fn content_types_and_extensions() {
    assert_eq!(ExportFormat::Dtcg.content_type(), "application/json");
    assert_eq!(ExportFormat::Css.content_type(), "text/css");
    assert_eq!(ExportFormat::Scss.content_type(), "text/x-scss");
    assert_eq!(ExportFormat::Tailwind.content_type(), "text/javascript");
    assert_eq!(
        ExportFormat::StyleDictionary.content_type(),
        "application/json"
    );
    assert_eq!(ExportFormat::Tailwind.file_extension(), "js");
    assert_eq!(
        "style-dictionary".parse::<ExportFormat>(),
        Ok(ExportFormat::StyleDictionary)
    );
}

#[test]
fn tailwind_ramps_are_monotonic_and_in_gamut() {
    let out = export(ExportFormat::Tailwind, "x", &sample());
    assert!(out.contains("module.exports = {"));
    let mut ls = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.trim().split_once(": \"oklch(") {
            let l: f64 = rest.1.split('%').next().unwrap().parse().unwrap();
            ls.push((rest.0.to_owned(), l));
        }
    }
    // 6 role tokens x 11 steps.
    assert_eq!(ls.len(), 66);
    for ramp in ls.chunks(11) {
        let steps: Vec<&str> = ramp.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            steps,
            [
                "50", "100", "200", "300", "400", "500", "600", "700", "800", "900", "950"
            ]
        );
        assert!(
            ramp.windows(2).all(|w| w[0].1 > w[1].1),
            "lightness falls along the ramp"
        );
    }
}
