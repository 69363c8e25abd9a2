//! The web page's sign-in: the refresh token as an `HttpOnly` cookie instead of a JSON field,
//! so page script never holds a long-lived credential, with the CSRF checks that cookie needs (S4).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::config::{Config, Environment};
use crate::error::ApiError;
use crate::extract::{is_json_content_type, parse_json};

pub const COOKIE_NAME: &str = "copythat_refresh";
/// Only the auth routes ever see the cookie.
pub const COOKIE_PATH: &str = "/api/v1/auth";
/// The header the page sends to ask for (and to use) the cookie. A cross-site form cannot
/// set a header, and CORS does not allow this one, so its presence proves the request came
/// from a same-origin script: it is the CSRF defence of every cookie-driven request.
pub const SESSION_HEADER: &str = "x-copythat-session";
pub const SESSION_HEADER_VALUE: &str = "cookie";

/// The `Set-Cookie` value carrying `token` for `max_age_secs`.
pub fn set_cookie(config: &Config, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if config.env == Environment::Local {
        ""
    } else {
        "; Secure"
    };
    let value = format!(
        "{COOKIE_NAME}={token}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age_secs.max(0)
    );
    // A JWT is base64url and dots: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| clear_cookie(config))
}

/// The `Set-Cookie` value that makes the browser forget the cookie.
pub fn clear_cookie(config: &Config) -> HeaderValue {
    let secure = if config.env == Environment::Local {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// Adds the cookie for a freshly issued refresh token, living as long as the token.
pub fn attach(config: &Config, response: &mut Response, token: &str, expires_at: OffsetDateTime) {
    let max_age = (expires_at - OffsetDateTime::now_utc()).whole_seconds();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(config, token, max_age));
}

/// A cookie-driven answer that failed also drops the cookie: it can never work again.
pub fn clear_on_failure(
    config: &Config,
    by_cookie: bool,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    match result {
        Err(err) if by_cookie => {
            let mut response = err.into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_cookie(config));
            Ok(response)
        }
        other => other,
    }
}

fn forbidden(reason: &str) -> ApiError {
    ApiError::Forbidden(reason.to_owned())
}

/// The CSRF checks of a cookie-driven request: the custom header, then, when the browser
/// sent them, `Sec-Fetch-Site` and `Origin` must both say the page's own origin.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let marker: Vec<_> = headers.get_all(SESSION_HEADER).iter().collect();
    if marker.len() != 1 || marker[0] != SESSION_HEADER_VALUE {
        return Err(forbidden(
            "a cookie session needs the X-Copythat-Session: cookie header",
        ));
    }
    let mut sites = headers.get_all("sec-fetch-site").iter();
    if let Some(site) = sites.next()
        && (site != "same-origin" || sites.next().is_some())
    {
        return Err(forbidden(
            "cross-site requests cannot use the session cookie",
        ));
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    if let Some(origin) = origins.next() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin.to_str().ok().and_then(|o| {
            o.strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
        });
        let same = match (authority, host) {
            (Some(a), Some(h)) => origins.next().is_none() && a.eq_ignore_ascii_case(h),
            _ => false,
        };
        if !same {
            return Err(forbidden(
                "cross-site requests cannot use the session cookie",
            ));
        }
    }
    Ok(())
}

/// The first `copythat_refresh` value in the request's cookies; browsers send the one with
/// the most specific path first.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether a sign-in asked for the cookie. Asking is a same-origin act too: a cross-site page
/// must not be able to sign a browser into the attacker's account (login CSRF).
pub struct WantsCookie(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for WantsCookie {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(SESSION_HEADER) {
            return Ok(Self(false));
        }
        check_same_origin(&parts.headers)?;
        Ok(Self(true))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// Where a refresh or logout found its refresh token: the JSON body (API clients, as before)
/// or, when the body names none, the cookie, after the CSRF checks.
pub enum RefreshInput {
    Body(String),
    Cookie(String),
}

impl RefreshInput {
    pub fn token(&self) -> &str {
        match self {
            Self::Body(token) | Self::Cookie(token) => token,
        }
    }

    pub fn by_cookie(&self) -> bool {
        matches!(self, Self::Cookie(_))
    }
}

impl<S: Send + Sync> FromRequest<S> for RefreshInput {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge("the request body is too large".into())
                }
                _ => ApiError::BadRequest("the request body could not be read".into()),
            }
        })?;
        let body_token = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else if is_json_content_type(&headers) {
            parse_json::<RefreshBody>(&bytes)?.refresh_token
        } else {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        };
        if let Some(token) = body_token {
            return Ok(Self::Body(token));
        }
        // Neither a token nor any sign of the cookie flow: the JSON API's own answer.
        if !headers.contains_key(SESSION_HEADER) && !headers.contains_key(header::COOKIE) {
            return Err(ApiError::field("refresh_token", "is required"));
        }
        check_same_origin(&headers)?;
        cookie_token(&headers)
            .map(Self::Cookie)
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const MARKED: (&str, &str) = (SESSION_HEADER, SESSION_HEADER_VALUE);

    #[test]
    fn s4_same_origin_requests_with_the_header_pass() {
        assert!(check_same_origin(&headers(&[MARKED])).is_ok());
        assert!(
            check_same_origin(&headers(&[
                MARKED,
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ]))
            .is_ok()
        );
        assert!(
            check_same_origin(&headers(&[
                MARKED,
                ("host", "Tokens.Example.com"),
                ("origin", "https://tokens.example.com"),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn s4_cookie_requests_without_the_header_or_from_elsewhere_are_refused() {
        for refused in [
            headers(&[]),
            headers(&[(SESSION_HEADER, "yes")]),
            headers(&[MARKED, MARKED]),
            headers(&[MARKED, ("sec-fetch-site", "same-site")]),
            headers(&[MARKED, ("sec-fetch-site", "cross-site")]),
            headers(&[MARKED, ("host", "a.example"), ("origin", "null")]),
            headers(&[
                MARKED,
                ("host", "a.example"),
                ("origin", "https://b.example"),
            ]),
            headers(&[
                MARKED,
                ("host", "a.example"),
                ("origin", "https://a.example.evil"),
            ]),
            headers(&[MARKED, ("origin", "https://a.example")]),
            headers(&[
                MARKED,
                ("host", "a.example"),
                ("origin", "https://a.example"),
                ("origin", "https://b.example"),
            ]),
        ] {
            assert!(
                matches!(check_same_origin(&refused), Err(ApiError::Forbidden(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_refresh_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "theme=dark; copythat_refresh=abc.def.ghi; x=1")]);
        assert_eq!(cookie_token(&map).as_deref(), Some("abc.def.ghi"));
        assert_eq!(
            cookie_token(&headers(&[("cookie", "copythat_refresh=")])),
            None
        );
        assert_eq!(cookie_token(&headers(&[("cookie", "other=1")])), None);
    }
}
