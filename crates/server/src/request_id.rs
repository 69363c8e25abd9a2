//! Gives every request an id (a short safe incoming `X-Request-ID`, else a fresh one),
//! a tracing span that carries it, and the client address as S17 defines it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use tracing::Instrument;

use crate::app::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The address a request is attributed to for limits and audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([127, 0, 0, 1]))))
    }
}

/// An incoming id is kept only if it is short and made of `[A-Za-z0-9._-]`, so it can
/// go into logs and headers unescaped.
pub fn is_safe_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first
        .to_str()
        .ok()
        .filter(|v| is_safe_request_id(v))
        .map(str::to_owned)
}

/// S17: forwarding headers are believed only when the socket peer is a trusted proxy;
/// then the client is the right-most address in `X-Forwarded-For` that is not itself a
/// trusted proxy (the left part of the header is whatever the client chose to send).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    let peer = canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    // `X-Forwarded-For: a, b`, or else RFC 7239 `Forwarded: for=a, for="[b]:port"`.
    let (name, standard) = if headers.contains_key("x-forwarded-for") {
        ("x-forwarded-for", false)
    } else {
        ("forwarded", true)
    };
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for element in text.split(',') {
            let addr = if standard {
                let Some(node) = element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
                }) else {
                    continue;
                };
                parse_forwarded_addr(node.trim_matches('"'))
            } else {
                parse_forwarded_addr(element.trim())
            };
            match addr {
                Some(ip) => chain.push(canonical(ip)),
                None => return peer,
            }
        }
    }
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

fn parse_forwarded_addr(value: &str) -> Option<IpAddr> {
    value
        .parse::<IpAddr>()
        .ok()
        .or_else(|| value.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            value
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .and_then(|v| v.parse().ok())
        })
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = incoming_request_id(request.headers()).unwrap_or_else(new_request_id);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client_ip(peer, request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(RequestId(id.clone()));
    request.extensions_mut().insert(ClientIp(ip));

    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(status = response.status().as_u16(), "response");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s20_request_ids_must_be_short_and_safe() {
        assert!(is_safe_request_id("abc-123_X.y"));
        assert!(!is_safe_request_id(""));
        assert!(!is_safe_request_id(&"a".repeat(65)));
        assert!(!is_safe_request_id("a b"));
        assert!(!is_safe_request_id("<script>"));
        assert!(!is_safe_request_id("id\r\nx: y"));
    }

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn s17_forwarded_for_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &[]), peer);
    }

    #[test]
    fn s17_forwarded_for_believed_from_trusted_proxy_right_to_left() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client prepended a spoofed address; the proxy appended the real one.
        let got = client_ip(peer, &headers("6.6.6.6, 198.51.100.7, 10.0.0.3"), &trusted);
        assert_eq!(got, "198.51.100.7".parse::<IpAddr>().unwrap());
        // Garbage in the header: fall back to the peer rather than guess.
        assert_eq!(client_ip(peer, &headers("not-an-ip"), &trusted), peer);
    }

    #[test]
    fn s17_rfc7239_forwarded_is_read_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            HeaderValue::from_static(r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#),
        );
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let outsider: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(client_ip(outsider, &h, &trusted), outsider);
    }
}
