//! A `tailwind.config.js` module: `theme.extend.colors`, with a 50..950 OKLCH ramp per role.
//! Strings go through serde_json (a JSON string literal is a valid JS one), keys are slugs.

use std::fmt::Write as _;

use super::{Named, set_slug};
use crate::color::{Oklab, in_srgb_gamut, rgb_to_oklab};

/// Ramp steps with their OKLCH lightness and a chroma factor: chroma peaks in the middle
/// and fades towards the near-white and near-black ends, like hand-made scales.
const STEPS: [(u16, f64, f64); 11] = [
    (50, 0.971, 0.12),
    (100, 0.936, 0.25),
    (200, 0.885, 0.45),
    (300, 0.808, 0.7),
    (400, 0.711, 0.9),
    (500, 0.627, 1.0),
    (600, 0.550, 1.0),
    (700, 0.485, 0.9),
    (800, 0.422, 0.75),
    (900, 0.372, 0.6),
    (950, 0.280, 0.45),
];

/// Largest chroma <= `c` at (l, h) that sRGB can show, by bisection.
fn fit_chroma(l: f64, c: f64, h: f64) -> f64 {
    if in_srgb_gamut(Oklab::from_lch(l, c, h)) {
        return c;
    }
    let (mut lo, mut hi) = (0.0, c);
    for _ in 0..24 {
        let mid = (lo + hi) / 2.0;
        if in_srgb_gamut(Oklab::from_lch(l, mid, h)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The 50..950 ramp of a colour as CSS `oklch()` strings.
pub fn ramp(rgb: [u8; 3]) -> Vec<(u16, String)> {
    let [_, c, h] = rgb_to_oklab(rgb).to_lch();
    STEPS
        .iter()
        .map(|&(step, l, factor)| {
            let c = fit_chroma(l, c * factor, h);
            let h = if c < 1e-4 { 0.0 } else { h };
            (step, format!("oklch({:.1}% {:.4} {:.2})", l * 100.0, c, h))
        })
        .collect()
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

pub(super) fn render(set_name: &str, tokens: &[Named]) -> String {
    let mut out = format!(
        "// Copy That palette: {}\n/** @type {{import('tailwindcss').Config}} */\nmodule.exports = {{\n  theme: {{\n    extend: {{\n      colors: {{\n",
        set_slug(set_name)
    );
    for t in tokens {
        let key = js_string(&t.name);
        if t.role.is_some() {
            let _ = writeln!(out, "        {key}: {{");
            let _ = writeln!(out, "          DEFAULT: {},", js_string(&t.hex));
            for (step, value) in ramp(t.rgb) {
                let _ = writeln!(out, "          {step}: {},", js_string(&value));
            }
            out.push_str("        },\n");
        } else {
            let _ = writeln!(out, "        {key}: {},", js_string(&t.hex));
        }
    }
    out.push_str("      },\n    },\n  },\n};\n");
    out
}
