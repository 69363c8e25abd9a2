//! The access policy of every `/api/v1` route, enforced by the router from the route
//! table before any handler runs (S1, S7, S9): the request's identity (resolved once,
//! see `auth::identity`) must be an account, the method must be within an API key's
//! scopes, session-only routes refuse keys, admin routes need a signed-in admin. Every
//! refusal of a known principal is audited (S24).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Access;
use crate::app::AppState;
use crate::audit::{Audit, Outcome, RequestMeta, user_actor};
use crate::auth::api_keys::required_scope;
use crate::auth::{Identity, Via};
use crate::error::ApiError;

pub async fn enforce(
    access: Access,
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !access.needs_principal() {
        return next.run(request).await;
    }
    let meta = RequestMeta::from_extensions(request.extensions());
    let identity = match request.extensions().get::<Arc<Identity>>() {
        Some(identity) => identity.clone(),
        None => Identity::resolve(&state, request.headers(), &meta).await,
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match check(access, &state, &identity, meta, &method, path).await {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

async fn check(
    access: Access,
    state: &AppState,
    identity: &Identity,
    meta: RequestMeta,
    method: &Method,
    path: String,
) -> Result<(), ApiError> {
    let Identity::Account { user, via, scopes } = identity else {
        return Err(ApiError::Unauthorized);
    };
    let actor = match via {
        Via::Bearer => user_actor(user.id),
        Via::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
    };
    let audit = Audit {
        store: &state.store,
        meta: &meta,
    };
    let target = Some(path);
    let needed = required_scope(method);
    if !scopes.contains(&needed) {
        audit
            .record(
                &actor,
                "api_key_use_denied",
                target,
                Outcome::Denied,
                json!({ "reason": "missing scope", "scope": needed }),
            )
            .await;
        return Err(ApiError::Forbidden(
            format!("this API key lacks the {needed:?} scope").to_lowercase(),
        ));
    }
    let is_key = matches!(via, Via::ApiKey { .. });
    match access {
        Access::Session if is_key => {
            audit
                .record(
                    &actor,
                    "api_key_use_denied",
                    target,
                    Outcome::Denied,
                    json!({ "reason": "session-only route" }),
                )
                .await;
            Err(ApiError::Forbidden(
                "this action needs a signed-in session, not an API key".into(),
            ))
        }
        Access::Admin if is_key || !user.is_admin() => {
            audit
                .record(
                    &actor,
                    "access_denied",
                    target,
                    Outcome::Denied,
                    json!({ "reason": "admin role required" }),
                )
                .await;
            Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ))
        }
        _ => Ok(()),
    }
}
