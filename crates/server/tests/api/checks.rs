//! Drift checks over HTTP: `POST /projects/{id}/check` against the project's tokens, and
//! the mask of off-palette pixels for its owner only (S8, S12-S14, S18, S24).

use copythat_core::synth::{Canvas, encode_png};
use copythat_core::{ImageFormat, Limits};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [17, 24, 39];
const BRAND: [u8; 3] = [37, 99, 235];
/// The off-brand button: an orange nobody put in the palette.
const ORANGE: [u8; 3] = [249, 115, 22];

/// 100 x 100: a white page, a dark header band (20%), a brand band (10%) and one orange
/// button of 20 x 10 pixels (exactly 2% of the screen) at (40, 50).
fn screen_with_one_off_brand_button() -> Vec<u8> {
    let mut c = Canvas::new(100, 100, WHITE);
    c.rect(0, 0, 100, 20, INK);
    c.rect(0, 20, 100, 10, BRAND);
    c.rect(40, 50, 20, 10, ORANGE);
    encode_png(&c.into_image(ImageFormat::Png))
}

/// A project holding white, ink and brand blue, added by hand; returns (project id,
/// tokens as created).
async fn branded_project(app: &TestApp, user: &TestUser) -> (String, Vec<Value>) {
    let project = app.new_project(user, "Brand").await;
    let id = project["id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for (hex, name) in [
        ("#ffffff", "page"),
        ("#111827", "ink"),
        ("#2563eb", "brand"),
    ] {
        let response = app
            .bearer(
                Method::POST,
                &format!("/api/v1/projects/{id}/colors"),
                &user.access,
            )
            .json(&json!({ "hex": hex, "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        tokens.push(response.json::<Value>().await.unwrap());
    }
    (id, tokens)
}

async fn check_upload(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    png: Vec<u8>,
) -> reqwest::Response {
    let form = Form::new().part(
        "image",
        Part::bytes(png)
            .file_name("screen.png")
            .mime_str("image/png")
            .unwrap(),
    );
    app.bearer(
        Method::POST,
        &format!("/api/v1/projects/{project}/check"),
        &user.access,
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

async fn check_json(
    app: &TestApp,
    user: &TestUser,
    project: &str,
    body: &Value,
) -> reqwest::Response {
    app.bearer(
        Method::POST,
        &format!("/api/v1/projects/{project}/check"),
        &user.access,
    )
    .json(body)
    .send()
    .await
    .unwrap()
}

async fn mask(app: &TestApp, user: &TestUser, id: &str) -> reqwest::Response {
    app.bearer(
        Method::GET,
        &format!("/api/v1/checks/{id}/mask"),
        &user.access,
    )
    .send()
    .await
    .unwrap()
}

both_backends! {
    async fn drift_check_catches_one_off_brand_button_with_its_share_and_nearest_token(app) {
        let user = app.new_user().await;
        let (project, tokens) = branded_project(&app, &user).await;
        let response = check_upload(&app, &user, &project, screen_with_one_off_brand_button()).await;
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let report: Value = response.json().await.unwrap();

        assert_eq!(report["score"], 98.0, "{report}");
        assert_eq!(report["tolerance"], copythat_core::DEFAULT_TOLERANCE);
        assert_eq!(report["image"], json!({ "width": 100, "height": 100, "format": "png" }));
        // Every token, in the project's order, with its exact share and its id.
        let shares: Vec<(String, String, f64)> = report["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().into(), t["hex"].as_str().unwrap().into(), t["share"].as_f64().unwrap()))
            .collect();
        let expected: Vec<(String, String, f64)> = tokens
            .iter()
            .zip([0.68, 0.20, 0.10])
            .map(|(t, share)| (t["id"].as_str().unwrap().into(), t["hex"].as_str().unwrap().into(), share))
            .collect();
        assert_eq!(shares, expected);

        // The button: its colour, its 2% and the nearest token, by id.
        let off = report["off_palette"].as_array().unwrap();
        assert_eq!(off.len(), 1, "{report}");
        assert_eq!(off[0]["hex"], "#f97316");
        assert_eq!(off[0]["share"], 0.02);
        let nearest = &off[0]["nearest"];
        let token = tokens
            .iter()
            .find(|t| t["id"] == nearest["id"])
            .expect("the nearest colour is one of the project's tokens");
        assert_eq!(nearest["hex"], token["hex"]);
        assert_eq!(nearest["name"], token["name"]);
        assert!(off[0]["distance"].as_f64().unwrap() > copythat_core::DEFAULT_TOLERANCE);

        // The mask marks exactly the button, and comes back to its owner as a PNG.
        let mask_id = report["mask_id"].as_str().unwrap();
        assert_eq!(location, format!("/api/v1/checks/{mask_id}/mask"));
        let response = mask(&app, &user, mask_id).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.unwrap();
        let image = copythat_core::decode(&png, &Limits::default()).unwrap();
        assert_eq!((image.width, image.height), (100, 100));
        let marked: Vec<(u32, u32)> = (0..100u32)
            .flat_map(|y| (0..100u32).map(move |x| (x, y)))
            .filter(|&(x, y)| image.rgba[((y * 100 + x) * 4 + 3) as usize] == 255)
            .collect();
        assert_eq!(marked.len(), 200);
        assert!(marked.iter().all(|&(x, y)| (40..60).contains(&x) && (50..60).contains(&y)));

        // S24: the check is in the audit log with its score.
        let events = app
            .audit_events_when(|events| events.iter().any(|e| e.action == "drift_check"))
            .await;
        let event = events.iter().find(|e| e.action == "drift_check").unwrap();
        assert_eq!(event.target.as_deref(), Some(format!("check:{mask_id}").as_str()));
        assert_eq!(event.detail.0["score"], 98.0);
    }

    async fn drift_check_masks_and_projects_are_their_owners_only(app) {
        let owner = app.new_user().await;
        let stranger = app.new_user().await;
        let (project, _) = branded_project(&app, &owner).await;
        let report: Value = check_upload(&app, &owner, &project, screen_with_one_off_brand_button())
            .await
            .json()
            .await
            .unwrap();
        let mask_id = report["mask_id"].as_str().unwrap();
        // S8: someone else's mask or project is a 404, the same as a missing one.
        assert_problem(mask(&app, &stranger, mask_id).await, 404).await;
        assert_problem(mask(&app, &stranger, &uuid::Uuid::now_v7().to_string()).await, 404).await;
        let response = check_upload(&app, &stranger, &project, screen_with_one_off_brand_button()).await;
        assert_problem(response, 404).await;
        // A malformed id names nothing: 404, like any other id that is not theirs.
        assert_problem(mask(&app, &owner, "not-a-uuid").await, 404).await;
        // Without credentials: 401, for the check and for the mask.
        let anonymous = app.client.get(app.url(&format!("/api/v1/checks/{mask_id}/mask"))).send().await.unwrap();
        assert_problem(anonymous, 401).await;
        // A read-only API key may fetch the mask but not run a check (it stores one).
        let key = app.new_api_key(&owner, &["read"]).await;
        let key = key["key"].as_str().unwrap();
        let response = app.with_key(Method::GET, &format!("/api/v1/checks/{mask_id}/mask"), key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let response = app
            .with_key(Method::POST, &format!("/api/v1/projects/{project}/check"), key)
            .json(&json!({ "image_base64": b64(&screen_with_one_off_brand_button()) }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 403).await;
        // Deleting the project takes its masks with it.
        let response = app.bearer(Method::DELETE, &format!("/api/v1/projects/{project}"), &owner.access).send().await.unwrap();
        assert_eq!(response.status(), 204);
        assert_problem(mask(&app, &owner, mask_id).await, 404).await;
    }

    async fn drift_check_takes_base64_and_refuses_bad_input_with_clear_4xx(app) {
        let user = app.new_user().await;
        let (project, _) = branded_project(&app, &user).await;
        let png = screen_with_one_off_brand_button();

        // JSON and base64, with a tolerance wide enough to take the orange in.
        let response = check_json(&app, &user, &project, &json!({ "image_base64": b64(&png), "tolerance": 1.0 })).await;
        assert_eq!(response.status(), 201);
        let report: Value = response.json().await.unwrap();
        assert_eq!(report["score"], 100.0);
        assert_eq!(report["tolerance"], 1.0);
        assert_eq!(report["off_palette"], json!([]));

        for tolerance in [json!(0), json!(-0.1), json!(1.5), json!("wide")] {
            let response = check_json(&app, &user, &project, &json!({ "image_base64": b64(&png), "tolerance": tolerance })).await;
            let body = assert_problem(response, 422).await;
            assert_eq!(body["errors"][0]["field"], "tolerance", "{tolerance}");
        }
        let both = json!({ "image_base64": b64(&png), "image_url": "https://example.com/a.png" });
        assert_problem(check_json(&app, &user, &project, &both).await, 422).await;
        assert_problem(check_json(&app, &user, &project, &json!({})).await, 422).await;
        let unknown = json!({ "image_base64": b64(&png), "max_colors": 8 });
        assert_eq!(assert_problem(check_json(&app, &user, &project, &unknown).await, 422).await["errors"][0]["field"], "max_colors");
        let not_an_image = json!({ "image_base64": b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>") });
        assert_problem(check_json(&app, &user, &project, &not_an_image).await, 415).await;
        let text = app
            .bearer(Method::POST, &format!("/api/v1/projects/{project}/check"), &user.access)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_problem(text, 415).await;
        // S14: a URL to a private address is refused before any connection.
        let private = json!({ "image_url": "http://10.0.0.1/screen.png" });
        let body = assert_problem(check_json(&app, &user, &project, &private).await, 422).await;
        assert_eq!(body["errors"][0]["field"], "image_url");

        // A project without tokens has nothing to check against.
        let empty = app.new_project(&user, "Empty").await;
        let response = check_upload(&app, &user, empty["id"].as_str().unwrap(), png.clone()).await;
        let body = assert_problem(response, 422).await;
        assert!(body["detail"].as_str().unwrap().contains("no colour tokens"), "{body}");
    }

    async fn drift_check_keeps_the_latest_masks_of_a_project_only(app) {
        let user = app.new_user().await;
        let (project, _) = branded_project(&app, &user).await;
        let png = screen_with_one_off_brand_button();
        let mut ids = Vec::new();
        for _ in 0..=copythat_server::routes::checks::CHECKS_KEPT_PER_PROJECT {
            let report: Value = check_upload(&app, &user, &project, png.clone()).await.json().await.unwrap();
            ids.push(report["mask_id"].as_str().unwrap().to_owned());
        }
        // S18: the oldest mask made room for the newest; the rest are all there.
        assert_problem(mask(&app, &user, &ids[0]).await, 404).await;
        for id in &ids[1..] {
            assert_eq!(mask(&app, &user, id).await.status(), 200);
        }
    }

    async fn drift_checks_draw_on_the_extraction_quota(
        app,
        config = [("COPYTHAT_EXTRACT_PER_MINUTE", "2".to_string())]
    ) {
        let user = app.new_user().await;
        let (project, _) = branded_project(&app, &user).await;
        let png = screen_with_one_off_brand_button();
        // S15: image work shares one per-minute quota, whichever route does it.
        let response = app.extract(&user, &json!({ "project_id": project, "image_base64": b64(&png) })).await;
        assert_eq!(response.status(), 201);
        assert_eq!(check_upload(&app, &user, &project, png.clone()).await.status(), 201);
        let response = check_upload(&app, &user, &project, png.clone()).await;
        assert!(response.headers().contains_key("retry-after"));
        assert_problem(response, 429).await;
    }
}
