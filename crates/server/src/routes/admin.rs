//! `/admin/*`: user management and the audit log, for the `admin` role only (S9, S24).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::ListResponse;
use crate::app::AppState;
use crate::audit::Outcome;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::store::{AdminUpdate, AuditEvent, Role, User};
use crate::validate::Paging;

#[derive(Serialize)]
pub struct AdminUserView {
    id: Uuid,
    email: String,
    full_name: Option<String>,
    is_active: bool,
    roles: Vec<Role>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_login_at: Option<OffsetDateTime>,
}

impl From<User> for AdminUserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            full_name: u.full_name,
            is_active: u.is_active,
            roles: u.roles.0,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

pub async fn list_users(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ListResponse<AdminUserView>>, ApiError> {
    let (users, total) = state
        .store
        .list_users(paging.page()?)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ListResponse {
        items: users.into_iter().map(AdminUserView::from).collect(),
        total,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUserPatch {
    is_active: Option<bool>,
    roles: Option<Vec<Role>>,
}

pub async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AdminUserPatch>,
) -> Result<Json<AdminUserView>, ApiError> {
    let roles = body.roles.map(|mut roles| {
        // Every account is a user; admin is on top of that.
        roles.push(Role::User);
        roles.sort();
        roles.dedup();
        roles
    });
    if id == principal.user.id
        && (body.is_active == Some(false)
            || roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin)))
    {
        // S24: an admin action that was refused is an admin action too.
        principal
            .audit(&state.store)
            .record(
                &principal.actor(),
                "admin_update_user",
                Some(id.to_string()),
                Outcome::Failure,
                json!({ "reason": "own account", "is_active": body.is_active, "roles": roles }),
            )
            .await;
        return Err(ApiError::Unprocessable(
            "admins cannot disable or demote their own account".into(),
        ));
    }
    // S27: disabling revokes the account's sessions, and the last active admin stays,
    // both decided in the store's transaction whatever else runs at the same time.
    let updated = match state
        .store
        .update_user_admin(
            Some(principal.user.id),
            id,
            body.is_active,
            roles.as_deref(),
        )
        .await?
    {
        AdminUpdate::Updated(user) => user,
        AdminUpdate::NotFound => return Err(ApiError::NotFound),
        AdminUpdate::ActorNotAdmin => {
            return Err(ApiError::Forbidden(
                "this action needs the admin role".into(),
            ));
        }
        AdminUpdate::LastAdmin => {
            principal
                .audit(&state.store)
                .record(
                    &principal.actor(),
                    "admin_update_user",
                    Some(id.to_string()),
                    Outcome::Failure,
                    json!({ "reason": "last active admin", "is_active": body.is_active, "roles": roles }),
                )
                .await;
            return Err(ApiError::Conflict(
                "at least one active admin must remain".into(),
            ));
        }
    };
    principal
        .record(
            &state.store,
            "admin_update_user",
            Some(id.to_string()),
            json!({ "is_active": body.is_active, "roles": roles }),
        )
        .await;
    Ok(Json(AdminUserView::from(updated)))
}

pub async fn list_audit_events(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ListResponse<AuditEvent>>, ApiError> {
    let (items, total) = state
        .store
        .list_audit_events(paging.page()?)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ListResponse { items, total }))
}
