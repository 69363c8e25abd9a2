//! A Tailwind 4 stylesheet: `@theme { --color-<name>: ...; --color-<name>-50: ...; }`, to import
//! after `tailwindcss`. Roles get the 50..950 ramp (their own colour is one step), others one
//! variable; only slugs, hex values and inert-text comments are written (S28).

use std::fmt::Write as _;

use super::Named;
use super::ramp::ramp;
use crate::color::to_hex;

pub(super) fn render(title: &str, tokens: &[Named]) -> String {
    let mut out =
        format!("/* Copy That palette: {title}. Import it after tailwindcss. */\n@theme {{\n");
    for t in tokens {
        let _ = writeln!(
            out,
            "  --color-{}: {}; /* {} */",
            t.name, t.hex, t.description
        );
        if t.role.is_some() {
            for (step, rgb) in ramp(t.rgb) {
                let _ = writeln!(out, "  --color-{}-{step}: {};", t.name, to_hex(rgb));
            }
        }
    }
    out.push_str("}\n");
    out
}
