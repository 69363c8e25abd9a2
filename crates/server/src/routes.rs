//! One module per resource; `api_router` gathers everything under `/api/v1`.

pub mod health;

use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::{AppState, JSON_BODY_LIMIT};

pub fn api_router() -> Router<AppState> {
    Router::new().layer(RequestBodyLimitLayer::new(JSON_BODY_LIMIT))
}
