//! `spawn_app()` and friends: a fresh app per test, on SQLite or PostgreSQL.
#![allow(dead_code)] // Shared by every test module; not each uses every helper.

use std::collections::HashMap;
use std::net::SocketAddr;

use copythat_server::app::Application;
use copythat_server::config::Config;
use copythat_server::store::{self, DynStore};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: DynStore,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A signing key generated for this test run only.
pub fn random_secret() -> String {
    String::from_utf8(
        copythat_server::config::SecretKey::generate()
            .expose()
            .to_vec(),
    )
    .unwrap()
}

/// A signed-in account made for one test.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// A fresh password for one test account.
pub fn random_password() -> String {
    format!("pw-{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &serde_json::json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Registers and logs in a new account.
    pub async fn new_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = random_password();
        let registered = self.register(&email, &password).await;
        assert_eq!(registered.status(), 201);
        let id = registered.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tokens: serde_json::Value = self.login(&email, &password).await.json().await.unwrap();
        TestUser {
            id,
            email,
            password,
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A new account with the admin role, signed in after the promotion.
    pub async fn new_admin(&self) -> TestUser {
        use copythat_server::store::Role;
        let user = self.new_user().await;
        let id = uuid::Uuid::parse_str(&user.id).unwrap();
        self.store
            .update_user_admin(None, id, None, Some(&[Role::User, Role::Admin]))
            .await
            .unwrap();
        let tokens: serde_json::Value = self
            .login(&user.email, &user.password)
            .await
            .json()
            .await
            .unwrap();
        TestUser {
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
            ..user
        }
    }

    /// A request with a bearer token.
    pub fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// A request with an API key.
    pub fn with_key(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", key)
    }

    /// Creates an API key for `user` with `scopes`; returns the create response body.
    pub async fn new_api_key(&self, user: &TestUser, scopes: &[&str]) -> serde_json::Value {
        let response = self
            .bearer(reqwest::Method::POST, "/api/v1/auth/api-keys", &user.access)
            .json(&serde_json::json!({ "name": "ci", "scopes": scopes }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// The audit log once `ready` holds of it, or after five seconds, for events written
    /// after the response (ownership denials).
    pub async fn audit_events_when(
        &self,
        ready: impl Fn(&[copythat_server::store::AuditEvent]) -> bool,
    ) -> Vec<copythat_server::store::AuditEvent> {
        for _ in 0..250 {
            let events = self.audit_events().await;
            if ready(&events) {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.audit_events().await
    }

    /// The audit log as an admin sees it.
    pub async fn audit_events(&self) -> Vec<copythat_server::store::AuditEvent> {
        let page = copythat_server::store::Page {
            limit: 1000,
            offset: 0,
        };
        self.store.list_audit_events(page).await.unwrap().0
    }
}

/// Says that a test needing `what` did not run. Where the backends are required
/// (`COPYTHAT_TEST_REQUIRE_BACKENDS`, as CI sets it), a skip is a failure instead: a test
/// that silently did not run cannot prove anything.
pub fn skip(what: &str) {
    if std::env::var_os("COPYTHAT_TEST_REQUIRE_BACKENDS").is_some() {
        panic!(
            "{what} is not set, but COPYTHAT_TEST_REQUIRE_BACKENDS says every backend must be tested"
        );
    }
    eprintln!("skipped: {what} is not set, so this test did not run");
}

/// One signing key for this test process, so tests can forge tokens with it.
pub static TEST_KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(random_secret);

pub const PG_ENV: &str = "COPYTHAT_TEST_DATABASE_URL";

/// The configuration every test app starts from, plus `overrides`.
fn test_config(sqlite_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("COPYTHAT_BIND".into(), "127.0.0.1:0".into()),
        ("DATABASE_URL".into(), sqlite_url.to_owned()),
        ("COPYTHAT_LOG".into(), "warn".into()),
        // Tests send many requests from one address; the limits get their own tests.
        ("COPYTHAT_RATE_PER_MINUTE".into(), "100000".into()),
        ("COPYTHAT_RATE_PER_HOUR".into(), "1000000".into()),
        ("COPYTHAT_EXTRACT_PER_MINUTE".into(), "100000".into()),
        ("COPYTHAT_LOGIN_PER_MINUTE".into(), "100000".into()),
        ("COPYTHAT_REGISTER_PER_HOUR".into(), "100000".into()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(&|name| vars.get(name).cloned()).expect("test config")
}

/// Serves `store` with `config` on a random loopback port.
async fn start(config: Config, store: DynStore, dir: tempfile::TempDir) -> TestApp {
    store.migrate().await.expect("migrations apply");
    let app = Application::build_with_store(config, store.clone())
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        store,
        _dir: dir,
    }
}

/// Starts the app on `backend` with the defaults a test wants plus `overrides`.
/// Returns `None` (and says so) when the backend is PostgreSQL and no test database
/// is configured.
pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("test.db").display());
    let config = test_config(&sqlite_url, overrides);
    let store: DynStore = match backend {
        Backend::Sqlite => store::connect(&config.database_url).await.unwrap(),
        Backend::Postgres => {
            let Ok(url) = std::env::var(PG_ENV) else {
                skip(PG_ENV);
                return None;
            };
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            store::connect_postgres_schema(&url, &schema)
                .await
                .expect("PostgreSQL test database reachable")
        }
    };
    Some(start(config, store, dir).await)
}

/// The app on PostgreSQL at `url` (which may name its own role), in `schema`.
pub async fn spawn_app_on_postgres(url: &str, schema: &str) -> TestApp {
    spawn_app_on_postgres_with(url, schema, &[]).await
}

/// [`spawn_app_on_postgres`] with configuration: several of these on one schema are
/// instances sharing one database.
pub async fn spawn_app_on_postgres_with(
    url: &str,
    schema: &str,
    overrides: &[(&str, &str)],
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("unused.db").display());
    let config = test_config(&sqlite_url, overrides);
    let store = store::connect_postgres_schema(url, schema)
        .await
        .expect("PostgreSQL test database reachable");
    start(config, store, dir).await
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

/// Declares each test twice, once per backend: `name::sqlite` and `name::postgres`.
/// `async fn name(app, config = [("VAR", "value")]) { ... }` adds configuration.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident $(, config = $cfg:expr)?) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run(backend: $crate::helpers::Backend) {
                    #[allow(unused_mut)]
                    let mut config: Vec<(String, String)> = vec![];
                    $(config.extend(
                        $cfg.iter().map(|(k, v): &(&str, String)| ((*k).to_owned(), v.clone())),
                    );)?
                    let pairs: Vec<(&str, &str)> =
                        config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let Some($app) = $crate::helpers::spawn_app_with(backend, &pairs).await
                    else {
                        return;
                    };
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// Asserts a problem+json error with `status` and a request id; returns the body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("x-request-id header");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert_leaks_nothing(&body.to_string());
    body
}

/// S19: nothing from the inside in a body.
pub fn assert_leaks_nothing(text: &str) {
    let lowered = text.to_ascii_lowercase();
    for needle in [
        "sqlx",
        "sqlite",
        "postgres",
        "select ",
        "insert ",
        "panicked",
        "/src/",
        ".rs:",
        "axum",
        "tokio",
        "hyper",
        "serde",
        "backtrace",
        "/home/",
        "/work/",
        "/tmp/",
    ] {
        assert!(!lowered.contains(needle), "leaked {needle:?} in {text}");
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PNG of vertical stripes: white page, dark text colour and a small brand accent.
pub fn brand_png() -> Vec<u8> {
    copythat_core::synth::encode_png(&copythat_core::synth::stripes(
        64,
        &[
            ([255, 255, 255], 70),
            ([17, 24, 39], 20),
            ([37, 99, 235], 10),
        ],
    ))
}

impl TestApp {
    pub async fn new_project(&self, user: &TestUser, name: &str) -> Value {
        let response = self
            .bearer(Method::POST, "/api/v1/projects", &user.access)
            .json(&json!({ "name": name, "description": "brand colours" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn extract(&self, user: &TestUser, body: &Value) -> reqwest::Response {
        self.bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, user: &TestUser, path: &str) -> (u16, Value) {
        let response = self
            .bearer(Method::GET, path, &user.access)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
