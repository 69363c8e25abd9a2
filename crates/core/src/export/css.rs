//! CSS custom properties on `:root`, one `--color-<name>` per token.
//! Only slugs and validated hex values are written, so nothing can close the comment or rule.

use std::fmt::Write as _;

use super::{Named, set_slug};

pub(super) fn render(set_name: &str, tokens: &[Named]) -> String {
    let mut out = format!(
        "/* Copy That palette: {} */\n:root {{\n",
        set_slug(set_name)
    );
    for t in tokens {
        let _ = writeln!(out, "  --color-{}: {};", t.name, t.hex);
    }
    out.push_str("}\n");
    out
}
