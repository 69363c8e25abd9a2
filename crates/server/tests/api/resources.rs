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

        // A second extraction into the same session adds only what is new to the project.
        let green = stripes_png(&[([255, 255, 255], 60), ([22, 163, 74], 40)]);
        let again = app
            .extract(&user, &json!({ "project_id": pid, "session_id": sid, "image_base64": b64(&green), "max_colors": 2 }))
            .await;
        assert_eq!(again.status(), 201);
        let (_, listed) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors?session_id={sid}")).await;
        assert_eq!(listed["total"], colors.len() + 1, "white was merged, green added: {listed}");
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
        // The last: a `data:` prefix whose 256th byte is inside a character (found by fuzzing).
        let straddling = format!("data:{}\u{85},AAAA", "x".repeat(250));
        for bad in ["not base64 at all!", "", "data:image/png;base64,", straddling.as_str()] {
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
        // Past the end: no items, and still the true total (no row carries it there).
        let (_, beyond) = app.get_json(&user, "/api/v1/projects?limit=2&offset=5").await;
        assert_eq!(beyond, json!({ "items": [], "total": 3 }));
        let pid = all["items"][0]["id"].as_str().unwrap();
        for path in [format!("/api/v1/projects/{pid}/sessions"), format!("/api/v1/projects/{pid}/colors")] {
            let (_, empty) = app.get_json(&user, &path).await;
            assert_eq!(empty, json!({ "items": [], "total": 0 }), "{path}");
        }
        let response = app.extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) })).await;
        assert_eq!(response.status(), 201);
        let (_, colors) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors?limit=1")).await;
        assert_eq!((colors["items"].as_array().unwrap().len(), &colors["total"]), (1, &json!(3)));
        let (_, beyond) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors?offset=3")).await;
        assert_eq!(beyond, json!({ "items": [], "total": 3 }));
        let (_, sessions) = app.get_json(&user, &format!("/api/v1/projects/{pid}/sessions?offset=1")).await;
        assert_eq!(sessions, json!({ "items": [], "total": 1 }));
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
        let renamed = app.bearer(Method::PATCH, &format!("/api/v1/projects/{pid}"), &user.access).json(&json!({ "name": "Renamed" })).send().await.unwrap();
        assert_eq!(renamed.status(), 200);
        let deleted = app.bearer(Method::DELETE, &format!("/api/v1/projects/{pid}"), &user.access).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        for path in [format!("/api/v1/projects/{pid}"), format!("/api/v1/sessions/{sid}")] {
            assert_problem(app.bearer(Method::GET, &path, &user.access).send().await.unwrap(), 404).await;
        }
        let patch = app.bearer(Method::PATCH, &format!("/api/v1/colors/{cid}"), &user.access).json(&json!({ "name": "x" })).send().await.unwrap();
        assert_problem(patch, 404).await;
        let actions: Vec<String> = app.audit_events().await.into_iter().map(|e| e.action).collect();
        for action in ["project_create", "extraction", "project_update", "project_delete"] {
            assert!(actions.iter().any(|a| a == action), "{action}");
        }
    }
}

/// S18: accounts uploading their bodies slowly cannot hold every upload slot and starve
/// other users' extractions: each account has a share, each address too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_accounts_trickling_uploads_cannot_block_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("COPYTHAT_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await
    .unwrap();
    let alice = app.new_user().await;
    let project = app.new_project(&alice, "Brand").await;

    // Two accounts, each from its own address, start more slow uploads than their
    // shares; each holds a slot once the server asks for its body (100 Continue).
    let mut held = Vec::new();
    for (i, mallory) in [app.new_user().await, app.new_user().await]
        .iter()
        .enumerate()
    {
        for _ in 0..6 {
            let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
            let head = format!(
                "POST /api/v1/colors/extract HTTP/1.1\r\nHost: x\r\n\
                 X-Forwarded-For: 198.51.100.{i}\r\nExpect: 100-continue\r\n\
                 Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
                 Content-Length: 5000000\r\n\r\n",
                mallory.access
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            held.push(stream);
        }
    }
    // Wait until every upload the shares admit is being read: four per account.
    let mut admitted = 0;
    for stream in &mut held {
        let mut buf = [0u8; 64];
        let continued =
            tokio::time::timeout(std::time::Duration::from_millis(300), stream.read(&mut buf))
                .await;
        if let Ok(Ok(n)) = continued
            && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100")
        {
            admitted += 1;
            stream.write_all(b"{\"project_id\":").await.unwrap();
        }
    }
    assert_eq!(
        admitted, 8,
        "each account's share of the sixteen slots is four"
    );

    let response = app
        .extract(
            &alice,
            &json!({ "project_id": project["id"], "image_base64": b64(&brand_png()) }),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "another account's extraction is served while two accounts trickle"
    );
    drop(held);
}

/// S18: a body that stops arriving is cut with 408, and its upload slot is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_a_trickled_upload_is_cut_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    let project = app.new_project(&user, "Brand").await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/colors/extract HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{\"project_id\":\"{}\",\"image_base64\":\"",
        user.access,
        project["id"].as_str().unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A few bytes a second: far below the minimum rate.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                },
                () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                    let _ = stream.write_all(b"AAAA").await;
                }
            }
        }
        received
    })
    .await
    .expect("the server answers a trickled body within the grace and then some");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    // The slot is free: the same account extracts at once.
    let response = app
        .extract(
            &user,
            &json!({ "project_id": project["id"], "image_base64": b64(&brand_png()) }),
        )
        .await;
    assert_eq!(response.status(), 201);
}

both_backends! {
    // A project or session deleted while an extraction into it was being decoded: the
    // store refuses the orphan rows with a typed error, which the API answers as 404.
    async fn an_extraction_whose_project_vanished_stores_nothing_and_is_a_404(app) {
        use copythat_server::store::StoreError;
        // The store refuses the orphan rows with a typed error...
        let session = upload_session(uuid::Uuid::now_v7());
        let err = app.store.save_extraction(Some(&session), &[], generous_caps()).await.unwrap_err();
        assert!(matches!(err, StoreError::MissingParent), "{err:?}");
        let kind = copythat_server::store::ResourceKind::Session;
        assert!(!app.store.resource_exists(kind, session.id).await.unwrap());

        // ...and over HTTP, a project deleted while its extraction is being processed
        // gives a 404 (or the extraction finished first: 201), never a 500, and leaves
        // nothing behind. Deletes land at different moments of the work.
        let user = app.new_user().await;
        let image = b64(&copythat_core::synth::encode_png(&copythat_core::synth::photo(1200, 1200)));
        let mut seen = std::collections::BTreeSet::new();
        for delay_ms in (0..160).step_by(10) {
            let project = app.new_project(&user, "Doomed").await;
            let pid = project["id"].as_str().unwrap().to_owned();
            let body = json!({ "project_id": pid, "image_base64": image, "max_colors": 16 });
            let extraction = app.extract(&user, &body);
            let delete = async {
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                app.bearer(Method::DELETE, &format!("/api/v1/projects/{pid}"), &user.access)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            };
            let (extracted, deleted) = tokio::join!(extraction, delete);
            let status = extracted.status().as_u16();
            assert!(matches!(status, 201 | 404), "delete after {delay_ms} ms: {status}");
            assert_eq!(deleted, 204);
            seen.insert(status);
            let (_, colors) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
            assert_eq!(colors["status"], 404, "nothing of the project remains");
        }
        assert!(seen.contains(&404), "some deletes landed before the extraction was stored");
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
    // An export never leaves tokens out silently: a project holding more tokens than an
    // export takes (the cap was lowered since they were stored) is refused, not cut.
    async fn an_export_over_its_cap_is_refused_not_truncated(
        app,
        config = [("COPYTHAT_MAX_TOKENS_PER_PROJECT", "50".to_owned())]
    ) {
        use copythat_server::store::ColorTokenRecord;
        let user = app.new_user().await;
        let project = app.new_project(&user, "Huge").await;
        let pid = uuid::Uuid::parse_str(project["id"].as_str().unwrap()).unwrap();
        let session = upload_session(pid);
        let now = session.created_at;
        // Colours set apart in OKLab (lightness steps of 0.021, hues 30 degrees apart) so
        // none merges into another.
        let token = |i: i64| ColorTokenRecord {
            id: uuid::Uuid::now_v7(),
            project_id: pid,
            session_id: session.id,
            position: i,
            hex: "#2563EB".into(),
            rgb: sqlx::types::Json([37, 99, 235]),
            hsl: sqlx::types::Json([221.0, 0.83, 0.53]),
            oklch: sqlx::types::Json([0.1 + (i % 40) as f64 * 0.021, 0.05, (i / 40) as f64 * 30.0]),
            name: format!("Blue {i}"),
            share: 0.0001,
            confidence: 1.0,
            role: None,
            contrast_white: 5.2,
            contrast_black: 4.0,
            created_at: now,
        };
        let tokens: Vec<ColorTokenRecord> = (0..50).map(token).collect();
        app.store.save_extraction(Some(&session), &tokens, generous_caps()).await.unwrap();
        let export = format!("/api/v1/projects/{pid}/export?format=css");
        let full = app.bearer(Method::GET, &export, &user.access).send().await.unwrap();
        assert_eq!(full.status(), 200, "50 tokens still export");

        // Stored past the export's limit (as if the cap had been lowered since).
        app.store.save_extraction(None, &[token(50)], generous_caps()).await.unwrap();
        let over = app.bearer(Method::GET, &export, &user.access).send().await.unwrap();
        let body = assert_problem(over, 422).await;
        assert!(body["detail"].as_str().unwrap().contains("51"), "{body}");
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

both_backends! {
    // S11/S19: validation messages speak plain words (no Rust type names) and repeat at
    // most a short prefix of what the client sent, whatever its size.
    async fn s11_s19_validation_messages_are_plain_and_short(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Brand").await;
        let fractional = app
            .extract(&user, &json!({ "project_id": project["id"], "image_base64": b64(&brand_png()), "max_colors": 3.0 }))
            .await;
        let body = assert_problem(fractional, 422).await;
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert_eq!(body["errors"][0]["field"], "max_colors");
        for rust in ["i64", "u8", "usize", "f64", "struct", "enum"] {
            assert!(!message.contains(rust), "{message}");
        }

        let huge_name = "n".repeat(1 << 20);
        let form = Form::new()
            .text("project_id", project["id"].as_str().unwrap().to_owned())
            .text(huge_name.clone(), "x");
        let response = app
            .bearer(Method::POST, "/api/v1/colors/extract", &user.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(matches!(status, 413 | 422 | 400), "{status}");
        assert!(text.len() < 2048, "the answer is {} bytes long", text.len());
        assert!(!text.contains(&"n".repeat(100)), "the field name was echoed");

        let long_key = format!("{}x", "k".repeat(10_000));
        let response = app
            .bearer(Method::POST, "/api/v1/projects", &user.access)
            .json(&json!({ "name": "ok", long_key: 1 }))
            .send()
            .await
            .unwrap();
        let body = assert_problem(response, 422).await;
        assert!(body.to_string().len() < 1024, "{body}");
    }
}

/// A PNG of vertical stripes in the given colours and weights.
fn stripes_png(colors: &[([u8; 3], u32)]) -> Vec<u8> {
    copythat_core::synth::encode_png(&copythat_core::synth::stripes(64, colors))
}

both_backends! {
    // A project's tokens are a palette, not a log: the same colours found again update the
    // tokens the project holds instead of adding twins.
    async fn extracting_the_same_image_twice_keeps_one_token_per_colour(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Brand").await;
        let pid = project["id"].as_str().unwrap();
        let body = json!({ "project_id": pid, "image_base64": b64(&brand_png()) });
        let first: Value = app.extract(&user, &body).await.json().await.unwrap();
        let second = app.extract(&user, &body).await;
        assert_eq!(second.status(), 201);
        let second: Value = second.json().await.unwrap();
        let ids = |v: &Value| -> Vec<String> {
            v["colors"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids(&first), ids(&second), "the second extraction found the same tokens");
        assert!(second["colors"].as_array().unwrap().iter().all(|c| c["session_id"] == second["session_id"]));
        let (_, all) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        assert_eq!(all["total"], first["colors"].as_array().unwrap().len());
        let css = app
            .bearer(Method::GET, &format!("/api/v1/projects/{pid}/export?format=css"), &user.access)
            .send().await.unwrap().text().await.unwrap();
        assert!(!css.contains("-2:"), "{css}");

        // A new, different colour with a name the project holds says how it differs.
        let names: Vec<String> = all["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
        let darker = stripes_png(&[([255, 255, 255], 70), ([17, 24, 39], 20), ([23, 62, 150], 10)]);
        let third: Value = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&darker), "max_colors": 3 }))
            .await.json().await.unwrap();
        let (_, all) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        let mut seen = std::collections::HashSet::new();
        for item in all["items"].as_array().unwrap() {
            assert!(seen.insert(item["name"].as_str().unwrap().to_lowercase()), "names are unique: {all}");
        }
        let added: Vec<&Value> = third["colors"].as_array().unwrap().iter()
            .filter(|c| !names.contains(&c["name"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(added.len(), 1, "only the new blue was added: {third}");

        // Two greys the engine calls the same: the second says how it differs.
        let add = |hex: &str| {
            app.bearer(Method::POST, &format!("/api/v1/projects/{pid}/colors"), &user.access)
                .json(&json!({ "hex": hex }))
                .send()
        };
        let grey: Value = add("#808080").await.unwrap().json().await.unwrap();
        let lighter: Value = add("#9a9a9a").await.unwrap().json().await.unwrap();
        assert_eq!(grey["name"], "grey");
        assert_eq!(lighter["name"], "grey (lighter)");
    }

    // Curation: add by hex, rename, reorder, delete, with validation, uniqueness and audit.
    async fn curation_adds_renames_reorders_and_deletes_tokens(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Brand").await;
        let pid = project["id"].as_str().unwrap();
        let add = |body: Value| {
            app.bearer(Method::POST, &format!("/api/v1/projects/{pid}/colors"), &user.access)
                .json(&body)
                .send()
        };
        let red = add(json!({ "hex": "#E11D48", "name": "Signal red", "role": "error" })).await.unwrap();
        assert_eq!(red.status(), 201);
        let red: Value = red.json().await.unwrap();
        assert_eq!((red["hex"].as_str(), red["role"].as_str()), (Some("#e11d48"), Some("error")));
        let blue: Value = add(json!({ "hex": "#2563eb" })).await.unwrap().json().await.unwrap();
        assert!(!blue["name"].as_str().unwrap().is_empty(), "a human name is given: {blue}");

        for (body, field) in [
            (json!({ "hex": "2563eb" }), "hex"),
            (json!({ "hex": "#25g3eb" }), "hex"),
            (json!({ "hex": "#2563eb", "role": "hero" }), "role"),
            (json!({ "hex": "#2563eb", "name": "" }), "name"),
        ] {
            let refused = assert_problem(add(body.clone()).await.unwrap(), 422).await;
            assert_eq!(refused["errors"][0]["field"], field, "{body}");
        }
        let twin = assert_problem(add(json!({ "hex": "#2563ec" })).await.unwrap(), 409).await;
        assert!(twin["detail"].as_str().unwrap().contains("already holds"), "{twin}");
        let taken = assert_problem(add(json!({ "hex": "#16a34a", "name": "signal RED" })).await.unwrap(), 409).await;
        assert!(taken["detail"].as_str().unwrap().contains("name"), "{taken}");

        let patch = |id: &Value, body: Value| {
            app.bearer(Method::PATCH, &format!("/api/v1/colors/{}", id.as_str().unwrap()), &user.access)
                .json(&body)
                .send()
        };
        assert_problem(patch(&blue["id"], json!({ "name": "Signal Red" })).await.unwrap(), 409).await;
        let renamed: Value = patch(&blue["id"], json!({ "name": "Link blue" })).await.unwrap().json().await.unwrap();
        assert_eq!(renamed["name"], "Link blue");
        assert_problem(patch(&blue["id"], json!({ "position": -1 })).await.unwrap(), 422).await;
        assert_eq!(patch(&blue["id"], json!({ "position": 0 })).await.unwrap().status(), 200);
        let (_, list) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        let order: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(order, ["Link blue", "Signal red"]);

        let deleted = app
            .bearer(Method::DELETE, &format!("/api/v1/colors/{}", red["id"].as_str().unwrap()), &user.access)
            .send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        let (_, list) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors")).await;
        assert_eq!(list["total"], 1);

        // Someone else's project and token: 404, nothing changed.
        let mallory = app.new_user().await;
        let foreign = app
            .bearer(Method::POST, &format!("/api/v1/projects/{pid}/colors"), &mallory.access)
            .json(&json!({ "hex": "#000000" }))
            .send().await.unwrap();
        assert_problem(foreign, 404).await;
        let foreign = app
            .bearer(Method::PATCH, &format!("/api/v1/colors/{}", blue["id"].as_str().unwrap()), &mallory.access)
            .json(&json!({ "position": 3 }))
            .send().await.unwrap();
        assert_problem(foreign, 404).await;

        let events = app.audit_events().await;
        for action in ["color_create", "color_update", "color_delete"] {
            assert!(events.iter().any(|e| e.action == action), "{action}");
        }
    }

    // Export of one extraction: `session_id` narrows the export to its tokens.
    async fn an_export_can_take_one_extraction(app) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "Brand").await;
        let pid = project["id"].as_str().unwrap();
        let warm = stripes_png(&[([250, 240, 230], 60), ([220, 80, 20], 40)]);
        let cool = stripes_png(&[([230, 240, 250], 60), ([20, 80, 220], 40)]);
        app.extract(&user, &json!({ "project_id": pid, "image_base64": b64(&warm), "max_colors": 2 })).await;
        let second: Value = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&cool), "max_colors": 2 }))
            .await.json().await.unwrap();
        let sid = second["session_id"].as_str().unwrap();
        let export = |query: String| {
            app.bearer(Method::GET, &format!("/api/v1/projects/{pid}/export?{query}"), &user.access).send()
        };
        let all = export("format=css".into()).await.unwrap().text().await.unwrap();
        let one = export(format!("format=css&session_id={sid}")).await.unwrap().text().await.unwrap();
        let count = |css: &str| css.lines().filter(|l| l.trim_start().starts_with("--")).count();
        assert_eq!(count(&all), 4, "{all}");
        assert_eq!(count(&one), 2, "{one}");
        assert!(one.to_lowercase().contains("#1450dc") || one.contains("blue"), "{one}");
        assert_problem(export(format!("format=css&session_id={}", uuid::Uuid::now_v7())).await.unwrap(), 404).await;
        let other = app.new_project(&user, "Other").await;
        let other_session: Value = app
            .extract(&user, &json!({ "project_id": other["id"], "image_base64": b64(&warm), "max_colors": 2 }))
            .await.json().await.unwrap();
        let body = assert_problem(
            export(format!("format=css&session_id={}", other_session["session_id"].as_str().unwrap())).await.unwrap(),
            422,
        ).await;
        assert_eq!(body["errors"][0]["field"], "session_id");
    }

    // S18: what one account may store is capped, and the refusal names the cap.
    async fn s18_projects_sessions_and_tokens_are_capped(
        app,
        config = [
            ("COPYTHAT_MAX_PROJECTS_PER_USER", "2".to_owned()),
            ("COPYTHAT_MAX_SESSIONS_PER_PROJECT", "2".to_owned()),
            ("COPYTHAT_MAX_TOKENS_PER_PROJECT", "50".to_owned()),
        ]
    ) {
        let user = app.new_user().await;
        let project = app.new_project(&user, "One").await;
        app.new_project(&user, "Two").await;
        let third = app.bearer(Method::POST, "/api/v1/projects", &user.access)
            .json(&json!({ "name": "Three" })).send().await.unwrap();
        let body = assert_problem(third, 422).await;
        assert!(body["detail"].as_str().unwrap().contains("at most 2 projects"), "{body}");
        let (_, projects) = app.get_json(&user, "/api/v1/projects").await;
        assert_eq!(projects["total"], 2);

        let pid = project["id"].as_str().unwrap();
        let session = |name: &str| {
            app.bearer(Method::POST, &format!("/api/v1/projects/{pid}/sessions"), &user.access)
                .json(&json!({ "name": name })).send()
        };
        assert_eq!(session("a").await.unwrap().status(), 201);
        assert_eq!(session("b").await.unwrap().status(), 201);
        let body = assert_problem(session("c").await.unwrap(), 422).await;
        assert!(body["detail"].as_str().unwrap().contains("at most 2 extraction sessions"), "{body}");
        let extraction = app
            .extract(&user, &json!({ "project_id": pid, "image_base64": b64(&brand_png()) }))
            .await;
        assert_problem(extraction, 422).await;

        // Fifty distinct colours fill the project (from a coarse RGB cube, skipping the
        // few the project already holds as a near-identical twin); the next is refused.
        let add = |hex: String| {
            app.bearer(Method::POST, &format!("/api/v1/projects/{pid}/colors"), &user.access)
                .json(&json!({ "hex": hex })).send()
        };
        let mut stored = 0;
        for i in 0..216u32 {
            let (r, g, b) = ((i % 6) * 51, ((i / 6) % 6) * 51, (i / 36) * 51);
            let status = add(format!("#{r:02x}{g:02x}{b:02x}")).await.unwrap().status().as_u16();
            assert!(matches!(status, 201 | 409), "colour {i}: {status}");
            stored += usize::from(status == 201);
            if stored == 50 {
                break;
            }
        }
        assert_eq!(stored, 50);
        let body = assert_problem(add("#ffffff".into()).await.unwrap(), 422).await;
        assert!(body["detail"].as_str().unwrap().contains("at most 50 colour tokens"), "{body}");
        let (_, colors) = app.get_json(&user, &format!("/api/v1/projects/{pid}/colors?limit=100")).await;
        assert_eq!(colors["total"], 50);
    }
}
