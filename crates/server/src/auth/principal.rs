//! The `Principal` extractor: who is calling, through a bearer access token or an
//! `X-API-Key`, and what they may do. Every protected handler takes one (S1, S3, S4, S7).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::api_keys;
use super::tokens::{TokenType, sha256_hex};
use crate::app::AppState;
use crate::audit::{Audit, Outcome, RequestMeta, user_actor};
use crate::error::ApiError;
use crate::store::{ApiKeyRecord, DynStore, Scope, User};

pub const API_KEY_HEADER: &str = "x-api-key";
/// `last_used_at` is written at most this often per key, not on every request.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    ApiKey { key_id: Uuid },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub scopes: Vec<Scope>,
    pub via: Via,
    pub meta: RequestMeta,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }

    /// `user:<id>`, or `api_key:<id>` when a key made the call.
    pub fn actor(&self) -> String {
        match self.via {
            Via::Bearer => user_actor(self.user.id),
            Via::ApiKey { key_id } => format!("api_key:{key_id}"),
        }
    }

    pub fn audit<'a>(&'a self, store: &'a DynStore) -> Audit<'a> {
        Audit {
            store,
            meta: &self.meta,
        }
    }

    /// Records a successful action of this principal (S24).
    pub async fn record(
        &self,
        store: &DynStore,
        action: &str,
        target: Option<String>,
        detail: serde_json::Value,
    ) {
        self.audit(store)
            .record(&self.actor(), action, target, Outcome::Success, detail)
            .await;
    }

    /// Managing credentials needs the account holder, not a key: otherwise a `write` key
    /// could mint itself a `delete` key.
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.via {
            Via::Bearer => Ok(()),
            Via::ApiKey { .. } => Err(ApiError::Forbidden(
                "this action needs a signed-in session, not an API key".into(),
            )),
        }
    }

    /// S9: admin routes. A refusal is an audited access denial.
    pub async fn require_admin(&self, state: &AppState, what: &str) -> Result<(), ApiError> {
        if self.is_admin() && self.via == Via::Bearer {
            return Ok(());
        }
        self.audit(&state.store)
            .record(
                &self.actor(),
                "access_denied",
                Some(what.to_owned()),
                Outcome::Denied,
                json!({ "reason": "admin role required" }),
            )
            .await;
        Err(ApiError::Forbidden(
            "this action needs the admin role".into(),
        ))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let meta = RequestMeta::from_parts(parts);
        if has_repeated_credential(&parts.headers) {
            return Err(ApiError::Unauthorized);
        }
        let key = parts.headers.get(API_KEY_HEADER);
        let bearer = parts.headers.get(AUTHORIZATION);
        let principal = match (key, bearer) {
            (Some(key), None) => {
                let key = key.to_str().map_err(|_| ApiError::Unauthorized)?;
                from_api_key(state, key, meta).await?
            }
            (None, Some(value)) => {
                let value = value.to_str().map_err(|_| ApiError::Unauthorized)?;
                let loaded = parts.extensions.remove::<LoadedUser>();
                from_bearer(state, value, loaded, meta).await?
            }
            // No credential, or two at once: which one would we believe?
            _ => return Err(ApiError::Unauthorized),
        };

        let needed = api_keys::required_scope(&parts.method);
        if !principal.scopes.contains(&needed) {
            principal
                .audit(&state.store)
                .record(
                    &principal.actor(),
                    "api_key_use_denied",
                    Some(parts.uri.path().to_owned()),
                    Outcome::Denied,
                    json!({ "reason": "missing scope", "scope": needed }),
                )
                .await;
            return Err(ApiError::Forbidden(
                format!("this API key lacks the {:?} scope", needed).to_lowercase(),
            ));
        }
        Ok(principal)
    }
}

/// Whether a credential header was sent more than once. Such a request is refused: a
/// proxy in front may have checked one copy and we would read the other.
pub fn has_repeated_credential(headers: &axum::http::HeaderMap) -> bool {
    headers.get_all(API_KEY_HEADER).iter().count() > 1
        || headers.get_all(AUTHORIZATION).iter().count() > 1
}

/// The account a bearer token named, read by the rate limiter within this same request;
/// the principal extractor uses it instead of reading the row a second time.
#[derive(Debug, Clone)]
pub struct LoadedUser(pub User);

async fn from_bearer(
    state: &AppState,
    value: &str,
    loaded: Option<LoadedUser>,
    meta: RequestMeta,
) -> Result<Principal, ApiError> {
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized);
    }
    let claims = state
        .auth
        .tokens
        .verify(token.trim(), TokenType::Access)
        .ok_or(ApiError::Unauthorized)?;
    let user = match loaded {
        Some(LoadedUser(user)) if user.id == claims.sub => user,
        _ => state
            .store
            .find_user(claims.sub)
            .await
            .map_err(ApiError::internal)?
            .ok_or(ApiError::Unauthorized)?,
    };
    // S4: a password change, logout or disable bumps the version and kills the token.
    if !user.is_active || user.token_version != claims.ver {
        return Err(ApiError::Unauthorized);
    }
    Ok(Principal {
        user,
        scopes: vec![Scope::Read, Scope::Write, Scope::Delete],
        via: Via::Bearer,
        meta,
    })
}

async fn from_api_key(
    state: &AppState,
    key: &str,
    meta: RequestMeta,
) -> Result<Principal, ApiError> {
    if !api_keys::is_well_formed(key) {
        return Err(ApiError::Unauthorized);
    }
    let hash = sha256_hex(key);
    let record = state
        .store
        .find_api_key_by_hash(&hash)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::Unauthorized)?;
    let now = OffsetDateTime::now_utc();
    let expired = record.expires_at.is_some_and(|at| at <= now);
    let user = state
        .store
        .find_user(record.user_id)
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(user) if record.is_active && !expired && user.is_active => user,
        _ => {
            state.auth.verified_keys.forget(&hash);
            let reason = if !record.is_active {
                "revoked"
            } else if expired {
                "expired"
            } else {
                "account disabled"
            };
            Audit {
                store: &state.store,
                meta: &meta,
            }
            .record(
                &format!("api_key:{}", record.id),
                "api_key_use_denied",
                Some(record.id.to_string()),
                Outcome::Denied,
                json!({ "reason": reason }),
            )
            .await;
            return Err(ApiError::Unauthorized);
        }
    };
    state.auth.verified_keys.remember(&hash);
    touch(state, &record, now).await;
    Ok(Principal {
        user,
        scopes: record.scopes.0.clone(),
        via: Via::ApiKey { key_id: record.id },
        meta,
    })
}

async fn touch(state: &AppState, record: &ApiKeyRecord, now: OffsetDateTime) {
    let stale = record.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY);
    if stale && let Err(err) = state.store.touch_api_key(record.id).await {
        tracing::warn!(error = %err, "could not record API key use");
    }
}
