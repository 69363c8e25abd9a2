//! S27: security state changes are atomic with the operations they govern. Each test
//! races the requests (in flight together, on a multi-threaded runtime, over many rounds)
//! and then checks what is stored, on both backends.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::*;

/// Rounds per race: each round is a fresh account, so interleavings differ.
const ROUNDS: usize = 20;
/// A refresh loop stops here at the latest; a revocation that worked ends it sooner.
const MAX_REFRESHES: usize = 300;

/// A thief with a stolen refresh token refreshes as fast as it can until refused.
/// Returns the last refresh and access tokens it held and how many refreshes worked.
async fn refresh_until_refused(app: &TestApp, stolen: &str) -> (String, Option<String>, usize) {
    let mut token = stolen.to_owned();
    let mut access = None;
    let mut worked = 0;
    for _ in 0..MAX_REFRESHES {
        let response = app.refresh(&token).await;
        if response.status() != 200 {
            assert_eq!(
                response.status(),
                401,
                "a refused refresh is a 401, never a 5xx"
            );
            break;
        }
        let pair: Value = response.json().await.unwrap();
        token = pair["refresh_token"].as_str().unwrap().to_owned();
        access = pair["access_token"].as_str().map(str::to_owned);
        worked += 1;
    }
    (token, access, worked)
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.bearer(Method::GET, "/api/v1/auth/me", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// After a revocation: the thief's last tokens are dead and the account has no live
/// refresh token left in the database.
async fn assert_nothing_survives(app: &TestApp, user: &TestUser, last: &str, access: Option<&str>) {
    assert_eq!(
        app.refresh(last).await.status(),
        401,
        "the thief's last refresh token"
    );
    if let Some(access) = access {
        assert_eq!(
            me_status(app, access).await,
            401,
            "the thief's last access token"
        );
    }
    let id = Uuid::parse_str(&user.id).unwrap();
    let live = app.store.count_live_refresh_tokens(id).await.unwrap();
    assert_eq!(live, 0, "refresh tokens left alive");
}

both_backends! {
    async fn s27_a_password_change_racing_refreshes_leaves_no_session(app) {
        let mut raced = 0;
        for _ in 0..ROUNDS {
            let user = app.new_user().await;
            let change = async {
                app.bearer(Method::POST, "/api/v1/auth/password", &user.access)
                    .json(&json!({
                        "current_password": user.password,
                        "new_password": random_password(),
                    }))
                    .send()
                    .await
                    .unwrap()
            };
            let ((last, access, worked), changed) =
                tokio::join!(refresh_until_refused(&app, &user.refresh), change);
            assert_eq!(changed.status(), 200);
            raced += usize::from(worked > 0);
            assert_nothing_survives(&app, &user, &last, access.as_deref()).await;
        }
        assert!(raced > 0, "no round had a refresh in flight during the change");
    }

    async fn s27_a_logout_racing_a_thiefs_refreshes_ends_the_family(app) {
        for _ in 0..ROUNDS {
            let user = app.new_user().await;
            let logout = async {
                app.bearer(Method::POST, "/api/v1/auth/logout", &user.access)
                    .json(&json!({ "refresh_token": user.refresh }))
                    .send()
                    .await
                    .unwrap()
            };
            let ((last, access, _), logged_out) =
                tokio::join!(refresh_until_refused(&app, &user.refresh), logout);
            assert_eq!(logged_out.status(), 204);
            assert_nothing_survives(&app, &user, &last, access.as_deref()).await;
        }
    }

    async fn s27_disabling_an_account_racing_refreshes_leaves_no_session(app) {
        let admin = app.new_admin().await;
        for _ in 0..ROUNDS {
            let user = app.new_user().await;
            let disable = async {
                app.bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", user.id), &admin.access)
                    .json(&json!({ "is_active": false }))
                    .send()
                    .await
                    .unwrap()
            };
            let ((last, access, _), disabled) =
                tokio::join!(refresh_until_refused(&app, &user.refresh), disable);
            assert_eq!(disabled.status(), 200);
            // Enabled again, the account still has no session until it signs in.
            let enable = app
                .bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", user.id), &admin.access)
                .json(&json!({ "is_active": true }))
                .send()
                .await
                .unwrap();
            assert_eq!(enable.status(), 200);
            assert_nothing_survives(&app, &user, &last, access.as_deref()).await;
        }
    }

    async fn s27_parallel_uses_of_one_refresh_token_rotate_once_then_revoke_all(app) {
        for _ in 0..ROUNDS {
            let user = app.new_user().await;
            let attempts = (0..6).map(|_| app.refresh(&user.refresh));
            let responses = futures_util::future::join_all(attempts).await;
            let mut winners = Vec::new();
            for response in responses {
                match response.status().as_u16() {
                    200 => winners.push(response.json::<Value>().await.unwrap()),
                    401 => {}
                    other => panic!("unexpected status {other}"),
                }
            }
            assert_eq!(winners.len(), 1, "exactly one use rotates the token");
            // The others were replays: the family is revoked, the winner's pair with it.
            let winner = &winners[0];
            assert_nothing_survives(
                &app,
                &user,
                winner["refresh_token"].as_str().unwrap(),
                winner["access_token"].as_str(),
            )
            .await;
        }
    }

    async fn s27_two_admins_demoting_each_other_leave_one_admin(app) {
        for _ in 0..ROUNDS {
            let a = app.new_admin().await;
            let b = app.new_admin().await;
            // Earlier rounds' survivors step down first, so these two are the only admins.
            demote_all_but(&app, &[&a.id, &b.id]).await;
            let demote = |by: &TestUser, target: &TestUser| {
                app.bearer(Method::PATCH, &format!("/api/v1/admin/users/{}", target.id), &by.access)
                    .json(&json!({ "roles": ["user"] }))
                    .send()
            };
            let (ab, ba) = tokio::join!(demote(&a, &b), demote(&b, &a));
            let statuses = [ab.unwrap().status().as_u16(), ba.unwrap().status().as_u16()];
            assert_eq!(
                statuses.iter().filter(|s| **s == 200).count(),
                1,
                "exactly one demotion goes through: {statuses:?}"
            );
            // The other is refused: the last admin (409) or, demoted first, no longer one
            // (its token died with the role change: 401, or it lost the role while its
            // request was in flight: 403).
            assert!(statuses.iter().all(|s| matches!(s, 200 | 401 | 403 | 409)), "{statuses:?}");
            assert_eq!(active_admins(&app).await, 1);
        }
    }

    async fn s27_the_last_admin_cannot_be_disabled_or_demoted(app) {
        let admin = app.new_admin().await;
        let other = app.new_admin().await;
        let patch = |by: &TestUser, target: &str, body: Value| {
            app.bearer(Method::PATCH, &format!("/api/v1/admin/users/{target}"), &by.access)
                .json(&body)
                .send()
        };
        let demoted = patch(&admin, &other.id, json!({ "roles": ["user"] })).await.unwrap();
        assert_eq!(demoted.status(), 200);
        // `admin` is now the only one; nobody else can take the role away, and the store
        // refuses even a direct change.
        let id = Uuid::parse_str(&admin.id).unwrap();
        let refused = app.store.update_user_admin(None, id, Some(false), None).await.unwrap();
        assert!(matches!(refused, copythat_server::store::AdminUpdate::LastAdmin));
        assert_eq!(active_admins(&app).await, 1);
    }
}

/// Demotes every active admin except `keep`, through the store.
async fn demote_all_but(app: &TestApp, keep: &[&str]) {
    use copythat_server::store::{Page, Role};
    let page = Page {
        limit: 1000,
        offset: 0,
    };
    let (users, _) = app.store.list_users(page).await.unwrap();
    for user in users {
        if user.is_admin() && !keep.contains(&user.id.to_string().as_str()) {
            app.store
                .update_user_admin(None, user.id, None, Some(&[Role::User]))
                .await
                .unwrap();
        }
    }
}

async fn active_admins(app: &TestApp) -> usize {
    let page = copythat_server::store::Page {
        limit: 1000,
        offset: 0,
    };
    let (users, _) = app.store.list_users(page).await.unwrap();
    users.iter().filter(|u| u.is_active && u.is_admin()).count()
}

both_backends! {
    // S27: lock contention never becomes a 5xx. Many writers of every kind at once, into
    // one existing session among others; then every row is counted.
    async fn s27_concurrent_writers_of_every_kind_get_no_5xx(app) {
        const WORKERS: usize = 16;
        let owner = app.new_user().await;
        let project = app.new_project(&owner, "Shared").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let first = app
            .extract(&owner, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await;
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.unwrap();
        let session = first["session_id"].as_str().unwrap().to_owned();
        let colors_per_extraction = first["colors"].as_array().unwrap().len();
        let token_id = first["colors"][0]["id"].as_str().unwrap().to_owned();

        let worker = |i: usize| {
            let (app, owner, pid, session, token_id) = (&app, &owner, &pid, &session, &token_id);
            async move {
                let mut statuses = Vec::new();
                // Each worker's screenshot has the page's colours and an accent of its own.
                let accent = [(i as u8) * 15, 255 - (i as u8) * 15, 128];
                let image = copythat_core::synth::encode_png(&copythat_core::synth::stripes(
                    64,
                    &[([255, 255, 255], 70), ([17, 24, 39], 20), (accent, 10)],
                ));
                let extract = app
                    .extract(owner, &json!({
                        "project_id": pid,
                        "session_id": session,
                        "image_base64": b64(&image),
                    }))
                    .await;
                statuses.push(("extract into the session", extract.status().as_u16()));
                let create = app
                    .bearer(Method::POST, "/api/v1/projects", &owner.access)
                    .json(&json!({ "name": format!("p{i}") }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("create project", create.status().as_u16()));
                let rename = app
                    .bearer(Method::PATCH, &format!("/api/v1/projects/{pid}"), &owner.access)
                    .json(&json!({ "name": format!("Shared {i}") }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("rename project", rename.status().as_u16()));
                let new_session = app
                    .bearer(Method::POST, &format!("/api/v1/projects/{pid}/sessions"), &owner.access)
                    .json(&json!({ "name": format!("s{i}") }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("create session", new_session.status().as_u16()));
                let role = app
                    .bearer(Method::PATCH, &format!("/api/v1/colors/{token_id}"), &owner.access)
                    .json(&json!({ "role": if i.is_multiple_of(2) { "primary" } else { "accent" } }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("change a role", role.status().as_u16()));
                let key = app
                    .bearer(Method::POST, "/api/v1/auth/api-keys", &owner.access)
                    .json(&json!({ "name": format!("k{i}"), "scopes": ["read"] }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("create an API key", key.status().as_u16()));
                let login = app.login(&owner.email, &owner.password).await;
                statuses.push(("sign in", login.status().as_u16()));
                if login.status() == 200 {
                    let pair: Value = login.json().await.unwrap();
                    let refresh = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
                    statuses.push(("refresh", refresh.status().as_u16()));
                }
                statuses
            }
        };
        let all = futures_util::future::join_all((0..WORKERS).map(worker)).await;
        for (what, status) in all.iter().flatten() {
            assert!(matches!(status, 200 | 201), "{what}: {status}");
        }

        // The page's colours are held once; every worker's accent was added.
        let expected = colors_per_extraction + WORKERS;
        let (_, colors) = app
            .get_json(&owner, &format!("/api/v1/projects/{pid}/colors?limit=100"))
            .await;
        assert_eq!(
            colors["total"].as_u64().unwrap() as usize,
            expected,
            "every extraction into the session was stored: {colors}"
        );
        let positions: std::collections::BTreeSet<i64> = {
            let pid = Uuid::parse_str(&pid).unwrap();
            let page = copythat_server::store::Page { limit: 1000, offset: 0 };
            let (tokens, _) = app.store.list_tokens(pid, None, page).await.unwrap();
            tokens.iter().map(|t| t.position).collect()
        };
        assert_eq!(positions.len(), expected, "positions are unique");
        let (_, sessions) = app.get_json(&owner, &format!("/api/v1/projects/{pid}/sessions")).await;
        assert_eq!(sessions["total"], WORKERS + 1);
        let (_, projects) = app.get_json(&owner, "/api/v1/projects").await;
        assert_eq!(projects["total"], WORKERS + 1);
        let (_, keys) = app.get_json(&owner, "/api/v1/auth/api-keys").await;
        assert_eq!(keys["total"], WORKERS);
    }
}
