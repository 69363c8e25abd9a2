//! copythat-core: turns image bytes into a colour palette and design tokens.
//! Pure and synchronous: no network, no database, no async runtime.
#![forbid(unsafe_code)]
