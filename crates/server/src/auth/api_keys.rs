//! API keys (S7): `ct_` plus 32 random bytes, stored only as a SHA-256 hash, shown once;
//! scopes map to HTTP method classes.

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::Scope;

pub const KEY_PREFIX: &str = "ct_";
/// How much of a key is kept in clear to tell keys apart in a list.
pub const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;
/// Longest value accepted in `X-API-Key` before any lookup.
pub const MAX_KEY_LEN: usize = 128;

pub struct NewKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewKey {
        prefix: key[..DISPLAY_PREFIX_LEN].to_owned(),
        hash: super::tokens::sha256_hex(&key),
        key,
    }
}

/// Cheap shape check before touching the database.
pub fn is_well_formed(key: &str) -> bool {
    key.len() <= MAX_KEY_LEN
        && key.len() > DISPLAY_PREFIX_LEN
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The scope a request needs, by method class: reads, writes, deletes.
pub fn required_scope(method: &Method) -> Scope {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Scope::Read,
        Method::DELETE => Scope::Delete,
        _ => Scope::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s7_keys_are_prefixed_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert!(a.key.starts_with("ct_"));
        assert_eq!(a.key.len(), 3 + 43, "32 bytes in unpadded base64url");
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.key[3..]));
        assert!(is_well_formed(&a.key));
        assert!(!is_well_formed("ct_short"));
        assert!(!is_well_formed(&format!("xx_{}", &a.key[3..])));
    }

    #[test]
    fn s7_scope_by_method_class() {
        assert_eq!(required_scope(&Method::GET), Scope::Read);
        assert_eq!(required_scope(&Method::POST), Scope::Write);
        assert_eq!(required_scope(&Method::PATCH), Scope::Write);
        assert_eq!(required_scope(&Method::PUT), Scope::Write);
        assert_eq!(required_scope(&Method::DELETE), Scope::Delete);
    }
}
