//! Rate limits over HTTP: headers, 429, per-principal counting, forwarded-header spoofing,
//! the extraction quota, and Redis shared across instances with fail-open (S15-S17).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

fn header_u64(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

both_backends! {
    async fn s15_every_response_carries_limits_and_excess_is_429(app, config = [("COPYTHAT_RATE_PER_MINUTE", "5".to_owned())]) {
        let mut remaining = Vec::new();
        for _ in 0..5 {
            let response = app.get("/api/v1/auth/me").await;
            assert_eq!(response.status(), 401, "counted even when refused");
            assert_eq!(header_u64(&response, "x-ratelimit-limit"), 5);
            assert!(header_u64(&response, "x-ratelimit-reset") <= 60);
            remaining.push(header_u64(&response, "x-ratelimit-remaining"));
        }
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let limited = app.get("/api/v1/auth/me").await;
        assert_eq!(limited.status(), 429);
        let retry = header_u64(&limited, "retry-after");
        assert!((1..=12).contains(&retry), "one request every 12 s: {retry}");
        assert_eq!(header_u64(&limited, "x-ratelimit-remaining"), 0);
        assert_problem(limited, 429).await;
        // Health probes are not counted.
        assert_eq!(app.get("/health").await.status(), 200);
    }
}

both_backends! {
    async fn s15_principals_are_counted_separately_from_their_address(app, config = [("COPYTHAT_RATE_PER_MINUTE", "8".to_owned())]) {
        let alice = app.new_user().await; // register + login: two of the address's eight
        let bob = app.new_user().await; // two more
        for _ in 0..8 {
            let ok = app
                .bearer(Method::GET, "/api/v1/auth/me", &alice.access)
                .send()
                .await
                .unwrap();
            assert_eq!(ok.status(), 200);
        }
        let limited = app
            .bearer(Method::GET, "/api/v1/auth/me", &alice.access)
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        let other = app
            .bearer(Method::GET, "/api/v1/auth/me", &bob.access)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "Bob has his own quota");
    }
}

both_backends! {
    async fn s15_forged_api_keys_share_their_address_quota(app, config = [("COPYTHAT_RATE_PER_MINUTE", "6".to_owned())]) {
        let user = app.new_user().await; // register + login: two of the address's six
        let key = app.new_api_key(&user, &["read"]).await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let forged = || format!("ct_{}", random_secret().replace(['+', '/', '='], "x"));
        for _ in 0..4 {
            let response = app
                .with_key(Method::GET, "/api/v1/auth/me", &forged())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        }
        // A fresh forgery does not buy a fresh quota: the address's is spent.
        let limited = app
            .with_key(Method::GET, "/api/v1/auth/me", &forged())
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        // A real key and a signed-in session (whatever the scheme's case) are counted against
        // their account, not the address the forgeries spent.
        let real = app
            .with_key(Method::GET, "/api/v1/auth/me", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(real.status(), 200);
        let shouted = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("authorization", format!("BEARER {}", user.access))
            .send()
            .await
            .unwrap();
        assert_eq!(shouted.status(), 200);
    }
}

both_backends! {
    async fn s15_a_revoked_access_token_cannot_spend_its_owners_quota(app, config = [("COPYTHAT_RATE_PER_MINUTE", "6".to_owned())]) {
        let user = app.new_user().await; // register + login: two of the address's six
        let logout = app
            .bearer(Method::POST, "/api/v1/auth/logout", &user.access)
            .json(&serde_json::json!({ "refresh_token": user.refresh }))
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 204); // one of the user's six
        let tokens: serde_json::Value = app
            .login(&user.email, &user.password)
            .await
            .json()
            .await
            .unwrap(); // three of the address's
        let fresh = tokens["access_token"].as_str().unwrap().to_owned();

        // Someone replays the dead token: it is counted against the sender's address.
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let response = app
                .bearer(Method::GET, "/api/v1/projects", &user.access)
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);

        let owner = app
            .bearer(Method::GET, "/api/v1/projects", &fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(owner.status(), 200, "the owner's quota is untouched");
        assert_eq!(owner.headers()["x-ratelimit-remaining"], "4");
    }
}

both_backends! {
    async fn s17_spoofed_forwarded_for_does_not_reset_a_limit(app, config = [("COPYTHAT_RATE_PER_MINUTE", "3".to_owned())]) {
        for i in 0..3 {
            let response = app
                .client
                .get(app.url("/api/v1/auth/me"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .header("forwarded", format!("for=198.51.100.{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        }
        let spoofed = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("x-forwarded-for", "192.0.2.77")
            .send()
            .await
            .unwrap();
        assert_eq!(
            spoofed.status(),
            429,
            "the header is not believed from an untrusted peer"
        );
    }
}

both_backends! {
    async fn s15_extraction_has_its_own_quota(app, config = [("COPYTHAT_EXTRACT_PER_MINUTE", "2".to_owned())]) {
        let user = app.new_user().await;
        let body = json!({ "project_id": uuid::Uuid::new_v4(), "image_base64": "AAAA" });
        for _ in 0..2 {
            let response = app
                .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_ne!(response.status(), 429);
        }
        let limited = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        let other = app
            .bearer(Method::GET, "/api/v1/projects", &user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(
            other.status(),
            200,
            "other routes are not held by the extraction quota"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_redis_limits_are_shared_by_instances() {
    let Ok(redis) = std::env::var("COPYTHAT_TEST_REDIS_URL") else {
        skip("COPYTHAT_TEST_REDIS_URL");
        return;
    };
    let prefix = format!("copythat-test:{}:", uuid::Uuid::new_v4().simple());
    let config = [
        ("REDIS_URL", redis.as_str()),
        ("COPYTHAT_REDIS_PREFIX", prefix.as_str()),
        ("COPYTHAT_RATE_PER_MINUTE", "4"),
    ];
    let one = spawn_app_with(Backend::Sqlite, &config).await.unwrap();
    let two = spawn_app_with(Backend::Sqlite, &config).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &one } else { &two };
        statuses.push(app.get("/api/v1/auth/me").await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429, 429],
        "one shared limit of 4"
    );

    // Exact under concurrency: 20 parallel requests against a fresh quota of 4.
    let prefix = format!("copythat-test:{}:", uuid::Uuid::new_v4().simple());
    let config = [
        ("REDIS_URL", redis.as_str()),
        ("COPYTHAT_REDIS_PREFIX", prefix.as_str()),
        ("COPYTHAT_RATE_PER_MINUTE", "4"),
    ];
    let three = spawn_app_with(Backend::Sqlite, &config).await.unwrap();
    let requests = (0..20).map(|_| three.get("/api/v1/auth/me"));
    let results = futures_util::future::join_all(requests).await;
    let passed = results.iter().filter(|r| r.status() == 401).count();
    assert_eq!(passed, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_redis_down_fails_open_or_closed_as_configured() {
    // A port nothing listens on: every Redis call fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", closed.local_addr().unwrap());
    drop(closed);
    let open = spawn_app_with(Backend::Sqlite, &[("REDIS_URL", url.as_str())])
        .await
        .unwrap();
    assert_eq!(
        open.get("/api/v1/auth/me").await.status(),
        401,
        "served without limits"
    );
    let shut = spawn_app_with(
        Backend::Sqlite,
        &[
            ("REDIS_URL", url.as_str()),
            ("COPYTHAT_RATE_LIMIT_FAIL_CLOSED", "on"),
        ],
    )
    .await
    .unwrap();
    assert_problem(shut.get("/api/v1/auth/me").await, 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_logins_are_limited_per_account_across_addresses() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("COPYTHAT_LOGIN_PER_MINUTE", "2"),
            ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await
    .unwrap();
    let email = "limited@example.com";
    let password = random_password();
    assert_eq!(app.register(email, &password).await.status(), 201);
    let login_from = |ip: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", ip)
            .form(&[("username", email), ("password", password.as_str())])
            .send()
    };
    assert_eq!(login_from("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(login_from("198.51.100.2").await.unwrap().status(), 200);
    let third = login_from("198.51.100.3").await.unwrap();
    assert_eq!(
        third.status(),
        429,
        "the account's quota is spent, whatever the address"
    );
    assert!(third.headers().contains_key("retry-after"));
    // An address the account signed in from before is not held by the account limit.
    assert_eq!(login_from("198.51.100.1").await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_preflights_are_counted_and_carry_the_headers() {
    let app = spawn_app_with(Backend::Sqlite, &[("COPYTHAT_RATE_PER_MINUTE", "3")])
        .await
        .unwrap();
    let preflight = || {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/projects"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .send()
    };
    for remaining in ["2", "1", "0"] {
        let response = preflight().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let limited = preflight().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body = assert_problem(limited, 429).await;
    assert_eq!(body["status"], 429);
}

both_backends! {
    async fn s6_a_lock_out_answered_by_a_handler_reports_no_room_left(app, config = [("COPYTHAT_LOGIN_PER_MINUTE", "3".to_owned())]) {
        let user = app.new_user().await;
        let attempt = || {
            app.bearer(Method::POST, "/api/v1/auth/password", &user.access)
                .json(&serde_json::json!({
                    "current_password": "not-the-password",
                    "new_password": random_password(),
                }))
                .send()
        };
        let mut last = None;
        for _ in 0..6 {
            let response = attempt().await.unwrap();
            if response.status() == 429 {
                last = Some(response);
                break;
            }
        }
        let locked = last.expect("wrong current passwords are throttled (S6)");
        assert_eq!(locked.headers()["x-ratelimit-remaining"], "0");
        let retry: u64 = locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let reset: u64 = locked.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset >= retry, "reset {reset} before retry-after {retry}");
    }
}

both_backends! {
    async fn s15_a_refused_doubled_credential_does_not_spend_its_owners_quota(app, config = [("COPYTHAT_RATE_PER_MINUTE", "6".to_owned())]) {
        let user = app.new_user().await; // register + login: two of the address's six
        for _ in 0..4 {
            let response = app
                .client
                .get(app.url("/api/v1/auth/me"))
                .header("authorization", format!("Bearer {}", user.access))
                .header("authorization", format!("Bearer {}", user.access))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        }
        let owner = app
            .bearer(Method::GET, "/api/v1/auth/me", &user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(owner.status(), 200);
        assert_eq!(owner.headers()["x-ratelimit-remaining"], "5");
    }
}

both_backends! {
    async fn s15_every_api_key_draws_on_its_accounts_quota(app, config = [("COPYTHAT_RATE_PER_MINUTE", "12".to_owned())]) {
        let user = app.new_user().await;
        // Three key creations are three of the account's twelve requests.
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(
                app.new_api_key(&user, &["read"]).await["key"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let mut statuses = Vec::new();
        for i in 0..10 {
            let response = app
                .with_key(Method::GET, "/api/v1/projects", &keys[i % keys.len()])
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 429]);
        // The session is the same account: it is out of quota too.
        let session = app
            .bearer(Method::GET, "/api/v1/projects", &user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(session.status(), 429, "more keys never mean more requests");
    }
}

both_backends! {
    async fn s15_an_api_key_may_have_a_lower_quota_of_its_own(app, config = [("COPYTHAT_RATE_PER_MINUTE", "20".to_owned())]) {
        let user = app.new_user().await;
        let create = |body: serde_json::Value| {
            app.bearer(Method::POST, "/api/v1/auth/api-keys", &user.access)
                .json(&body)
                .send()
        };
        let too_high =
            create(serde_json::json!({ "name": "ci", "scopes": ["read"], "rate_per_minute": 21 }))
                .await
                .unwrap();
        let body = assert_problem(too_high, 422).await;
        assert_eq!(body["errors"][0]["field"], "rate_per_minute");
        let slow: serde_json::Value =
            create(serde_json::json!({ "name": "ci", "scopes": ["read"], "rate_per_minute": 2 }))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(slow["rate_per_minute"], 2);
        let slow = slow["key"].as_str().unwrap();
        let fast = app.new_api_key(&user, &["read"]).await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let get = |key: &str| app.with_key(Method::GET, "/api/v1/projects", key).send();
        assert_eq!(get(slow).await.unwrap().status(), 200);
        let second = get(slow).await.unwrap();
        assert_eq!(second.status(), 200);
        assert_eq!(
            second.headers()["x-ratelimit-limit"],
            "2",
            "the tightest quota is reported"
        );
        assert_eq!(get(slow).await.unwrap().status(), 429);
        assert_eq!(
            get(&fast).await.unwrap().status(),
            200,
            "the account has room left"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_registration_is_limited_per_address_and_hour() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("COPYTHAT_REGISTER_PER_HOUR", "3"),
            ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await
    .unwrap();
    let register = |from: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({
                "email": format!("r-{}@example.com", uuid::Uuid::new_v4().simple()),
                "password": random_password(),
            }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(register("203.0.113.5").await.unwrap().status(), 201);
    }
    let limited = register("203.0.113.5").await.unwrap();
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_problem(limited, 429).await;
    assert!(
        retry > 60,
        "an hourly quota: one more in about 20 minutes, not {retry} s"
    );
    assert_eq!(
        register("203.0.113.6").await.unwrap().status(),
        201,
        "another address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_the_hourly_quota_applies_beside_the_minute_one() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("COPYTHAT_RATE_PER_MINUTE", "1000"),
            ("COPYTHAT_RATE_PER_HOUR", "5"),
        ],
    )
    .await
    .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/api/v1/auth/me").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let limited = app.get("/api/v1/auth/me").await;
    assert_eq!(limited.headers()["x-ratelimit-limit"], "5");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 60, "one more in 12 minutes, not {retry} s");
}

/// S6/S16: failed logins on one instance lock the account on every instance sharing
/// Redis, and a success on one clears it for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_lockouts_are_shared_by_instances_through_redis() {
    let Ok(redis) = std::env::var("COPYTHAT_TEST_REDIS_URL") else {
        skip("COPYTHAT_TEST_REDIS_URL");
        return;
    };
    let prefix = format!("copythat-test:{}:", uuid::Uuid::new_v4().simple());
    let Some(url) = std::env::var(PG_ENV).ok() else {
        skip(PG_ENV);
        return;
    };
    // Two instances on one database and one Redis, as behind a load balancer.
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let config = [
        ("REDIS_URL", redis.as_str()),
        ("COPYTHAT_REDIS_PREFIX", prefix.as_str()),
        ("COPYTHAT_LOGIN_PER_MINUTE", "3"),
        ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32"),
    ];
    let one = spawn_app_on_postgres_with(&url, &schema, &config).await;
    let two = spawn_app_on_postgres_with(&url, &schema, &config).await;
    let email = format!("lock-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = random_password();
    assert_eq!(one.register(&email, &password).await.status(), 201);
    let login = |app: &TestApp, from: &'static str, password: String| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", from)
            .form(&[("username", email.clone()), ("password", password)])
            .send()
    };
    for _ in 0..3 {
        let failed = login(&one, "203.0.113.10", "wrong-password-here".into())
            .await
            .unwrap();
        assert_eq!(failed.status(), 401);
    }
    // The other instance, another address: the account is locked there too.
    let locked = login(&two, "203.0.113.11", password.clone()).await.unwrap();
    assert_eq!(locked.status(), 429, "the lock-out is shared");
    assert!(locked.headers().contains_key("retry-after"));
    // Refused by the lock-out itself, not only by the (also shared) rate limit.
    let events = two
        .audit_events_when(|events| events.iter().any(|e| e.detail.0["reason"] == "locked out"))
        .await;
    assert!(
        events
            .iter()
            .any(|e| e.action == "login" && e.detail.0["reason"] == "locked out"),
        "the second instance refused the account as locked out"
    );
    // And the failing address is locked on the other instance for any account.
    let other = login(&two, "203.0.113.10", "wrong-password-here".into())
        .await
        .unwrap();
    assert_eq!(other.status(), 429);
}
