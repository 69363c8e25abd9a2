//! Colour extraction and the colour tokens it stores: extract from an upload, base64 or
//! an image URL, list, curate (role, name), delete, and export (S8, S11-S14, S18, S24).

use std::str::FromStr;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use copythat_core::Role as TokenRole;
use copythat_core::url_policy::MAX_URL_LEN;
use copythat_core::{ColorToken, ExportFormat, ExportToken, WcagFlags};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::ListResponse;
use super::ownership;
use super::projects::{ImageView, nullable};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::auth::Principal;
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery, is_json_content_type, parse_json};
use crate::fetch::Fetched;
use crate::intake::{Base64Error, decode_base64};
use crate::request_id::ClientIp;
use crate::routes::EXTRACT_BODY_LIMIT;
use crate::store::{ColorTokenRecord, ExtractionSession, Page, TokenChange};
use crate::validate::{self, Checks, Paging};

pub const DEFAULT_MAX_COLORS: i64 = 8;
const MAX_TEXT_FIELD: usize = 128;

/// A stored colour token as clients see it.
#[derive(Serialize)]
pub struct ColorView {
    id: Uuid,
    project_id: Uuid,
    session_id: Uuid,
    hex: String,
    rgb: [u8; 3],
    hsl: [f64; 3],
    oklch: [f64; 3],
    name: String,
    share: f64,
    confidence: f64,
    role: Option<String>,
    contrast_white: f64,
    contrast_black: f64,
    wcag: WcagFlags,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<ColorTokenRecord> for ColorView {
    fn from(t: ColorTokenRecord) -> Self {
        Self {
            wcag: WcagFlags::from_ratios(t.contrast_white, t.contrast_black),
            id: t.id,
            project_id: t.project_id,
            session_id: t.session_id,
            hex: t.hex,
            rgb: t.rgb.0,
            hsl: t.hsl.0,
            oklch: t.oklch.0,
            name: t.name,
            share: t.share,
            confidence: t.confidence,
            role: t.role,
            contrast_white: t.contrast_white,
            contrast_black: t.contrast_black,
            created_at: t.created_at,
        }
    }
}

/// The JSON form of an extraction request. `image_base64` borrows from the body when it
/// has no escapes, so a 14 MiB upload is not copied before it is decoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractJson<'a> {
    project_id: Uuid,
    session_id: Option<Uuid>,
    image_url: Option<String>,
    #[serde(borrow)]
    image_base64: Option<std::borrow::Cow<'a, str>>,
    max_colors: Option<i64>,
}

/// Where an extraction's image comes from.
pub(super) enum ImageSource {
    /// Uploaded: a multipart file or decoded base64.
    Bytes(Vec<u8>),
    /// Fetched once the request is known to be allowed (ownership checked, S14).
    Url(String),
}

/// A parsed extraction request, whatever its encoding.
struct ExtractInput {
    project_id: Uuid,
    session_id: Option<Uuid>,
    max_colors: usize,
    image: ImageSource,
}

/// An `image_url` as given: its length is checked here, everything else by the fetcher.
pub(super) fn image_url(text: String) -> Result<ImageSource, ApiError> {
    if text.len() > MAX_URL_LEN {
        return Err(ApiError::field(
            "image_url",
            format!("must be at most {MAX_URL_LEN} bytes"),
        ));
    }
    Ok(ImageSource::Url(text))
}

fn max_colors(value: Option<i64>) -> Result<usize, ApiError> {
    match value.unwrap_or(DEFAULT_MAX_COLORS) {
        n @ 1..=50 => Ok(n as usize),
        _ => Err(ApiError::field("max_colors", "must be between 1 and 50")),
    }
}

pub(super) fn base64_error(err: Base64Error) -> ApiError {
    match err {
        Base64Error::TooLarge => ApiError::PayloadTooLarge(
            "image_base64 decodes to more than the image size limit".into(),
        ),
        other => ApiError::field("image_base64", other.to_string()),
    }
}

fn from_json(bytes: &[u8], max_image_bytes: usize) -> Result<ExtractInput, ApiError> {
    let body: ExtractJson<'_> = parse_json(bytes)?;
    let max_colors = max_colors(body.max_colors)?;
    let image = match (body.image_url, body.image_base64) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "image_base64",
                "give exactly one of image_url and image_base64",
            )]));
        }
        (Some(url), None) => image_url(url)?,
        (None, Some(text)) => {
            ImageSource::Bytes(decode_base64(&text, max_image_bytes).map_err(base64_error)?)
        }
    };
    Ok(ExtractInput {
        project_id: body.project_id,
        session_id: body.session_id,
        max_colors,
        image,
    })
}

pub(super) async fn text_field(
    field: axum::extract::multipart::Field<'_>,
) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let bytes = read_limited(field, MAX_TEXT_FIELD, &name).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::field(&name, "must be UTF-8 text"))
}

/// Reads a multipart field chunk by chunk, refusing it as soon as it passes `limit`.
pub(super) async fn read_limited(
    mut field: axum::extract::multipart::Field<'_>,
    limit: usize,
    name: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if data.len() + chunk.len() > limit {
            return Err(if name == "image" {
                ApiError::PayloadTooLarge("the image is larger than the upload limit".into())
            } else {
                ApiError::field(name, "is too long")
            });
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

pub(super) fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    match err.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body is too large".into())
        }
        _ => match ApiError::body_read(&err) {
            ApiError::BadRequest(_) => {
                ApiError::BadRequest("the multipart body is malformed".into())
            }
            other => other,
        },
    }
}

async fn from_multipart(
    mut form: Multipart,
    max_image_bytes: usize,
) -> Result<ExtractInput, ApiError> {
    let mut project_id = None;
    let mut session_id = None;
    let mut max = None;
    let mut image = None;
    let mut url = None;
    let parse_uuid = |field: &str, text: &str| {
        Uuid::parse_str(text.trim()).map_err(|_| ApiError::field(field, "must be a UUID"))
    };
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let duplicate = || ApiError::field(&name, "appears more than once");
        match name.as_str() {
            "image" => {
                if image.is_some() {
                    return Err(duplicate());
                }
                image = Some(read_limited(field, max_image_bytes, "image").await?);
            }
            "image_url" => {
                if url.is_some() {
                    return Err(duplicate());
                }
                let bytes = read_limited(field, MAX_URL_LEN, "image_url").await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::field("image_url", "must be UTF-8 text"))?;
                url = Some(text);
            }
            "project_id" if project_id.is_none() => {
                project_id = Some(parse_uuid("project_id", &text_field(field).await?)?);
            }
            "session_id" if session_id.is_none() => {
                let text = text_field(field).await?;
                if !text.trim().is_empty() {
                    session_id = Some(parse_uuid("session_id", &text)?);
                }
            }
            "max_colors" if max.is_none() => {
                let text = text_field(field).await?;
                let n = text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::field("max_colors", "must be between 1 and 50"))?;
                max = Some(n);
            }
            "project_id" | "session_id" | "max_colors" => return Err(duplicate()),
            _ => return Err(ApiError::field(&name, "unknown field")),
        }
    }
    let mut checks = Checks::default();
    if project_id.is_none() {
        checks.check::<(), _>("project_id", Err("is required"));
    }
    let source = match (image, url) {
        (Some(bytes), None) if !bytes.is_empty() => Some(ImageSource::Bytes(bytes)),
        (None, Some(url)) => Some(image_url(url)?),
        (Some(_), Some(_)) => {
            checks.check::<(), _>("image_url", Err("give exactly one of image and image_url"));
            None
        }
        _ => {
            checks.check::<(), _>("image", Err("a non-empty image file is required"));
            None
        }
    };
    checks.finish()?;
    Ok(ExtractInput {
        project_id: project_id.unwrap_or_default(),
        session_id,
        max_colors: max_colors(max)?,
        image: source.unwrap_or(ImageSource::Bytes(Vec::new())),
    })
}

/// Reads a whole body into one buffer sized from `Content-Length`, so a large upload is
/// held once rather than in chunks plus a copy; more than `limit` bytes is a 413.
pub(super) async fn read_body(request: Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    use http_body_util::BodyExt;
    let too_large = || ApiError::PayloadTooLarge("the request body is too large".into());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let mut data = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| ApiError::body_read(err.into_inner().as_ref()))?;
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > limit {
                return Err(too_large());
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(data)
}

pub(super) fn engine_error(err: copythat_core::Error) -> ApiError {
    use copythat_core::Error;
    match err {
        Error::UnsupportedFormat { .. } => ApiError::UnsupportedMediaType(
            "unsupported image format: send PNG, JPEG, WebP or GIF".into(),
        ),
        Error::TooLarge { reason } => {
            ApiError::PayloadTooLarge(format!("image too large: {reason}"))
        }
        Error::InvalidMaxColors(_) => ApiError::field("max_colors", "must be between 1 and 50"),
        Error::Corrupt { .. } => ApiError::Unprocessable(
            "the image is corrupt or truncated and cannot be decoded".into(),
        ),
        _ => ApiError::Unprocessable("the image cannot be processed".into()),
    }
}

#[derive(Serialize)]
struct ExtractResponse {
    session_id: Uuid,
    colors: Vec<ColorView>,
    image: ImageView,
}

/// `POST /colors/extract`: JSON with `image_base64` or `image_url`, or a multipart form
/// with an `image` file or an `image_url` field.
pub async fn extract_colors(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(client_ip): ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let max_image_bytes = state.config.max_image_bytes;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let _upload = state
        .images
        .upload_slot(principal.user.id, client_ip)
        .await?;
    let input = if is_json_content_type(request.headers()) {
        let bytes = read_body(request, EXTRACT_BODY_LIMIT).await?;
        from_json(&bytes, max_image_bytes)?
    } else if content_type.starts_with("multipart/form-data") {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|_| ApiError::BadRequest("the multipart body is malformed".into()))?;
        from_multipart(form, max_image_bytes).await?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send application/json with image_base64 or image_url, or multipart/form-data \
             with an image file or an image_url field"
                .into(),
        ));
    };

    let project = ownership::project(&state, &principal, input.project_id).await?;
    let existing_session = match input.session_id {
        Some(id) => {
            let session = ownership::session(&state, &principal, id).await?;
            if session.project_id != project.id {
                return Err(ApiError::field("session_id", "belongs to another project"));
            }
            Some(session)
        }
        None => None,
    };

    let limits = copythat_core::Limits {
        max_bytes: max_image_bytes,
        max_pixels: state.config.max_image_pixels,
        ..copythat_core::Limits::default()
    };
    // The fetch comes after the ownership checks, so nobody makes the server fetch for a
    // project they cannot write to, and while the upload slot is still held (S14, S18).
    let (image, source) = match input.image {
        ImageSource::Bytes(bytes) => (bytes, "upload"),
        ImageSource::Url(url) => {
            let fetched = fetch_image(&state, &principal, project.id, &url).await?;
            (fetched.bytes, "url")
        }
    };
    let max_colors = input.max_colors;
    let started = std::time::Instant::now();
    let (width, height, format, palette) = state
        .images
        .run(image, limits, move |img| {
            copythat_core::extract_palette(&img, max_colors)
                .map(|palette| (img.width, img.height, img.format, palette))
        })
        .await?
        .map_err(engine_error)?;
    let elapsed_ms = started.elapsed().as_millis() as u64;

    let now = OffsetDateTime::now_utc();
    let new_session = match &existing_session {
        Some(_) => None,
        None => Some(ExtractionSession {
            id: Uuid::now_v7(),
            project_id: project.id,
            name: None,
            source: source.into(),
            image_width: Some(i64::from(width)),
            image_height: Some(i64::from(height)),
            image_format: Some(format.as_str().to_owned()),
            created_at: now,
        }),
    };
    let session_id = existing_session
        .as_ref()
        .or(new_session.as_ref())
        .map(|s| s.id)
        .unwrap_or_default();
    let records: Vec<ColorTokenRecord> = palette
        .colors
        .into_iter()
        .enumerate()
        .map(|(i, c)| record_of(c, project.id, session_id, i as i64, now))
        .collect();
    let saved = state
        .store
        .save_extraction(new_session.as_ref(), &records, state.config.caps)
        .await?;

    let detail = json!({
        "project_id": project.id,
        "source": source,
        "colors": saved.len(),
        "width": width,
        "height": height,
        "format": format.as_str(),
        "millis": elapsed_ms,
    });
    principal
        .record(
            &state.store,
            "extraction",
            Some(format!("session:{session_id}")),
            detail,
        )
        .await;
    let response = ExtractResponse {
        session_id,
        colors: saved.into_iter().map(ColorView::from).collect(),
        image: ImageView {
            width: i64::from(width),
            height: i64::from(height),
            format: format.as_str().to_owned(),
        },
    };
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// Fetches `image_url` (S14) and audits the outbound request, whatever its outcome, as
/// `image_fetch` with the host and port (never the path or query: signed URLs carry
/// credentials there). Every refusal and failure is the same 422 for the client; the
/// reason goes to the log, in the request's span, and to the audit trail.
pub(super) async fn fetch_image(
    state: &AppState,
    principal: &Principal,
    project_id: Uuid,
    url: &str,
) -> Result<Fetched, ApiError> {
    let result = state.fetcher.fetch_traced(url).await;
    let (outcome, hop, mut detail) = match &result {
        Ok(fetched) => (
            Outcome::Success,
            Some(&fetched.hop),
            json!({ "bytes": fetched.bytes.len() }),
        ),
        Err(err) => {
            tracing::warn!(reason = %err, denied = err.is_denied(), "image fetch refused or failed");
            let outcome = if err.is_denied() {
                Outcome::Denied
            } else {
                Outcome::Failure
            };
            (
                outcome,
                err.hop(),
                json!({ "reason": err.reason().to_string() }),
            )
        }
    };
    detail["project_id"] = json!(project_id);
    if let Some(hop) = hop {
        detail["host"] = json!(hop.host);
        detail["port"] = json!(hop.port);
        detail["redirects"] = json!(hop.redirects);
    }
    principal
        .audit(&state.store)
        .record(
            &principal.actor(),
            "image_fetch",
            hop.map(|h| format!("host:{}", h.host)),
            outcome,
            detail,
        )
        .await;
    result.map_err(|err| ApiError::field("image_url", err.public_message()))
}

fn record_of(
    c: ColorToken,
    project_id: Uuid,
    session_id: Uuid,
    position: i64,
    now: OffsetDateTime,
) -> ColorTokenRecord {
    ColorTokenRecord {
        id: Uuid::now_v7(),
        project_id,
        session_id,
        position,
        hex: c.hex,
        rgb: sqlx::types::Json(c.rgb),
        hsl: sqlx::types::Json(c.hsl),
        oklch: sqlx::types::Json(c.oklch),
        name: c.name,
        share: c.share,
        confidence: c.confidence,
        role: c.role.map(|r| r.as_str().to_owned()),
        contrast_white: c.contrast_white,
        contrast_black: c.contrast_black,
        created_at: now,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    session_id: Option<Uuid>,
}

pub async fn list_project_colors(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ColorQuery>,
) -> Result<Json<ListResponse<ColorView>>, ApiError> {
    let project = ownership::project(&state, &principal, project_id).await?;
    let page = Paging {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let (items, total) = state
        .store
        .list_tokens(project.id, query.session_id, page)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ListResponse {
        items: items.into_iter().map(ColorView::from).collect(),
        total,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateColor {
    #[serde(default, deserialize_with = "nullable")]
    role: Option<Option<String>>,
    name: Option<String>,
    /// The token's new place (0-based) in its project's order.
    position: Option<i64>,
}

fn parse_role(raw: &str) -> Result<String, &'static str> {
    TokenRole::from_str(raw.trim())
        .map(|r| r.as_str().to_owned())
        .map_err(|_| {
            "must be one of primary, secondary, accent, success, error, warning, info, background, surface, text"
        })
}

pub async fn update_color(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateColor>,
) -> Result<Json<ColorView>, ApiError> {
    let token = ownership::color_token(&state, &principal, id).await?;
    let mut checks = Checks::default();
    let role = match &body.role {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => checks.check("role", parse_role(raw)).map(Some),
    };
    let name = match &body.name {
        Some(raw) => checks.check("name", validate::name(raw)),
        None => None,
    };
    let max_position = state.config.caps.tokens_per_project;
    if body
        .position
        .is_some_and(|p| !(0..max_position).contains(&p))
    {
        checks.check::<(), _>(
            "position",
            Err(format!("must be between 0 and {}", max_position - 1)),
        );
    }
    checks.finish()?;
    let change = TokenChange {
        role,
        name,
        position: body.position,
    };
    let updated = state
        .store
        .update_token(token.id, &change)
        .await?
        .ok_or(ApiError::NotFound)?;
    principal
        .record(
            &state.store,
            "color_update",
            Some(format!("color:{}", updated.id)),
            json!({
                "project_id": updated.project_id,
                "role": change.role.is_some(),
                "name": change.name.is_some(),
                "position": change.position,
            }),
        )
        .await;
    Ok(Json(ColorView::from(updated)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddColor {
    hex: String,
    name: Option<String>,
    role: Option<String>,
}

/// `POST /projects/{id}/colors`: a colour added by hand, at the end of the project's order.
pub async fn add_color(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddColor>,
) -> Result<Response, ApiError> {
    let project = ownership::project(&state, &principal, project_id).await?;
    let mut checks = Checks::default();
    let rgb = checks.check("hex", validate::hex(&body.hex));
    let name = match &body.name {
        Some(raw) => checks.check("name", validate::name(raw)),
        None => None,
    };
    let role = match &body.role {
        Some(raw) => checks.check("role", parse_role(raw)).map(Some),
        None => Some(None),
    };
    checks.finish()?;
    let (Some(rgb), Some(role)) = (rgb, role) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let mut color = copythat_core::annotate(rgb, 0.0);
    color.confidence = 1.0;
    let named = name.is_some();
    if let Some(name) = name {
        color.name = name;
    }
    let now = OffsetDateTime::now_utc();
    let mut record = record_of(color, project.id, Uuid::nil(), 0, now);
    record.role = role;
    let saved = state
        .store
        .add_token(&record, named, state.config.caps)
        .await?;
    principal
        .record(
            &state.store,
            "color_create",
            Some(format!("color:{}", saved.id)),
            json!({ "project_id": project.id, "hex": saved.hex }),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ColorView::from(saved))).into_response())
}

pub async fn delete_color(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let token = ownership::color_token(&state, &principal, id).await?;
    state
        .store
        .delete_token(token.id)
        .await
        .map_err(ApiError::internal)?;
    principal
        .record(
            &state.store,
            "color_delete",
            Some(format!("color:{}", token.id)),
            json!({ "project_id": token.project_id }),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: String,
    /// Export only the tokens of this extraction.
    session_id: Option<Uuid>,
}

/// `GET /projects/{id}/export?format=...`: the project's tokens as a file.
pub async fn export_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let project = ownership::project(&state, &principal, project_id).await?;
    let format = ExportFormat::from_str(query.format.trim()).map_err(|_| {
        ApiError::field(
            "format",
            "must be one of dtcg, dtcg-hex, css, scss, tailwind, tailwind4, style-dictionary",
        )
    })?;
    // A project holds at most the token cap, so one page of that size is all of it.
    let max_tokens = state.config.caps.tokens_per_project;
    let page = Page {
        limit: max_tokens,
        offset: 0,
    };
    let session = match query.session_id {
        Some(id) => {
            let session = ownership::session(&state, &principal, id).await?;
            if session.project_id != project.id {
                return Err(ApiError::field("session_id", "belongs to another project"));
            }
            Some(session.id)
        }
        None => None,
    };
    let (records, total) = state.store.list_tokens(project.id, session, page).await?;
    // An export that left tokens out without saying so would be worse than none (a
    // project filled before the cap was lowered).
    if total > max_tokens {
        return Err(ApiError::Unprocessable(format!(
            "the project holds {total} colour tokens and an export takes at most \
             {max_tokens}: delete some first"
        )));
    }
    let set_name = project.name.clone();
    // S18: naming and rendering thousands of tokens is CPU work: off the async threads.
    let body = state
        .exports
        .run(move || {
            let tokens: Vec<ExportToken> = records
                .into_iter()
                .map(|t| ExportToken {
                    role: t.role.as_deref().and_then(|r| TokenRole::from_str(r).ok()),
                    name: t.name,
                    hex: t.hex,
                    share: Some(t.share),
                })
                .collect();
            copythat_core::export(format, &set_name, &tokens)
        })
        .await?;
    let stem = match copythat_core::export::slug(&project.name) {
        s if s.is_empty() => "tokens".to_owned(),
        s => s,
    };
    let filename = format!("{stem}.{}", format.file_extension());
    let content_type = format!("{}; charset=utf-8", format.content_type());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).map_err(ApiError::internal)?,
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}
