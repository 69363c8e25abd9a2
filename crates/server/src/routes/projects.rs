//! `/projects` and their extraction sessions: create, list, read, rename, delete (S8, S11).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::ListResponse;
use super::colors::ColorView;
use super::ownership;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::store::{ExtractionSession, Page, Project, ProjectChange};
use crate::validate::{self, Checks, Paging};

#[derive(Serialize)]
pub struct ProjectView {
    id: Uuid,
    name: String,
    description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    name: String,
    description: Option<String>,
}

pub async fn create_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<Response, ApiError> {
    let mut checks = Checks::default();
    let name = checks.check("name", validate::name(&body.name));
    let description = checks.check(
        "description",
        validate::optional_text(body.description.as_deref(), validate::MAX_DESCRIPTION_CHARS),
    );
    checks.finish()?;
    let (Some(name), Some(description)) = (name, description) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let now = OffsetDateTime::now_utc();
    let project = Project {
        id: Uuid::now_v7(),
        owner_id: principal.user.id,
        name,
        description,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .insert_project(&project, state.config.caps)
        .await?;
    principal
        .record(
            &state.store,
            "project_create",
            Some(format!("project:{}", project.id)),
            json!({}),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ProjectView::from(project))).into_response())
}

pub async fn list_projects(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ListResponse<ProjectView>>, ApiError> {
    let (items, total) = state
        .store
        .list_projects(ownership::owner_of(&principal), paging.page()?)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ListResponse {
        items: items.into_iter().map(ProjectView::from).collect(),
        total,
    }))
}

pub async fn find_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ProjectView>, ApiError> {
    let project = ownership::project(&state, &principal, id).await?;
    Ok(Json(ProjectView::from(project)))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
}

pub async fn update_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> Result<Json<ProjectView>, ApiError> {
    let project = ownership::project(&state, &principal, id).await?;
    let mut checks = Checks::default();
    let name = match &body.name {
        Some(raw) => checks.check("name", validate::name(raw)),
        None => None,
    };
    let description = match &body.description {
        // `Some(None)` clears the description; a blank string does too.
        Some(raw) => checks.check(
            "description",
            validate::optional_text(raw.as_deref(), validate::MAX_DESCRIPTION_CHARS),
        ),
        None => None,
    };
    checks.finish()?;
    let change = ProjectChange { name, description };
    let updated = state
        .store
        .update_project(project.id, &change)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    // S24: which fields changed, not their values (names are the user's own text).
    principal
        .record(
            &state.store,
            "project_update",
            Some(format!("project:{}", project.id)),
            json!({
                "name": change.name.is_some(),
                "description": change.description.is_some(),
            }),
        )
        .await;
    Ok(Json(ProjectView::from(updated)))
}

pub async fn delete_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let project = ownership::project(&state, &principal, id).await?;
    state
        .store
        .delete_project(project.id)
        .await
        .map_err(ApiError::internal)?;
    principal
        .record(
            &state.store,
            "project_delete",
            Some(format!("project:{}", project.id)),
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct ImageView {
    pub width: i64,
    pub height: i64,
    pub format: String,
}

#[derive(Serialize)]
pub struct SessionView {
    id: Uuid,
    project_id: Uuid,
    name: Option<String>,
    source: String,
    image: Option<ImageView>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    colors: Option<Vec<ColorView>>,
}

impl From<ExtractionSession> for SessionView {
    fn from(s: ExtractionSession) -> Self {
        let image = match (s.image_width, s.image_height, s.image_format) {
            (Some(width), Some(height), Some(format)) => Some(ImageView {
                width,
                height,
                format,
            }),
            _ => None,
        };
        Self {
            id: s.id,
            project_id: s.project_id,
            name: s.name,
            source: s.source,
            image,
            created_at: s.created_at,
            colors: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    name: Option<String>,
}

pub async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<Response, ApiError> {
    let project = ownership::project(&state, &principal, project_id).await?;
    let mut checks = Checks::default();
    let name = checks.check(
        "name",
        validate::optional_text(body.name.as_deref(), validate::MAX_NAME_CHARS).and_then(
            |n| match n {
                Some(n) if n.contains(['\n', '\r', '\t']) => {
                    Err("must not contain control characters")
                }
                other => Ok(other),
            },
        ),
    );
    checks.finish()?;
    let session = ExtractionSession {
        id: Uuid::now_v7(),
        project_id: project.id,
        name: name.flatten(),
        source: "upload".into(),
        image_width: None,
        image_height: None,
        image_format: None,
        created_at: OffsetDateTime::now_utc(),
    };
    state
        .store
        .insert_session(&session, state.config.caps)
        .await?;
    principal
        .record(
            &state.store,
            "session_create",
            Some(format!("session:{}", session.id)),
            json!({ "project_id": project.id }),
        )
        .await;
    Ok((StatusCode::CREATED, Json(SessionView::from(session))).into_response())
}

pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ListResponse<SessionView>>, ApiError> {
    let project = ownership::project(&state, &principal, project_id).await?;
    let (items, total) = state
        .store
        .list_sessions(project.id, paging.page()?)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ListResponse {
        items: items.into_iter().map(SessionView::from).collect(),
        total,
    }))
}

/// Most colours a session view embeds; a session holds one or a few extractions.
const SESSION_COLORS_LIMIT: i64 = 500;

pub async fn find_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionView>, ApiError> {
    let session = ownership::session(&state, &principal, id).await?;
    let page = Page {
        limit: SESSION_COLORS_LIMIT,
        offset: 0,
    };
    let (colors, _) = state
        .store
        .list_tokens(session.project_id, Some(session.id), page)
        .await
        .map_err(ApiError::internal)?;
    let mut view = SessionView::from(session);
    view.colors = Some(colors.into_iter().map(ColorView::from).collect());
    Ok(Json(view))
}

pub async fn delete_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let session = ownership::session(&state, &principal, id).await?;
    state
        .store
        .delete_session(session.id)
        .await
        .map_err(ApiError::internal)?;
    principal
        .record(
            &state.store,
            "session_delete",
            Some(format!("session:{}", session.id)),
            json!({ "project_id": session.project_id }),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
