//! S14 over real HTTP: images fetched by URL from loopback servers that the configuration
//! makes reachable (COPYTHAT_FETCH_ALLOW_CIDRS, _RESOLVE, _ALLOWED_PORTS), and every way a
//! URL could lead somewhere it must not, refused before any connection is made.
//!
//! Each test gets an upstream on 127.0.0.1 (allowed) and a second listener on 127.0.0.2,
//! which stands for an internal service: loopback, so never allowed. Addresses outside
//! loopback appear only as resolver entries that must be refused; no traffic goes there.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use copythat_core::synth;
use copythat_server::store::AuditEvent;
use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::*;

/// What the generic refusal says, whatever the reason (one text for all, S14).
const REFUSED: &str = "the image URL is not allowed or the image could not be fetched";

/// What an upstream answers on one path.
#[derive(Clone)]
enum Reply {
    /// These bytes as the whole response, then the connection is closed.
    Raw(Vec<u8>),
    /// A 200 with no declared length, then zeros for as long as the client reads.
    Endless,
    /// A 200 declaring `n` bytes, then one byte a second.
    Trickle(usize),
}

impl Reply {
    fn ok(content_type: &str, body: &[u8]) -> Self {
        let mut raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        Self::Raw(raw)
    }

    fn redirect(status: u16, location: &str) -> Self {
        Self::Raw(
            format!(
                "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
            .into_bytes(),
        )
    }

    fn with_head(head: &str, body: &[u8]) -> Self {
        let mut raw = head.replace('\n', "\r\n").into_bytes();
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        Self::Raw(raw)
    }
}

type Routes = Arc<Mutex<HashMap<String, Reply>>>;

/// One listening socket and the peers it accepted, in order.
struct Listener {
    addr: SocketAddr,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    probes: Mutex<Vec<SocketAddr>>,
    accepted: Arc<Notify>,
}

impl Listener {
    async fn bind(ip: &str, routes: Routes, heads: Arc<Mutex<Vec<String>>>) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Notify::new());
        let (seen, notify) = (peers.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer);
                notify.notify_waiters();
                tokio::spawn(answer(stream, routes.clone(), heads.clone()));
            }
        });
        Self {
            addr,
            peers,
            probes: Mutex::new(Vec::new()),
            accepted,
        }
    }

    /// Connections accepted so far, not counting our own probes. A probe connection is
    /// made and waited for: a listener accepts in arrival order, so once the probe is
    /// seen every connection made before it has been counted too. No sleeping.
    async fn connections(&self) -> usize {
        let probe = TcpStream::connect(self.addr).await.unwrap();
        let me = probe.local_addr().unwrap();
        self.probes.lock().unwrap().push(me);
        loop {
            let notified = self.accepted.notified();
            {
                let peers = self.peers.lock().unwrap();
                if let Some(at) = peers.iter().position(|p| *p == me) {
                    let probes = self.probes.lock().unwrap();
                    return peers[..at].iter().filter(|p| !probes.contains(p)).count();
                }
            }
            notified.await;
        }
    }
}

/// Reads one request head, records it, and answers from the route table by path (the
/// query is ignored), 404 otherwise.
async fn answer(mut stream: TcpStream, routes: Routes, heads: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or_default().to_owned();
    heads.lock().unwrap().push(head);
    let reply = routes.lock().unwrap().get(&path).cloned();
    let reply = reply
        .unwrap_or_else(|| Reply::with_head("HTTP/1.1 404 Not Found\nContent-Length: 0\n", b""));
    match reply {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Endless => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let zeros = vec![0u8; 64 * 1024];
            while stream.write_all(&zeros).await.is_ok() {}
        }
        Reply::Trickle(n) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {n}\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..n {
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The loopback servers of one test.
struct Upstream {
    /// 127.0.0.1: allowed by the test configuration.
    main: Listener,
    /// 127.0.0.2: loopback and not allowed, an internal service to protect.
    internal: Listener,
    /// A port nothing listens on (bound once, then released).
    closed_port: u16,
    routes: Routes,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    async fn start() -> Self {
        let routes: Routes = Arc::default();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let main = Listener::bind("127.0.0.1", routes.clone(), heads.clone()).await;
        let internal = Listener::bind("127.0.0.2", routes.clone(), heads.clone()).await;
        let closed_port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let up = Self {
            main,
            internal,
            closed_port,
            routes,
            heads,
        };
        up.route("/brand.png", Reply::ok("image/png", &brand_png()));
        up
    }

    fn route(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    fn port(&self) -> u16 {
        self.main.addr.port()
    }

    /// `http://images.test:<port><path>`: a name the resolver map sends to 127.0.0.1.
    fn url(&self, path: &str) -> String {
        format!("http://images.test:{}{path}", self.port())
    }

    fn internal_url(&self, path: &str) -> String {
        format!("http://internal.test:{}{path}", self.internal.addr.port())
    }

    /// The configuration that makes 127.0.0.1 (only) reachable on this test's ports.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("COPYTHAT_FETCH_ALLOW_CIDRS", "127.0.0.1/32".into()),
            (
                "COPYTHAT_FETCH_ALLOWED_PORTS",
                format!(
                    "{},{},{}",
                    self.port(),
                    self.internal.addr.port(),
                    self.closed_port
                ),
            ),
            (
                "COPYTHAT_FETCH_RESOLVE",
                "images.test=127.0.0.1; internal.test=127.0.0.2; \
                 mixed.test=127.0.0.1,127.0.0.2; private.test=10.0.0.1; \
                 metadata.test=169.254.169.254; cgnat.test=100.64.0.1; v6.test=::1; \
                 mapped.test=::ffff:127.0.0.2; nat64.test=64:ff9b::a00:1; ula.test=fd00::1"
                    .into(),
            ),
        ]
    }

    fn requests(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Declares each test twice, on SQLite and PostgreSQL, with an [`Upstream`] started before
/// the app so the app's configuration can name its ports (`config` defaults to
/// `upstream.env()`).
macro_rules! with_upstream {
    ($(async fn $name:ident($app:ident, $up:ident $(, config = $cfg:expr)?) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run(backend: Backend) {
                    let $up = Upstream::start().await;
                    #[allow(unused_mut, unused_assignments)]
                    let mut config: Vec<(&'static str, String)> = $up.env();
                    $(config = $cfg;)?
                    let pairs: Vec<(&str, &str)> =
                        config.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let Some($app) = spawn_app_with(backend, &pairs).await else {
                        return;
                    };
                    $body
                }

                #[tokio::test]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A PNG of vertical stripes: white page, dark text colour and a small brand accent.
fn brand_png() -> Vec<u8> {
    synth::encode_png(&synth::stripes(
        48,
        &[
            ([250, 250, 250], 60),
            ([31, 41, 55], 30),
            ([220, 38, 38], 10),
        ],
    ))
}

/// A real small PNG whose header is rewritten to declare `w` x `h` pixels: a decompression
/// bomb's shape, to be refused from the header.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    let mut png = synth::encode_png(&synth::flat(4, 4));
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn new_project(app: &TestApp, user: &TestUser) -> String {
    let response = app
        .bearer(Method::POST, "/api/v1/projects", &user.access)
        .json(&json!({ "name": "Fetched" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn extract(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.bearer(Method::POST, "/api/v1/colors/extract", &user.access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn extract_url(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    url: &str,
) -> reqwest::Response {
    extract(
        app,
        user,
        json!({ "project_id": project, "image_url": url }),
    )
    .await
}

/// Asserts the one generic refusal and returns its body.
async fn assert_refused(response: reqwest::Response) -> Value {
    let body = assert_problem(response, 422).await;
    assert_eq!(body["errors"][0]["field"], "image_url", "{body}");
    assert_eq!(body["errors"][0]["message"], REFUSED, "{body}");
    body
}

/// The `image_fetch` audit events, oldest first.
async fn fetch_events(app: &TestApp) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.action == "image_fetch")
        .collect();
    events.sort_by_key(|e| e.at);
    events
}

async fn last_fetch_reason(app: &TestApp) -> (String, String) {
    let event = fetch_events(app)
        .await
        .pop()
        .expect("an image_fetch audit event");
    let reason = event.detail.0["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (event.outcome, reason)
}

/// What a palette is, without ids and timestamps.
fn palette(body: &Value) -> Vec<Value> {
    body["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["hex"], c["share"], c["name"], c["role"]]))
        .collect()
}

with_upstream! {
    async fn s14_a_fetched_image_gives_the_palette_of_the_same_upload(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let by_url = extract_url(&app, &user, &project, &up.url("/brand.png?sig=s3cr3t-token")).await;
        assert_eq!(by_url.status(), 201);
        let by_url: Value = by_url.json().await.unwrap();
        let uploaded = extract(&app, &user, json!({ "project_id": project, "image_base64": b64(&brand_png()) })).await;
        assert_eq!(uploaded.status(), 201);
        let uploaded: Value = uploaded.json().await.unwrap();
        assert_eq!(palette(&by_url), palette(&uploaded));
        assert_eq!(by_url["image"], uploaded["image"]);
        assert_eq!(palette(&by_url).len(), 3);

        let session = app
            .bearer(Method::GET, &format!("/api/v1/sessions/{}", by_url["session_id"].as_str().unwrap()), &user.access)
            .send()
            .await
            .unwrap();
        let session: Value = session.json().await.unwrap();
        assert_eq!(session["source"], "url");

        // The original Host went out, uncompressed content was asked for, no credentials.
        let requests = up.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let head = requests[0].to_ascii_lowercase();
        assert!(head.starts_with("get /brand.png?sig=s3cr3t-token http/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nhost: images.test:{}\r\n", up.port())), "{head}");
        assert!(head.contains("\r\naccept-encoding: identity\r\n"), "{head}");
        assert!(!head.contains("authorization") && !head.contains("cookie"), "{head}");

        // Audited with the host, never the path or its query.
        let events = fetch_events(&app).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, "success");
        assert_eq!(events[0].detail.0["host"], "images.test");
        assert_eq!(events[0].target.as_deref(), Some("host:images.test"));
        let all = serde_json::to_string(&app.audit_events().await).unwrap();
        assert!(!all.contains("s3cr3t") && !all.contains("brand.png"), "{all}");
    }

    async fn s14_a_multipart_image_url_field_is_fetched(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let form = Form::new().text("project_id", project.clone()).text("image_url", up.url("/brand.png"));
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(palette(&body).len(), 3);
        assert_eq!(up.main.connections().await, 1);
    }

    async fn s14_exactly_one_image_source_is_taken(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let both = extract(&app, &user, json!({ "project_id": project, "image_url": up.url("/brand.png"), "image_base64": b64(&brand_png()) })).await;
        assert_problem(both, 422).await;
        let neither = extract(&app, &user, json!({ "project_id": project })).await;
        assert_problem(neither, 422).await;
        let form = Form::new()
            .text("project_id", project.clone())
            .text("image_url", up.url("/brand.png"))
            .part("image", reqwest::multipart::Part::bytes(brand_png()).file_name("b.png"));
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let body = assert_problem(response, 422).await;
        assert_eq!(body["errors"][0]["field"], "image_url");
        let long = format!("{}?{}", up.url("/brand.png"), "a".repeat(2100));
        let response = extract_url(&app, &user, &project, &long).await;
        assert_eq!(assert_problem(response, 422).await["errors"][0]["field"], "image_url");
        assert_eq!(up.main.connections().await, 0, "nothing was fetched");
    }

    async fn s14_without_allow_cidrs_loopback_in_any_spelling_is_refused_unconnected(
        app,
        up,
        config = up.env().into_iter().filter(|(k, _)| *k != "COPYTHAT_FETCH_ALLOW_CIDRS").collect()
    ) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let port = up.port();
        let urls = [
            format!("http://127.0.0.1:{port}/brand.png"),
            format!("http://2130706433:{port}/brand.png"),
            format!("http://0x7f.1:{port}/brand.png"),
            format!("http://017700000001:{port}/brand.png"),
            format!("http://127.1:{port}/brand.png"),
            format!("http://127.0.0.1.:{port}/brand.png"),
            format!("http://[::ffff:127.0.0.1]:{port}/brand.png"),
            format!("http://[::1]:{port}/brand.png"),
            format!("http://images.test:{port}/brand.png"),
            format!("http://localhost:{port}/brand.png"),
        ];
        for url in &urls {
            assert_refused(extract_url(&app, &user, &project, url).await).await;
            let (outcome, reason) = last_fetch_reason(&app).await;
            assert_eq!(outcome, "denied", "{url}");
            assert!(reason.starts_with("address ") && reason.contains("loopback"), "{url}: {reason}");
        }
        assert_eq!(up.main.connections().await, 0, "the listener saw a connection");
    }

    async fn s14_a_redirect_to_a_blocked_address_is_refused_before_connecting(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let internal = up.internal.addr.port();
        let targets = [
            up.internal_url("/brand.png"),
            format!("http://127.0.0.2:{internal}/brand.png"),
            format!("http://0x7f000002:{internal}/brand.png"),
            format!("http://[::ffff:127.0.0.2]:{internal}/brand.png"),
            format!("//mapped.test:{internal}/brand.png"),
        ];
        for (i, target) in targets.iter().enumerate() {
            let path = format!("/away{i}");
            up.route(&path, Reply::redirect(302, target));
            assert_refused(extract_url(&app, &user, &project, &up.url(&path)).await).await;
            let (outcome, reason) = last_fetch_reason(&app).await;
            assert_eq!(outcome, "denied");
            assert!(reason.contains("127.0.0.2") && reason.contains("loopback"), "{reason}");
        }
        assert_eq!(up.internal.connections().await, 0, "the internal listener was reached");
        assert_eq!(up.main.connections().await, targets.len());
        // The same address is refused as a first hop too.
        assert_refused(extract_url(&app, &user, &project, &up.internal_url("/brand.png")).await).await;
        assert_eq!(up.internal.connections().await, 0);
    }

    async fn s14_redirects_are_followed_three_times_and_no_more(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        // Absolute path, relative path, absolute URL, then the image.
        up.route("/r/one", Reply::redirect(301, "/r/two"));
        up.route("/r/two", Reply::redirect(302, "three"));
        up.route("/r/three", Reply::redirect(307, &up.url("/r/four")));
        up.route("/r/four", Reply::redirect(308, "/brand.png"));
        let three = extract_url(&app, &user, &project, &up.url("/r/two")).await;
        assert_eq!(three.status(), 201, "three redirects are followed");
        let event = fetch_events(&app).await.pop().unwrap();
        assert_eq!(event.detail.0["redirects"], 3);

        assert_refused(extract_url(&app, &user, &project, &up.url("/r/one")).await).await;
        let (outcome, reason) = last_fetch_reason(&app).await;
        assert_eq!((outcome.as_str(), reason.as_str()), ("denied", "more than 3 redirects"));
        // Three hops for the first fetch's chain, four for the refused one, plus the image.
        assert_eq!(up.main.connections().await, 4 + 4);

        up.route("/r/ftp", Reply::redirect(302, "ftp://images.test/brand.png"));
        assert_refused(extract_url(&app, &user, &project, &up.url("/r/ftp")).await).await;
        assert_eq!(last_fetch_reason(&app).await.1, "URL refused: scheme is not http or https");
        up.route("/r/none", Reply::with_head("HTTP/1.1 302 Found\nContent-Length: 0\n", b""));
        assert_refused(extract_url(&app, &user, &project, &up.url("/r/none")).await).await;
    }

    async fn s14_a_name_with_any_blocked_address_is_refused(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let port = up.port();
        for (host, range) in [
            ("mixed.test", "loopback"),
            ("private.test", "private 10.0.0.0/8"),
            ("metadata.test", "link-local"),
            ("cgnat.test", "CGNAT"),
            ("v6.test", "loopback ::1"),
            ("nat64.test", "private 10.0.0.0/8 (carried in NAT64"),
            ("ula.test", "unique-local"),
        ] {
            let url = format!("http://{host}:{port}/brand.png");
            assert_refused(extract_url(&app, &user, &project, &url).await).await;
            let (outcome, reason) = last_fetch_reason(&app).await;
            assert_eq!(outcome, "denied");
            assert!(reason.contains(range), "{host}: {reason}");
        }
        // mixed.test has an allowed address too: refused before trying either.
        assert_eq!(up.main.connections().await, 0);
        assert_eq!(up.internal.connections().await, 0);
    }

    async fn s14_every_refusal_looks_the_same_to_the_client(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let port = up.port();
        let cases = [
            format!("http://private.test:{port}/brand.png"),
            format!("http://images.test:{}/brand.png", up.closed_port),
            up.url("/missing.png"),
            "http://images.test/brand.png".to_owned(),
            format!("ftp://images.test:{port}/brand.png"),
            format!("http://user:pw@images.test:{port}/brand.png"),
            "not a URL".to_owned(),
        ];
        let mut bodies = Vec::new();
        for url in &cases {
            let mut body = assert_refused(extract_url(&app, &user, &project, url).await).await;
            body["request_id"] = Value::Null;
            bodies.push(body);
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:#?}");
        let reasons: Vec<(String, String)> = fetch_events(&app)
            .await
            .into_iter()
            .map(|e| (e.outcome, e.detail.0["reason"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [
            ("denied", "address 10.0.0.1 refused"),
            ("failure", "connection failed"),
            ("failure", "answered with status 404"),
            ("denied", "URL refused: port 80"),
            ("denied", "URL refused: scheme"),
            ("denied", "URL refused: carries user information"),
            ("denied", "URL refused: not an absolute URL"),
        ];
        assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
        for ((outcome, reason), (want_outcome, want)) in reasons.iter().zip(expected) {
            assert_eq!(outcome, want_outcome, "{reason}");
            assert!(reason.starts_with(want), "{reason} should start with {want}");
        }
        let all = serde_json::to_string(&app.audit_events().await).unwrap();
        assert!(!all.contains(":pw@") && !all.contains("\"pw\""), "{all}");
    }

    async fn s14_an_endless_body_is_cut_at_the_image_limit(
        app,
        up,
        config = { let mut c = up.env(); c.push(("COPYTHAT_MAX_IMAGE_BYTES", "1048576".into())); c }
    ) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        up.route("/endless.png", Reply::Endless);
        assert_refused(extract_url(&app, &user, &project, &up.url("/endless.png")).await).await;
        assert_eq!(last_fetch_reason(&app).await, ("failure".into(), "body passed the 1048576-byte limit".into()));
        // A declared length over the limit is refused before the body is read.
        up.route("/declared.png", Reply::with_head("HTTP/1.1 200 OK\nContent-Length: 1048577\n", &brand_png()));
        assert_refused(extract_url(&app, &user, &project, &up.url("/declared.png")).await).await;
        assert_eq!(
            last_fetch_reason(&app).await.1,
            "declared length 1048577 is over the 1048576-byte limit"
        );
    }

    async fn s14_a_lying_content_length_is_held_to_what_was_declared(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        // More bytes than declared: only the declared 100 are read, a truncated PNG.
        let mut flood = brand_png();
        flood.extend(std::iter::repeat_n(0u8, 4 * 1024 * 1024));
        up.route("/more.png", Reply::with_head("HTTP/1.1 200 OK\nContent-Length: 100\n", &flood));
        let response = extract_url(&app, &user, &project, &up.url("/more.png")).await;
        let body = assert_problem(response, 422).await;
        assert!(body["detail"].as_str().unwrap().contains("corrupt or truncated"), "{body}");
        let event = fetch_events(&app).await.pop().unwrap();
        assert_eq!((event.outcome.as_str(), &event.detail.0["bytes"]), ("success", &json!(100)));
        // Fewer bytes than declared, then the connection closes: a failed transfer.
        up.route("/fewer.png", Reply::with_head("HTTP/1.1 200 OK\nContent-Length: 5000\n", &brand_png()[..100]));
        assert_refused(extract_url(&app, &user, &project, &up.url("/fewer.png")).await).await;
        let (outcome, reason) = last_fetch_reason(&app).await;
        assert_eq!(outcome, "failure");
        assert!(reason.starts_with("transfer failed"), "{reason}");
    }

    async fn s14_a_body_sent_a_byte_a_second_times_out(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        up.route("/slow.png", Reply::Trickle(1000));
        // The outer bound only keeps a broken build from hanging; the fetch's own 10 s
        // total timeout is what answers, as the audited reason shows.
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            extract_url(&app, &user, &project, &up.url("/slow.png")),
        )
        .await
        .expect("the fetch gave up by itself");
        assert_refused(response).await;
        assert_eq!(last_fetch_reason(&app).await, ("failure".into(), "no complete answer within 10s".into()));
    }

    async fn s14_fetched_bytes_get_the_upload_checks(app, up) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        up.route("/page.png", Reply::ok("image/png", b"<!doctype html><html><body>hello</body></html>"));
        let response = extract_url(&app, &user, &project, &up.url("/page.png")).await;
        assert_problem(response, 415).await;
        up.route("/bomb.png", Reply::ok("image/png", &png_declaring(100_000, 100_000)));
        let response = extract_url(&app, &user, &project, &up.url("/bomb.png")).await;
        assert_problem(response, 413).await;
        // The same bytes uploaded get the same answers.
        let page = extract(&app, &user, json!({ "project_id": project, "image_base64": b64(b"<!doctype html><html><body>hello</body></html>") })).await;
        assert_problem(page, 415).await;
        let bomb = extract(&app, &user, json!({ "project_id": project, "image_base64": b64(&png_declaring(100_000, 100_000)) })).await;
        assert_problem(bomb, 413).await;
        // Compressed content is not taken: its size after decoding is unbounded.
        up.route("/gzip.png", Reply::with_head("HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: 3\n", b"abc"));
        assert_refused(extract_url(&app, &user, &project, &up.url("/gzip.png")).await).await;
        assert_eq!(last_fetch_reason(&app).await.1, "encoding \"gzip\" refused (identity only)");
    }

    async fn s14_nobody_makes_the_server_fetch_for_a_project_they_do_not_own(app, up) {
        let alice = app.new_user().await;
        let mallory = app.new_user().await;
        let project = new_project(&app, &alice).await;
        let response = extract_url(&app, &mallory, &project, &up.url("/brand.png")).await;
        assert_problem(response, 404).await;
        let session_of_alice: Value = extract_url(&app, &alice, &project, &up.url("/brand.png")).await.json().await.unwrap();
        let own = new_project(&app, &mallory).await;
        let response = extract(&app, &mallory, json!({ "project_id": own, "session_id": session_of_alice["session_id"], "image_url": up.url("/brand.png") })).await;
        assert_problem(response, 404).await;
        assert_eq!(up.main.connections().await, 1, "only alice's own fetch went out");
    }

    async fn s15_a_fetch_counts_against_the_extraction_quota(
        app,
        up,
        config = { let mut c = up.env(); c.push(("COPYTHAT_EXTRACT_PER_MINUTE", "1".into())); c }
    ) {
        let user = app.new_user().await;
        let project = new_project(&app, &user).await;
        let first = extract_url(&app, &user, &project, &up.url("/brand.png")).await;
        assert_eq!(first.status(), 201);
        let second = extract_url(&app, &user, &project, &up.url("/brand.png")).await;
        assert_problem(second, 429).await;
        assert_eq!(up.main.connections().await, 1);
    }
}

/// The fetcher the CLI uses refuses the same things without a server around it.
#[tokio::test]
async fn s14_the_fetcher_alone_refuses_loopback_and_fetches_when_allowed() {
    use copythat_server::fetch::{FetchPolicy, FetchReason, Fetcher};
    let up = Upstream::start().await;
    let url = format!("http://127.0.0.1:{}/brand.png", up.port());
    let strict = Fetcher::new(FetchPolicy {
        allowed_ports: vec![up.port()],
        ..FetchPolicy::default()
    });
    let err = strict.fetch(&url).await.unwrap_err();
    assert!(err.is_denied());
    assert!(matches!(err.reason(), FetchReason::Address { .. }), "{err}");
    assert_eq!(err.hop().map(|h| h.host.as_str()), Some("127.0.0.1"));
    assert_eq!(up.main.connections().await, 0);

    let allowed = Fetcher::new(FetchPolicy {
        allowed_ports: vec![up.port()],
        allow_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
        ..FetchPolicy::default()
    });
    assert_eq!(allowed.fetch(&url).await.unwrap(), brand_png());
}
