//! CSS custom properties on `:root`, one `--color-<name>` per token with its description.
//! Only slugs, validated hex values and inert text are written: nothing can close a comment,
//! a declaration or the rule, or start an `@`-rule (S28).

use std::fmt::Write as _;

use super::Named;

pub(super) fn render(title: &str, tokens: &[Named]) -> String {
    let mut out = format!("/* Copy That palette: {title} */\n:root {{\n");
    for t in tokens {
        let _ = writeln!(
            out,
            "  --color-{}: {}; /* {} */",
            t.name, t.hex, t.description
        );
    }
    out.push_str("}\n");
    out
}
