//! The web page at `/`: static files built into the binary. No inline script or style, so it
//! works under the strict Content-Security-Policy (S20); public (S1).

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::app::AppState;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Path, content type and body of every file the page is made of.
const FILES: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("../../../../web/index.html")),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../../web/style.css"),
    ),
    (
        "/icon.svg",
        "image/svg+xml",
        include_str!("../../../../web/icon.svg"),
    ),
    ("/app.js", JS, include_str!("../../../../web/app.js")),
    ("/api.js", JS, include_str!("../../../../web/api.js")),
    ("/check.js", JS, include_str!("../../../../web/check.js")),
    ("/color.js", JS, include_str!("../../../../web/color.js")),
    ("/dom.js", JS, include_str!("../../../../web/dom.js")),
    ("/intake.js", JS, include_str!("../../../../web/intake.js")),
    (
        "/palette.js",
        JS,
        include_str!("../../../../web/palette.js"),
    ),
];

pub fn router() -> Router<AppState> {
    FILES
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(
                path,
                get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Every module the page imports is served, so a new file cannot be forgotten here.
    #[test]
    fn every_imported_module_is_served() {
        for &(_, _, body) in FILES {
            for line in body.lines() {
                let Some(rest) = line.trim().strip_prefix("import ") else {
                    continue;
                };
                let Some(spec) = rest.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let path = spec.trim_start_matches('.');
                assert!(
                    FILES.iter().any(|&(p, _, _)| p == path),
                    "{spec} is imported but not served"
                );
            }
        }
    }

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        let (_, _, html) = FILES[0];
        assert!(
            !html.contains(" style="),
            "style attributes break under the CSP"
        );
        assert!(!html.contains("<style"));
        for tag in html.split("<script").skip(1) {
            let head = tag.split('>').next().unwrap_or_default();
            assert!(head.contains("src="), "inline script: <script{head}>");
        }
        for (at, _) in html.match_indices(" on") {
            let name: String = html[at + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            assert!(
                !html[at + 3 + name.len()..].starts_with('='),
                "inline event handler on{name}"
            );
        }
    }
}
