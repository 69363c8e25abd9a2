//! The `Principal` extractor: who is calling, through a bearer access token or an
//! `X-API-Key`, and what they may do. Every protected handler takes one (S1, S3, S4, S7).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
        // The route's access policy (scopes, session, admin) was enforced by the router.
        Ok(Principal {
            user: User::clone(user),
            scopes: scopes.clone(),
            via: *via,
            meta,
        })
    }
}
