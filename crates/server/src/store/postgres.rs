//! The PostgreSQL backend, for several instances sharing one database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, PgPool, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{WRITE_RETRIES, shared_helpers, shared_store_impl, write_tx};
use super::*;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_options(PgConnectOptions::from_str(url)?).await
    }

    /// Creates `schema` if needed and keeps every connection's `search_path` on it.
    pub async fn connect_in_schema(url: &str, schema: &str) -> StoreResult<Self> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "schema names are [a-z0-9_]{1,63}".into(),
            )));
        }
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = options.connect().await?;
        // The name was checked above: identifiers cannot be bound as parameters.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Self::with_options(options.options([("search_path", schema)])).await
    }

    async fn with_options(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

shared_helpers!(Postgres, for_update = " FOR UPDATE");

shared_store_impl!(
    PgStore,
    "postgres",
    "./migrations/postgres",
    begin_write = "BEGIN",
    for_update = " FOR UPDATE",
    lock_admins = "SELECT pg_advisory_xact_lock(7021965326511)"
);
