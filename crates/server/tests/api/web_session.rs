//! The web page's cookie session over HTTP: the refresh token in an HttpOnly cookie, its
//! rotation, its CSRF checks, reuse detection and sign-out, and JSON clients left as they were (S4).

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_problem, random_secret, spawn_app_with};

const SESSION_HEADER: &str = "x-copythat-session";

/// A `Set-Cookie` for `copythat_refresh`, split into its value and lowercased attributes.
struct SetCookie {
    value: String,
    attributes: Vec<String>,
}

impl SetCookie {
    fn has(&self, attribute: &str) -> bool {
        self.attributes.iter().any(|a| a == attribute)
    }

    fn max_age(&self) -> i64 {
        self.attributes
            .iter()
            .find_map(|a| a.strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .expect("a Max-Age attribute")
    }
}

fn refresh_cookie(response: &reqwest::Response) -> Option<SetCookie> {
    let mut found: Vec<SetCookie> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| {
            let mut parts = line.split(';').map(str::trim);
            let (name, value) = parts.next()?.split_once('=')?;
            (name == "copythat_refresh").then(|| SetCookie {
                value: value.to_owned(),
                attributes: parts.map(str::to_ascii_lowercase).collect(),
            })
        })
        .collect();
    assert!(found.len() <= 1, "one refresh cookie at most");
    found.pop()
}

/// Registers an account and signs it in the way the page does; returns the access token
/// and the cookie.
async fn web_sign_in(app: &TestApp) -> (String, SetCookie) {
    let email = format!("web-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = crate::helpers::random_password();
    assert_eq!(app.register(&email, &password).await.status(), 201);
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header(SESSION_HEADER, "cookie")
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("username", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = refresh_cookie(&response).expect("a refresh cookie");
    let body: Value = response.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_owned(), cookie)
}

/// `POST path` as the page sends it: no body, the cookie and the same-origin headers.
fn by_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", format!("theme=dark; copythat_refresh={cookie}"))
        .header(SESSION_HEADER, "cookie")
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
}

async fn refresh_by_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    by_cookie(app, "/api/v1/auth/refresh", cookie)
        .send()
        .await
        .unwrap()
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    app.bearer(Method::GET, "/api/v1/auth/me", access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both_backends! {
    async fn s4_web_sign_in_puts_the_refresh_token_in_an_httponly_strict_cookie_only(app) {
        let (access, cookie) = web_sign_in(&app).await;
        assert!(cookie.value.split('.').count() == 3, "the refresh JWT");
        assert!(cookie.has("httponly"));
        assert!(cookie.has("samesite=strict"));
        assert!(cookie.has("path=/api/v1/auth"));
        // COPYTHAT_ENV=local serves plain HTTP on loopback: no Secure there.
        assert!(!cookie.has("secure"));
        let max_age = cookie.max_age();
        assert!((604_700..=604_800).contains(&max_age), "{max_age}");
        assert_eq!(me_status(&app, &access).await, 200);
        // The cookie value is a real refresh token: the JSON flow accepts it too.
        assert_eq!(app.refresh(&cookie.value).await.status(), 200);
    }

    async fn s4_web_sign_in_leaves_no_refresh_token_for_script(app) {
        let email = format!("web-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = crate::helpers::random_password();
        assert_eq!(app.register(&email, &password).await.status(), 201);
        let response = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .header(SESSION_HEADER, "cookie")
            .form(&[("username", email.as_str()), ("password", password.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert!(body["access_token"].is_string());
        assert_eq!(body["token_type"], "bearer");
        assert!(body.get("refresh_token").is_none(), "{body}");
    }

    async fn s4_refresh_by_cookie_rotates_it(app) {
        let (_, first) = web_sign_in(&app).await;
        let response = refresh_by_cookie(&app, &first.value).await;
        assert_eq!(response.status(), 200);
        let second = refresh_cookie(&response).expect("a rotated cookie");
        assert_ne!(second.value, first.value);
        assert!(second.has("httponly") && second.has("samesite=strict"));
        let body: Value = response.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "{body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(me_status(&app, access).await, 200);
        // An empty JSON object is the same as no body.
        let response = by_cookie(&app, "/api/v1/auth/refresh", &second.value)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(refresh_cookie(&response).is_some_and(|c| c.value != second.value));
    }

    async fn s4_refresh_by_cookie_without_the_csrf_header_is_refused(app) {
        let (_, cookie) = web_sign_in(&app).await;
        let response = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", format!("copythat_refresh={}", cookie.value))
            .send()
            .await
            .unwrap();
        assert!(refresh_cookie(&response).is_none(), "nothing rotated or cleared");
        assert_problem(response, 403).await;
        // A form post (what a cross-site page can send) is refused the same way.
        let response = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", format!("copythat_refresh={}", cookie.value))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_problem(response, 403).await;
        // The refusals used nothing up: the cookie still works with the header.
        assert_eq!(refresh_by_cookie(&app, &cookie.value).await.status(), 200);
    }

    async fn s4_a_cross_site_origin_cannot_use_or_obtain_the_cookie(app) {
        let (_, cookie) = web_sign_in(&app).await;
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let response = app
                .client
                .post(app.url("/api/v1/auth/refresh"))
                .header("cookie", format!("copythat_refresh={}", cookie.value))
                .header(SESSION_HEADER, "cookie")
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_problem(response, 403).await;
        }
        // Nor can a cross-site page sign the browser in with a cookie (login CSRF).
        let user = app.new_user().await;
        let response = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .header(SESSION_HEADER, "cookie")
            .header("origin", "https://evil.example")
            .form(&[("username", user.email.as_str()), ("password", user.password.as_str())])
            .send()
            .await
            .unwrap();
        assert!(refresh_cookie(&response).is_none());
        assert_problem(response, 403).await;
        assert_eq!(refresh_by_cookie(&app, &cookie.value).await.status(), 200);
    }

    async fn s4_reuse_of_an_old_cookie_value_revokes_the_family(app) {
        let (first_access, first) = web_sign_in(&app).await;
        let response = refresh_by_cookie(&app, &first.value).await;
        assert_eq!(response.status(), 200);
        let second = refresh_cookie(&response).unwrap();
        let second_access: Value = response.json().await.unwrap();
        let second_access = second_access["access_token"].as_str().unwrap().to_owned();

        // The old value comes back (a stolen copy): refused, cleared, and the family dies.
        let replay = refresh_by_cookie(&app, &first.value).await;
        let cleared = refresh_cookie(&replay).expect("the dead cookie is cleared");
        assert_eq!(cleared.max_age(), 0);
        assert_eq!(cleared.value, "");
        assert_problem(replay, 401).await;
        assert_problem(refresh_by_cookie(&app, &second.value).await, 401).await;
        assert_eq!(me_status(&app, &second_access).await, 401);
        assert_eq!(me_status(&app, &first_access).await, 401);
        assert!(app.audit_events().await.iter().any(|e| e.action == "refresh_reuse"));
    }

    async fn s4_logout_by_cookie_revokes_the_family_and_clears_it(app) {
        let (access, cookie) = web_sign_in(&app).await;
        let response = by_cookie(&app, "/api/v1/auth/logout", &cookie.value)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let cleared = refresh_cookie(&response).expect("the cookie is cleared");
        assert_eq!(cleared.max_age(), 0);
        assert_eq!(cleared.value, "");
        assert!(cleared.has("path=/api/v1/auth") && cleared.has("httponly"));
        assert_problem(refresh_by_cookie(&app, &cookie.value).await, 401).await;
        assert_eq!(me_status(&app, &access).await, 401);
    }

    async fn s4_logout_by_cookie_needs_the_csrf_header(app) {
        let (access, cookie) = web_sign_in(&app).await;
        let response = app
            .bearer(Method::POST, "/api/v1/auth/logout", &access)
            .header("cookie", format!("copythat_refresh={}", cookie.value))
            .send()
            .await
            .unwrap();
        assert_problem(response, 403).await;
        assert_eq!(refresh_by_cookie(&app, &cookie.value).await.status(), 200);
    }

    async fn s4_json_clients_are_unchanged(app) {
        let user = app.new_user().await;
        let login = app.login(&user.email, &user.password).await;
        assert!(refresh_cookie(&login).is_none());
        let tokens: Value = login.json().await.unwrap();
        let refresh = tokens["refresh_token"].as_str().expect("refresh_token in the body");

        let response = app.refresh(refresh).await;
        assert_eq!(response.status(), 200);
        assert!(refresh_cookie(&response).is_none());
        let rotated: Value = response.json().await.unwrap();
        let rotated = rotated["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rotated, refresh);

        // A body token wins over any cookie, without the web checks.
        let response = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", "copythat_refresh=junk")
            .header("origin", "https://elsewhere.example")
            .json(&json!({ "refresh_token": rotated }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(refresh_cookie(&response).is_none());

        // A body naming no token is still a field error for a client not using cookies.
        let body = assert_problem(app.post_json("/api/v1/auth/refresh", &json!({})).await, 422).await;
        assert_eq!(body["errors"][0]["field"], "refresh_token");
        let response = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("content-type", "text/plain")
            .body("refresh_token=x")
            .send()
            .await
            .unwrap();
        assert_problem(response, 415).await;
    }
}

#[tokio::test]
async fn s4_the_cookie_is_secure_outside_local() {
    let key = random_secret();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_ENV", "staging"), ("SECRET_KEY", &key)],
    )
    .await
    .unwrap();
    let (_, cookie) = web_sign_in(&app).await;
    assert!(cookie.has("secure"));
    assert!(cookie.has("httponly") && cookie.has("samesite=strict"));
    let response = refresh_by_cookie(&app, &cookie.value).await;
    assert!(refresh_cookie(&response).unwrap().has("secure"));
}
