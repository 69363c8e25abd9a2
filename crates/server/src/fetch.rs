//! Fetches an image by URL so that the URL cannot be turned against the server's own
//! network (S14): each hop is parsed, resolved here, every address checked, and connected
//! to exactly as checked; redirects are followed by hand; the body is capped as it streams.
//!
//! The URL and address rules are `copythat_core::url_policy` (pure, fuzzed); this module
//! adds the resolver, the HTTP client and the limits. A client is told one thing about
//! every refusal or failure ([`PUBLIC_MESSAGE`]); the precise reason is in [`FetchError`].

mod resolve;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use copythat_core::url_policy::{Blocked, ImageUrl, UrlHost, UrlRefusal};
use ipnet::IpNet;
use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::config::Config;

/// Time to open a connection (and to resolve a name), per hop.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for the whole fetch: every hop, every lookup, the whole body.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_REDIRECTS: u8 = 3;

/// The one answer for every refused or failed fetch, so a client cannot tell a blocked
/// address from a closed port, a timeout or a missing file.
pub const PUBLIC_MESSAGE: &str = "the image URL is not allowed or the image could not be fetched";

/// What a [`Fetcher`] may do.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Ports a URL may name (explicitly or by its scheme's default).
    pub allowed_ports: Vec<u16>,
    /// Exceptions to the public-unicast rule (an internal image host; tests).
    pub allow_cidrs: Vec<IpNet>,
    /// Static host map consulted before the system resolver; its addresses are checked too.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    pub max_bytes: usize,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_redirects: u8,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allowed_ports: vec![80, 443],
            allow_cidrs: Vec::new(),
            resolve: BTreeMap::new(),
            max_bytes: 10 * 1024 * 1024,
            connect_timeout: CONNECT_TIMEOUT,
            total_timeout: TOTAL_TIMEOUT,
            max_redirects: MAX_REDIRECTS,
        }
    }
}

impl FetchPolicy {
    /// The policy the `COPYTHAT_FETCH_*` and `COPYTHAT_MAX_IMAGE_BYTES` settings describe.
    pub fn from_config(config: &Config) -> Self {
        Self {
            allowed_ports: config.fetch_allowed_ports.clone(),
            allow_cidrs: config.fetch_allow_cidrs.clone(),
            resolve: config.fetch_resolve.clone(),
            max_bytes: config.max_image_bytes,
            ..Self::default()
        }
    }
}

/// Where a fetch was when it stopped: the hop's host and port (never its path or query,
/// which may carry someone's credentials) and how many redirects led there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub host: String,
    pub port: u16,
    pub redirects: u8,
}

impl Hop {
    fn of(url: &ImageUrl, redirects: u8) -> Self {
        Self {
            host: url.host_str().to_owned(),
            port: url.port(),
            redirects,
        }
    }
}

/// The precise reason a fetch stopped, for logs and the audit trail only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchReason {
    #[error("URL refused: {0}")]
    Url(#[from] UrlRefusal),
    #[error("address {addr} refused: {blocked}")]
    Address { addr: IpAddr, blocked: Blocked },
    #[error("more than {0} redirects")]
    TooManyRedirects(u8),
    #[error("redirect without a readable Location")]
    BadRedirect,
    #[error("name not resolved: {0}")]
    Resolve(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("answered with status {0}")]
    Status(u16),
    #[error("encoding {0:?} refused (identity only)")]
    Encoding(String),
    #[error("declared length {declared} is over the {limit}-byte limit")]
    DeclaredTooLarge { declared: u64, limit: usize },
    #[error("body passed the {0}-byte limit")]
    TooLarge(usize),
    #[error("transfer failed: {0}")]
    Transfer(String),
    #[error("HTTP client unavailable: {0}")]
    Setup(String),
}

/// A refused or failed fetch: the reason and, once a URL parsed, the hop it stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    reason: FetchReason,
    hop: Option<Hop>,
}

impl FetchError {
    pub fn reason(&self) -> &FetchReason {
        &self.reason
    }

    pub fn hop(&self) -> Option<&Hop> {
        self.hop.as_ref()
    }

    /// True when the policy refused the fetch (scheme, userinfo, port, address,
    /// redirect count), false when it was allowed but failed.
    pub fn is_denied(&self) -> bool {
        matches!(
            self.reason,
            FetchReason::Url(_) | FetchReason::Address { .. } | FetchReason::TooManyRedirects(_)
        )
    }

    /// What a client may be told: the same for every reason.
    pub fn public_message(&self) -> &'static str {
        PUBLIC_MESSAGE
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        if let Some(hop) = &self.hop {
            write!(f, " (at {}:{}", hop.host, hop.port)?;
            if hop.redirects > 0 {
                write!(f, " after {} redirects", hop.redirects)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for FetchError {}

/// A fetched image and where it came from.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The hop that answered 200.
    pub hop: Hop,
}

/// Fetches images under a [`FetchPolicy`]. Build one per process and share it.
pub struct Fetcher {
    policy: FetchPolicy,
    /// rustls with the webpki roots (never the OS store), built once.
    tls: Result<rustls::ClientConfig, String>,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Self::with_roots(policy, roots)
    }

    /// A fetcher that trusts `roots` instead of the public ones (tests).
    fn with_roots(policy: FetchPolicy, roots: rustls::RootCertStore) -> Self {
        Self {
            policy,
            tls: tls_config(roots).map_err(|err| err.to_string()),
        }
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// The image at `url`, or why not.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.fetch_traced(url).await.map(|fetched| fetched.bytes)
    }

    /// [`Self::fetch`], also saying which hop answered.
    pub async fn fetch_traced(&self, url: &str) -> Result<Fetched, FetchError> {
        let mut hop = None;
        let outcome =
            tokio::time::timeout(self.policy.total_timeout, self.follow(url, &mut hop)).await;
        let reason = match outcome {
            Ok(Ok(fetched)) => return Ok(fetched),
            Ok(Err(reason)) => reason,
            Err(_) => FetchReason::Timeout(self.policy.total_timeout),
        };
        Err(FetchError { reason, hop })
    }

    async fn follow(&self, text: &str, at: &mut Option<Hop>) -> Result<Fetched, FetchReason> {
        let ports = &self.policy.allowed_ports;
        let mut url = ImageUrl::parse(text, ports)?;
        let mut redirects = 0;
        loop {
            *at = Some(Hop::of(&url, redirects));
            let addrs = resolve::addresses(&url, &self.policy).await?;
            let response = self.get(&url, &addrs).await?;
            let status = response.status().as_u16();
            match status {
                200 => {
                    let bytes = self.read_body(response).await?;
                    let hop = Hop::of(&url, redirects);
                    return Ok(Fetched { bytes, hop });
                }
                301 | 302 | 303 | 307 | 308 => {
                    if redirects >= self.policy.max_redirects {
                        return Err(FetchReason::TooManyRedirects(self.policy.max_redirects));
                    }
                    let location = response
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or(FetchReason::BadRedirect)?;
                    url = url.redirect(location, ports)?;
                    redirects += 1;
                }
                other => return Err(FetchReason::Status(other)),
            }
        }
    }

    /// One GET to `url`, connecting only to `addrs` (already checked).
    async fn get(
        &self,
        url: &ImageUrl,
        addrs: &[SocketAddr],
    ) -> Result<reqwest::Response, FetchReason> {
        let tls = self
            .tls
            .as_ref()
            .map_err(|e| FetchReason::Setup(e.clone()))?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .referer(false)
            .http1_only()
            .connect_timeout(self.policy.connect_timeout)
            .pool_max_idle_per_host(0)
            // A lookup the policy did not check must never happen: names are pinned below,
            // anything else fails.
            .dns_resolver(NoLookups)
            .tls_backend_preconfigured(tls.clone());
        if let UrlHost::Name(name) = url.host() {
            builder = builder.resolve_to_addrs(name, addrs);
        }
        let client = builder
            .build()
            .map_err(|err| FetchReason::Setup(error_chain(&err.without_url())))?;
        client
            .get(url.as_url().clone())
            .headers(request_headers())
            .send()
            .await
            .map_err(|err| FetchReason::Connect(error_chain(&err.without_url())))
    }

    /// The body of a 200, refused if encoded (a compressed body could expand past any
    /// limit) or declared too long, and cut as soon as it passes the byte limit.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchReason> {
        check_encodings(response.headers())?;
        let limit = self.policy.max_bytes;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limit as u64
        {
            return Err(FetchReason::DeclaredTooLarge { declared, limit });
        }
        let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| FetchReason::Transfer(error_chain(&err.without_url())))?
        {
            if chunk.len() > limit - bytes.len() {
                return Err(FetchReason::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

fn request_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("image/png, image/jpeg, image/webp, image/gif"),
    );
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers.insert(header::USER_AGENT, HeaderValue::from_static("copythat"));
    headers
}

/// Only `identity` content, sent plain or chunked: we asked for nothing else.
fn check_encodings(headers: &HeaderMap) -> Result<(), FetchReason> {
    let checks = [
        (header::CONTENT_ENCODING, &["identity"][..]),
        (header::TRANSFER_ENCODING, &["identity", "chunked"][..]),
    ];
    for (name, allowed) in checks {
        for value in headers.get_all(name) {
            let text = value.to_str().unwrap_or("(not text)");
            let bad = text
                .split(',')
                .map(str::trim)
                .any(|coding| !allowed.iter().any(|a| coding.eq_ignore_ascii_case(a)));
            if bad {
                return Err(FetchReason::Encoding(text.chars().take(64).collect()));
            }
        }
    }
    Ok(())
}

/// An error and its causes on one line (reqwest's own text leaves the causes out).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A resolver that resolves nothing: every name the client may use is pinned to its
/// checked addresses with `resolve_to_addrs`, and a literal address needs no lookup.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async { Err("only checked addresses are connected to".into()) })
    }
}

fn tls_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What a TLS upstream saw: the SNI name and the request head, per connection.
    type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

    /// A loopback HTTPS server presenting a certificate made for this test.
    async fn tls_upstream(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> (SocketAddr, Seen) {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![cert.cert.der().clone()];
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // A client that refuses the certificate ends the handshake: nothing to record.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let sni = tls.get_ref().1.server_name().map(str::to_owned);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                record.lock().unwrap().push((sni, head));
                let reply =
                    "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntls image";
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (addr, seen)
    }

    fn policy_for(addr: SocketAddr) -> FetchPolicy {
        FetchPolicy {
            allowed_ports: vec![addr.port()],
            allow_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
            resolve: BTreeMap::from([("images.test".to_owned(), vec![addr.ip()])]),
            ..FetchPolicy::default()
        }
    }

    fn trusting(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        roots
    }

    #[tokio::test]
    async fn s14_https_sends_the_name_as_sni_and_host_to_the_checked_address() {
        let cert = rcgen::generate_simple_self_signed(vec!["images.test".to_owned()]).unwrap();
        let (addr, seen) = tls_upstream(&cert).await;
        let url = format!("https://images.test:{}/logo.png?v=2", addr.port());
        let fetcher = Fetcher::with_roots(policy_for(addr), trusting(&cert));
        assert_eq!(fetcher.fetch(&url).await.unwrap(), b"tls image");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.as_deref(), Some("images.test"));
        let head = seen[0].1.to_ascii_lowercase();
        assert!(head.starts_with("get /logo.png?v=2 http/1.1\r\n"), "{head}");
        let host = format!("\r\nhost: images.test:{}\r\n", addr.port());
        assert!(head.contains(&host), "{head}");
    }

    #[tokio::test]
    async fn s14_https_refuses_an_untrusted_or_misnamed_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["images.test".to_owned()]).unwrap();
        let (addr, seen) = tls_upstream(&cert).await;
        let url = format!("https://images.test:{}/logo.png", addr.port());
        // The public roots do not know a certificate made a moment ago.
        let err = Fetcher::new(policy_for(addr))
            .fetch(&url)
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason(), FetchReason::Connect(why) if why.contains("UnknownIssuer")),
            "{err}"
        );
        assert!(!err.is_denied());
        // A trusted certificate for another name does not vouch for this one.
        let other = rcgen::generate_simple_self_signed(vec!["other.test".to_owned()]).unwrap();
        let (other_addr, other_seen) = tls_upstream(&other).await;
        let url = format!("https://images.test:{}/logo.png", other_addr.port());
        let err = Fetcher::with_roots(policy_for(other_addr), trusting(&other))
            .fetch(&url)
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason(), FetchReason::Connect(why) if why.contains("not valid for name")),
            "{err}"
        );
        assert!(seen.lock().unwrap().is_empty() && other_seen.lock().unwrap().is_empty());
    }

    #[test]
    fn s14_only_identity_content_is_taken() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(check_encodings(&headers(&[])).is_ok());
        assert!(check_encodings(&headers(&[("content-encoding", "identity")])).is_ok());
        assert!(check_encodings(&headers(&[("transfer-encoding", "chunked")])).is_ok());
        for (name, value) in [
            ("content-encoding", "gzip"),
            ("content-encoding", "identity, br"),
            ("transfer-encoding", "gzip, chunked"),
            ("transfer-encoding", "deflate"),
        ] {
            let refused = check_encodings(&headers(&[(name, value)]));
            assert!(
                matches!(refused, Err(FetchReason::Encoding(_))),
                "{name}: {value}"
            );
        }
    }
}
