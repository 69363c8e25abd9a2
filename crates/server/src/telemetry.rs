//! Log setup: a tracing filter from `COPYTHAT_LOG`, JSON lines in production, colours only
//! when a person is watching (stderr is a terminal), never in a file or a pipe.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `filter` comes from `Config`, which refuses a `COPYTHAT_LOG` that does not parse, so
/// the process stops before getting here. Should a caller pass an unchecked filter anyway,
/// logging falls back to `info` and says so instead of dropping the mistake silently.
pub fn init(filter: &str, json: bool) {
    let parsed = EnvFilter::try_new(filter);
    let invalid = parsed.is_err();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(parsed.unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if invalid {
        tracing::warn!("the log filter is not valid; logging at info instead");
    }
}
