//! Liveness and readiness. `/health` says only that the process is alive (S23);
//! `/ready` says whether this instance would serve requests now — the database answers,
//! and, when limits fail closed, the rate-limit backend too (S16) — nothing about which
//! or where.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // Shutting down: still serving, but no new traffic should come here.
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return Err(ApiError::Unavailable);
    }
    if let Err(err) = state.store.ping().await {
        tracing::warn!(error = %err, "readiness check failed: database");
        return Err(ApiError::Unavailable);
    }
    // Failing closed, every counted request would be refused while Redis is down.
    if state.config.rate_limit_fail_closed
        && let Err(err) = state.limiter.ping().await
    {
        tracing::warn!(error = %err, "readiness check failed: rate limits (fail closed)");
        return Err(ApiError::Unavailable);
    }
    Ok(Json(json!({ "status": "ready" })))
}
