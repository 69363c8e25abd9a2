//! Request extractors whose rejections are the project's own problem+json errors:
//! malformed JSON, wrong types, unknown fields and bad path or query values (S11, S19).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

const MAX_MESSAGE_LEN: usize = 200;

/// A JSON body. Requires `Content-Type: application/json`; reports the failing field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("the request body is too large".into())
            }
            _ => ApiError::body_read(&rejection),
        })
}

pub fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence[..essence.len() - 5].contains('/')
            && essence.to_ascii_lowercase().ends_with("+json"))
}

/// Parses JSON into `T`, naming the field that failed. Syntax errors are 400; a body that
/// parses but does not fit the type (wrong type, unknown or missing field) is 422.
/// Every request body is a JSON object: serde would also fill a struct from an array by
/// position, which no client means and which bypasses field names, so that is refused.
pub fn parse_json<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        _ => {
            return Err(ApiError::BadRequest(
                "the request body is not valid JSON".into(),
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::Validation(vec![FieldError::new(
                    field,
                    clean_message(&inner.to_string()),
                )])
            }
            _ => ApiError::BadRequest("the request body is not valid JSON".into()),
        }
    })?;
    de.end()
        .map_err(|_| ApiError::BadRequest("the request body is not valid JSON".into()))?;
    Ok(value)
}

/// serde's messages are useful ("unknown field `roles`") but speak Rust and may quote
/// input: positions are stripped, Rust type names become plain words, every quoted piece
/// of input is cut to a short prefix, and the whole stays short (S11, S19).
fn clean_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // The uuid crate's own wording is not for clients.
    if message.starts_with("UUID parsing failed") {
        return "must be a UUID".to_owned();
    }
    let message = ["expected struct ", "expected enum "]
        .iter()
        .find_map(|marker| message.find(marker).map(|i| (i, *marker)))
        .map_or_else(
            || message.to_owned(),
            |(i, marker)| {
                let wanted = if marker.contains("struct") {
                    "expected an object"
                } else {
                    "expected one of the allowed values"
                };
                format!("{}{wanted}", &message[..i])
            },
        );
    let message = plain_type_names(&message);
    let message = shorten_quoted(&message);
    let mut cleaned: String = message.chars().filter(|c| !c.is_control()).collect();
    if cleaned.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !cleaned.is_char_boundary(cut) {
            cut -= 1;
        }
        cleaned.truncate(cut);
        cleaned.push('…');
    }
    cleaned
}

/// `expected i64` and friends, in words.
fn plain_type_names(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number"),
        ("u32", "a whole number"),
        ("u64", "a whole number"),
        ("u128", "a whole number"),
        ("usize", "a whole number"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("i128", "a whole number"),
        ("isize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a sequence", "a list"),
        ("a map", "an object"),
        ("unit", "null"),
    ];
    let mut out = message.to_owned();
    for (rust, plain) in WORDS {
        for lead in ["expected ", "expected a "] {
            let from = format!("{lead}{rust}");
            if let Some(i) = out.find(&from) {
                let end = i + from.len();
                let at_word_end = out[end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric());
                if at_word_end {
                    out.replace_range(i..end, &format!("expected {plain}"));
                }
            }
        }
    }
    out
}

/// Input quoted in a message (`"..."` or `` `...` ``) is cut to a short prefix.
fn shorten_quoted(message: &str) -> String {
    const MAX_QUOTED: usize = 32;
    let mut out = String::with_capacity(message.len().min(256));
    let mut quote: Option<char> = None;
    let mut inside = 0usize;
    for c in message.chars() {
        match quote {
            None if c == '"' || c == '`' => {
                quote = Some(c);
                inside = 0;
                out.push(c);
            }
            None => out.push(c),
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => {
                inside += 1;
                if inside <= MAX_QUOTED {
                    out.push(c);
                } else if inside == MAX_QUOTED + 1 {
                    out.push('…');
                }
            }
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body (the OAuth2 password form).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiForm<T>(pub T);

impl<S, T> FromRequest<S> for ApiForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/x-www-form-urlencoded".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_urlencoded(&bytes, "body").map(ApiForm)
    }
}

fn parse_urlencoded<T: DeserializeOwned>(bytes: &[u8], whole: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let field = if field == "." {
            whole.to_owned()
        } else {
            field
        };
        ApiError::Validation(vec![FieldError::new(
            field,
            clean_message(&err.into_inner().to_string()),
        )])
    })
}

/// A path parameter; a value that does not parse (say, an id that is not a UUID) cannot
/// name an existing resource, so it answers 404 like any missing one.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Query parameters, with unknown or mistyped ones reported as a 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                let field = if field == "." {
                    "query".to_owned()
                } else {
                    field
                };
                ApiError::Validation(vec![FieldError::new(
                    field,
                    clean_message(&err.into_inner().to_string()),
                )])
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: u8,
    }

    #[test]
    fn s19_syntax_error_is_400_and_data_error_is_422_with_field() {
        assert!(matches!(
            parse_json::<Sample>(b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
        match parse_json::<Sample>(br#"{"name":"a","count":"x"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "count"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<Sample>(br#"{"name":"a","count":1,"roles":["admin"]}"#) {
            Err(ApiError::Validation(errors)) => assert!(errors[0].message.contains("roles")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_json::<Sample>(br#"{"name":"a","count":1} trailing"#),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn s19_messages_speak_plain_words_and_quote_little() {
        let Err(ApiError::Validation(errors)) =
            parse_json::<Sample>(br#"{"name":"a","count":3.0}"#)
        else {
            panic!("expected a validation error");
        };
        let message = &errors[0].message;
        assert!(
            !message.contains("u8") && !message.contains("f64"),
            "{message}"
        );
        assert!(message.contains("a whole number"), "{message}");

        let long_key = "k".repeat(5000);
        let body = format!(r#"{{"name":"a","count":1,"{long_key}":1}}"#);
        let Err(ApiError::Validation(errors)) = parse_json::<Sample>(body.as_bytes()) else {
            panic!("expected a validation error");
        };
        assert!(errors[0].message.len() < 120, "{}", errors[0].message);
        assert!(
            errors[0].message.contains("unknown field"),
            "{}",
            errors[0].message
        );
        let huge = crate::error::FieldError::new("f".repeat(5_000_000), "unknown field");
        assert!(huge.field.chars().count() <= crate::error::MAX_FIELD_NAME + 1);
    }

    #[test]
    fn messages_are_short_and_without_positions() {
        let long = format!(
            "invalid type: string \"{}\" at line 1 column 9",
            "x".repeat(500)
        );
        let cleaned = clean_message(&long);
        assert!(cleaned.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
        assert!(!cleaned.contains("line 1"));
    }

    #[test]
    fn s10_bodies_must_be_objects_not_positional_arrays() {
        for body in [&br#"["a", 3]"#[..], b" null", b"1", b"\"a\"", b"true"] {
            match parse_json::<Sample>(body) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors[0].field, "body");
                    assert_eq!(errors[0].message, "must be a JSON object");
                }
                other => panic!("{:?} accepted or misreported: {other:?}", body),
            }
        }
        assert!(matches!(
            parse_json::<Sample>(b""),
            Err(ApiError::BadRequest(_))
        ));
        assert!(parse_json::<Sample>(br#" {"name":"a","count":3}"#).is_ok());
    }

    #[test]
    fn s19_messages_do_not_name_internal_types() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Sample,
            id: uuid::Uuid,
        }
        let Err(ApiError::Validation(errors)) =
            parse_json::<Outer>(br#"{"inner": 5, "id": "00000000-0000-0000-0000-000000000000"}"#)
        else {
            panic!("expected a validation error");
        };
        assert!(
            !errors[0].message.contains("Sample"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0].message.contains("expected an object"),
            "{}",
            errors[0].message
        );

        let Err(ApiError::Validation(errors)) =
            parse_json::<Outer>(br#"{"inner": {"name":"a","count":1}, "id": "nope"}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "id");
        assert_eq!(errors[0].message, "must be a UUID");
    }
}
