//! Image bytes from a request. The base64 stance lives with the engine's intake
//! (`copythat_core::base64`) so it is fuzzed with it (S26).

pub use copythat_core::base64::{Base64Error, MAX_BASE64_LEN, decode_base64};
