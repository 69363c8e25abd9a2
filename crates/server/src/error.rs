//! The one error type handlers return, and its RFC 9457 problem+json rendering.
//! Bodies carry a request id and never internals; 5xx causes go to the log only (S19).

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::request_id::RequestId;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field-level validation message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Longest field name an error repeats: a field name can come from the client (an
/// unknown multipart part), and an error is not an echo service (S11, S19).
pub const MAX_FIELD_NAME: usize = 64;

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: shorten(&field.into(), MAX_FIELD_NAME),
            message: message.into(),
        }
    }
}

/// At most `max` characters of `text`, control characters dropped, `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().filter(|c| !c.is_control()).nth(max).is_some() {
        out.push('…');
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    /// A failed login: one answer for an unknown email and a wrong password (S5).
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The request body stopped arriving or came too slowly (S18).
    #[error("request body too slow")]
    BodyTooSlow,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// An unexpected failure, except a store failure the client can be told about (a
    /// vanished parent, a cap, contention: see `From<StoreError>`).
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        match err.into().downcast::<crate::store::StoreError>() {
            Ok(store) => Self::from(store),
            Err(err) => Self::Internal(err),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTooSlow => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) | Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Store failures a client can be told about keep their meaning; the rest are internal.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            // A write whose parent vanished meanwhile: as if the request came a moment later.
            StoreError::MissingParent => Self::NotFound,
            StoreError::Conflict => {
                Self::Conflict("the request conflicts with an existing record".into())
            }
            StoreError::CapReached(cap) => Self::Unprocessable(format!("{cap}: delete some first")),
            StoreError::Refused(reason) => Self::Conflict(reason),
            StoreError::Busy(err) => {
                tracing::warn!(error = %err, "database busy after retries");
                Self::Unavailable
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// What a client may learn about an error. Rendered by [`render_problems`], which adds
/// the request id; handlers never build bodies themselves.
#[derive(Debug, Clone)]
pub struct Problem {
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// A request body that could not be read: too slow (408), too large (413) or broken
    /// off (400).
    pub fn body_read(err: &(dyn std::error::Error + 'static)) -> Self {
        if crate::serve::body_rate::is_too_slow(err) {
            return Self::BodyTooSlow;
        }
        let mut current = Some(err);
        while let Some(e) = current {
            if e.is::<http_body_util::LengthLimitError>() {
                return Self::PayloadTooLarge("the request body is too large".into());
            }
            current = e.source();
        }
        Self::BadRequest("the request body could not be read".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            // Busy, not broken: a client may try again shortly.
            Self::Unavailable => Some(5),
            _ => None,
        };
        let (detail, errors) = match self {
            Self::Internal(err) => {
                // Logged inside the request span, so the line carries the request id.
                tracing::error!(error = format!("{err:#}"), "internal error");
                ("internal error".to_owned(), Vec::new())
            }
            Self::Validation(errors) => ("the request has invalid fields".to_owned(), errors),
            Self::Unauthorized => ("authentication required".to_owned(), Vec::new()),
            Self::InvalidCredentials => ("invalid email or password".to_owned(), Vec::new()),
            Self::NotFound => ("resource not found".to_owned(), Vec::new()),
            Self::TooManyRequests { .. } => ("rate limit exceeded".to_owned(), Vec::new()),
            Self::Unavailable => ("service unavailable".to_owned(), Vec::new()),
            Self::BodyTooSlow => (
                "the request body arrived too slowly; send it again at a steady rate".to_owned(),
                Vec::new(),
            ),
            Self::BadRequest(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::PayloadTooLarge(d)
            | Self::UnsupportedMediaType(d)
            | Self::Unprocessable(d) => (d, Vec::new()),
        };
        let mut response = status.into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(Problem { detail, errors });
        response
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

/// Turns every error response into problem+json with the request id: ours (from the
/// [`Problem`] extension) and those made by axum or tower layers (404, 405, 413, timeouts,
/// caught panics), whose bodies are replaced so nothing from a library reaches a client.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = response.extensions_mut().remove::<Problem>();
    let (detail, errors) = match problem {
        // A 5xx says nothing about its cause, whoever produced it.
        _ if status.is_server_error() => (default_detail(status).to_owned(), Vec::new()),
        Some(p) => (p.detail, p.errors),
        None => (default_detail(status).to_owned(), Vec::new()),
    };
    let body = ProblemBody {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: &detail,
        request_id: &request_id,
        errors: &errors,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_ENCODING);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    *response.body_mut() = axum::body::Body::from(json);
    response
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "resource not found",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::REQUEST_TIMEOUT => "the request took too long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
        StatusCode::UNAUTHORIZED => "authentication required",
        StatusCode::SERVICE_UNAVAILABLE => "service unavailable, try again later",
        StatusCode::TOO_MANY_REQUESTS => "rate limit exceeded",
        s if s.is_server_error() => "internal error",
        _ => "the request could not be processed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s18_a_busy_answer_says_when_to_retry() {
        let response = ApiError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn s19_store_errors_keep_their_meaning_and_the_rest_is_internal() {
        use crate::store::{Cap, StoreError};
        let status = |err: StoreError| ApiError::internal(err).status();
        assert_eq!(status(StoreError::MissingParent), StatusCode::NOT_FOUND);
        assert_eq!(status(StoreError::Conflict), StatusCode::CONFLICT);
        assert_eq!(
            status(StoreError::CapReached(Cap::Tokens(5000))),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(StoreError::Busy(sqlx::Error::PoolTimedOut)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(StoreError::Database(sqlx::Error::RowNotFound)),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(matches!(
            ApiError::internal(anyhow::anyhow!("anything else")),
            ApiError::Internal(_)
        ));
    }
}
