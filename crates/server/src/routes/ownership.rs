//! The one way handlers reach a user's resources (S8): the store's `owned_*` lookups with
//! the caller as owner (admins: anyone). A miss is 404 whether the id is missing or
//! someone else's; the second case is audited as an access denial.

use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{Audit, Outcome};
use crate::auth::{Principal, Via};
use crate::error::ApiError;
use crate::store::{ColorTokenRecord, ExtractionSession, Owner, Project, ResourceKind};

/// Whose resources a principal may reach (S8, S9): an admin sees everyone's only when
/// signed in; an admin's API key is scoped to the admin's own data like anyone's.
pub fn owner_of(principal: &Principal) -> Owner {
    if principal.is_admin() && principal.via == Via::Bearer {
        Owner::Anyone
    } else {
        Owner::User(principal.user.id)
    }
}

/// Turns a lookup miss into a 404. Whether the id belongs to someone else is found out,
/// and audited as an access denial (S24), after the answer: both misses then cost the
/// same on the response path, and their timing cannot tell them apart.
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
    let store = state.store.clone();
    let actor = principal.actor();
    let meta = principal.meta.clone();
    tokio::spawn(async move {
        match store.resource_exists(kind, id).await {
            Ok(true) => {
                Audit {
                    store: &store,
                    meta: &meta,
                }
                .record(
                    &actor,
                    "access_denied",
                    Some(format!("{}:{id}", kind_name(kind))),
                    Outcome::Denied,
                    json!({ "reason": "not the owner", "answered": 404 }),
                )
                .await;
            }
            Ok(false) => {}
            Err(err) => tracing::error!(error = %err, "ownership denial not audited"),
        }
    });
    Err(ApiError::NotFound)
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Project => "project",
        ResourceKind::Session => "session",
        ResourceKind::ColorToken => "color",
        ResourceKind::Check => "check",
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

/// The mask PNG of a drift check in one of the principal's projects.
pub async fn check_mask(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Vec<u8>, ApiError> {
    let lookup = state
        .store
        .owned_check_mask(id, owner_of(principal))
        .await
        .map_err(ApiError::internal)?;
    found(state, principal, ResourceKind::Check, id, lookup).await
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
