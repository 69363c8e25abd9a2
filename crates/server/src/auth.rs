//! Authentication: password hashing, JWTs with rotating refresh tokens, API keys, login
//! throttling, and the `Principal` every protected handler takes (S1-S7).

pub mod api_keys;
pub mod identity;
pub mod password;
pub mod principal;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;

pub use identity::Identity;
pub use principal::{Principal, Via};

use crate::config::Config;

/// The authentication services, built once from the configuration.
pub struct Auth {
    pub tokens: tokens::TokenIssuer,
    pub passwords: password::Passwords,
    pub throttle: throttle::LoginThrottle,
}

impl Auth {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            tokens: tokens::TokenIssuer::new(config),
            // Argon2 uses ~19 MiB and tens of milliseconds per hash: one per core at once.
            passwords: password::Passwords::new(crate::blocking::cores()),
            throttle: throttle::LoginThrottle::from_config(config),
        })
    }
}
