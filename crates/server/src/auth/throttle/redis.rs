//! Lock-outs shared by every instance (S6, S16): the same rules as [`MemoryThrottle`], kept
//! in Redis by atomic scripts that read Redis's own clock. Accounts are keyed by a hash of
//! what was typed, so no email address is written to Redis. When Redis does not answer,
//! this instance's own state decides (and the failure is logged), so an outage weakens
//! the lock-out to one instance's view instead of switching it off.

use std::net::IpAddr;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{BASE_LOCK, KNOWN_ADDRESS_TTL, Locked, MAX_LOCK, MemoryThrottle, WINDOW};
use crate::auth::tokens::sha256_hex;

/// KEYS[1]: a failure counter. ARGV: window, base lock, max lock (ms), threshold.
/// Returns 1 when this failure started a lock. Counts reset after a quiet window; a lock
/// doubles with each failure past the threshold, up to the maximum.
const RECORD_FAILURE: &str = r"
local window = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local threshold = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(redis.call('HGET', KEYS[1], 'count')) or 0
local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or now
if now - last > window then count = 0 end
count = count + 1
local locked = 0
local untl = 0
if count >= threshold then
  local exponent = math.min(count - threshold, 10)
  untl = now + math.min(base * (2 ^ exponent), max)
  locked = 1
end
redis.call('HSET', KEYS[1], 'count', count, 'last', now, 'until', string.format('%.0f', untl))
redis.call('PEXPIRE', KEYS[1], window + max)
return locked
";

/// KEYS: counters to look at. Returns the longest remaining lock among them, in ms.
const REMAINING: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local longest = 0
for _, key in ipairs(KEYS) do
  local untl = tonumber(redis.call('HGET', key, 'until')) or 0
  if untl - now > longest then longest = untl - now end
end
return longest
";

/// A Redis that does not answer this fast is treated as down for this attempt.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisThrottle {
    connection: ConnectionManager,
    prefix: String,
    threshold: u32,
    record_failure: ::redis::Script,
    remaining: ::redis::Script,
    /// This instance's own view, used while Redis is unreachable.
    fallback: MemoryThrottle,
}

impl RedisThrottle {
    /// Connects lazily; `None` when the URL is unusable. `threshold` as for
    /// [`MemoryThrottle::new`].
    pub fn new(url: &str, prefix: &str, threshold: u32) -> Option<Self> {
        let client = ::redis::Client::open(url).ok()?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config).ok()?;
        let fallback = MemoryThrottle::new(threshold);
        Some(Self {
            connection,
            prefix: format!("{prefix}lockout:"),
            threshold: fallback.threshold,
            record_failure: ::redis::Script::new(RECORD_FAILURE),
            remaining: ::redis::Script::new(REMAINING),
            fallback,
        })
    }

    fn account_key(&self, account: &str) -> String {
        format!("{}a:{}", self.prefix, &sha256_hex(account)[..32])
    }

    fn address_key(&self, ip: IpAddr) -> String {
        format!("{}ip:{ip}", self.prefix)
    }

    fn known_key(&self, account: &str, ip: IpAddr) -> String {
        format!("{}known:{}:{ip}", self.prefix, &sha256_hex(account)[..32])
    }

    async fn run<T: ::redis::FromRedisValue>(
        &self,
        call: impl std::future::Future<Output = ::redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(TIMEOUT * 2, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "login throttle: Redis failed; using this instance's state");
                None
            }
            Err(_) => {
                tracing::warn!("login throttle: Redis timed out; using this instance's state");
                None
            }
        }
    }

    pub async fn check(&self, account: &str, ip: IpAddr) -> Result<(), Locked> {
        let known = self.is_known(account, ip).await;
        let mut invocation = self.remaining.prepare_invoke();
        if !known {
            invocation.key(self.account_key(account));
        }
        invocation.key(self.address_key(ip));
        let mut connection = self.connection.clone();
        let remaining: Option<i64> = self.run(invocation.invoke_async(&mut connection)).await;
        match remaining {
            Some(ms) if ms > 0 => Err(Locked {
                retry_after: Duration::from_millis(ms as u64).max(Duration::from_secs(1)),
            }),
            Some(_) => Ok(()),
            None => self.fallback.check(account, ip),
        }
    }

    pub async fn is_known(&self, account: &str, ip: IpAddr) -> bool {
        let mut connection = self.connection.clone();
        let key = self.known_key(account, ip);
        let command = ::redis::cmd("EXISTS").arg(key).clone();
        match self.run(command.query_async::<i64>(&mut connection)).await {
            Some(n) => n > 0,
            None => self.fallback.is_known(account, ip),
        }
    }

    pub async fn record_failure(&self, account: &str, ip: IpAddr) -> bool {
        // The local view is kept too, so an outage starts from what this instance saw.
        let local = self.fallback.record_failure(account, ip);
        let mut locked = false;
        for key in [self.account_key(account), self.address_key(ip)] {
            let mut invocation = self.record_failure.key(key);
            invocation
                .arg(WINDOW.as_millis() as u64)
                .arg(BASE_LOCK.as_millis() as u64)
                .arg(MAX_LOCK.as_millis() as u64)
                .arg(self.threshold);
            let mut connection = self.connection.clone();
            match self
                .run(invocation.invoke_async::<i64>(&mut connection))
                .await
            {
                Some(started) => locked |= started == 1,
                None => return local,
            }
        }
        locked
    }

    pub async fn record_success(&self, account: &str, ip: IpAddr) {
        self.fallback.record_success(account, ip);
        let mut connection = self.connection.clone();
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .del(self.account_key(account))
            .ignore()
            .set_ex(self.known_key(account, ip), 1, KNOWN_ADDRESS_TTL.as_secs())
            .ignore();
        let _: Option<()> = self.run(pipe.query_async(&mut connection)).await;
    }
}
