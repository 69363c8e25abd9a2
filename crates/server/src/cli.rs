//! Command-line tasks besides `serve`: creating accounts (the only way to make the first
//! admin, S9), run against the configured database; `extract` lives in [`extract`].

pub mod extract;

use std::io::BufRead;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Audit, Outcome, RequestMeta};
use crate::auth::password::{Passwords, check_policy};
use crate::config::Config;
use crate::store::{Role, StoreError, User};

/// Creates an account; the password comes from stdin or an interactive prompt.
pub async fn create_user(
    config: &Config,
    email: &str,
    admin: bool,
    password_stdin: bool,
) -> anyhow::Result<Uuid> {
    let email = crate::validate::email(email).map_err(|m| anyhow::anyhow!("email {m}"))?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read a password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read a password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    };
    check_policy(&password, &email).map_err(|m| anyhow::anyhow!("password {m}"))?;

    let store = crate::store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    store.migrate().await.context("migration failed")?;
    let hash = Passwords::new(1)
        .hash(SecretString::from(password))
        .await
        .map_err(|_| anyhow::anyhow!("cannot hash the password"))?;
    let now = OffsetDateTime::now_utc();
    let mut roles = vec![Role::User];
    if admin {
        roles.push(Role::Admin);
    }
    let user = User {
        id: Uuid::now_v7(),
        email,
        password_hash: hash,
        full_name: None,
        is_active: true,
        is_verified: true,
        roles: sqlx::types::Json(roles),
        token_version: 0,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    match store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => bail!("an account with this email already exists"),
        Err(err) => return Err(err).context("cannot store the account"),
    }
    Audit {
        store: &store,
        meta: &RequestMeta::default(),
    }
    .record(
        "cli",
        "user_create",
        Some(user.id.to_string()),
        Outcome::Success,
        json!({ "admin": admin }),
    )
    .await;
    Ok(user.id)
}
