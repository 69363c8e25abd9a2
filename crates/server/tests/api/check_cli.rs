//! `copythat check` run as a binary: a screenshot with one off-brand button is caught with
//! the button's colour, its share and its nearest token; exit codes 0, 1 and 2.

use std::path::Path;
use std::process::{Command, Output};

use copythat_core::synth::Canvas;
use copythat_core::{ExportFormat, ExportToken, ImageFormat, Role};

const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const BRAND_BLUE: [u8; 3] = [0x25, 0x63, 0xeb];
const WRONG_BLUE: [u8; 3] = [0x1d, 0x4e, 0xd8];

fn check(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copythat"));
    cmd.arg("check");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

/// A 100 x 100 white page, a brand-blue header and a 10 x 20 button in the wrong blue
/// (2% of the pixels), as a PNG; and the brand palette as DTCG tokens.
fn screenshot_and_tokens(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut c = Canvas::new(100, 100, WHITE);
    c.rect(0, 0, 100, 10, BRAND_BLUE);
    c.rect(45, 40, 10, 20, WRONG_BLUE);
    let shot = dir.join("shot.png");
    std::fs::write(
        &shot,
        copythat_core::synth::encode_png(&c.into_image(ImageFormat::Png)),
    )
    .unwrap();
    let tokens = dir.join("brand.tokens.json");
    let palette = [
        ExportToken {
            name: "paper".into(),
            hex: "#ffffff".into(),
            role: Some(Role::Background),
            share: None,
        },
        ExportToken {
            name: "brand".into(),
            hex: "#2563eb".into(),
            role: Some(Role::Primary),
            share: None,
        },
    ];
    std::fs::write(
        &tokens,
        copythat_core::export(ExportFormat::Dtcg, "brand", &palette),
    )
    .unwrap();
    (shot, tokens)
}

#[test]
fn check_cli_catches_an_off_brand_button_with_its_colour_share_and_nearest_token() {
    let dir = tempfile::tempdir().unwrap();
    let (shot, tokens) = screenshot_and_tokens(dir.path());

    let out = check(&[&shot, &"--tokens", &tokens, &"--format", &"json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["score"], 98.0);
    assert_eq!(report["passed"], true);
    let off = report["off_palette"].as_array().unwrap();
    assert_eq!(off.len(), 1, "{report}");
    assert_eq!(off[0]["hex"], "#1d4ed8");
    assert_eq!(off[0]["share"], 0.02);
    assert_eq!(off[0]["nearest"]["hex"], "#2563eb");
    assert_eq!(off[0]["nearest"]["name"], "color.primary");
    let distance = off[0]["distance"].as_f64().unwrap();
    assert!((0.05..0.07).contains(&distance), "{distance}");
    let tokens_json = report["tokens"].as_array().unwrap();
    let share_of = |hex: &str| {
        tokens_json
            .iter()
            .find(|t| t["hex"] == hex)
            .map(|t| t["share"].as_f64().unwrap())
    };
    assert_eq!(share_of("#ffffff"), Some(0.88));
    assert_eq!(share_of("#2563eb"), Some(0.10));
    assert_eq!(report["image"]["width"], 100);

    // The same as a summary for people.
    let out = check(&[&shot, &"--tokens", &tokens]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("score 98.00"), "{text}");
    let button = text
        .lines()
        .find(|l| l.contains("#1d4ed8"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(button.contains("2.00%"), "{button}");
    assert!(
        button.contains("nearest color.primary (#2563eb)"),
        "{button}"
    );
    assert!(button.contains("distance 0.058"), "{button}");
}

#[test]
fn check_cli_exit_codes_follow_the_minimum_score_and_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (shot, tokens) = screenshot_and_tokens(dir.path());

    let passes = check(&[&shot, &"--tokens", &tokens, &"--min-score", &"98"]);
    assert_eq!(passes.status.code(), Some(0));
    let fails = check(&[&shot, &"--tokens", &tokens, &"--min-score", &"99"]);
    assert_eq!(fails.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fails.stdout).contains("below the minimum of 99"));
    // A wider tolerance forgives the wrong blue (0.058 from the brand blue).
    let wide = check(&[
        &shot,
        &"--tokens",
        &tokens,
        &"--tolerance",
        &"0.07",
        &"--min-score",
        &"100",
    ]);
    assert_eq!(wide.status.code(), Some(0));

    let css = dir.path().join("brand.css");
    std::fs::write(&css, ":root { --paper: #fff; --brand: #2563eb; }").unwrap();
    let from_css = check(&[&shot, &"--tokens", &css, &"--format", &"json"]);
    assert_eq!(from_css.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&from_css.stdout).unwrap();
    assert_eq!(report["off_palette"][0]["nearest"]["name"], "brand");

    let not_tokens = dir.path().join("notes.txt");
    std::fs::write(&not_tokens, "hello").unwrap();
    let svg = dir.path().join("logo.svg");
    std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let missing = dir.path().join("missing.png");
    let cases: Vec<(Vec<&dyn AsRef<std::ffi::OsStr>>, &str)> = vec![
        (vec![&shot, &"--tokens", &not_tokens], "no colour tokens"),
        (vec![&svg, &"--tokens", &tokens], "unsupported image format"),
        (vec![&missing, &"--tokens", &tokens], "missing.png"),
        (
            vec![&shot, &"--tokens", &tokens, &"--tolerance", &"0"],
            "tolerance",
        ),
        (
            vec![&shot, &"--tokens", &tokens, &"--min-score", &"101"],
            "between 0 and 100",
        ),
        (vec![&shot], "--tokens"),
        (
            vec![&shot, &"--tokens", &tokens, &"--format", &"yaml"],
            "yaml",
        ),
    ];
    for (args, message) in cases {
        let out = check(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{message}: {stderr}");
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(out.stdout.is_empty(), "{message}");
    }

    let help = Command::new(env!("CARGO_BIN_EXE_copythat"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("Exit codes:") && help.contains("below --min-score"),
        "{help}"
    );
}
