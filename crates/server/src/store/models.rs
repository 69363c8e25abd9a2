//! The records the store reads and writes, shared by both backends.

use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Account roles (S9). Stored as a JSON list of lowercase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// What an API key may do (S7): `read` for GET/HEAD, `write` for POST/PUT/PATCH,
/// `delete` for DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Delete,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub roles: Json<Vec<Role>>,
    pub token_version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.roles.0.contains(&Role::Admin)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub replaced_by: Option<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: String,
    pub scopes: Json<Vec<Scope>>,
    pub is_active: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The key's own per-minute quota, below its account's (S15); `None`: the account's.
    pub rate_per_minute: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub request_id: Option<String>,
    pub actor: String,
    pub ip: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Json<serde_json::Value>,
}

/// A page of a list: `limit` 1..=100, `offset` >= 0 (validated at the edge).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// Whose resources a lookup may return: one user's, or anyone's (admins, S8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Anyone,
    User(Uuid),
}

impl Owner {
    /// The owner filter as a bound parameter: `NULL` matches every owner.
    pub fn filter(self) -> Option<Uuid> {
        match self {
            Self::Anyone => None,
            Self::User(id) => Some(id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Project,
    Session,
    ColorToken,
    Check,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExtractionSession {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: Option<String>,
    /// `upload`, `url`, or `manual` (the one session of a project holding the tokens
    /// added by hand).
    pub source: String,
    pub image_width: Option<i64>,
    pub image_height: Option<i64>,
    pub image_format: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ColorTokenRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub session_id: Uuid,
    /// Order within the project: extraction order (by pixel share) unless curated.
    pub position: i64,
    pub hex: String,
    pub rgb: Json<[u8; 3]>,
    pub hsl: Json<[f64; 3]>,
    pub oklch: Json<[f64; 3]>,
    pub name: String,
    pub share: f64,
    pub confidence: f64,
    pub role: Option<String>,
    pub contrast_white: f64,
    pub contrast_black: f64,
    pub created_at: OffsetDateTime,
}

/// One drift check of a project: kept for the mask of off-palette pixels, which its
/// owner fetches by id.
#[derive(Debug, Clone)]
pub struct DriftCheck {
    pub id: Uuid,
    pub project_id: Uuid,
    pub score: f64,
    /// PNG.
    pub mask: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// A change to a colour token; `role: Some(None)` clears the role; `position` moves it
/// to that place (0-based) in its project's order.
#[derive(Debug, Clone, Default)]
pub struct TokenChange {
    pub role: Option<Option<String>>,
    pub name: Option<String>,
    pub position: Option<i64>,
}

/// A change to a project; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}
