//! A Tailwind 3 `tailwind.config.js` module: `theme.extend.colors`, with a 50..950 ramp per role.
//! Every value is a hex string, so opacity modifiers (`bg-primary-500/50`) work; `DEFAULT` is
//! the colour itself and also one of its ramp steps. Keys and values go through serde_json (a
//! JSON string literal is a valid JS one); comments are `//` lines of inert text (S28).

use std::fmt::Write as _;

use super::Named;
use super::ramp::ramp;
use crate::color::to_hex;

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

pub(super) fn render(title: &str, tokens: &[Named]) -> String {
    let mut out = format!(
        "// Copy That palette: {title}\n/** @type {{import('tailwindcss').Config}} */\nmodule.exports = {{\n  theme: {{\n    extend: {{\n      colors: {{\n"
    );
    for t in tokens {
        let key = js_string(&t.name);
        let _ = writeln!(out, "        // {}", t.description);
        if t.role.is_some() {
            let _ = writeln!(out, "        {key}: {{");
            let _ = writeln!(out, "          DEFAULT: {},", js_string(&t.hex));
            for (step, rgb) in ramp(t.rgb) {
                let _ = writeln!(out, "          {step}: {},", js_string(&to_hex(rgb)));
            }
            out.push_str("        },\n");
        } else {
            let _ = writeln!(out, "        {key}: {},", js_string(&t.hex));
        }
    }
    out.push_str("      },\n    },\n  },\n};\n");
    out
}
