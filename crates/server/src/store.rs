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
    /// A per-user cap (S18) would be passed by this write; nothing was written.
    #[error("{0}")]
    CapReached(Cap),
    /// The write would break a rule of the data the client can fix (a taken name, a
    /// colour the project already holds); the message says which.
    #[error("{0}")]
    Refused(String),
    /// Lock contention that outlasted the busy timeout and the retries (S27): the
    /// database is healthy but too busy right now.
    #[error("database busy: {0}")]
    Busy(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the same transaction may succeed if simply run again: lock contention in
    /// SQLite, a serialization failure or deadlock in PostgreSQL, a pool momentarily
    /// exhausted.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::MissingParent,
            sqlx::Error::Database(db) if is_contention(db.code().as_deref()) => Self::Busy(err),
            sqlx::Error::PoolTimedOut => Self::Busy(err),
            _ => Self::Database(err),
        }
    }
}

/// SQLite's BUSY (5) and LOCKED (6) families (extended codes keep the primary code in
/// their low byte); PostgreSQL's serialization failure and deadlock.
fn is_contention(code: Option<&str>) -> bool {
    match code {
        Some("40001" | "40P01") => true,
        Some(code) => code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        None => false,
    }
}

/// The per-user caps on stored resources (S18): each write that adds one counts what the
/// owner holds inside its own transaction, so concurrent writes cannot overshoot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub projects_per_user: i64,
    pub sessions_per_project: i64,
    pub tokens_per_project: i64,
}

/// Which cap a write reached, with its value (for the client's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Projects(i64),
    Sessions(i64),
    Tokens(i64),
}

impl std::fmt::Display for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Projects(n) => write!(f, "an account may hold at most {n} projects"),
            Self::Sessions(n) => write!(f, "a project may hold at most {n} extraction sessions"),
            Self::Tokens(n) => write!(f, "a project may hold at most {n} colour tokens"),
        }
    }
}

/// What a refresh-token rotation found, decided under the owner's row lock (S4, S27).
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The old token is revoked and the new one stored; the account as it is now.
    Rotated(User),
    /// The old token had already been rotated: a replay. Its family is revoked and the
    /// account's access tokens are ended, in the same transaction.
    Reused { tokens_revoked: u64 },
    /// Revoked without a successor (logout, password change), expired, or the account
    /// is disabled or gone: refused, nothing changed.
    Refused,
}

/// What a password change revoked along with the old password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Revoked {
    pub refresh_tokens: u64,
    pub api_keys: u64,
}

/// The result of an admin's change to an account.
#[derive(Debug, Clone)]
pub enum AdminUpdate {
    Updated(User),
    NotFound,
    /// The change would leave no active admin (S27): refused, nothing changed.
    LastAdmin,
    /// The acting admin lost the role (or was disabled) before this change ran.
    ActorNotAdmin,
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
    /// Replaces the password hash, bumps `token_version` (access tokens die), revokes
    /// every refresh token and API key of the account: one transaction (S4, S27).
    async fn update_password(&self, id: Uuid, password_hash: &str) -> StoreResult<Revoked>;
    async fn record_login(&self, id: Uuid) -> StoreResult<()>;
    /// Admin changes; bumps `token_version` whenever activity or roles change and revokes
    /// every refresh token of a disabled account. At least one active admin remains, and
    /// `actor` (when given) is still an active admin: both checked in the same
    /// transaction (S27).
    async fn update_user_admin(
        &self,
        actor: Option<Uuid>,
        id: Uuid,
        is_active: Option<bool>,
        roles: Option<&[Role]>,
    ) -> StoreResult<AdminUpdate>;

    // Refresh tokens. Every write takes the owner's row lock first (SQLite: the write
    // lock), so revocations and rotations of one account are serialised (S27).
    /// Stores a new session's first token if the account is still active at
    /// `token_version` (a password change since the login was verified refuses it).
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        token_version: i64,
    ) -> StoreResult<bool>;
    async fn find_refresh_token(&self, token_hash: &str)
    -> StoreResult<Option<RefreshTokenRecord>>;
    /// Revokes `old` and stores `new` in its place, or detects a replay (see [`Rotation`]).
    async fn rotate_refresh_token(
        &self,
        old: &RefreshTokenRecord,
        new: &RefreshTokenRecord,
    ) -> StoreResult<Rotation>;
    /// Refresh tokens of the account neither revoked nor expired: its live sessions.
    async fn count_live_refresh_tokens(&self, user_id: Uuid) -> StoreResult<i64>;
    /// Ends one session: revokes the family and bumps `token_version` (S4).
    async fn revoke_refresh_family(&self, user_id: Uuid, family_id: Uuid) -> StoreResult<u64>;

    // API keys.
    /// Stores `key` unless its owner already holds `cap` active keys (false then). The
    /// count and the insert are one critical section per user: parallel creates cannot
    /// overshoot the cap.
    async fn insert_api_key_capped(&self, key: &ApiKeyRecord, cap: i64) -> StoreResult<bool>;
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// A key and the account it belongs to, for the identity step.
    async fn find_api_key_with_user(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(ApiKeyRecord, User)>>;
    /// Revokes a key the user owns; false when there is no such key of theirs.
    async fn revoke_api_key(&self, id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()>;

    // Projects, sessions and colour tokens. `owned_*` are the one place ownership is
    // checked (S8): the owner is part of the WHERE clause.
    /// Refused with [`StoreError::CapReached`] past `caps.projects_per_user`.
    async fn insert_project(&self, project: &Project, caps: Caps) -> StoreResult<()>;
    async fn owned_project(&self, id: Uuid, owner: Owner) -> StoreResult<Option<Project>>;
    async fn list_projects(&self, owner: Owner, page: Page) -> StoreResult<(Vec<Project>, i64)>;
    async fn update_project(
        &self,
        id: Uuid,
        change: &ProjectChange,
    ) -> StoreResult<Option<Project>>;
    async fn delete_project(&self, id: Uuid) -> StoreResult<bool>;
    /// Refused with [`StoreError::CapReached`] past `caps.sessions_per_project`.
    async fn insert_session(&self, session: &ExtractionSession, caps: Caps) -> StoreResult<()>;
    async fn owned_session(&self, id: Uuid, owner: Owner)
    -> StoreResult<Option<ExtractionSession>>;
    async fn list_sessions(
        &self,
        project_id: Uuid,
        page: Page,
    ) -> StoreResult<(Vec<ExtractionSession>, i64)>;
    async fn delete_session(&self, id: Uuid) -> StoreResult<bool>;
    /// Stores one extraction atomically, within the project's caps: the new session (if
    /// any) and its colours merged into the project's palette (`crate::palette`): a colour
    /// the project holds updates that token (which now belongs to this session), a new one
    /// is added at the end under a unique name. Returns the tokens of the extraction, in
    /// its order. On any error nothing is stored.
    async fn save_extraction(
        &self,
        new_session: Option<&ExtractionSession>,
        tokens: &[ColorTokenRecord],
        caps: Caps,
    ) -> StoreResult<Vec<ColorTokenRecord>>;
    async fn list_tokens(
        &self,
        project_id: Uuid,
        session_id: Option<Uuid>,
        page: Page,
    ) -> StoreResult<(Vec<ColorTokenRecord>, i64)>;
    async fn owned_token(&self, id: Uuid, owner: Owner) -> StoreResult<Option<ColorTokenRecord>>;
    /// Adds a token by hand at the end of its project (in the project's `manual` session,
    /// made on first use). Refused when the project holds the colour, or when `named` (the
    /// client chose the name) and the name is taken; a colour name given by the engine is
    /// made unique instead.
    async fn add_token(
        &self,
        token: &ColorTokenRecord,
        named: bool,
        caps: Caps,
    ) -> StoreResult<ColorTokenRecord>;
    /// Renames, re-roles or moves a token within its project's order; a name another
    /// token of the project holds is refused.
    async fn update_token(
        &self,
        id: Uuid,
        change: &TokenChange,
    ) -> StoreResult<Option<ColorTokenRecord>>;
    async fn delete_token(&self, id: Uuid) -> StoreResult<bool>;
    /// Stores a drift check of a project and drops the project's older checks beyond the
    /// latest `keep` (S18: masks do not pile up). Refused with
    /// [`StoreError::MissingParent`] when the project is gone.
    async fn insert_check(&self, check: &DriftCheck, keep: i64) -> StoreResult<()>;
    /// The mask PNG of a check whose project `owner` owns (S8).
    async fn owned_check_mask(&self, id: Uuid, owner: Owner) -> StoreResult<Option<Vec<u8>>>;
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
