//! The one way handlers reach a user's resources (S8): the store's `owned_*` lookups with
//! the caller as owner (admins: anyone). A miss is 404 whether the id is missing or
//! someone else's; the second case is audited as an access denial.

use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::Outcome;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::store::{ColorTokenRecord, ExtractionSession, Owner, Project, ResourceKind};

pub fn owner_of(principal: &Principal) -> Owner {
    if principal.is_admin() {
        Owner::Anyone
    } else {
        Owner::User(principal.user.id)
    }
}

/// Turns a lookup miss into a 404, auditing it when the resource exists for someone else.
async fn found<T>(
    state: &AppState,
    principal: &Principal,
    kind: ResourceKind,
    id: Uuid,
    lookup: Option<T>,
) -> Result<T, ApiError> {
    if let Some(value) = lookup {
        return Ok(value);
    }
    let exists = state
        .store
        .resource_exists(kind, id)
        .await
        .map_err(ApiError::internal)?;
    if exists {
        principal
            .audit(&state.store)
            .record(
                &principal.actor(),
                "access_denied",
                Some(format!("{}:{id}", kind_name(kind))),
                Outcome::Denied,
                json!({ "reason": "not the owner", "answered": 404 }),
            )
            .await;
    }
    Err(ApiError::NotFound)
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Project => "project",
        ResourceKind::Session => "session",
        ResourceKind::ColorToken => "color",
    }
}

pub async fn project(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Project, ApiError> {
    let lookup = state
        .store
        .owned_project(id, owner_of(principal))
        .await
        .map_err(ApiError::internal)?;
    found(state, principal, ResourceKind::Project, id, lookup).await
}

pub async fn session(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<ExtractionSession, ApiError> {
    let lookup = state
        .store
        .owned_session(id, owner_of(principal))
        .await
        .map_err(ApiError::internal)?;
    found(state, principal, ResourceKind::Session, id, lookup).await
}

pub async fn color_token(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<ColorTokenRecord, ApiError> {
    let lookup = state
        .store
        .owned_token(id, owner_of(principal))
        .await
        .map_err(ApiError::internal)?;
    found(state, principal, ResourceKind::ColorToken, id, lookup).await
}
