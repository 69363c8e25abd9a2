//! The in-process limiter: GCRA state per key behind one mutex; the check is a few
//! arithmetic operations, so contention is negligible next to a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{Decision, LimitError, Quota, RateLimiter};

/// Keys whose state has fully decayed are dropped once the map grows past this.
const PRUNE_ABOVE: usize = 100_000;

pub struct MemoryLimiter {
    origin: Instant,
    /// Theoretical arrival time per key, in microseconds since `origin`.
    tats: Mutex<HashMap<String, u64>>,
}

impl MemoryLimiter {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError> {
        let now = self.origin.elapsed().as_micros() as u64;
        let interval = quota.interval_micros();
        let period = quota.period.as_micros() as u64;
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        if tats.len() > PRUNE_ABOVE {
            tats.retain(|_, tat| *tat > now);
        }
        let tat = tats.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + interval;
        if new_tat - now > period {
            let wait = new_tat - period - now;
            return Ok(Decision::from_gcra(quota, false, tat - now, wait));
        }
        tats.insert(key.to_owned(), new_tat);
        Ok(Decision::from_gcra(quota, true, new_tat - now, 0))
    }
}
