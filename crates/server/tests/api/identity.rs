//! Identity: accounts, tokens, API keys and roles, one test per control and attack
//! (S1-S7, S9, S10, S24).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Signs `claims` with the test process's key, as an attacker who knew it would.
fn forge(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(TEST_KEY.as_bytes()),
    )
    .unwrap()
}

fn valid_claims(user: &TestUser) -> Value {
    json!({
        "sub": user.id, "exp": now() + 600, "iat": now(), "jti": uuid::Uuid::new_v4(),
        "typ": "access", "iss": "copythat", "aud": "copythat-api", "ver": 0
    })
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.bearer(Method::GET, "/api/v1/auth/me", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

both_backends! {
    async fn s1_every_route_requires_a_principal(app) {
        let table = copythat_server::routes::route_table();
        assert!(table.len() >= 12);
        for entry in table {
            let path = format!(
                "/api/v1{}",
                entry
                    .path
                    .replace("{id}", &uuid::Uuid::new_v4().to_string())
            );
            let method = Method::from_bytes(entry.method.as_str().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let public = entry.access == copythat_server::routes::Access::Public;
            if public {
                assert_ne!(response.status(), 401, "{method} {path} is public (S1)");
                continue;
            }
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{method} {path}"
            );
            assert_problem(response, 401).await;

            // A malformed credential is the same 401.
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .header("authorization", "Bearer not.a.token")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with a bad token");
        }
        // The public list is exactly S1's.
        let public: Vec<String> = copythat_server::routes::route_table()
            .into_iter()
            .filter(|e| e.access == copythat_server::routes::Access::Public)
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert_eq!(
            public,
            [
                "POST /auth/register",
                "POST /auth/token",
                "POST /auth/refresh"
            ]
        );
    }
}

/// S7/S9: the route table's access policy, walked route by route: session-only routes
/// refuse even a key with every scope (403), admin routes refuse a signed-in user (403)
/// and an admin's key, and the refusals of admin routes are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_s9_every_route_enforces_its_access_policy() {
    use copythat_server::routes::Access;
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    let admin = app.new_admin().await;
    let key = app.new_api_key(&user, &["read", "write", "delete"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_key = app.new_api_key(&admin, &["read", "write", "delete"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut checked = 0;
    for entry in copythat_server::routes::route_table() {
        let path = format!(
            "/api/v1{}",
            entry
                .path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
        );
        let method = Method::from_bytes(entry.method.as_str().as_bytes()).unwrap();
        let send = |credential: reqwest::RequestBuilder| credential.json(&json!({})).send();
        let with_key = |key: &str| {
            app.client
                .request(method.clone(), app.url(&path))
                .header("x-api-key", key.to_owned())
        };
        let with_bearer = |token: &str| {
            app.client
                .request(method.clone(), app.url(&path))
                .bearer_auth(token)
        };
        match entry.access {
            Access::Session => {
                let response = send(with_key(&key)).await.unwrap();
                assert_problem(response, 403).await;
                checked += 1;
            }
            Access::Admin => {
                assert_problem(send(with_bearer(&user.access)).await.unwrap(), 403).await;
                assert_problem(send(with_key(&admin_key)).await.unwrap(), 403).await;
                let allowed = send(with_bearer(&admin.access))
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                assert!(![401, 403].contains(&allowed), "{method} {path}: {allowed}");
                checked += 1;
            }
            Access::User => {
                let status = send(with_key(&key)).await.unwrap().status().as_u16();
                assert!(
                    ![401, 403].contains(&status),
                    "{method} {path} takes a key: {status}"
                );
            }
            Access::Public => {}
        }
    }
    assert!(checked >= 8, "{checked}");
    let sessions = copythat_server::routes::route_table()
        .iter()
        .filter(|e| e.access == Access::Session)
        .count();
    // S24: every key refused on a session-only route is in the audit log.
    let key_refusals = |events: &[copythat_server::store::AuditEvent]| {
        events
            .iter()
            .filter(|e| {
                e.action == "api_key_use_denied" && e.detail.0["reason"] == "session-only route"
            })
            .count()
    };
    let events = app
        .audit_events_when(|events| key_refusals(events) >= sessions)
        .await;
    assert_eq!(key_refusals(&events), sessions);
    let denied = app
        .audit_events_when(|events| {
            events
                .iter()
                .filter(|e| e.action == "access_denied")
                .count()
                >= 6
        })
        .await;
    assert!(
        denied
            .iter()
            .filter(|e| e.action == "access_denied")
            .count()
            >= 6
    );
}

both_backends! {
    async fn s3_alg_none_is_refused(app, config = [("SECRET_KEY", TEST_KEY.clone())]) {
        let user = app.new_user().await;
        let header = json!({ "alg": "none", "typ": "JWT" });
        let token = format!("{}.{}.", b64(&header), b64(&valid_claims(&user)));
        assert_eq!(me_status(&app, &token).await, 401);
        // Control: the same claims properly signed are accepted.
        assert_eq!(me_status(&app, &forge(&valid_claims(&user))).await, 200);
    }

    async fn s3_tampered_signature_is_refused(app) {
        let user = app.new_user().await;
        let parts: Vec<&str> = user.access.split('.').collect();
        let mut payload: Value = {
            use base64::Engine;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
            serde_json::from_slice(&raw).unwrap()
        };
        payload["ver"] = json!(payload["ver"].as_i64().unwrap() + 7);
        let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert_eq!(me_status(&app, &tampered).await, 401);
        let mut sig = parts[2].to_owned();
        let last = if sig.ends_with('A') { "B" } else { "A" };
        sig.replace_range(sig.len() - 1.., last);
        let flipped = format!("{}.{}.{}", parts[0], parts[1], sig);
        assert_eq!(me_status(&app, &flipped).await, 401);
        assert_eq!(me_status(&app, &user.access).await, 200);
    }

    async fn s3_expired_wrong_audience_issuer_type_and_missing_exp_are_refused(
        app,
        config = [("SECRET_KEY", TEST_KEY.clone())]
    ) {
        let user = app.new_user().await;
        let base = valid_claims(&user);
        let with = |key: &str, value: Value| {
            let mut claims = base.clone();
            claims[key] = value;
            forge(&claims)
        };
        assert_eq!(me_status(&app, &with("exp", json!(now() - 120))).await, 401, "expired");
        assert_eq!(me_status(&app, &with("aud", json!("someone-else"))).await, 401, "audience");
        assert_eq!(me_status(&app, &with("iss", json!("evil"))).await, 401, "issuer");
        assert_eq!(me_status(&app, &with("typ", json!("refresh"))).await, 401, "type");
        let mut no_exp = base.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(me_status(&app, &forge(&no_exp)).await, 401, "missing exp");
        // Properly signed and otherwise valid, but longer than any token this server
        // mints: refused for its size alone (the same claims without the padding pass).
        let mut padded = base.clone();
        padded["pad"] = json!("p".repeat(8 * 1024));
        assert_eq!(me_status(&app, &forge(&padded)).await, 401, "oversized");
        let mut small_pad = base.clone();
        small_pad["pad"] = json!("p".repeat(64));
        assert_eq!(me_status(&app, &forge(&small_pad)).await, 200, "padding alone is fine");
        // A token signed with another key.
        let other = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &base,
            &EncodingKey::from_secret(random_secret().as_bytes()),
        )
        .unwrap();
        assert_eq!(me_status(&app, &other).await, 401, "other key");
        // Properly signed, but not as this server mints them.
        let mut future = base.clone();
        future["iat"] = json!(now() + 3600);
        future["exp"] = json!(now() + 3900);
        assert_eq!(me_status(&app, &forge(&future)).await, 401, "issued in the future");
        assert_eq!(me_status(&app, &with("exp", json!(now() + 86_400))).await, 401, "outlives the access TTL");
        let mut critical = Header::new(Algorithm::HS256);
        critical.crit = Some(vec!["exp".into()]);
        let crit = jsonwebtoken::encode(&critical, &base, &EncodingKey::from_secret(TEST_KEY.as_bytes())).unwrap();
        assert_eq!(me_status(&app, &crit).await, 401, "unknown critical header");
        assert_eq!(me_status(&app, &forge(&base)).await, 200, "control");
    }

    async fn s3_refresh_and_access_tokens_are_not_interchangeable(app) {
        let user = app.new_user().await;
        assert_eq!(me_status(&app, &user.refresh).await, 401);
        assert_problem(app.refresh(&user.access).await, 401).await;
        assert_eq!(app.refresh(&user.refresh).await.status(), 200);
    }

    async fn s4_refresh_rotates_and_reuse_revokes_the_family(app) {
        let user = app.new_user().await;
        let first = app.refresh(&user.refresh).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["cache-control"], "no-store");
        let pair: Value = first.json().await.unwrap();
        let rotated = pair["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rotated, user.refresh);
        assert_eq!(pair["token_type"], "bearer");
        assert_eq!(pair["expires_in"], 900);

        let rotated_access = pair["access_token"].as_str().unwrap().to_owned();
        assert_eq!(me_status(&app, &rotated_access).await, 200);

        // The thief replays the old token: refused, and the whole family dies, along with
        // the access tokens it minted.
        assert_problem(app.refresh(&user.refresh).await, 401).await;
        assert_problem(app.refresh(&rotated).await, 401).await;
        assert_eq!(me_status(&app, &rotated_access).await, 401);
        assert_eq!(me_status(&app, &user.access).await, 401);
        assert!(app.audit_events().await.iter().any(|e| e.action == "refresh_reuse"));
        // Logging in again starts a fresh family.
        assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    }

    async fn s4_parallel_refresh_with_one_token_succeeds_exactly_once(app) {
        let user = app.new_user().await;
        let attempts = (0..6).map(|_| app.refresh(&user.refresh));
        let statuses: Vec<u16> = futures_join_all(attempts).await;
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, 1, "one use rotates, the others are replays: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
    }

    async fn s4_logout_revokes_refresh_and_access_tokens(app) {
        let user = app.new_user().await;
        let response = app
            .bearer(Method::POST, "/api/v1/auth/logout", &user.access)
            .json(&json!({ "refresh_token": user.refresh }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_problem(app.refresh(&user.refresh).await, 401).await;
        assert_eq!(me_status(&app, &user.access).await, 401);
    }

    async fn s4_s7_an_api_key_cannot_log_its_owner_out(app) {
        let user = app.new_user().await;
        let key = app.new_api_key(&user, &["read", "write", "delete"]).await["key"].as_str().unwrap().to_owned();
        let response = app
            .with_key(Method::POST, "/api/v1/auth/logout", &key)
            .json(&json!({ "refresh_token": user.refresh }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 403).await;
        // The session is untouched.
        assert_eq!(me_status(&app, &user.access).await, 200);
        assert_eq!(app.refresh(&user.refresh).await.status(), 200);
    }

    async fn s7_the_key_cap_holds_under_parallel_creates(app) {
        let user = app.new_user().await;
        let create = || {
            app.bearer(Method::POST, "/api/v1/auth/api-keys", &user.access)
                .json(&json!({ "name": "burst", "scopes": ["read"] }))
                .send()
        };
        let mut statuses = Vec::new();
        // Waves of parallel requests: enough that unsynchronised count-then-insert overshoots.
        for _ in 0..4 {
            let wave = (0..16).map(|_| create());
            for response in futures_util::future::join_all(wave).await {
                statuses.push(response.unwrap().status().as_u16());
            }
        }
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 50, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
        let list = app
            .bearer(Method::GET, "/api/v1/auth/api-keys", &user.access)
            .send()
            .await
            .unwrap();
        let list: Value = list.json().await.unwrap();
        assert_eq!(list["total"], 50);
    }

    async fn s4_password_change_kills_outstanding_tokens_and_api_keys(app) {
        let user = app.new_user().await;
        let key = app.new_api_key(&user, &["read"]).await["key"].as_str().unwrap().to_owned();
        let second_session: serde_json::Value =
            app.login(&user.email, &user.password).await.json().await.unwrap();
        let new_password = random_password();
        let wrong = app
            .bearer(Method::POST, "/api/v1/auth/password", &user.access)
            .json(&json!({ "current_password": "not-my-password", "new_password": new_password }))
            .send()
            .await
            .unwrap();
        let body = assert_problem(wrong, 422).await;
        assert_eq!(body["errors"][0]["field"], "current_password");

        let changed = app
            .bearer(Method::POST, "/api/v1/auth/password", &user.access)
            .json(&json!({ "current_password": user.password, "new_password": new_password }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        let revoked: serde_json::Value = changed.json().await.unwrap();
        assert_eq!(revoked["sessions_revoked"], 2, "{revoked}");
        assert_eq!(revoked["api_keys_revoked"], 1, "{revoked}");
        assert_eq!(me_status(&app, &user.access).await, 401);
        assert_problem(app.refresh(&user.refresh).await, 401).await;
        let other_refresh = second_session["refresh_token"].as_str().unwrap();
        assert_problem(app.refresh(other_refresh).await, 401).await;
        let with_key = app.with_key(Method::GET, "/api/v1/auth/me", &key).send().await.unwrap();
        assert_problem(with_key, 401).await;
        assert_eq!(app.login(&user.email, &user.password).await.status(), 401);
        assert_eq!(app.login(&user.email, &new_password).await.status(), 200);
    }

    async fn s5_login_failures_are_indistinguishable(app) {
        let user = app.new_user().await;
        let unknown = app.login("nobody-here@example.com", &user.password).await;
        let wrong = app.login(&user.email, "wrong-password-here").await;
        let mut a = assert_problem(unknown, 401).await;
        let mut b = assert_problem(wrong, 401).await;
        a.as_object_mut().unwrap().remove("request_id");
        b.as_object_mut().unwrap().remove("request_id");
        assert_eq!(a, b);
    }

    async fn s6_failed_logins_are_throttled(
        app,
        config = [
            ("COPYTHAT_LOGIN_PER_MINUTE", "3".to_owned()),
            ("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ]
    ) {
        let email = "throttled@example.com";
        let password = random_password();
        assert_eq!(app.register(email, &password).await.status(), 201);
        let login_from = |ip: &'static str, password: String| {
            app.client
                .post(app.url("/api/v1/auth/token"))
                .header("x-forwarded-for", ip)
                .form(&[("username", email.to_owned()), ("password", password)])
                .send()
        };
        for _ in 0..3 {
            let failed = login_from("203.0.113.1", "wrong-password-here".into()).await.unwrap();
            assert_eq!(failed.status(), 401);
        }
        // From a fresh address (so not its rate limit), the account itself is locked:
        // even the right password is refused for now, with a Retry-After.
        let locked = login_from("203.0.113.2", password.clone()).await.unwrap();
        assert_eq!(locked.status(), 429);
        let retry: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry));
        assert_problem(locked, 429).await;
        let events = app.audit_events().await;
        assert!(events.iter().any(|e| e.action == "lockout"));
        assert!(events.iter().filter(|e| e.action == "login" && e.outcome == "failure").count() >= 3);
    }

    async fn s7_api_key_is_shown_once_listed_by_prefix_and_revocable(app) {
        let user = app.new_user().await;
        let created = app.new_api_key(&user, &["read"]).await;
        let key = created["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("ct_") && key.len() >= 46);
        assert!(key.starts_with(created["prefix"].as_str().unwrap()));

        let me = app.with_key(Method::GET, "/api/v1/auth/me", &key).send().await.unwrap();
        assert_eq!(me.status(), 200);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["id"], user.id.as_str());

        let list = app
            .bearer(Method::GET, "/api/v1/auth/api-keys", &user.access)
            .send()
            .await
            .unwrap();
        let text = list.text().await.unwrap();
        assert!(!text.contains(&key), "the full key is never listed");
        let list: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(list["total"], 1);
        assert!(list["items"][0]["last_used_at"].is_string(), "last use recorded");
        assert!(list["items"][0].get("key").is_none());

        let id = created["id"].as_str().unwrap();
        let revoked = app
            .bearer(Method::DELETE, &format!("/api/v1/auth/api-keys/{id}"), &user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 204);
        let after = app.with_key(Method::GET, "/api/v1/auth/me", &key).send().await.unwrap();
        assert_problem(after, 401).await;
        let events = app.audit_events().await;
        assert!(events.iter().any(|e| e.action == "api_key_create"));
        assert!(events.iter().any(|e| e.action == "api_key_revoke"));
        assert!(events.iter().any(|e| e.action == "api_key_use_denied"));
        let all = serde_json::to_string(&events).unwrap();
        assert!(!all.contains(&key[3..]), "no key in the audit log");
    }

    async fn s7_scopes_are_enforced_by_method_class(app) {
        let user = app.new_user().await;
        let read = app.new_api_key(&user, &["read"]).await["key"].as_str().unwrap().to_owned();
        let logout = app
            .with_key(Method::POST, "/api/v1/auth/logout", &read)
            .json(&json!({ "refresh_token": user.refresh }))
            .send()
            .await
            .unwrap();
        assert_problem(logout, 403).await;
        let other = app.new_api_key(&user, &["read"]).await;
        let delete = app
            .with_key(Method::DELETE, &format!("/api/v1/auth/api-keys/{}", other["id"].as_str().unwrap()), &read)
            .send()
            .await
            .unwrap();
        assert_problem(delete, 403).await;
        // A write key cannot mint keys: credentials need the account holder.
        let write = app.new_api_key(&user, &["read", "write"]).await["key"].as_str().unwrap().to_owned();
        let mint = app
            .with_key(Method::POST, "/api/v1/auth/api-keys", &write)
            .json(&json!({ "name": "escalate", "scopes": ["delete"] }))
            .send()
            .await
            .unwrap();
        assert_problem(mint, 403).await;
        assert!(app.audit_events().await.iter().any(|e| e.action == "api_key_use_denied"));
    }

    async fn s7_expired_api_key_is_refused(app) {
        let user = app.new_user().await;
        let past = app
            .bearer(Method::POST, "/api/v1/auth/api-keys", &user.access)
            .json(&json!({ "name": "old", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z" }))
            .send()
            .await
            .unwrap();
        assert_problem(past, 422).await;
        // Keys whose expiry is a second in the past and an hour in the future, written as the
        // API would store them: no waiting on the clock.
        let stored_key = |expires_at: time::OffsetDateTime| {
            let generated = copythat_server::auth::api_keys::generate();
            let record = copythat_server::store::ApiKeyRecord {
                id: uuid::Uuid::now_v7(),
                user_id: uuid::Uuid::parse_str(&user.id).unwrap(),
                name: "dated".into(),
                key_prefix: generated.prefix.clone(),
                key_hash: generated.hash.clone(),
                scopes: sqlx::types::Json(vec![copythat_server::store::Scope::Read]),
                is_active: true,
                expires_at: Some(expires_at),
                last_used_at: None,
                created_at: time::OffsetDateTime::now_utc(),
                rate_per_minute: None,
            };
            (record, generated.key)
        };
        let now = time::OffsetDateTime::now_utc();
        for (offset, status) in [(time::Duration::hours(1), 200), (time::Duration::seconds(-1), 401)] {
            let (record, key) = stored_key(now + offset);
            assert!(app.store.insert_api_key_capped(&record, 50).await.unwrap());
            let response = app.with_key(Method::GET, "/api/v1/auth/me", &key).send().await.unwrap();
            assert_eq!(response.status(), status, "expiring {offset}");
        }
        let denied = app
            .audit_events_when(|events| events.iter().any(|e| e.detail.0["reason"] == "expired"))
            .await;
        assert!(denied.iter().any(|e| e.action == "api_key_use_denied" && e.detail.0["reason"] == "expired"));
    }

    async fn s10_mass_assignment_is_refused(app) {
        let email = "mass@example.com";
        for extra in [json!({ "roles": ["admin"] }), json!({ "is_active": false }), json!({ "is_superuser": true })] {
            let mut body = json!({ "email": email, "password": random_password() });
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let response = app.post_json("/api/v1/auth/register", &body).await;
            assert_problem(response, 422).await;
        }
        assert!(app.store.find_user_by_email(email).await.unwrap().is_none());
        let user = app.new_user().await;
        let me: Value = app
            .bearer(Method::GET, "/api/v1/auth/me", &user.access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["roles"], json!(["user"]));
    }

    async fn s9_admin_routes_are_forbidden_to_users(app) {
        let user = app.new_user().await;
        for (method, path) in [
            (Method::GET, "/api/v1/admin/users".to_owned()),
            (Method::GET, "/api/v1/admin/audit".to_owned()),
            (Method::PATCH, format!("/api/v1/admin/users/{}", user.id)),
        ] {
            let response = app
                .bearer(method, &path, &user.access)
                .json(&json!({ "roles": ["user", "admin"] }))
                .send()
                .await
                .unwrap();
            assert_problem(response, 403).await;
        }
        let me: Value = app.bearer(Method::GET, "/api/v1/auth/me", &user.access).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["roles"], json!(["user"]), "not promoted");
        assert!(app.audit_events().await.iter().any(|e| e.action == "access_denied"));
    }

    async fn s9_admin_manages_users_and_disabling_kills_sessions(app) {
        let admin = app.new_admin().await;
        let user = app.new_user().await;
        let list: Value = app.bearer(Method::GET, "/api/v1/admin/users?limit=10", &admin.access).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["total"], 2);
        assert!(!list.to_string().contains("argon2"), "no password hashes");

        let disabled = app
            .bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", user.id), &admin.access)
            .json(&json!({ "is_active": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(disabled.status(), 200);
        assert_eq!(me_status(&app, &user.access).await, 401);
        assert_problem(app.refresh(&user.refresh).await, 401).await;
        assert_eq!(app.login(&user.email, &user.password).await.status(), 401);

        let self_demote = app
            .bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", admin.id), &admin.access)
            .json(&json!({ "roles": ["user"] }))
            .send()
            .await
            .unwrap();
        assert_problem(self_demote, 422).await;
        let refused = |events: &[copythat_server::store::AuditEvent]| {
            events.iter().any(|e| {
                e.action == "admin_update_user"
                    && e.outcome == "failure"
                    && e.target.as_deref() == Some(admin.id.as_str())
            })
        };
        let events = app.audit_events_when(refused).await;
        assert!(refused(&events), "a refused admin action is audited (S24)");
        let unknown_field = app
            .bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", user.id), &admin.access)
            .json(&json!({ "email": "x@y.zz" }))
            .send()
            .await
            .unwrap();
        assert_problem(unknown_field, 422).await;
        let missing = app
            .bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4()), &admin.access)
            .json(&json!({ "is_active": true }))
            .send()
            .await
            .unwrap();
        assert_problem(missing, 404).await;

        let audit: Value = app.bearer(Method::GET, "/api/v1/admin/audit?limit=100", &admin.access).send().await.unwrap().json().await.unwrap();
        let items = audit["items"].as_array().unwrap();
        let update = items.iter().find(|e| e["action"] == "admin_update_user").unwrap();
        assert_eq!(update["actor"], format!("user:{}", admin.id));
        assert_eq!(update["ip"], "127.0.0.1");
        assert!(update["request_id"].is_string());
        assert!(!audit.to_string().contains(&user.password), "S24: no passwords");
    }

    async fn s2_registration_validates_and_normalises(app) {
        let weak = app.register("weak@example.com", "password").await;
        let body = assert_problem(weak, 422).await;
        assert_eq!(body["errors"][0]["field"], "password");
        let short = app.register("short@example.com", "abc").await;
        assert_problem(short, 422).await;
        for look_alike in ["not-an-email", "admin\u{200B}@example.com", "ａdmin@example.com", "\"a<b>\"@example.com"] {
            let bad_email = app.register(look_alike, &random_password()).await;
            assert_eq!(assert_problem(bad_email, 422).await["errors"][0]["field"], "email", "{look_alike:?}");
        }
        let spoofed_name = app
            .post_json(
                "/api/v1/auth/register",
                &json!({ "email": "rlo@example.com", "password": random_password(), "full_name": "Eve\u{202E}nimda" }),
            )
            .await;
        assert_eq!(assert_problem(spoofed_name, 422).await["errors"][0]["field"], "full_name");

        let password = random_password();
        let created = app.register("  Mixed.Case@Example.COM ", &password).await;
        assert_eq!(created.status(), 201);
        let user: Value = created.json().await.unwrap();
        assert_eq!(user["email"], "mixed.case@example.com");
        for key in ["id", "email", "full_name", "is_active", "roles", "created_at"] {
            assert!(user.get(key).is_some(), "{key}");
        }
        assert!(user.get("password_hash").is_none());
        let again = app.register("mixed.case@example.com", &random_password()).await;
        assert_problem(again, 409).await;
        assert_eq!(app.login("MIXED.case@example.com", &password).await.status(), 200);
    }

    async fn s19_malformed_bodies_are_problem_json(app) {
        let url = app.url("/api/v1/auth/register");
        let syntax = app.client.post(&url).header("content-type", "application/json").body("{\"email\":").send().await.unwrap();
        assert_problem(syntax, 400).await;
        let wrong_type = app.post_json("/api/v1/auth/register", &json!({ "email": 5, "password": "x" })).await;
        assert_eq!(assert_problem(wrong_type, 422).await["errors"][0]["field"], "email");
        let not_json = app.client.post(&url).header("content-type", "text/plain").body("hi").send().await.unwrap();
        assert_problem(not_json, 415).await;
        let huge = json!({ "email": "a@b.co", "password": "x".repeat(70 * 1024) });
        assert_problem(app.post_json("/api/v1/auth/register", &huge).await, 413).await;
        let form = app.client.post(app.url("/api/v1/auth/token")).json(&json!({ "username": "a" })).send().await.unwrap();
        assert_problem(form, 415).await;
        let bad_query = app.client.get(app.url("/api/v1/admin/users?limit=abc")).send().await.unwrap();
        assert_problem(bad_query, 401).await;
    }
}

async fn futures_join_all(
    requests: impl Iterator<Item = impl std::future::Future<Output = reqwest::Response>>,
) -> Vec<u16> {
    // All requests are in flight together.
    futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect()
}

both_backends! {
    // S3: a credential header sent twice is refused, whichever copy is valid.
    async fn s3_a_credential_header_sent_twice_is_refused(app) {
        let user = app.new_user().await;
        for (first, second) in [
            (format!("Bearer {}", user.access), "Bearer junk".to_owned()),
            ("Bearer junk".to_owned(), format!("Bearer {}", user.access)),
            (format!("Bearer {}", user.access), format!("Bearer {}", user.access)),
        ] {
            let response = app
                .client
                .get(app.url("/api/v1/auth/me"))
                .header("authorization", first)
                .header("authorization", second)
                .send()
                .await
                .unwrap();
            assert_problem(response, 401).await;
        }
        let key = app.new_api_key(&user, &["read"]).await["key"].as_str().unwrap().to_owned();
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("x-api-key", &key)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
        assert_eq!(me_status(&app, &user.access).await, 200);
    }
}
