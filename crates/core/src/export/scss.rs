//! SCSS: one `$color-<name>` variable per token plus a `$colors` map of them all.
//! Map keys are quoted slugs, so `map.get($colors, "primary")` works and nothing needs escaping.

use std::fmt::Write as _;

use super::{Named, set_slug};

pub(super) fn render(set_name: &str, tokens: &[Named]) -> String {
    let mut out = format!("// Copy That palette: {}\n", set_slug(set_name));
    for t in tokens {
        let _ = writeln!(out, "$color-{}: {};", t.name, t.hex);
    }
    out.push_str("\n$colors: (\n");
    for t in tokens {
        let _ = writeln!(out, "  \"{}\": $color-{},", t.name, t.name);
    }
    out.push_str(");\n");
    out
}
