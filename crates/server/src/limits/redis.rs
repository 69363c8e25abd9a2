//! The shared limiter for several instances (S16): the same GCRA as in memory, run as
//! one Lua script that reads Redis's own clock, so a check is atomic and one round trip.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, LimitError, Quota, RateLimiter};

/// KEYS[1]: the key. ARGV[1]: period, ARGV[2]: emission interval, both microseconds.
/// Returns {allowed, ahead, wait} in microseconds. Times are stored with `%.0f`: Lua's
/// default number format would round a microsecond clock to 14 digits.
const GCRA: &str = r"
local period = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, tat - now, new_tat - period - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, new_tat - now, 0}
";

/// A Redis that does not answer this fast is treated as down for this request.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisLimiter {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
}

impl RedisLimiter {
    /// Connects lazily: the service starts (and fails open) even when Redis is down.
    pub fn new(url: &str, prefix: &str) -> Result<Self, LimitError> {
        let client = redis::Client::open(url).map_err(|e| LimitError(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| LimitError(e.to_string()))?;
        Ok(Self {
            connection,
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(quota.period.as_micros() as u64)
            .arg(quota.interval_micros());
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        let (allowed, ahead, wait) = tokio::time::timeout(TIMEOUT * 2, call)
            .await
            .map_err(|_| LimitError("timed out".into()))?
            .map_err(|e| LimitError(e.to_string()))?;
        Ok(Decision::from_gcra(
            quota,
            allowed == 1,
            ahead.max(0) as u64,
            wait.max(0) as u64,
        ))
    }

    async fn ping(&self) -> Result<(), LimitError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        tokio::time::timeout(TIMEOUT * 2, ping)
            .await
            .map_err(|_| LimitError("timed out".into()))?
            .map_err(|e| LimitError(e.to_string()))?;
        Ok(())
    }
}
