//! SCSS: one `$color-<name>` variable per token plus a `$colors` map of them all.
//! Map keys are quoted slugs, so `map.get($colors, "primary")` works and nothing needs
//! escaping; comments are `//` lines of inert text, which cannot hold a newline (S28).

use std::fmt::Write as _;

use super::Named;

pub(super) fn render(title: &str, tokens: &[Named]) -> String {
    let mut out = format!("// Copy That palette: {title}\n");
    for t in tokens {
        let _ = writeln!(out, "$color-{}: {}; // {}", t.name, t.hex, t.description);
    }
    out.push_str("\n$colors: (\n");
    for t in tokens {
        let _ = writeln!(out, "  \"{}\": $color-{},", t.name, t.name);
    }
    out.push_str(");\n");
    out
}
