//! The skeleton's promises: health and readiness, error format, request ids, security
//! headers (S19, S20, S23).

use crate::both_backends;
use crate::helpers::*;

both_backends! {
    async fn s23_health_says_only_ok(app) {
        let response = app.get("/health").await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "status": "ok" }));
    }

    async fn ready_says_ready_and_nothing_else(app) {
        let response = app.get("/ready").await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert_leaks_nothing(&text);
        assert_eq!(text, r#"{"status":"ready"}"#);
    }
}

/// `/ready` follows the database: taken away (its role may no longer log in and its
/// connections are ended), the instance is not ready; given back, it is again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_ready_is_503_while_the_database_is_unreachable() {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        skip(PG_ENV);
        return;
    };
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let role = format!("ready_{}", uuid::Uuid::new_v4().simple());
    let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
    run(format!("CREATE ROLE {role} LOGIN SUPERUSER"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_username(&role).unwrap();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let app = spawn_app_on_postgres(url.as_str(), &schema).await;

    assert_eq!(app.get("/ready").await.status(), 200);
    run(format!("ALTER ROLE {role} NOLOGIN"))
        .execute(&mut admin)
        .await
        .unwrap();
    let end =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'");
    run(end.clone()).execute(&mut admin).await.unwrap();
    let down = app.get("/ready").await;
    assert_eq!(down.status(), 503);
    assert_leaks_nothing(&assert_problem(down, 503).await.to_string());
    assert_eq!(app.get("/health").await.status(), 200, "alive all the same");

    run(format!("ALTER ROLE {role} LOGIN"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..100 {
        if app.get("/ready").await.status() == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "ready again once the database is back");
    drop(app);
    run(end).execute(&mut admin).await.unwrap();
    run(format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
    run(format!("DROP ROLE {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// S16: failing closed, an unreachable Redis means every counted request would be refused:
/// the instance says it is not ready. Failing open (the default) it serves, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_ready_is_503_when_limits_fail_closed_and_redis_is_down() {
    // Nothing listens on port 1 of loopback.
    let dead = "redis://127.0.0.1:1/";
    let closed = spawn_app_with(
        Backend::Sqlite,
        &[
            ("REDIS_URL", dead),
            ("COPYTHAT_RATE_LIMIT_FAIL_CLOSED", "on"),
        ],
    )
    .await
    .unwrap();
    assert_problem(closed.get("/ready").await, 503).await;
    assert_problem(closed.get("/api/v1/auth/me").await, 503).await;

    let open = spawn_app_with(Backend::Sqlite, &[("REDIS_URL", dead)])
        .await
        .unwrap();
    assert_eq!(open.get("/ready").await.status(), 200);
    assert_eq!(
        open.get("/api/v1/auth/me").await.status(),
        401,
        "served without limits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s20_every_response_carries_security_headers() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for path in ["/health", "/nope", "/api/v1/nope"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert!(
            h["permissions-policy"]
                .to_str()
                .unwrap()
                .contains("camera=()")
        );
        assert_eq!(h["x-xss-protection"], "0");
        assert_eq!(h["cache-control"], "no-store");
        assert!(
            h.get("strict-transport-security").is_none(),
            "HSTS only in production"
        );
        assert!(h.get("server").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s20_hsts_in_production() {
    let key = random_secret();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_ENV", "production"), ("SECRET_KEY", &key)],
    )
    .await
    .unwrap();
    let response = app.get("/health").await;
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s19_unknown_route_and_method_are_problem_json() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let body = assert_problem(app.get("/api/v1/does-not-exist").await, 404).await;
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Not Found");

    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert!(response.headers().get("allow").is_some());
    assert_problem(response, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s20_safe_request_id_is_kept_and_unsafe_one_replaced() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "client-trace.42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-trace.42");
    let body = assert_problem(response, 404).await;
    assert_eq!(body["request_id"], "client-trace.42");

    for unsafe_id in ["<script>alert(1)</script>", &"x".repeat(200), "a b"] {
        let response = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", unsafe_id)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, unsafe_id);
        assert!(id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s21_cors_allows_configured_origins_only() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(allowed.headers()["access-control-max-age"], "600");
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let denied = preflight("https://evil.example").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_s20_web_page_is_public_and_has_no_inline_script() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/app.js"></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "no inline scripts");
    assert!(
        !html.contains("style=") && !html.contains("<style"),
        "no inline styles"
    );
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/api.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let asset = app.get(path).await;
        assert_eq!(asset.status(), 200);
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s23_docs_describe_every_route_outside_production() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for entry in copythat_server::routes::route_table() {
        let method = entry.method.as_str().to_ascii_lowercase();
        let op = &doc["paths"][entry.path][&method];
        assert!(op.is_object(), "{method} {} documented", entry.path);
        assert_eq!(op["operationId"], entry.operation);
    }
    assert_eq!(
        doc["paths"]["/auth/token"]["post"]["security"],
        serde_json::json!([])
    );
    assert_eq!(app.get("/docs").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s23_docs_are_off_in_production_unless_enabled() {
    let key = random_secret();
    let prod = [("COPYTHAT_ENV", "production"), ("SECRET_KEY", key.as_str())];
    let app = spawn_app_with(Backend::Sqlite, &prod).await.unwrap();
    assert_problem(app.get("/openapi.json").await, 404).await;
    assert_problem(app.get("/docs").await, 404).await;
    let mut enabled = prod.to_vec();
    enabled.push(("COPYTHAT_DOCS", "on"));
    let app = spawn_app_with(Backend::Sqlite, &enabled).await.unwrap();
    assert_eq!(app.get("/openapi.json").await.status(), 200);
}
