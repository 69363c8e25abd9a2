//! The `Principal` extractor: who is calling, through a bearer access token or an
//! `X-API-Key`, and what they may do. Every protected handler takes one (S1, S3, S4, S7).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;

use super::api_keys;
use super::identity::Identity;
pub use super::identity::Via;
use crate::app::AppState;
use crate::audit::{Audit, Outcome, RequestMeta, user_actor};
use crate::error::ApiError;
use crate::store::{DynStore, Scope, User};

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
            Via::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
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
        // Resolved once per request by the limiter; a request that reached a handler
        // without passing it (none does) resolves its credential here.
        let identity = match parts.extensions.get::<Arc<Identity>>() {
            Some(identity) => identity.clone(),
            None => Identity::resolve(state, &parts.headers, &meta).await,
        };
        let Identity::Account { user, via, scopes } = identity.as_ref() else {
            return Err(ApiError::Unauthorized);
        };
        let principal = Principal {
            user: User::clone(user),
            scopes: scopes.clone(),
            via: *via,
            meta,
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
