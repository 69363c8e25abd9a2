//! `/openapi.json` and `/docs`, derived from the route table so they cannot drift from
//! the router. Served outside production, or when `COPYTHAT_DOCS` turns them on (S23).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Access, RouteEntry, route_table};
use crate::app::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
}

/// The OpenAPI 3.1 document: every route, its method, path parameters and credentials.
pub fn document() -> Value {
    let mut paths = Map::new();
    for entry in route_table() {
        let mut operation = json!({
            "operationId": entry.operation,
            "responses": {
                "default": {
                    "description": "Success, or an RFC 9457 problem",
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                }
            }
        });
        if entry.access == Access::Public {
            operation["security"] = json!([]);
        }
        if entry.path.contains("{id}") {
            operation["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                "schema": { "type": "string", "format": "uuid" }
            }]);
        }
        let item = paths
            .entry(entry.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        item[entry.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Copy That API", "version": "v1" },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }, { "apiKey": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" }
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail", "request_id"],
                    "properties": {
                        "type": { "type": "string" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                        "request_id": { "type": "string" },
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": { "type": "string" },
                                    "message": { "type": "string" }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn openapi(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.config.docs {
        return Err(ApiError::NotFound);
    }
    Ok(Json(document()))
}

/// What a route accepts, from its access policy in the route table.
fn credentials(entry: &RouteEntry) -> &'static str {
    match entry.access {
        Access::Public => "public",
        Access::User => "bearer token or X-API-Key",
        Access::Session => "bearer token (signed-in session)",
        Access::Admin => "bearer token of an admin",
    }
}

async fn docs(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.config.docs {
        return Err(ApiError::NotFound);
    }
    let rows: String = route_table()
        .iter()
        .map(|e| {
            format!(
                "<tr><td><code>{}</code></td><td><code>/api/v1{}</code></td><td>{}</td><td>{}</td></tr>\n",
                e.method,
                e.path,
                e.operation.replace('_', " "),
                credentials(e),
            )
        })
        .collect();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Copy That API</title>\
         <link rel=\"stylesheet\" href=\"/style.css\"></head><body><h1>Copy That API</h1>\
         <p>The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>. \
         Errors are <code>application/problem+json</code>.</p>\
         <table><thead><tr><th>method</th><th>path</th><th>operation</th><th>credentials</th></tr></thead>\
         <tbody>\n{rows}</tbody></table></body></html>"
    );
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}
