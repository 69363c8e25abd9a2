//! Rate limiting (S15-S17): GCRA quotas per principal or client address, kept in memory
//! for one process or in Redis (one atomic script per check) for several, with the
//! `X-RateLimit-*` headers on every response and 429 + `Retry-After` past a limit.

mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::{Identity, Via};
use crate::config::Config;
use crate::error::ApiError;
use crate::request_id::ClientIp;
use crate::routes::QuotaClass;

/// `limit` requests per `period`, as a GCRA: one request every `period / limit`, with a
/// burst of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    pub fn per_hour(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(3600),
        }
    }

    fn interval_micros(&self) -> u64 {
        (self.period.as_micros() as u64 / u64::from(self.limit.max(1))).max(1)
    }
}

/// The outcome of one check against one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset_secs: u64,
    /// Seconds until one more request would be allowed (0 when allowed).
    pub retry_after_secs: u64,
}

impl Decision {
    /// Derives the figures from GCRA state: `ahead` is how far the theoretical arrival
    /// time is ahead of now after this request (or before it, when denied).
    fn from_gcra(quota: Quota, allowed: bool, ahead_micros: u64, wait_micros: u64) -> Self {
        let interval = quota.interval_micros();
        let period = quota.period.as_micros() as u64;
        let used = ahead_micros.div_ceil(interval);
        let remaining = (period / interval).saturating_sub(used) as u32;
        Self {
            allowed,
            limit: quota.limit,
            remaining: remaining.min(quota.limit),
            reset_secs: ahead_micros.div_ceil(1_000_000),
            retry_after_secs: wait_micros.div_ceil(1_000_000).max(u64::from(!allowed)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rate limit backend unavailable: {0}")]
pub struct LimitError(pub String);

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request for `key` against `quota`. Exact under concurrency.
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError>;

    /// Whether the backend answers now (readiness, S16).
    async fn ping(&self) -> Result<(), LimitError> {
        Ok(())
    }
}

pub type DynLimiter = Arc<dyn RateLimiter>;

/// The limiter the configuration asks for: Redis when `REDIS_URL` is set (S16).
pub fn from_config(config: &Config) -> Result<DynLimiter, LimitError> {
    match &config.redis_url {
        Some(url) => Ok(Arc::new(RedisLimiter::new(
            url.expose(),
            &config.redis_key_prefix,
        )?)),
        None => Ok(Arc::new(MemoryLimiter::new())),
    }
}

/// Whom a request is counted against (S15, S17): the account a current credential proves
/// — every API key of an account draws on the account's quota, so more keys never mean
/// more requests — else the client address. A forged, revoked or outdated credential
/// cannot spend anyone's quota: it is counted against its sender's address.
fn subject(identity: &Identity, ip: ClientIp) -> String {
    match identity {
        Identity::Account { user, .. } => format!("user:{}", user.id),
        Identity::Anonymous | Identity::Refused => format!("ip:{}", ip.0),
    }
}

/// Liveness and readiness probes come from load balancers at a fixed rhythm: not counted.
fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready")
}

/// One check under the configured failure policy (S16): `Ok(None)` when the limiter is
/// unreachable and limits fail open, a 503 when they fail closed.
pub async fn check_with_policy(
    state: &AppState,
    key: &str,
    quota: Quota,
) -> Result<Option<Decision>, ApiError> {
    match state.limiter.check(key, quota).await {
        Ok(decision) => Ok(Some(decision)),
        Err(err) if state.config.rate_limit_fail_closed => {
            tracing::error!(error = %err, "rate limiter unavailable; refusing (fail closed)");
            Err(ApiError::Unavailable)
        }
        Err(err) => {
            // An outage of Redis must not be an outage of the API.
            tracing::warn!(error = %err, "rate limiter unavailable; serving without limits");
            Ok(None)
        }
    }
}

/// The middleware: every quota that applies is checked; the most restrictive one is
/// reported in the headers, and any refusal answers 429. It runs inside the CORS layer,
/// so a browser can read a 429; `OPTIONS` requests, which the CORS layer answers itself
/// (preflights), are counted by [`enforce_options`] outside it instead.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    limit(state, request, next).await
}

/// [`enforce`] for `OPTIONS` requests, layered outside CORS: preflights count too.
pub async fn enforce_options(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::OPTIONS {
        return next.run(request).await;
    }
    limit(state, request, next).await
}

async fn limit(state: AppState, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if exempt(&path) {
        return next.run(request).await;
    }
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .copied()
        .unwrap_or(ClientIp(std::net::IpAddr::from([127, 0, 0, 1])));
    let (mut parts, body) = request.into_parts();
    let identity =
        Identity::resolve(&state, &parts.headers, &RequestMeta::from_parts(&parts)).await;
    let who = subject(&identity, ip);
    let key_quota = match identity.as_ref() {
        Identity::Account {
            via:
                Via::ApiKey {
                    key_id,
                    rate_per_minute: Some(limit),
                },
            ..
        } => Some((format!("key:{key_id}"), *limit)),
        _ => None,
    };
    parts.extensions.insert(identity);
    let request = Request::from_parts(parts, body);
    let config = &state.config;
    let mut checks = vec![
        (
            format!("all:m:{who}"),
            Quota::per_minute(config.rate_per_minute),
        ),
        (
            format!("all:h:{who}"),
            Quota::per_hour(config.rate_per_hour),
        ),
    ];
    if let Some((key, limit)) = key_quota {
        // A key's own, lower quota, on top of its account's.
        checks.push((format!("all:m:{key}"), Quota::per_minute(limit)));
    }
    // The route table says which quota a route draws on besides the overall ones.
    match state.quota_classes.of(request.method(), &path) {
        QuotaClass::Standard => {}
        QuotaClass::Register => checks.push((
            // S15: accounts are cheap to make; one address makes a few an hour.
            format!("register:ip:{}", ip.0),
            Quota::per_hour(config.register_per_hour),
        )),
        QuotaClass::Image => checks.push((
            format!("extract:{who}"),
            Quota::per_minute(config.extract_per_minute),
        )),
        QuotaClass::Login => checks.push((
            // Per address; the per-account limit is applied by the login handler (S6).
            format!("login:ip:{}", ip.0),
            Quota::per_minute(config.login_per_minute),
        )),
    }

    let mut tightest: Option<Decision> = None;
    for (key, quota) in checks {
        let decision = match check_with_policy(&state, &key, quota).await {
            Ok(Some(decision)) => decision,
            Ok(None) => continue,
            Err(refused) => return refused.into_response(),
        };
        let tighter = tightest.is_none_or(|t| {
            !decision.allowed && t.allowed
                || (decision.allowed == t.allowed && decision.remaining < t.remaining)
        });
        if tighter {
            tightest = Some(decision);
        }
    }

    let mut response = match tightest {
        Some(d) if !d.allowed => {
            tracing::info!(subject = %who, path = %path, "rate limited");
            ApiError::TooManyRequests {
                retry_after_secs: d.retry_after_secs,
            }
            .into_response()
        }
        _ => next.run(request).await,
    };
    if let Some(mut d) = tightest {
        if d.allowed && response.status() == StatusCode::TOO_MANY_REQUESTS {
            // Refused further in (a login lock-out, S6): the headers must not say
            // there is room left.
            d.remaining = 0;
            let retry = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            d.reset_secs = d.reset_secs.max(retry);
        }
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset_secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s15_gcra_allows_the_burst_then_refuses_with_retry_after() {
        let limiter = MemoryLimiter::new();
        let quota = Quota::per_minute(3);
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let d = limiter.check("k", quota).await.unwrap();
            assert!(d.allowed);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let denied = limiter.check("k", quota).await.unwrap();
        assert!(!denied.allowed);
        assert!((1..=20).contains(&denied.retry_after_secs), "{denied:?}");
        assert!(
            limiter.check("other", quota).await.unwrap().allowed,
            "keys are separate"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s15_exact_under_concurrency() {
        let limiter = Arc::new(MemoryLimiter::new());
        let quota = Quota::per_minute(50);
        let mut handles = Vec::new();
        for _ in 0..200 {
            let limiter = limiter.clone();
            handles.push(tokio::spawn(async move {
                limiter.check("shared", quota).await.unwrap().allowed
            }));
        }
        let mut allowed = 0;
        for h in handles {
            allowed += usize::from(h.await.unwrap());
        }
        assert_eq!(allowed, 50);
    }
}
