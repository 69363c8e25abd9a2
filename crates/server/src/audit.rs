//! Security audit events (S24): who did what to which target from where, with the request
//! id. Never a password, token, key or image. Stored for admins and logged as JSON.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::request_id::{ClientIp, RequestId};
use crate::store::{AuditEvent, DynStore};

/// The request facts every event carries.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        Self::from_extensions(&parts.extensions)
    }

    pub fn from_extensions(extensions: &axum::http::Extensions) -> Self {
        Self {
            request_id: extensions.get::<RequestId>().map(|r| r.0.clone()),
            ip: extensions.get::<ClientIp>().map(|c| c.0.to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// Who acted: `user:<id>`, `api_key:<id>` or `anonymous`.
pub fn user_actor(id: Uuid) -> String {
    format!("user:{id}")
}

pub const ANONYMOUS: &str = "anonymous";

pub struct Audit<'a> {
    pub store: &'a DynStore,
    pub meta: &'a RequestMeta,
}

impl Audit<'_> {
    /// Records one event. A storage failure is logged, never shown to the client: the
    /// JSON log line below is the second copy.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        target: Option<String>,
        outcome: Outcome,
        detail: Value,
    ) {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            request_id: self.meta.request_id.clone(),
            actor: actor.to_owned(),
            ip: self.meta.ip.clone(),
            action: action.to_owned(),
            target,
            outcome: outcome.as_str().to_owned(),
            detail: sqlx::types::Json(detail),
        };
        tracing::info!(
            target: "audit",
            actor = %event.actor,
            action = %event.action,
            target_id = event.target.as_deref().unwrap_or(""),
            outcome = %event.outcome,
            ip = event.ip.as_deref().unwrap_or(""),
            detail = %event.detail.0,
            "audit"
        );
        if let Err(err) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %err, action = %event.action, "audit event not stored");
        }
    }
}
