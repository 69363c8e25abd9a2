//! The one identity step of a request: its credential (a bearer access token or an
//! `X-API-Key`) is resolved once, before rate limiting, and the result is handed to the
//! limiter (whom to count), the `Principal` extractor (who may act) and the audit log
//! (S1, S3, S4, S7, S15).

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::api_keys;
use super::tokens::{TokenType, sha256_hex};
use crate::app::AppState;
use crate::audit::{Audit, Outcome, RequestMeta};
use crate::store::{ApiKeyRecord, Scope, User};

pub const API_KEY_HEADER: &str = "x-api-key";
/// `last_used_at` is written at most this often per key, not on every request.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    ApiKey {
        key_id: Uuid,
        /// The key's own per-minute quota, when lower than its account's.
        rate_per_minute: Option<u32>,
    },
}

/// Who sent a request, as far as its credential proves.
#[derive(Debug, Clone)]
pub enum Identity {
    /// No credential at all.
    Anonymous,
    /// A credential that does not prove anyone: malformed, forged, expired, revoked,
    /// of a disabled account, or sent twice.
    Refused,
    /// A live account, through a current access token or a live API key.
    Account {
        user: Box<User>,
        via: Via,
        scopes: Vec<Scope>,
    },
}

impl Identity {
    /// The identity of a request, resolved once and shared by everything after it.
    pub async fn resolve(state: &AppState, headers: &HeaderMap, meta: &RequestMeta) -> Arc<Self> {
        Arc::new(resolve(state, headers, meta).await)
    }
}

async fn resolve(state: &AppState, headers: &HeaderMap, meta: &RequestMeta) -> Identity {
    if has_repeated_credential(headers) {
        // A proxy in front may have checked one copy and we would read the other.
        return Identity::Refused;
    }
    match (headers.get(API_KEY_HEADER), headers.get(AUTHORIZATION)) {
        (None, None) => Identity::Anonymous,
        (Some(key), None) => match key.to_str() {
            Ok(key) => from_api_key(state, key, meta).await,
            Err(_) => Identity::Refused,
        },
        (None, Some(value)) => match value.to_str() {
            Ok(value) => from_bearer(state, value).await,
            Err(_) => Identity::Refused,
        },
        // Two different credentials: which one would we believe?
        (Some(_), Some(_)) => Identity::Refused,
    }
}

/// Whether a credential header was sent more than once.
pub fn has_repeated_credential(headers: &HeaderMap) -> bool {
    headers.get_all(API_KEY_HEADER).iter().count() > 1
        || headers.get_all(AUTHORIZATION).iter().count() > 1
}

async fn from_bearer(state: &AppState, value: &str) -> Identity {
    let Some((scheme, token)) = value.split_once(' ') else {
        return Identity::Refused;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Identity::Refused;
    }
    let Some(claims) = state.auth.tokens.verify(token.trim(), TokenType::Access) else {
        return Identity::Refused;
    };
    match state.store.find_user(claims.sub).await {
        // S4: a password change, logout or disable bumps the version and kills the token.
        Ok(Some(user)) if user.is_active && user.token_version == claims.ver => Identity::Account {
            user: Box::new(user),
            via: Via::Bearer,
            scopes: vec![Scope::Read, Scope::Write, Scope::Delete],
        },
        Ok(_) => Identity::Refused,
        Err(err) => {
            tracing::warn!(error = %err, "account lookup for a bearer token failed");
            Identity::Refused
        }
    }
}

async fn from_api_key(state: &AppState, key: &str, meta: &RequestMeta) -> Identity {
    if !api_keys::is_well_formed(key) {
        return Identity::Refused;
    }
    let found = match state.store.find_api_key_with_user(&sha256_hex(key)).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(error = %err, "API key lookup failed");
            return Identity::Refused;
        }
    };
    let Some((record, user)) = found else {
        return Identity::Refused;
    };
    let now = OffsetDateTime::now_utc();
    let refusal = if !record.is_active {
        Some("revoked")
    } else if record.expires_at.is_some_and(|at| at <= now) {
        Some("expired")
    } else if !user.is_active {
        Some("account disabled")
    } else {
        None
    };
    if let Some(reason) = refusal {
        Audit {
            store: &state.store,
            meta,
        }
        .record(
            &format!("api_key:{}", record.id),
            "api_key_use_denied",
            Some(record.id.to_string()),
            Outcome::Denied,
            json!({ "reason": reason }),
        )
        .await;
        return Identity::Refused;
    }
    touch(state, &record, now).await;
    Identity::Account {
        user: Box::new(user),
        via: Via::ApiKey {
            key_id: record.id,
            rate_per_minute: record.rate_per_minute.and_then(|n| u32::try_from(n).ok()),
        },
        scopes: record.scopes.0.clone(),
    }
}

async fn touch(state: &AppState, record: &ApiKeyRecord, now: OffsetDateTime) {
    let stale = record.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY);
    if stale && let Err(err) = state.store.touch_api_key(record.id).await {
        tracing::warn!(error = %err, "could not record API key use");
    }
}
