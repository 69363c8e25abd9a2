//! Projects, sessions, colour tokens, extraction and export over HTTP: ownership across
//! users, validation, body limits and hostile images, with the stored data checked after
//! every attack (S8, S10-S13, S18, S24).

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

/// A tiny valid PNG header that declares `w` x `h` pixels: a decompression bomb's shape.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
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
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // A zlib stream of zeros: what would inflate to gigabytes if it were trusted.
    chunk(
        b"IDAT",
        &[
            0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x00,
        ],
    );
    chunk(b"IEND", &[]);
    out
}

/// A new upload session of `project_id`, for tests that write through the store directly.
fn upload_session(project_id: uuid::Uuid) -> copythat_server::store::ExtractionSession {
    copythat_server::store::ExtractionSession {
        id: uuid::Uuid::now_v7(),
        project_id,
        name: None,
        source: "upload".into(),
        image_width: Some(1),
        image_height: Some(1),
        image_format: Some("png".into()),
        created_at: time::OffsetDateTime::now_utc(),
    }
}

impl TestApp {
    /// Everything a user can see of a project, to prove an attack changed nothing.
    async fn snapshot(&self, user: &TestUser, project_id: &str) -> Value {
        let (_, project) = self
            .get_json(user, &format!("/api/v1/projects/{project_id}"))
            .await;
        let (_, sessions) = self
            .get_json(user, &format!("/api/v1/projects/{project_id}/sessions"))
            .await;
        let (_, colors) = self
            .get_json(
                user,
                &format!("/api/v1/projects/{project_id}/colors?limit=100"),
            )
            .await;
        json!({ "project": project, "sessions": sessions, "colors": colors })
    }
}

both_backends! {
    async fn extraction_from_base64_stores_and_returns_tokens(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Brand").await;
        let pid = project["id"].as_str().unwrap();
        let response = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()), "max_colors": 5 }))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["image"], json!({ "width": 64, "height": 64, "format": "png" }));
        let colors = body["colors"].as_array().unwrap();
        assert!((3..=5).contains(&colors.len()), "{colors:?}");
        let hexes: Vec<&str> = colors.iter().map(|c| c["hex"].as_str().unwrap()).collect();
        for expected in ["#ffffff", "#111827", "#2563eb"] {
            assert!(hexes.contains(&expected), "{expected} in {hexes:?}");
        }
        let first = &colors[0];
        for key in ["id", "project_id", "session_id", "hex", "rgb", "hsl", "oklch", "name", "share",
                    "role", "contrast_white", "contrast_black", "created_at"] {
            assert!(first.get(key).is_some(), "{key} in {first}");
        }
        assert_eq!(first["hex"], "#ffffff", "sorted by share");
        assert_eq!(first["rgb"], json!([255, 255, 255]));
        assert!((first["contrast_black"].as_f64().unwrap() - 21.0).abs() < 0.01);

        let sid = body["session_id"].as_str().unwrap();
        let (status, session) = app.get_json(&user, &format!("/api/v1/sessions/{sid}")).await;
        assert_eq!(status, 200);
        assert_eq!(session["colors"].as_array().unwrap().len(), colors.len());
        assert_eq!(session["source"], "upload");
        let (_, listed) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        assert_eq!(listed["total"], colors.len());

        // A second extraction into the same session appends.
        let again = app
            .extract(&user, &json!({ "project_id": pid, "session_id": sid, "image_base64": b64(&brand_png()), "max_colors": 2 }))
            .await;
        assert_eq!(again.status(), 201);
        let (_, listed) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors?session_id={sid}")).await;
        assert_eq!(listed["total"], colors.len() + 2);
        assert!(app.audit_events().await.iter().any(|e| e.action == "extraction"));
    }

    async fn extraction_from_a_multipart_upload(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Upload").await;
        let form = Form::new()
            .text("project_id", project["id"].as_str().unwrap().to_owned())
            .text("max_colors", "3")
            .part("image", Part::bytes(brand_png()).file_name("shot.svg").mime_str("image/svg+xml").unwrap());
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        // The declared name and type are ignored: the bytes are a PNG (S13).
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["colors"].as_array().unwrap().len(), 3);
    }

    async fn curating_and_exporting_tokens(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Acme Web").await;
        let pid = project["id"].as_str().unwrap();
        let body: Value = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await
            .json()
            .await
            .unwrap();
        let accent = body["colors"].as_array().unwrap().iter().find(|c| c["hex"] == "#2563eb").unwrap();
        let id = accent["id"].as_str().unwrap();
        let patched = app
            .bearer(Method::PATCH, &format!("/api/v1/colors/{id}"), &user.access)
            .json(&json!({ "role": "primary", "name": "Acme Blue" }))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);
        let patched: Value = patched.json().await.unwrap();
        assert_eq!(patched["role"], "primary");
        assert_eq!(patched["name"], "Acme Blue");
        let bad_role = app
            .bearer(Method::PATCH, &format!("/api/v1/colors/{id}"), &user.access)
            .json(&json!({ "role": "villain" }))
            .send()
            .await
            .unwrap();
        assert_eq!(assert_problem(bad_role, 422).await["errors"][0]["field"], "role");
        let hex_change = app
            .bearer(Method::PATCH, &format!("/api/v1/colors/{id}"), &user.access)
            .json(&json!({ "hex": "#000000" }))
            .send()
            .await
            .unwrap();
        assert_problem(hex_change, 422).await;

        for (format, content_type, ext) in [
            ("dtcg", "application/json", "tokens.json"),
            ("css", "text/css", "css"),
            ("scss", "text/x-scss", "scss"),
            ("tailwind", "text/javascript", "js"),
            ("style-dictionary", "application/json", "json"),
        ] {
            let response = app
                .bearer(Method::GET, &format!("/api/v1/projects/{pid}/export?format={format}"), &user.access)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{format}");
            let headers = response.headers().clone();
            assert!(headers["content-type"].to_str().unwrap().starts_with(content_type), "{format}");
            assert_eq!(
                headers["content-disposition"],
                format!("attachment; filename=\"acme-web.{ext}\"").as_str()
            );
            let text = response.text().await.unwrap();
            assert!(text.to_lowercase().contains("2563eb"), "{format}: {text}");
            assert!(text.contains("primary"), "{format} names the curated role");
        }
        let unknown = app
            .bearer(Method::GET, &format!("/api/v1/projects/{pid}/export?format=xml"), &user.access)
            .send()
            .await
            .unwrap();
        assert_problem(unknown, 422).await;

        let deleted = app
            .bearer(Method::DELETE, &format!("/api/v1/colors/{id}"), &user.access)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let (status, _) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        assert_eq!(status, 200);
        let gone = app
            .bearer(Method::DELETE, &format!("/api/v1/colors/{id}"), &user.access)
            .send()
            .await
            .unwrap();
        assert_problem(gone, 404).await;
    }

    async fn s8_other_users_resources_answer_404_and_stay_unchanged(app) {
        let alice = app.new_user().await;
        let mallory = app.new_user().await;
        let project = app.new_project(&alice, "Alice's").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let body: Value = app
            .extract(&alice, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await
            .json()
            .await
            .unwrap();
        let sid = body["session_id"].as_str().unwrap().to_owned();
        let cid = body["colors"][0]["id"].as_str().unwrap().to_owned();
        let before = app.snapshot(&alice, &pid).await;
        let missing = uuid::Uuid::new_v4().to_string();

        let attempts: Vec<(Method, String, Value)> = vec![
            (Method::GET, format!("/api/v1/projects/{pid}"), Value::Null),
            (Method::PATCH, format!("/api/v1/projects/{pid}"), json!({ "name": "pwned" })),
            (Method::DELETE, format!("/api/v1/projects/{pid}"), Value::Null),
            (Method::GET, format!("/api/v1/projects/{pid}/sessions"), Value::Null),
            (Method::POST, format!("/api/v1/projects/{pid}/sessions"), json!({ "name": "x" })),
            (Method::GET, format!("/api/v1/projects/{pid}/colors"), Value::Null),
            (Method::GET, format!("/api/v1/projects/{pid}/export?format=css"), Value::Null),
            (Method::GET, format!("/api/v1/sessions/{sid}"), Value::Null),
            (Method::DELETE, format!("/api/v1/sessions/{sid}"), Value::Null),
            (Method::PATCH, format!("/api/v1/colors/{cid}"), json!({ "role": "primary" })),
            (Method::DELETE, format!("/api/v1/colors/{cid}"), Value::Null),
        ];
        for (method, path, body) in attempts {
            let mut request = app.bearer(method.clone(), &path, &mallory.access);
            if !body.is_null() {
                request = request.json(&body);
            }
            let theirs = assert_problem(request.send().await.unwrap(), 404).await;
            // Exactly what a missing id answers.
            let missing_path = path
                .replace(&pid, &missing)
                .replace(&sid, &missing)
                .replace(&cid, &missing);
            let mut request = app.bearer(method.clone(), &missing_path, &mallory.access);
            if !body.is_null() {
                request = request.json(&body);
            }
            let absent = assert_problem(request.send().await.unwrap(), 404).await;
            assert_eq!(theirs["detail"], absent["detail"], "{method} {path}");
            assert_eq!(theirs["title"], absent["title"]);
        }

        // Ids smuggled in bodies: Alice's project, or Alice's session under Mallory's project.
        let smuggled = app
            .extract(&mallory, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await;
        assert_problem(smuggled, 404).await;
        let own = app.new_project(&mallory, "Mallory's").await;
        let smuggled = app
            .extract(&mallory, &json!({ "project_id": own["id"], "session_id": sid, "image_base64": b64(&brand_png()) }))
            .await;
        assert_problem(smuggled, 404).await;

        assert_eq!(app.snapshot(&alice, &pid).await, before, "nothing changed");
        let (_, listed) = app.get_json(&mallory, "/api/v1/projects").await;
        assert_eq!(listed["total"], 1, "Mallory lists only her own project");
        // Denials are audited after the 404 is sent: wait for them to be written.
        let mallorys = format!("user:{}", mallory.id);
        let denials = |events: &[copythat_server::store::AuditEvent]| {
            events.iter().filter(|e| e.action == "access_denied" && e.actor == mallorys).count()
        };
        let events = app.audit_events_when(|events| denials(events) >= 11).await;
        assert!(denials(&events) >= 11, "each ownership denial audited, got {}", denials(&events));

        // Admins reach everything.
        let admin = app.new_admin().await;
        let (status, _) = app.get_json(&admin, &format!("/api/v1/projects/{pid}")).await;
        assert_eq!(status, 200);
    }

    async fn s8_api_key_reaches_only_its_owners_projects(app) {
        let alice = app.new_user().await;
        let bob = app.new_user().await;
        let project = app.new_project(&alice, "Keyed").await;
        let key = app.new_api_key(&bob, &["read", "write", "delete"]).await["key"].as_str().unwrap().to_owned();
        let response = app
            .with_key(Method::GET, &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()), &key)
            .send()
            .await
            .unwrap();
        assert_problem(response, 404).await;
        let read = app.new_api_key(&alice, &["read"]).await["key"].as_str().unwrap().to_owned();
        let created = app
            .with_key(Method::POST, "/api/v1/projects", &read)
            .json(&json!({ "name": "nope" }))
            .send()
            .await
            .unwrap();
        assert_problem(created, 403).await;
        let listed = app.with_key(Method::GET, "/api/v1/projects", &read).send().await.unwrap();
        assert_eq!(listed.json::<Value>().await.unwrap()["total"], 1);
    }

    async fn s8_s9_an_admins_api_key_reaches_only_the_admins_own_data(app) {
        let alice = app.new_user().await;
        let project = app.new_project(&alice, "Private").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let admin = app.new_admin().await;
        let key = app.new_api_key(&admin, &["read", "write", "delete"]).await["key"].as_str().unwrap().to_owned();

        // A leaked admin key is not the admin's session: someone else's data stays hidden.
        let read = app.with_key(Method::GET, &format!("/api/v1/projects/{pid}"), &key).send().await.unwrap();
        assert_problem(read, 404).await;
        let deleted = app.with_key(Method::DELETE, &format!("/api/v1/projects/{pid}"), &key).send().await.unwrap();
        assert_problem(deleted, 404).await;
        let listed = app.with_key(Method::GET, "/api/v1/projects", &key).send().await.unwrap();
        assert_eq!(listed.json::<Value>().await.unwrap()["total"], 0);
        // The admin's signed-in session still reaches it, and it is intact.
        let (status, body) = app.get_json(&admin, &format!("/api/v1/projects/{pid}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["name"], "Private");
    }

    async fn s10_s11_project_fields_are_validated(app) {
        let user = app.new_user().await;
        let cases = [
            json!({ "name": "" }),
            json!({ "name": "   " }),
            json!({ "name": "x".repeat(256) }),
            json!({ "name": "bad\u{0}name" }),
            json!({ "name": "ok", "description": "d".repeat(2001) }),
            json!({ "name": "ok", "owner_id": user.id }),
            json!({ "name": 42 }),
            json!({}),
        ];
        for body in cases {
            let response = app
                .bearer(Method::POST, "/api/v1/projects", &user.access)
                .json(&body)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, 422).await;
            assert!(problem["errors"][0]["field"].is_string(), "{body}");
        }
        let (_, listed) = app.get_json(&user, "/api/v1/projects").await;
        assert_eq!(listed["total"], 0, "nothing stored");
        for query in ["limit=0", "limit=101", "offset=-1", "limit=x", "sort=name"] {
            let response = app
                .bearer(Method::GET, &format!("/api/v1/projects?{query}"), &user.access)
                .send()
                .await
                .unwrap();
            assert_problem(response, 422).await;
        }
        let project = app.new_project(&user, "  Trimmed  ").await;
        assert_eq!(project["name"], "Trimmed");
        let renamed = app
            .bearer(Method::PATCH, &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()), &user.access)
            .json(&json!({ "description": null }))
            .send()
            .await
            .unwrap();
        let renamed: Value = renamed.json().await.unwrap();
        assert_eq!(renamed["description"], Value::Null);
        assert_eq!(renamed["name"], "Trimmed");
        for max_colors in [0, 51, -1] {
            let response = app
                .extract(&user, &json!({ "project_id": project["id"], "image_base64": b64(&brand_png()), "max_colors": max_colors }))
                .await;
            assert_eq!(assert_problem(response, 422).await["errors"][0]["field"], "max_colors");
        }
    }

    async fn s12_s13_hostile_uploads_are_refused_and_store_nothing(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Target").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let ok = app.extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) })).await;
        assert_eq!(ok.status(), 201);
        let before = app.snapshot(&user, &pid).await;

        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect fill="red"/></svg>"#;
        let mut truncated = brand_png();
        truncated.truncate(truncated.len() / 2);
        let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
        garbage.extend_from_slice(&[0xAB; 200]);
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (svg.to_vec(), 415),
            // A 2x2 GIF header with no image data after it.
            (b"GIF87a\x02\x00\x02\x00\x00\x00\x00".to_vec(), 422),
            (b"hello, world".to_vec(), 415),
            (truncated, 422),
            (garbage, 422),
            (png_declaring(10_000, 10_000), 413),
            (png_declaring(100_000, 1), 413),
        ];
        for (bytes, status) in cases {
            let response = app.extract(&user, &json!({ "project_id": pid, "image_base64": b64(&bytes) })).await;
            let problem = assert_problem(response, status).await;
            assert!(problem["detail"].as_str().unwrap().len() < 200);
        }
        for bad in ["not base64 at all!", "", "data:image/png;base64,"] {
            let response = app.extract(&user, &json!({ "project_id": pid, "image_base64": bad })).await;
            assert_eq!(assert_problem(response, 422).await["errors"][0]["field"], "image_base64");
        }
        let both = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()), "image_url": "http://127.0.0.1/x.png" }))
            .await;
        assert_problem(both, 422).await;
        let neither = app.extract(&user, &json!({ "project_id": pid })).await;
        assert_problem(neither, 422).await;

        // Over the limits: 413 from the declared length, before the body is buffered.
        let huge = "A".repeat(14 * 1024 * 1024 + 100 * 1024);
        let response = app.extract(&user, &json!({ "project_id": pid, "image_base64": huge })).await;
        assert_problem(response, 413).await;
        let big_decoded = b64(&vec![0u8; 10 * 1024 * 1024 + 1]);
        let response = app.extract(&user, &json!({ "project_id": pid, "image_base64": big_decoded })).await;
        assert_problem(response, 413).await;
        let form = Form::new()
            .text("project_id", pid.clone())
            .part("image", Part::bytes(vec![0u8; 10 * 1024 * 1024 + 10]).file_name("big.png"));
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_problem(response, 413).await;
        let form = Form::new().text("project_id", pid.clone()).text("surprise", "x");
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422).await;
        let plain = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .header("content-type", "image/png")
            .body(brand_png())
            .send()
            .await
            .unwrap();
        assert_problem(plain, 415).await;
        let big_json = app
            .bearer(Method::POST, "/api/v1/projects", &user.access)
            .json(&json!({ "name": "x", "description": "y".repeat(70 * 1024) }))
            .send()
            .await
            .unwrap();
        assert_problem(big_json, 413).await;

        assert_eq!(app.snapshot(&user, &pid).await, before, "no attack stored anything");
    }

    async fn image_url_is_refused_and_never_fetched(app) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let user = app.new_user().await;
        let project = app.new_project(&user, "No fetch").await;
        let response = app
            .extract(&user, &json!({ "project_id": project["id"], "image_url": format!("http://{addr}/logo.png") }))
            .await;
        assert_eq!(assert_problem(response, 422).await["errors"][0]["field"], "image_url");
        let accepted = tokio::time::timeout(std::time::Duration::from_millis(300), listener.accept()).await;
        assert!(accepted.is_err(), "the server connected to the URL");
    }

    async fn lists_page_newest_first_with_totals(app) {
        let user = app.new_user().await;
        for name in ["one", "two", "three"] {
            app.new_project(&user, name).await;
        }
        let (_, page) = app.get_json(&user, "/api/v1/projects?limit=2&offset=1").await;
        assert_eq!(page["total"], 3);
        let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["two", "one"]);
        let (_, all) = app.get_json(&user, "/api/v1/projects").await;
        assert_eq!(all["items"][0]["name"], "three");
    }

    async fn deleting_a_project_removes_its_sessions_and_tokens(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Doomed").await;
        let pid = project["id"].as_str().unwrap().to_owned();
        let body: Value = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await
            .json()
            .await
            .unwrap();
        let cid = body["colors"][0]["id"].as_str().unwrap().to_owned();
        let sid = body["session_id"].as_str().unwrap().to_owned();
        let deleted = app.bearer(Method::DELETE, &format!("/api/v1/projects/{pid}"), &user.access).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        for path in [format!("/api/v1/projects/{pid}"), format!("/api/v1/sessions/{sid}")] {
            assert_problem(app.bearer(Method::GET, &path, &user.access).send().await.unwrap(), 404).await;
        }
        let patch = app.bearer(Method::PATCH, &format!("/api/v1/colors/{cid}"), &user.access).json(&json!({ "name": "x" })).send().await.unwrap();
        assert_problem(patch, 404).await;
        let actions: Vec<String> = app.audit_events().await.into_iter().map(|e| e.action).collect();
        for action in ["project_create", "extraction", "project_delete"] {
            assert!(actions.iter().any(|a| a == action), "{action}");
        }
    }
}

/// S18: upload slots are taken before a body is read, so one account sending bodies
/// slowly must not be able to hold every slot and starve other users' extractions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_one_account_trickling_uploads_cannot_block_others() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let mallory = app.new_user().await;
    let alice = app.new_user().await;
    let project = app.new_project(&alice, "Brand").await;

    // More slow uploads than there are upload slots in all (two per core).
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let mut held = Vec::new();
    for _ in 0..=slots {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/colors/extract HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: 5000000\r\n\r\n{{\"project_id\":",
            mallory.access
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let response = app
        .extract(
            &alice,
            &json!({ "project_id": project["id"], "image_base64": b64(&brand_png()) }),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "another account's extraction is served while one account trickles"
    );
    drop(held);
}

both_backends! {
    // A project or session deleted while an extraction into it was being decoded: the
    // store refuses the orphan rows with a typed error, which the API answers as 404.
    async fn an_extraction_whose_project_vanished_stores_nothing_and_is_a_404(app) {
        use copythat_server::error::ApiError;
        use copythat_server::store::StoreError;
        let session = upload_session(uuid::Uuid::now_v7());
        let err = app.store.save_extraction(Some(&session), &[], generous_caps()).await.unwrap_err();
        assert!(matches!(err, StoreError::MissingParent), "{err:?}");
        assert_eq!(ApiError::internal(err).status(), 404);
        let kind = copythat_server::store::ResourceKind::Session;
        assert!(!app.store.resource_exists(kind, session.id).await.unwrap());
    }
}

both_backends! {
    // S10/S11: serde would fill a struct from a JSON array by position; bodies are objects.
    async fn s10_positional_array_bodies_are_refused(app) {
        let user = app.new_user().await;
        let response = app
            .bearer(Method::POST, "/api/v1/projects", &user.access)
            .json(&json!(["array-project", "desc"]))
            .send()
            .await
            .unwrap();
        let body = assert_problem(response, 422).await;
        assert_eq!(body["errors"][0]["field"], "body");
        let (_, projects) = app.get_json(&user, "/api/v1/projects").await;
        assert_eq!(projects["total"], 0, "nothing was created");

        let response = app
            .post_json("/api/v1/auth/register", &json!(["arr@example.com", random_password()]))
            .await;
        let body = assert_problem(response, 422).await;
        assert!(!body.to_string().contains("RegisterRequest"), "{body}");
    }
}

both_backends! {
    // An export never leaves tokens out silently: past its cap it is refused.
    async fn an_export_over_its_cap_is_refused_not_truncated(app) {
        use copythat_server::store::ColorTokenRecord;
        let user = app.new_user().await;
        let project = app.new_project(&user, "Huge").await;
        let pid = uuid::Uuid::parse_str(project["id"].as_str().unwrap()).unwrap();
        let session = upload_session(pid);
        let now = session.created_at;
        let token = |i: i64| ColorTokenRecord {
            id: uuid::Uuid::now_v7(),
            project_id: pid,
            session_id: session.id,
            position: i,
            hex: "#2563EB".into(),
            rgb: sqlx::types::Json([37, 99, 235]),
            hsl: sqlx::types::Json([221.0, 0.83, 0.53]),
            oklch: sqlx::types::Json([0.55, 0.2, 262.0]),
            name: "Blue".into(),
            share: 0.0001,
            confidence: 1.0,
            role: None,
            contrast_white: 5.2,
            contrast_black: 4.0,
            created_at: now,
        };
        let tokens: Vec<ColorTokenRecord> = (0..5000).map(token).collect();
        app.store.save_extraction(Some(&session), &tokens, generous_caps()).await.unwrap();
        let export = format!("/api/v1/projects/{pid}/export?format=css");
        let full = app.bearer(Method::GET, &export, &user.access).send().await.unwrap();
        assert_eq!(full.status(), 200, "5000 tokens still export");

        // Stored past the export's limit (as if the cap had been lowered since).
        app.store.save_extraction(None, &[token(5000)], generous_caps()).await.unwrap();
        let over = app.bearer(Method::GET, &export, &user.access).send().await.unwrap();
        let body = assert_problem(over, 422).await;
        assert!(body["detail"].as_str().unwrap().contains("5001"), "{body}");
    }
}

/// Caps no store-level test reaches.
fn generous_caps() -> copythat_server::store::Caps {
    copythat_server::store::Caps {
        projects_per_user: 1_000_000,
        sessions_per_project: 1_000_000,
        tokens_per_project: 1_000_000,
    }
}
