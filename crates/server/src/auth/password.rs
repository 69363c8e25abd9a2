//! Password policy and argon2id hashing (S2). Hashing runs on the blocking pool behind a
//! semaphore; an unknown account still pays for one verify against a dummy hash (S5).

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::blocking::BlockingPool;
use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
/// How long a request waits for a hashing slot before it is told to come back (S18).
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
});

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is refused; no composition rules, only length and known-bad lists.
pub fn check_policy(password: &str, email: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err("must be at least 8 characters");
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err("must be at most 128 characters");
    }
    if password.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if password.chars().all(char::is_whitespace) {
        return Err("must not be only spaces");
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        return Err("is too common; choose another");
    }
    let local_part = email.split('@').next().unwrap_or_default();
    if lowered == email || (local_part.len() >= 4 && lowered == local_part) {
        return Err("must not be your email address");
    }
    Ok(())
}

pub struct Passwords {
    pool: BlockingPool,
    dummy_hash: String,
    /// Verifications performed, dummy ones included.
    verifications: std::sync::atomic::AtomicU64,
}

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).expect("the operating system's random source is available");
        let dummy_hash = argon2()
            .hash_password(&random)
            .expect("argon2 hashes")
            .to_string();
        Self {
            pool: BlockingPool::new(concurrency, QUEUE_TIMEOUT),
            dummy_hash,
            verifications: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many verifications have run (dummy ones included).
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A PHC string for `password`, salted fresh.
    pub async fn hash(&self, password: SecretString) -> Result<String, ApiError> {
        self.pool
            .run(move || {
                argon2()
                    .hash_password(password.expose_secret().as_bytes())
                    .map(|h| h.to_string())
            })
            .await?
            .map_err(|e| ApiError::internal(anyhow::anyhow!("argon2: {e}")))
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) it verifies
    /// against a dummy so the time taken does not tell the two apart.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let matches = self
            .pool
            .run(move || {
                let Ok(parsed) = PasswordHash::new(&hash) else {
                    return false;
                };
                argon2()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s5_an_unknown_account_still_pays_for_one_verification() {
        let passwords = Passwords::new(1);
        let real = passwords
            .hash(SecretString::from("a long passphrase".to_owned()))
            .await
            .unwrap();
        let wrong = passwords
            .verify(SecretString::from("not it at all".to_owned()), Some(real))
            .await
            .unwrap();
        let unknown = passwords
            .verify(SecretString::from("not it at all".to_owned()), None)
            .await
            .unwrap();
        assert!(!wrong && !unknown);
        assert_eq!(
            passwords.verifications(),
            2,
            "the unknown account paid for a verify"
        );
        // The dummy hash is a real argon2id hash, so that verify costs what a real one does.
        assert!(
            passwords
                .dummy_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
    }

    #[test]
    fn s2_policy_is_length_and_common_list_only() {
        assert!(check_policy("short", "a@b.co").is_err());
        assert!(check_policy(&"x".repeat(129), "a@b.co").is_err());
        assert!(check_policy("password1", "a@b.co").is_err());
        assert!(
            check_policy("Password1", "a@b.co").is_err(),
            "case-insensitive"
        );
        assert!(check_policy("12345678", "a@b.co").is_err());
        assert!(check_policy("alice@example.com", "alice@example.com").is_err());
        assert!(check_policy("lowercase only is fine here", "a@b.co").is_ok());
        assert!(check_policy("ünïcödé-pässwörd", "a@b.co").is_ok());
        assert!(check_policy("        ", "a@b.co").is_err(), "only spaces");
        assert!(
            check_policy(&"\0".repeat(8), "a@b.co").is_err(),
            "NUL bytes"
        );
        assert!(check_policy("tab\tinside-pass", "a@b.co").is_err());
        assert!(check_policy("spaces inside are fine", "a@b.co").is_ok());
    }

    #[tokio::test]
    async fn s2_hashes_are_argon2id_phc_and_verify() {
        let passwords = Passwords::new(2);
        let hash = passwords
            .hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let ok = passwords
            .verify(
                SecretString::from("correct horse battery"),
                Some(hash.clone()),
            )
            .await
            .unwrap();
        assert!(ok);
        let wrong = passwords
            .verify(SecretString::from("wrong horse battery"), Some(hash))
            .await
            .unwrap();
        assert!(!wrong);
        let unknown = passwords
            .verify(SecretString::from("anything at all"), None)
            .await
            .unwrap();
        assert!(!unknown);
    }
}
