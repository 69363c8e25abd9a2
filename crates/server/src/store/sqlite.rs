//! The SQLite backend: the zero-configuration default (one file, WAL journal).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{WRITE_RETRIES, shared_helpers, shared_store_impl, write_tx};
use super::*;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        if let Some(path) = file_to_create(url, &options) {
            create_private(path)?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

/// The database file `connect` will create, if any: a file-backed URL whose file does
/// not exist yet. In-memory and read-only databases create nothing.
fn file_to_create<'a>(url: &str, options: &'a SqliteConnectOptions) -> Option<&'a Path> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let memory_or_read_only = form_urlencoded::parse(query.as_bytes())
        .any(|(key, value)| key == "mode" && matches!(&*value, "memory" | "ro"));
    let path = options.get_filename();
    // sqlx names an in-memory database `file:sqlx-in-memory-N`; `""` is a temporary one.
    let in_memory = url.contains(":memory:") || path.as_os_str().is_empty();
    (!memory_or_read_only && !in_memory && !path.exists()).then_some(path)
}

/// Creates the database file readable and writable by its owner only (0600): it holds
/// password hashes, token hashes and the audit log, and a umask of 022 would otherwise
/// leave it world-readable. SQLite gives its -wal and -shm files the main file's mode.
/// An existing file is never touched: its mode is the operator's choice.
#[cfg(unix)]
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Created meanwhile by someone else: theirs, as an existing file is.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(sqlx::Error::Io(err).into()),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> StoreResult<()> {
    Ok(())
}

shared_helpers!(Sqlite, for_update = "");

shared_store_impl!(
    SqliteStore,
    "sqlite",
    "./migrations/sqlite",
    begin_write = "BEGIN IMMEDIATE",
    for_update = "",
    lock_admins = "SELECT 1"
);

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn s22_a_new_database_file_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("copythat.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap(); // writes, so the WAL exists
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("copythat.db-wal");
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);

        // A file that already exists keeps the mode its operator gave it.
        let existing = dir.path().join("existing.db");
        std::fs::write(&existing, b"").unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
        SqliteStore::connect(&format!("sqlite://{}", existing.display()))
            .await
            .unwrap();
        assert_eq!(mode(&existing), 0o640);
    }
}
