//! Failed-login throttling (S6), per account and per client address, with exponential
//! back-off capped at 15 minutes. Attempts refused during a lock do not extend it, and an
//! address the account recently logged in from is not held by the account's lock, so an
//! attacker cannot keep a victim out.
//!
//! The state lives in this process ([`MemoryThrottle`]) or, when `REDIS_URL` is set, in
//! Redis (`redis`), so every instance behind a load balancer sees the same lock-outs; an
//! unreachable Redis falls back to this process's own state (or refuses, when limits fail
//! closed).

mod redis;

pub use self::redis::RedisThrottle;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
pub(crate) const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
pub(crate) const BASE_LOCK: Duration = Duration::from_secs(60);
pub(crate) const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const PRUNE_ABOVE: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
    /// (account, address) pairs that logged in successfully, and when.
    known: HashMap<(String, IpAddr), Instant>,
}

pub struct MemoryThrottle {
    /// Failures allowed inside the window before a lock starts.
    threshold: u32,
    state: Mutex<State>,
}

/// Where lock-outs are kept: this process, or Redis shared by every instance.
pub enum LoginThrottle {
    Memory(MemoryThrottle),
    Redis(RedisThrottle),
}

impl LoginThrottle {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let threshold = config.login_per_minute;
        config
            .redis_url
            .as_ref()
            .and_then(|url| RedisThrottle::new(url.expose(), &config.redis_key_prefix, threshold))
            .map_or_else(|| Self::Memory(MemoryThrottle::new(threshold)), Self::Redis)
    }

    /// Whether `account` may try to log in from `ip` now.
    pub async fn check(&self, account: &str, ip: IpAddr) -> Result<(), Locked> {
        match self {
            Self::Memory(m) => m.check(account, ip),
            Self::Redis(r) => r.check(account, ip).await,
        }
    }

    /// Whether `account` logged in successfully from `ip` recently.
    pub async fn is_known(&self, account: &str, ip: IpAddr) -> bool {
        match self {
            Self::Memory(m) => m.is_known(account, ip),
            Self::Redis(r) => r.is_known(account, ip).await,
        }
    }

    /// Counts a failed attempt; returns true when it started a lock.
    pub async fn record_failure(&self, account: &str, ip: IpAddr) -> bool {
        match self {
            Self::Memory(m) => m.record_failure(account, ip),
            Self::Redis(r) => r.record_failure(account, ip).await,
        }
    }

    /// A successful login clears the account's failures and remembers the address.
    pub async fn record_success(&self, account: &str, ip: IpAddr) {
        match self {
            Self::Memory(m) => m.record_success(account, ip),
            Self::Redis(r) => r.record_success(account, ip).await,
        }
    }
}

/// Why a login attempt is refused before its password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

impl MemoryThrottle {
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `account` may try to log in from `ip` now.
    pub fn check(&self, account: &str, ip: IpAddr) -> Result<(), Locked> {
        self.check_at(account, ip, Instant::now())
    }

    fn check_at(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Locked> {
        let state = self.lock_state();
        let remaining = |f: Option<&Failures>| {
            f.and_then(|f| f.locked_until)
                .and_then(|until| until.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        let known = state
            .known
            .get(&(account.to_owned(), ip))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_ADDRESS_TTL);
        let account_lock = if known {
            None
        } else {
            remaining(state.accounts.get(account))
        };
        let address_lock = remaining(state.addresses.get(&ip));
        match account_lock.max(address_lock) {
            Some(wait) => Err(Locked {
                retry_after: wait.max(Duration::from_secs(1)),
            }),
            None => Ok(()),
        }
    }

    /// Whether `account` logged in successfully from `ip` recently.
    pub fn is_known(&self, account: &str, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.lock_state()
            .known
            .get(&(account.to_owned(), ip))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_ADDRESS_TTL)
    }

    /// Counts a failed attempt; returns true when it started a lock.
    pub fn record_failure(&self, account: &str, ip: IpAddr) -> bool {
        self.record_failure_at(account, ip, Instant::now())
    }

    fn record_failure_at(&self, account: &str, ip: IpAddr, now: Instant) -> bool {
        let threshold = self.threshold;
        let mut state = self.lock_state();
        if state.accounts.len() + state.addresses.len() > PRUNE_ABOVE {
            prune(&mut state, now);
        }
        let bump = |entry: &mut Failures| {
            if now.duration_since(entry.last) > WINDOW {
                entry.count = 0;
                entry.locked_until = None;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= threshold {
                let exponent = (entry.count - threshold).min(10);
                let lock = BASE_LOCK.saturating_mul(1 << exponent).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
                true
            } else {
                false
            }
        };
        let fresh = Failures {
            count: 0,
            last: now,
            locked_until: None,
        };
        let a = bump(state.accounts.entry(account.to_owned()).or_insert(fresh));
        let b = bump(state.addresses.entry(ip).or_insert(fresh));
        a || b
    }

    /// A successful login clears the account's failures and remembers the address.
    pub fn record_success(&self, account: &str, ip: IpAddr) {
        let mut state = self.lock_state();
        state.accounts.remove(account);
        state.known.insert((account.to_owned(), ip), Instant::now());
    }
}

fn prune(state: &mut State, now: Instant) {
    let live = |f: &Failures| {
        now.duration_since(f.last) <= WINDOW || f.locked_until.is_some_and(|u| u > now)
    };
    state.accounts.retain(|_, f| live(f));
    state.addresses.retain(|_, f| live(f));
    state
        .known
        .retain(|_, at| now.duration_since(*at) < KNOWN_ADDRESS_TTL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    #[test]
    fn s6_locks_after_threshold_and_backs_off_exponentially() {
        let t = MemoryThrottle::new(3);
        let now = Instant::now();
        for _ in 0..2 {
            assert!(!t.record_failure_at("a@x.io", ip(1), now));
        }
        assert!(t.check_at("a@x.io", ip(1), now).is_ok());
        assert!(t.record_failure_at("a@x.io", ip(1), now));
        let first = t.check_at("a@x.io", ip(1), now).unwrap_err();
        assert_eq!(first.retry_after, Duration::from_secs(60));
        // From another address the account is still locked.
        assert!(t.check_at("a@x.io", ip(2), now).is_err());

        let later = now + Duration::from_secs(61);
        assert!(t.check_at("a@x.io", ip(2), later).is_ok(), "locks expire");
        t.record_failure_at("a@x.io", ip(2), later);
        let second = t.check_at("a@x.io", ip(2), later).unwrap_err();
        assert_eq!(second.retry_after, Duration::from_secs(120));
    }

    #[test]
    fn s6_lock_is_capped_and_a_known_address_is_not_held_by_the_account_lock() {
        let t = MemoryThrottle::new(2);
        t.record_success("victim@x.io", ip(9));
        let mut now = Instant::now();
        for _ in 0..30 {
            t.record_failure_at("victim@x.io", ip(66), now);
            now += Duration::from_secs(1);
        }
        let locked = t.check_at("victim@x.io", ip(66), now).unwrap_err();
        assert!(locked.retry_after <= MAX_LOCK);
        // The attacker's address is locked, but the victim's usual one gets through.
        assert!(t.check_at("victim@x.io", ip(9), now).is_ok());
        assert!(t.check_at("victim@x.io", ip(10), now).is_err());
    }
}
