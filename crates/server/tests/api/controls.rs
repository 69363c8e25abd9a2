//! One test per control that had a weak one or none, named after it, over real HTTP
//! (S2, S5, S7, S11, S12, S16, S18, S21, S24). The others live with their resource.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::*;

/// Everything the server answers on `stream` until it closes it (or 15 s pass).
async fn answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&received).into_owned()
}

both_backends! {
    // S7: only hashes of API keys and refresh tokens are stored: the plain values are in
    // no row, the lookups are by SHA-256, and listings show the prefix only.
    async fn s7_only_hashes_of_keys_and_refresh_tokens_are_stored(app) {
        use sha2::Digest;
        let hex = |value: &str| {
            sha2::Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let user = app.new_user().await;
        let created = app.new_api_key(&user, &["read"]).await;
        let key = created["key"].as_str().unwrap();
        let id = uuid::Uuid::parse_str(&user.id).unwrap();
        let stored = app.store.list_api_keys(id).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].key_hash, hex(key));
        assert!(key.starts_with(&stored[0].key_prefix) && stored[0].key_prefix.len() < 16);
        let record = format!("{:?}", stored[0]);
        assert!(!record.contains(&key[3..]), "the key itself is not stored");

        let refresh = app.store.find_refresh_token(&hex(&user.refresh)).await.unwrap().expect("stored by hash");
        assert_ne!(refresh.token_hash, user.refresh);
        assert!(!format!("{refresh:?}").contains(&user.refresh));

        let (_, listed) = app.get_json(&user, "/api/v1/auth/api-keys").await;
        let text = listed.to_string();
        assert!(!text.contains(key) && !text.contains("key_hash"), "{text}");
        assert!(listed["items"][0]["prefix"].is_string());
    }

    // S11: input shaped like SQL or markup is data: stored and returned as given, JSON-
    // escaped, and the tables it names are untouched.
    async fn s11_injection_shaped_input_is_stored_as_data(app) {
        let user = app.new_user().await;
        let payloads = [
            "'; DROP TABLE users; --",
            "\" OR 1=1 --",
            "<script>alert(1)</script>",
            "Robert'); DELETE FROM projects WHERE ('1'='1",
            "${jndi:ldap://x}",
        ];
        for payload in payloads {
            let response = app
                .bearer(Method::POST, "/api/v1/projects", &user.access)
                .json(&json!({ "name": payload, "description": payload }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201, "{payload}");
            assert_eq!(response.headers()["content-type"], "application/json");
            let created: Value = response.json().await.unwrap();
            assert_eq!(created["name"], payload);
        }
        let (_, projects) = app.get_json(&user, "/api/v1/projects").await;
        assert_eq!(projects["total"], payloads.len());
        // The users table is still there and still answers.
        let other = app.new_user().await;
        assert_eq!(app.get_json(&other, "/api/v1/auth/me").await.0, 200);
        let probe = app.login(&format!("{}' OR '1'='1", user.email), "x' OR '1'='1").await;
        assert_problem(probe, 401).await;
    }

    // S24: every security event is audited with time, request id, actor, address, action,
    // target and outcome — and never a password, token or key.
    async fn s24_account_and_session_events_are_audited_without_secrets(app) {
        let user = app.new_user().await; // register + login
        let refreshed: Value = app.refresh(&user.refresh).await.json().await.unwrap();
        let access = refreshed["access_token"].as_str().unwrap();
        let key = app
            .bearer(Method::POST, "/api/v1/auth/api-keys", access)
            .json(&json!({ "name": "ci", "scopes": ["read"] }))
            .send().await.unwrap().json::<Value>().await.unwrap();
        app.bearer(Method::DELETE, &format!("/api/v1/auth/api-keys/{}", key["id"].as_str().unwrap()), access)
            .send().await.unwrap();
        assert_eq!(app.login(&user.email, "not-the-password").await.status(), 401);
        let new_password = random_password();
        let changed = app
            .bearer(Method::POST, "/api/v1/auth/password", access)
            .json(&json!({ "current_password": user.password, "new_password": new_password }))
            .send().await.unwrap();
        assert_eq!(changed.status(), 200);
        let fresh: Value = app.login(&user.email, &new_password).await.json().await.unwrap();
        let logout = app
            .bearer(Method::POST, "/api/v1/auth/logout", fresh["access_token"].as_str().unwrap())
            .json(&json!({ "refresh_token": fresh["refresh_token"] }))
            .send().await.unwrap();
        assert_eq!(logout.status(), 204);

        let events = app.audit_events().await;
        let found = |action: &str, outcome: &str| {
            events.iter().find(|e| e.action == action && e.outcome == outcome).cloned()
        };
        for (action, outcome) in [
            ("register", "success"),
            ("login", "success"),
            ("login", "failure"),
            ("token_refresh", "success"),
            ("api_key_create", "success"),
            ("api_key_revoke", "success"),
            ("password_change", "success"),
            ("logout", "success"),
        ] {
            let event = found(action, outcome).unwrap_or_else(|| panic!("no {action} {outcome} event"));
            assert!(event.request_id.as_deref().is_some_and(|id| !id.is_empty()), "{action}");
            assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{action}");
            assert!(event.actor.starts_with("user:") || event.actor == "anonymous", "{action}");
        }
        let all = serde_json::to_string(&events).unwrap();
        for secret in [
            user.password.as_str(),
            new_password.as_str(),
            user.refresh.as_str(),
            user.access.as_str(),
            key["key"].as_str().unwrap(),
        ] {
            assert!(!all.contains(secret), "a secret reached the audit log");
        }
    }
}

/// S2: CPU-heavy work (argon2, decoding) runs behind a semaphore: many sign-ins at once
/// are all answered, and the hashing pool never runs more than its slots (the pool itself
/// is checked in `blocking.rs`); a flood of logins does not starve other requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_many_sign_ins_at_once_are_queued_not_dropped() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    let logins = (0..12).map(|_| app.login(&user.email, &user.password));
    let health = async {
        // While the hashes queue, other requests are served.
        app.get("/health").await.status().as_u16()
    };
    let (responses, health) = tokio::join!(futures_util::future::join_all(logins), health);
    assert_eq!(health, 200);
    for response in responses {
        assert_eq!(response.status(), 200);
    }
}

/// S5: an unknown email and a wrong password are answered alike and audited alike. (Both
/// pay for one argon2 verification — the unknown one against a dummy hash — which the
/// unit test `s5_an_unknown_account_still_pays_for_one_verification` proves; time itself
/// is measured by `bench/login_load.py`, never asserted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_unknown_accounts_and_wrong_passwords_cost_the_same_work() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    let unknown = app
        .login("nobody-here@example.com", "some-password-1")
        .await;
    let wrong = app.login(&user.email, "some-password-1").await;
    let mut a = assert_problem(unknown, 401).await;
    let mut b = assert_problem(wrong, 401).await;
    a.as_object_mut().unwrap().remove("request_id");
    b.as_object_mut().unwrap().remove("request_id");
    assert_eq!(a, b);
    // Both were recorded as failures of the same shape.
    let events = app.audit_events().await;
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.action == "login" && e.outcome == "failure")
        .collect();
    assert_eq!(failures.len(), 2);
}

/// S12: a body over the limit is refused from its declared length before the server reads
/// it: the 413 arrives while the client has sent the head only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_an_oversized_body_is_refused_before_it_is_sent() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    for (path, length) in [
        ("/api/v1/projects", 65 * 1024 + 1),
        ("/api/v1/colors/extract", 15 * 1024 * 1024),
    ] {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            user.access
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // No body byte is sent: the answer can only come from the declared length.
        let text = answer(&mut stream).await;
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text:?}");
        assert!(text.contains("application/problem+json"), "{path}");
    }
}

/// S16: when the shared limiter is unreachable the service keeps serving (fail open) and
/// says so in its log, one line naming the cause.
#[test]
fn s16_an_unreachable_redis_is_logged_and_requests_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_copythat"))
        .current_dir(dir.path())
        .arg("serve")
        .env("COPYTHAT_BIND", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", "redis://127.0.0.1:1/")
        .env("COPYTHAT_LOG", "warn")
        .env("COPYTHAT_SHUTDOWN_GRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while get("/health").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let served = get("/api/v1/auth/me").unwrap();
    assert!(
        served.starts_with("HTTP/1.1 401"),
        "served without limits: {served}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("rate limiter unavailable"))
        .unwrap_or_else(|| panic!("no log line about the limiter: {log}"));
    assert!(
        line.contains("WARN") && line.contains("serving without limits"),
        "{line}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal"
    );
}

/// S18: a request that takes longer than `COPYTHAT_REQUEST_TIMEOUT` is answered 503 with
/// `Retry-After` (here: a body that keeps coming, slowly enough to pass the rate check,
/// for longer than the timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_a_request_over_the_timeout_is_answered_503() {
    let app = spawn_app_with(Backend::Sqlite, &[("COPYTHAT_REQUEST_TIMEOUT", "2")])
        .await
        .unwrap();
    let user = app.new_user().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{\"name\":\"",
        user.access
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // 20 KiB a second: above the minimum rate, so only the timeout can end it.
    let feed = async {
        for _ in 0..3 {
            if stream.write_all(&[b'a'; 20 * 1024]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    feed.await;
    let text = answer(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
}

/// S18: every decode reserves its peak memory, read from the header, from one shared
/// budget, before any pixel is allocated. With 8 MP allowed, a 16-bit RGBA image of 8 MP
/// needs 12 bytes a pixel at its peak plus the engine's 24 MiB: 115.6 MiB. A 116 MiB budget
/// takes it; the same image carrying 1 MiB more of encoded bytes needs more than the whole
/// budget and is refused with 413 — from its header, without decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_an_image_needing_more_than_the_decode_budget_is_413() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("COPYTHAT_DECODE_MEMORY_MB", "116"),
            ("COPYTHAT_MAX_IMAGE_PIXELS", "8000000"),
        ],
    )
    .await
    .unwrap();
    let user = app.new_user().await;
    let project = app.new_project(&user, "Big").await;
    let fits = png_header(4000, 2000, 16, 6);
    let response = app
        .extract(
            &user,
            &json!({ "project_id": project["id"], "image_base64": b64(&fits) }),
        )
        .await;
    // Admitted by the budget; its missing pixel data then makes it a corrupt image.
    assert_problem(response, 422).await;

    let mut heavier = fits.clone();
    heavier.extend(std::iter::repeat_n(0u8, 1024 * 1024));
    let response = app
        .extract(
            &user,
            &json!({ "project_id": project["id"], "image_base64": b64(&heavier) }),
        )
        .await;
    let body = assert_problem(response, 413).await;
    assert!(
        body["detail"].as_str().unwrap().contains("memory"),
        "{body}"
    );

    // A budget below what the largest allowed image needs is refused at start.
    let err = copythat_server::config::Config::from_lookup(&|name| match name {
        "COPYTHAT_DECODE_MEMORY_MB" => Some("64".into()),
        "COPYTHAT_MAX_IMAGE_PIXELS" => Some("8000000".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "COPYTHAT_DECODE_MEMORY_MB");
}

/// A PNG declaring `w` x `h` at `depth` bits, colour type `kind`, with an empty image-data
/// chunk: a valid header over no pixels.
fn png_header(w: u32, h: u32, depth: u8, kind: u8) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut body = b"IHDR".to_vec();
    body.extend_from_slice(&w.to_be_bytes());
    body.extend_from_slice(&h.to_be_bytes());
    body.extend_from_slice(&[depth, kind, 0, 0, 0]);
    let mut chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    chunk(b"IHDR", &body[4..]);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// S21: CORS as configured: explicit methods and headers, the rate-limit headers exposed
/// to scripts, preflights cached 600 s, never credentials, nothing for other origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s21_cors_names_its_methods_headers_and_exposed_headers() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_CORS_ORIGINS", "https://app.example")],
    )
    .await
    .unwrap();
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/projects"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,x-api-key,content-type,x-request-id",
        )
        .send()
        .await
        .unwrap();
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let methods: Vec<String> = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect();
    assert_eq!(methods, ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]);
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["authorization", "content-type", "x-request-id", "x-api-key"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(
        !allowed.contains("x-copythat-session"),
        "the cookie header stays same-origin"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert!(h.get("access-control-allow-credentials").is_none());

    let actual = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    let exposed = actual.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-request-id",
        "retry-after",
    ] {
        assert!(exposed.contains(header), "{exposed}");
    }
    let other = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
