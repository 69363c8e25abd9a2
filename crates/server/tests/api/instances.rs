//! Several instances, one truth (S4, S6, S15, S16, S27): three `copythat serve` processes
//! on one PostgreSQL database and one Redis, as behind a load balancer. Lock-outs, limits,
//! revocations and refresh-token reuse hold across them, and a rolling restart under load
//! answers no request with a 5xx or a broken connection.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::helpers::*;

/// The settings every instance shares: one database, one Redis, one signing key.
struct Cluster {
    database_url: String,
    database: String,
    admin_url: String,
    env: Vec<(String, String)>,
    instances: Vec<Instance>,
}

struct Instance {
    port: u16,
    child: Child,
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// A fresh database and Redis prefix; `None` (skipped) without the test backends.
    async fn new(extra: &[(&str, &str)]) -> Option<Self> {
        let (Ok(admin_url), Ok(redis)) = (
            std::env::var(PG_ENV),
            std::env::var("COPYTHAT_TEST_REDIS_URL"),
        ) else {
            skip("COPYTHAT_TEST_DATABASE_URL and COPYTHAT_TEST_REDIS_URL");
            return None;
        };
        use sqlx::Connection;
        let database = format!("mi_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&database);
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", url.as_str()),
            ("REDIS_URL", redis.as_str()),
            (
                "COPYTHAT_REDIS_PREFIX",
                &format!("copythat-test:{}:", uuid::Uuid::new_v4().simple()),
            ),
            ("SECRET_KEY", &random_secret()),
            ("COPYTHAT_LOG", "warn"),
            ("COPYTHAT_SHUTDOWN_GRACE", "2"),
            ("COPYTHAT_RATE_PER_MINUTE", "100000"),
            ("COPYTHAT_RATE_PER_HOUR", "1000000"),
            ("COPYTHAT_REGISTER_PER_HOUR", "100000"),
            ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut cluster = Self {
            database_url: url.to_string(),
            database,
            admin_url,
            env,
            instances: Vec::new(),
        };
        // The first instance migrates; the others find the schema in place.
        for _ in 0..3 {
            let instance = cluster.start(free_port()).await;
            cluster.instances.push(instance);
        }
        Some(cluster)
    }

    async fn start(&self, port: u16) -> Instance {
        let child = Command::new(env!("CARGO_BIN_EXE_copythat"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("DATABASE_URL", &self.database_url)
            .env("COPYTHAT_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let instance = Instance { port, child };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(instance.url("/ready")).send().await
                && r.status() == 200
            {
                return instance;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("an instance did not become ready");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            let _ = instance.child.kill();
            let _ = instance.child.wait();
        }
        let (admin_url, database) = (self.admin_url.clone(), self.database.clone());
        // Dropped from a thread of its own: a test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

async fn register_and_login(client: &reqwest::Client, at: &Instance) -> (String, String, Value) {
    let email = format!("mi-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = random_password();
    let registered = client
        .post(at.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let tokens: Value = client
        .post(at.url("/api/v1/auth/token"))
        .form(&[("username", &email), ("password", &password)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (email, password, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_s27_three_instances_share_limits_lockouts_and_revocations() {
    let Some(cluster) = Cluster::new(&[
        ("COPYTHAT_EXTRACT_PER_MINUTE", "6"),
        ("COPYTHAT_LOGIN_PER_MINUTE", "5"),
    ])
    .await
    else {
        return;
    };
    let [a, b, c] = [
        &cluster.instances[0],
        &cluster.instances[1],
        &cluster.instances[2],
    ];
    let client = reqwest::Client::new();
    let (_, _, tokens) = register_and_login(&client, a).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Exact limits: six extractions a minute, whichever instance takes them.
    let mut allowed = 0;
    for i in 0..12 {
        let at = &cluster.instances[i % 3];
        let response = client
            .post(at.url("/api/v1/colors/extract"))
            .bearer_auth(&access)
            .json(&json!({ "project_id": uuid::Uuid::now_v7(), "image_base64": b64(&brand_png()) }))
            .send()
            .await
            .unwrap();
        allowed += usize::from(response.status() != 429);
    }
    assert_eq!(allowed, 6, "one quota across the instances");

    // Revocation is seen by every instance on the next request.
    let key: Value = client
        .post(a.url("/api/v1/auth/api-keys"))
        .bearer_auth(&access)
        .json(&json!({ "name": "ci", "scopes": ["read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_value = key["key"].as_str().unwrap();
    let with_key = |at: &Instance| {
        client
            .get(at.url("/api/v1/projects"))
            .header("x-api-key", key_value)
            .send()
    };
    assert_eq!(with_key(c).await.unwrap().status(), 200);
    let revoked = client
        .request(
            Method::DELETE,
            b.url(&format!(
                "/api/v1/auth/api-keys/{}",
                key["id"].as_str().unwrap()
            )),
        )
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        with_key(c).await.unwrap().status(),
        401,
        "revoked on b, refused on c"
    );

    // Refresh-token reuse is detected whichever instance sees the replay.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotated: Value = client
        .post(a.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let replay = client
        .post(b.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let after = client
        .post(c.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": rotated["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "the family died on every instance");
    let me = client
        .get(c.url("/api/v1/auth/me"))
        .bearer_auth(rotated["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);

    // Lock-outs: failures on two instances lock the account on the third (an account that
    // never signed in, so every attempt below is one of its five a minute).
    let email = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = random_password();
    let registered = client
        .post(b.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    for i in 0..5 {
        let failed = client
            .post(cluster.instances[i % 2].url("/api/v1/auth/token"))
            .header("x-forwarded-for", format!("203.0.113.{}", 20 + i))
            .form(&[
                ("username", email.as_str()),
                ("password", "wrong-password-here"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 401);
    }
    let locked = client
        .post(c.url("/api/v1/auth/token"))
        .header("x-forwarded-for", "203.0.113.99")
        .form(&[
            ("username", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429, "locked out on the third instance too");
    let store = copythat_server::store::connect(&copythat_server::config::ConnectionUrl::new(
        cluster.database_url.clone(),
    ))
    .await
    .unwrap();
    let page = copythat_server::store::Page {
        limit: 1000,
        offset: 0,
    };
    let (events, _) = store.list_audit_events(page).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "login" && e.detail.0["reason"] == "locked out"),
        "refused by the shared lock-out, not only by the shared rate limit"
    );
}

/// A rolling restart under load: each instance in turn gets SIGTERM, is taken out of the
/// rotation when its `/ready` turns 503 (as a load balancer's health check would), exits,
/// and is replaced on the same port. No request sees a 5xx or a broken connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_a_rolling_restart_under_load_answers_every_request() {
    let Some(mut cluster) = Cluster::new(&[]).await else {
        return;
    };
    let client = reqwest::Client::new();
    let (_, _, tokens) = register_and_login(&client, &cluster.instances[0]).await;
    let access = Arc::new(tokens["access_token"].as_str().unwrap().to_owned());

    // The balancer's view: which ports are in rotation, checked every 100 ms.
    let ports: Arc<RwLock<Vec<(u16, bool)>>> = Arc::new(RwLock::new(
        cluster.instances.iter().map(|i| (i.port, true)).collect(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let (ports, stop) = (ports.clone(), stop.clone());
        tokio::spawn(async move {
            let probe = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let snapshot = ports.read().await.clone();
                for (i, (port, _)) in snapshot.iter().enumerate() {
                    let ready = probe
                        .get(format!("http://127.0.0.1:{port}/ready"))
                        .timeout(Duration::from_secs(1))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200);
                    ports.write().await[i].1 = ready;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let (served, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for worker in 0..8 {
        let (ports, stop, access) = (ports.clone(), stop.clone(), access.clone());
        let (served, failures) = (served.clone(), failures.clone());
        load.push(tokio::spawn(async move {
            // One client per instance, as a balancer keeps a pool per backend.
            let mut clients: std::collections::HashMap<u16, reqwest::Client> = Default::default();
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                let in_rotation: Vec<u16> = ports
                    .read()
                    .await
                    .iter()
                    .filter(|(_, up)| *up)
                    .map(|(p, _)| *p)
                    .collect();
                let Some(port) = in_rotation.get(n % in_rotation.len().max(1)).copied() else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                n += 1;
                let client = clients.entry(port).or_default();
                let path = if n % 2 == 0 {
                    "/api/v1/projects"
                } else {
                    "/api/v1/auth/me"
                };
                match client
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .bearer_auth(access.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        eprintln!("{port}{path}: {}", r.status());
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        eprintln!("{port}{path}: {err}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..cluster.instances.len() {
        let port = cluster.instances[i].port;
        let pid = cluster.instances[i].child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let old = &mut cluster.instances[i].child;
        let exit = tokio::task::block_in_place(|| old.wait()).unwrap();
        assert!(exit.success(), "instance {i} stopped cleanly: {exit:?}");
        cluster.instances[i] = cluster.start(port).await;
        // Back in rotation before the next one goes.
        while !ports.read().await[i].1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    checker.await.unwrap();
    let (served, failures) = (
        served.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    assert!(served > 100, "the load ran: {served} requests served");
    assert_eq!(
        failures,
        0,
        "{failures} of {} requests failed",
        served + failures
    );
}
