//! Persistence behind one trait, with a SQLite and a PostgreSQL implementation chosen
//! from the `DATABASE_URL` scheme. Every statement binds its parameters (S11).

mod models;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use models::*;

use crate::config::ConnectionUrl;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (for example, an email already registered).
    #[error("conflict with an existing record")]
    Conflict,
    /// A foreign key refused the write: the row it belongs to no longer exists.
    #[error("the parent record no longer exists")]
    MissingParent,
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::MissingParent,
            _ => Self::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service keeps. Lookups of user-owned resources take the owner and
/// put ownership into the query itself (S8). Ids are UUIDv7, so ordering by id is
/// ordering by creation time on both backends.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    async fn migrate(&self) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;

    // Users.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn find_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, page: Page) -> StoreResult<(Vec<User>, i64)>;
    /// Replaces the password hash and bumps `token_version`, so access tokens die (S4).
    async fn update_password(&self, id: Uuid, password_hash: &str) -> StoreResult<()>;
    async fn record_login(&self, id: Uuid) -> StoreResult<()>;
    /// Kills every outstanding access token of the user (S4).
    async fn bump_token_version(&self, id: Uuid) -> StoreResult<()>;
    /// Admin changes; bumps `token_version` whenever activity or roles change.
    async fn update_user_admin(
        &self,
        id: Uuid,
        is_active: Option<bool>,
        roles: Option<&[Role]>,
    ) -> StoreResult<Option<User>>;

    // Refresh tokens.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    async fn find_refresh_token(&self, token_hash: &str)
    -> StoreResult<Option<RefreshTokenRecord>>;
    /// Atomically revokes `old` and stores `new` in its place. Returns false, storing
    /// nothing, when `old` was already revoked (a concurrent or repeated use).
    async fn rotate_refresh_token(&self, old: Uuid, new: &RefreshTokenRecord) -> StoreResult<bool>;
    async fn revoke_refresh_family(&self, family_id: Uuid) -> StoreResult<u64>;
    async fn revoke_user_refresh_tokens(&self, user_id: Uuid) -> StoreResult<u64>;

    // API keys.
    /// Stores `key` unless its owner already holds `cap` active keys (false then). The
    /// count and the insert are one critical section per user: parallel creates cannot
    /// overshoot the cap.
    async fn insert_api_key_capped(&self, key: &ApiKeyRecord, cap: i64) -> StoreResult<bool>;
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Revokes a key the user owns; false when there is no such key of theirs.
    async fn revoke_api_key(&self, id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()>;

    // Projects, sessions and colour tokens. `owned_*` are the one place ownership is
    // checked (S8): the owner is part of the WHERE clause.
    async fn insert_project(&self, project: &Project) -> StoreResult<()>;
    async fn owned_project(&self, id: Uuid, owner: Owner) -> StoreResult<Option<Project>>;
    async fn list_projects(&self, owner: Owner, page: Page) -> StoreResult<(Vec<Project>, i64)>;
    async fn update_project(
        &self,
        id: Uuid,
        change: &ProjectChange,
    ) -> StoreResult<Option<Project>>;
    async fn delete_project(&self, id: Uuid) -> StoreResult<bool>;
    async fn insert_session(&self, session: &ExtractionSession) -> StoreResult<()>;
    async fn owned_session(&self, id: Uuid, owner: Owner)
    -> StoreResult<Option<ExtractionSession>>;
    async fn list_sessions(
        &self,
        project_id: Uuid,
        page: Page,
    ) -> StoreResult<(Vec<ExtractionSession>, i64)>;
    async fn delete_session(&self, id: Uuid) -> StoreResult<bool>;
    /// Stores one extraction atomically: the new session (if any) and every token, after
    /// the session's existing tokens. On any error nothing is stored.
    async fn save_extraction(
        &self,
        new_session: Option<&ExtractionSession>,
        tokens: &[ColorTokenRecord],
    ) -> StoreResult<Vec<ColorTokenRecord>>;
    async fn list_tokens(
        &self,
        project_id: Uuid,
        session_id: Option<Uuid>,
        page: Page,
    ) -> StoreResult<(Vec<ColorTokenRecord>, i64)>;
    async fn owned_token(&self, id: Uuid, owner: Owner) -> StoreResult<Option<ColorTokenRecord>>;
    async fn update_token(
        &self,
        id: Uuid,
        change: &TokenChange,
    ) -> StoreResult<Option<ColorTokenRecord>>;
    async fn delete_token(&self, id: Uuid) -> StoreResult<bool>;
    /// Whether a resource exists at all, whoever owns it: used only to tell an ownership
    /// denial from a missing id in the audit log, never in a response.
    async fn resource_exists(&self, kind: ResourceKind, id: Uuid) -> StoreResult<bool>;

    // Audit events (S24).
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    async fn list_audit_events(&self, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by `url` (`sqlite://...` or `postgres://...`).
pub async fn connect(url: &ConnectionUrl) -> StoreResult<DynStore> {
    match url.scheme() {
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PgStore::connect(url.expose()).await?)),
        _ => Ok(Arc::new(sqlite::SqliteStore::connect(url.expose()).await?)),
    }
}

/// Opens a PostgreSQL store whose tables live in `schema` (created if missing): tests
/// use one fresh schema each.
pub async fn connect_postgres_schema(url: &str, schema: &str) -> StoreResult<DynStore> {
    Ok(Arc::new(
        postgres::PgStore::connect_in_schema(url, schema).await?,
    ))
}
