//! Design drift checks: does a screenshot keep to a project's colour tokens? The image
//! arrives as for an extraction (upload, base64 or URL, the same limits, upload slot,
//! decode budget and quota: S12-S14, S18); the report names the off-palette colours and
//! their nearest tokens, and the mask of off-palette pixels is kept for the owner (S8).

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use copythat_core::PaletteColor;
use copythat_core::check::MAX_PALETTE_COLORS;
use copythat_core::url_policy::MAX_URL_LEN;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::colors::{
    ImageSource, base64_error, engine_error, fetch_image, image_url, multipart_error, read_body,
    read_limited, text_field,
};
use super::ownership;
use super::projects::ImageView;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiPath, is_json_content_type, parse_json};
use crate::intake::decode_base64;
use crate::request_id::ClientIp;
use crate::routes::EXTRACT_BODY_LIMIT;
use crate::store::{ColorTokenRecord, DriftCheck, Page};
use crate::validate::Checks;

/// The latest checks kept per project, with their masks; older ones are dropped when a
/// new one is stored (S18: a mask can be megabytes).
pub const CHECKS_KEPT_PER_PROJECT: i64 = 20;

/// The JSON form of a check request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckJson<'a> {
    image_url: Option<String>,
    #[serde(borrow)]
    image_base64: Option<std::borrow::Cow<'a, str>>,
    tolerance: Option<f64>,
}

struct CheckInput {
    tolerance: f64,
    image: ImageSource,
}

fn tolerance(value: Option<f64>) -> Result<f64, ApiError> {
    match value {
        None => Ok(copythat_core::DEFAULT_TOLERANCE),
        Some(t) if t > 0.0 && t <= 1.0 => Ok(t),
        Some(_) => Err(ApiError::field(
            "tolerance",
            "must be above 0 and at most 1 (an OKLab distance)",
        )),
    }
}

fn from_json(bytes: &[u8], max_image_bytes: usize) -> Result<CheckInput, ApiError> {
    let body: CheckJson<'_> = parse_json(bytes)?;
    let tolerance = tolerance(body.tolerance)?;
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
    Ok(CheckInput { tolerance, image })
}

async fn from_multipart(
    mut form: Multipart,
    max_image_bytes: usize,
) -> Result<CheckInput, ApiError> {
    let mut image = None;
    let mut url = None;
    let mut given_tolerance = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let duplicate = || ApiError::field(&name, "appears more than once");
        match name.as_str() {
            "image" if image.is_none() => {
                image = Some(read_limited(field, max_image_bytes, "image").await?);
            }
            "image_url" if url.is_none() => {
                let bytes = read_limited(field, MAX_URL_LEN, "image_url").await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::field("image_url", "must be UTF-8 text"))?;
                url = Some(text);
            }
            "tolerance" if given_tolerance.is_none() => {
                let text = text_field(field).await?;
                let value = text.trim().parse::<f64>().map_err(|_| {
                    ApiError::field("tolerance", "must be a number above 0 and at most 1")
                })?;
                given_tolerance = Some(value);
            }
            "image" | "image_url" | "tolerance" => return Err(duplicate()),
            _ => return Err(ApiError::field(&name, "unknown field")),
        }
    }
    let tolerance = tolerance(given_tolerance)?;
    let mut checks = Checks::default();
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
    Ok(CheckInput {
        tolerance,
        image: source.unwrap_or(ImageSource::Bytes(Vec::new())),
    })
}

#[derive(Serialize)]
struct TokenRef {
    id: Uuid,
    name: String,
    hex: String,
}

#[derive(Serialize)]
struct TokenShare {
    id: Uuid,
    name: String,
    hex: String,
    share: f64,
}

#[derive(Serialize)]
struct OffPaletteView {
    hex: String,
    share: f64,
    nearest: TokenRef,
    distance: f64,
}

#[derive(Serialize)]
struct CheckResponse {
    score: f64,
    tolerance: f64,
    tokens: Vec<TokenShare>,
    off_palette: Vec<OffPaletteView>,
    mask_id: Uuid,
    image: ImageView,
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// The project's tokens in their curated order: the palette a screen is checked against.
async fn palette_of(state: &AppState, project_id: Uuid) -> Result<Vec<ColorTokenRecord>, ApiError> {
    let page = Page {
        limit: MAX_PALETTE_COLORS as i64,
        offset: 0,
    };
    let (tokens, total) = state.store.list_tokens(project_id, None, page).await?;
    if total == 0 {
        return Err(ApiError::Unprocessable(
            "the project has no colour tokens to check against: extract or add some first".into(),
        ));
    }
    if total > MAX_PALETTE_COLORS as i64 {
        return Err(ApiError::Unprocessable(format!(
            "the project holds {total} colour tokens and a check compares at most \
             {MAX_PALETTE_COLORS}: delete some first"
        )));
    }
    Ok(tokens)
}

/// `POST /projects/{id}/check`: JSON with `image_base64` or `image_url` (and `tolerance`),
/// or a multipart form with an `image` file or an `image_url` field (and `tolerance`).
pub async fn check_project(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(client_ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    request: Request,
) -> Result<Response, ApiError> {
    let max_image_bytes = state.config.max_image_bytes;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Ownership first: nobody uploads, or makes the server fetch, for someone else's
    // project (S8, S14).
    let project = ownership::project(&state, &principal, id).await?;
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
    let tokens = palette_of(&state, project.id).await?;

    let limits = copythat_core::Limits {
        max_bytes: max_image_bytes,
        max_pixels: state.config.max_image_pixels,
        ..copythat_core::Limits::default()
    };
    let (image, source) = match input.image {
        ImageSource::Bytes(bytes) => (bytes, "upload"),
        ImageSource::Url(url) => {
            let fetched = fetch_image(&state, &principal, project.id, &url).await?;
            (fetched.bytes, "url")
        }
    };
    let palette: Vec<PaletteColor> = tokens
        .iter()
        .map(|t| PaletteColor {
            name: t.name.clone(),
            hex: t.hex.clone(),
        })
        .collect();
    let tolerance = input.tolerance;
    let started = std::time::Instant::now();
    let (report, format, mask) = state
        .images
        .run(image, limits, move |img| {
            let report = copythat_core::check(&img, &palette, tolerance)?;
            let mask = report.mask_png();
            Ok((report, img.format, mask))
        })
        .await?
        .map_err(engine_error)?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if mask.is_empty() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the mask could not be encoded"
        )));
    }

    let check = DriftCheck {
        id: Uuid::now_v7(),
        project_id: project.id,
        score: report.score,
        mask,
        created_at: OffsetDateTime::now_utc(),
    };
    state
        .store
        .insert_check(&check, CHECKS_KEPT_PER_PROJECT)
        .await?;

    let token_ref = |i: usize| TokenRef {
        id: tokens[i].id,
        name: tokens[i].name.clone(),
        hex: tokens[i].hex.clone(),
    };
    let response = CheckResponse {
        score: round(report.score, 2),
        tolerance: report.tolerance,
        tokens: report
            .tokens
            .iter()
            .map(|t| TokenShare {
                id: tokens[t.index].id,
                name: tokens[t.index].name.clone(),
                hex: tokens[t.index].hex.clone(),
                share: round(t.share, 6),
            })
            .collect(),
        off_palette: report
            .off_palette
            .iter()
            .map(|o| OffPaletteView {
                hex: o.hex.clone(),
                share: round(o.share, 6),
                nearest: token_ref(o.nearest),
                distance: round(o.distance, 4),
            })
            .collect(),
        mask_id: check.id,
        image: ImageView {
            width: i64::from(report.width),
            height: i64::from(report.height),
            format: format.as_str().to_owned(),
        },
    };
    principal
        .record(
            &state.store,
            "drift_check",
            Some(format!("check:{}", check.id)),
            json!({
                "project_id": project.id,
                "source": source,
                "score": response.score,
                "off_palette": response.off_palette.len(),
                "width": report.width,
                "height": report.height,
                "millis": elapsed_ms,
            }),
        )
        .await;
    let location = format!("/api/v1/checks/{}/mask", check.id);
    let mut response = (StatusCode::CREATED, Json(response)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// `GET /checks/{id}/mask`: the PNG of off-palette pixels of one of the caller's checks
/// (magenta where off palette, transparent elsewhere; the image's size).
pub async fn check_mask(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let png = ownership::check_mask(&state, &principal, id).await?;
    let mut response = png.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("inline; filename=\"mask-{id}.png\""))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}
