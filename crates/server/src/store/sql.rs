//! The statements both backends share, written once: SQLite and PostgreSQL both accept
//! `$N` parameters, `RETURNING` and `ON CONFLICT`, so one body serves both pools.
//!
//! Writes that read before they write run in a write transaction that takes its locks up
//! front (S27): SQLite's `BEGIN IMMEDIATE` (a deferred transaction that reads first fails
//! with SQLITE_BUSY instead of waiting once another writer commits), PostgreSQL's
//! `FOR UPDATE` on the owning row. Contention that still surfaces is retried a few times,
//! then reported as [`StoreError::Busy`] (a 503, never a 500).

/// Runs `$body` (which ends by committing) in a write transaction, retrying it from the
/// start when the database reports contention.
macro_rules! write_tx {
    ($pool:expr, $begin:expr, $ty:ty, |$tx:ident| $body:block) => {{
        let mut attempt: u32 = 0;
        loop {
            let result: StoreResult<$ty> = async {
                #[allow(unused_mut)]
                let mut $tx = $pool.begin_with($begin).await?;
                $body
            }
            .await;
            match result {
                Err(err) if err.is_transient() && attempt < WRITE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        5 * u64::from(attempt * attempt),
                    ))
                    .await;
                }
                other => break other,
            }
        }
    }};
}

/// How often a write transaction that met contention is run again.
pub(crate) const WRITE_RETRIES: u32 = 4;

macro_rules! shared_store_impl {
    (
        $store:ty,
        $backend:literal,
        $migrations:literal,
        begin_write = $begin:literal,
        for_update = $for_update:literal,
        lock_admins = $lock_admins:literal
    ) => {
    #[async_trait]
    impl Store for $store {
        fn backend(&self) -> &'static str {
            $backend
        }

        async fn migrate(&self) -> StoreResult<()> {
            sqlx::migrate!($migrations).run(&self.pool).await?;
            Ok(())
        }

        async fn ping(&self) -> StoreResult<()> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn insert_user(&self, u: &User) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, full_name, is_active, is_verified,
                    roles, token_version, created_at, updated_at, last_login_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(u.id)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.full_name)
            .bind(u.is_active)
            .bind(u.is_verified)
            .bind(&u.roles)
            .bind(u.token_version)
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.last_login_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn find_user(&self, id: Uuid) -> StoreResult<Option<User>> {
            Ok(sqlx::query_as::<_, User>("SELECT * FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
            Ok(sqlx::query_as::<_, User>("SELECT * FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn list_users(&self, page: Page) -> StoreResult<(Vec<User>, i64)> {
            let items = sqlx::query_as::<_, User>(
                "SELECT * FROM users ORDER BY id LIMIT $1 OFFSET $2",
            )
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&self.pool)
                .await?;
            Ok((items, total))
        }

        async fn update_password(&self, id: Uuid, password_hash: &str) -> StoreResult<Revoked> {
            write_tx!(self.pool, $begin, Revoked, |tx| {
                let now = OffsetDateTime::now_utc();
                let updated = sqlx::query(
                    "UPDATE users SET password_hash = $1, token_version = token_version + 1,
                        updated_at = $2 WHERE id = $3",
                )
                .bind(password_hash)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Ok(Revoked::default());
                }
                let refresh_tokens = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1
                     WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let api_keys = sqlx::query(
                    "UPDATE api_keys SET is_active = FALSE WHERE user_id = $1 AND is_active",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(Revoked {
                    refresh_tokens,
                    api_keys,
                })
            })
        }

        async fn record_login(&self, id: Uuid) -> StoreResult<()> {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(OffsetDateTime::now_utc())
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn update_user_admin(
            &self,
            actor: Option<Uuid>,
            id: Uuid,
            is_active: Option<bool>,
            roles: Option<&[Role]>,
        ) -> StoreResult<AdminUpdate> {
            write_tx!(self.pool, $begin, AdminUpdate, |tx| {
                // Admin changes queue behind one another, so two admins demoting each
                // other cannot both see the other still standing.
                sqlx::query($lock_admins).execute(&mut *tx).await?;
                if let Some(actor) = actor {
                    let acting = lock_user(&mut tx, actor).await?;
                    if !acting.is_some_and(|a| a.is_active && a.is_admin()) {
                        return Ok(AdminUpdate::ActorNotAdmin);
                    }
                }
                let Some(current) = sqlx::query_as::<_, User>(concat!(
                    "SELECT * FROM users WHERE id = $1",
                    $for_update
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(AdminUpdate::NotFound);
                };
                let new_active = is_active.unwrap_or(current.is_active);
                let mut new_roles = roles.map(<[Role]>::to_vec).unwrap_or(current.roles.0.clone());
                new_roles.sort();
                new_roles.dedup();
                let changed = new_active != current.is_active || new_roles != current.roles.0;
                let now = OffsetDateTime::now_utc();
                let updated = sqlx::query_as::<_, User>(
                    "UPDATE users SET is_active = $1, roles = $2, token_version = token_version + $3,
                        updated_at = $4 WHERE id = $5 RETURNING *",
                )
                .bind(new_active)
                .bind(Json(new_roles))
                .bind(i64::from(changed))
                .bind(now)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                let admins: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users
                     WHERE is_active AND CAST(roles AS TEXT) LIKE '%\"admin\"%'",
                )
                .fetch_one(&mut *tx)
                .await?;
                if admins == 0 {
                    tx.rollback().await?;
                    return Ok(AdminUpdate::LastAdmin);
                }
                if !new_active {
                    // S4: a disabled account keeps no session.
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $1
                         WHERE user_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(AdminUpdate::Updated(updated))
            })
        }

        async fn insert_refresh_token(
            &self,
            t: &RefreshTokenRecord,
            token_version: i64,
        ) -> StoreResult<bool> {
            write_tx!(self.pool, $begin, bool, |tx| {
                let current = lock_user(&mut tx, t.user_id).await?;
                if !current.is_some_and(|u| u.is_active && u.token_version == token_version) {
                    return Ok(false);
                }
                insert_refresh(&mut *tx, t).await?;
                tx.commit().await?;
                Ok(true)
            })
        }

        async fn find_refresh_token(
            &self,
            token_hash: &str,
        ) -> StoreResult<Option<RefreshTokenRecord>> {
            Ok(sqlx::query_as::<_, RefreshTokenRecord>(
                "SELECT * FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn rotate_refresh_token(
            &self,
            old: &RefreshTokenRecord,
            new: &RefreshTokenRecord,
        ) -> StoreResult<Rotation> {
            write_tx!(self.pool, $begin, Rotation, |tx| {
                // The owner's row lock orders this against every revocation of the
                // account: a revocation either sees the new token or makes this refuse.
                let Some(user) = lock_user(&mut tx, old.user_id).await? else {
                    return Ok(Rotation::Refused);
                };
                let stored = sqlx::query_as::<_, RefreshTokenRecord>(
                    "SELECT * FROM refresh_tokens WHERE id = $1",
                )
                .bind(old.id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(stored) = stored else {
                    return Ok(Rotation::Refused);
                };
                let now = OffsetDateTime::now_utc();
                if stored.revoked_at.is_some() {
                    if stored.replaced_by.is_none() {
                        return Ok(Rotation::Refused);
                    }
                    let tokens_revoked =
                        end_family(&mut tx, stored.user_id, stored.family_id, now).await?;
                    tx.commit().await?;
                    return Ok(Rotation::Reused { tokens_revoked });
                }
                if !user.is_active || stored.expires_at <= now {
                    return Ok(Rotation::Refused);
                }
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1, replaced_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(new.id)
                    .bind(old.id)
                    .execute(&mut *tx)
                    .await?;
                insert_refresh(&mut *tx, new).await?;
                tx.commit().await?;
                Ok(Rotation::Rotated(user))
            })
        }

        async fn count_live_refresh_tokens(&self, user_id: Uuid) -> StoreResult<i64> {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM refresh_tokens
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(user_id)
            .bind(OffsetDateTime::now_utc())
            .fetch_one(&self.pool)
            .await?)
        }

        async fn revoke_refresh_family(&self, user_id: Uuid, family_id: Uuid) -> StoreResult<u64> {
            write_tx!(self.pool, $begin, u64, |tx| {
                if lock_user(&mut tx, user_id).await?.is_none() {
                    return Ok(0);
                }
                let revoked =
                    end_family(&mut tx, user_id, family_id, OffsetDateTime::now_utc()).await?;
                tx.commit().await?;
                Ok(revoked)
            })
        }


        async fn insert_api_key_capped(&self, k: &ApiKeyRecord, cap: i64) -> StoreResult<bool> {
            write_tx!(self.pool, $begin, bool, |tx| {
                // The owner's row lock makes the count and the insert one critical
                // section per user: concurrent creates queue here.
                if lock_user(&mut tx, k.user_id).await?.is_none() {
                    return Err(StoreError::MissingParent);
                }
                let held: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND is_active",
                )
                .bind(k.user_id)
                .fetch_one(&mut *tx)
                .await?;
                if held >= cap {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, scopes, is_active,
                        expires_at, last_used_at, created_at, rate_per_minute)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(k.id)
                .bind(k.user_id)
                .bind(&k.name)
                .bind(&k.key_prefix)
                .bind(&k.key_hash)
                .bind(&k.scopes)
                .bind(k.is_active)
                .bind(k.expires_at)
                .bind(k.last_used_at)
                .bind(k.created_at)
                .bind(k.rate_per_minute)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            })
        }

        async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
            Ok(sqlx::query_as::<_, ApiKeyRecord>(
                "SELECT * FROM api_keys WHERE user_id = $1 AND is_active ORDER BY id",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
            Ok(
                sqlx::query_as::<_, ApiKeyRecord>("SELECT * FROM api_keys WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        }

        async fn find_api_key_with_user(
            &self,
            key_hash: &str,
        ) -> StoreResult<Option<(ApiKeyRecord, User)>> {
            let Some(key) = self.find_api_key_by_hash(key_hash).await? else {
                return Ok(None);
            };
            let user = self.find_user(key.user_id).await?;
            Ok(user.map(|user| (key, user)))
        }

        async fn revoke_api_key(&self, id: Uuid, user_id: Uuid) -> StoreResult<bool> {
            Ok(sqlx::query(
                "UPDATE api_keys SET is_active = FALSE
                 WHERE id = $1 AND user_id = $2 AND is_active",
            )
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        }

        async fn touch_api_key(&self, id: Uuid) -> StoreResult<()> {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(OffsetDateTime::now_utc())
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn insert_project(&self, p: &Project, caps: Caps) -> StoreResult<()> {
            write_tx!(self.pool, $begin, (), |tx| {
                if lock_user(&mut tx, p.owner_id).await?.is_none() {
                    return Err(StoreError::MissingParent);
                }
                let held: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE owner_id = $1")
                        .bind(p.owner_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if held >= caps.projects_per_user {
                    return Err(StoreError::CapReached(Cap::Projects(caps.projects_per_user)));
                }
                sqlx::query(
                    "INSERT INTO projects (id, owner_id, name, description, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(p.id)
                .bind(p.owner_id)
                .bind(&p.name)
                .bind(&p.description)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            })
        }

        async fn owned_project(&self, id: Uuid, owner: Owner) -> StoreResult<Option<Project>> {
            Ok(sqlx::query_as::<_, Project>(
                "SELECT * FROM projects WHERE id = $1 AND ($2 IS NULL OR owner_id = $2)",
            )
            .bind(id)
            .bind(owner.filter())
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn list_projects(
            &self,
            owner: Owner,
            page: Page,
        ) -> StoreResult<(Vec<Project>, i64)> {
            let rows = sqlx::query(
                "SELECT *, COUNT(*) OVER () AS total FROM projects
                 WHERE ($1 IS NULL OR owner_id = $1)
                 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(owner.filter())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let (items, total) = split_total::<Project>(rows)?;
            let total = match total {
                Some(total) => total,
                None if page.offset == 0 => 0,
                None => {
                    sqlx::query_scalar(
                        "SELECT COUNT(*) FROM projects WHERE ($1 IS NULL OR owner_id = $1)",
                    )
                    .bind(owner.filter())
                    .fetch_one(&self.pool)
                    .await?
                }
            };
            Ok((items, total))
        }

        async fn update_project(
            &self,
            id: Uuid,
            change: &ProjectChange,
        ) -> StoreResult<Option<Project>> {
            Ok(sqlx::query_as::<_, Project>(
                "UPDATE projects SET name = COALESCE($1, name),
                    description = CASE WHEN $2 THEN $3 ELSE description END, updated_at = $4
                 WHERE id = $5 RETURNING *",
            )
            .bind(&change.name)
            .bind(change.description.is_some())
            .bind(change.description.clone().flatten())
            .bind(OffsetDateTime::now_utc())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn delete_project(&self, id: Uuid) -> StoreResult<bool> {
            Ok(sqlx::query("DELETE FROM projects WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1)
        }

        async fn insert_session(&self, s: &ExtractionSession, caps: Caps) -> StoreResult<()> {
            write_tx!(self.pool, $begin, (), |tx| {
                lock_project(&mut tx, s.project_id).await?;
                check_session_cap(&mut tx, s.project_id, caps).await?;
                insert_session(&mut *tx, s).await?;
                tx.commit().await?;
                Ok(())
            })
        }

        async fn owned_session(
            &self,
            id: Uuid,
            owner: Owner,
        ) -> StoreResult<Option<ExtractionSession>> {
            Ok(sqlx::query_as::<_, ExtractionSession>(
                "SELECT s.* FROM extraction_sessions s JOIN projects p ON p.id = s.project_id
                 WHERE s.id = $1 AND ($2 IS NULL OR p.owner_id = $2)",
            )
            .bind(id)
            .bind(owner.filter())
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn list_sessions(
            &self,
            project_id: Uuid,
            page: Page,
        ) -> StoreResult<(Vec<ExtractionSession>, i64)> {
            let rows = sqlx::query(
                "SELECT *, COUNT(*) OVER () AS total FROM extraction_sessions
                 WHERE project_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(project_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let (items, total) = split_total::<ExtractionSession>(rows)?;
            let total = match total {
                Some(total) => total,
                None if page.offset == 0 => 0,
                None => {
                    sqlx::query_scalar(
                        "SELECT COUNT(*) FROM extraction_sessions WHERE project_id = $1",
                    )
                    .bind(project_id)
                    .fetch_one(&self.pool)
                    .await?
                }
            };
            Ok((items, total))
        }

        async fn delete_session(&self, id: Uuid) -> StoreResult<bool> {
            Ok(sqlx::query("DELETE FROM extraction_sessions WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1)
        }

        async fn save_extraction(
            &self,
            new_session: Option<&ExtractionSession>,
            tokens: &[ColorTokenRecord],
            caps: Caps,
        ) -> StoreResult<Vec<ColorTokenRecord>> {
            let project_id = new_session
                .map(|s| s.project_id)
                .or_else(|| tokens.first().map(|t| t.project_id));
            let Some(project_id) = project_id else {
                return Ok(Vec::new());
            };
            write_tx!(self.pool, $begin, Vec<ColorTokenRecord>, |tx| {
                // The project's row lock orders concurrent extractions into it: the merge,
                // the names, positions and caps are decided by one of them at a time.
                lock_project(&mut tx, project_id).await?;
                if let Some(session) = new_session {
                    check_session_cap(&mut tx, project_id, caps).await?;
                    insert_session(&mut *tx, session).await?;
                }
                let held = project_tokens(&mut tx, project_id).await?;
                let placements = crate::palette::place(&held, tokens);
                let inserts = placements
                    .iter()
                    .filter(|p| matches!(p, crate::palette::Placement::Insert { .. }))
                    .count();
                if (held.len() + inserts) as i64 > caps.tokens_per_project {
                    return Err(StoreError::CapReached(Cap::Tokens(caps.tokens_per_project)));
                }
                let mut next = held.iter().map(|t| t.position + 1).max().unwrap_or(0);
                let mut saved: Vec<ColorTokenRecord> = Vec::with_capacity(tokens.len());
                for (token, placement) in tokens.iter().zip(placements) {
                    match placement {
                        crate::palette::Placement::Insert { name } => {
                            let mut token = token.clone();
                            token.name = name;
                            token.position = next;
                            next += 1;
                            insert_token(&mut *tx, &token).await?;
                            saved.push(token);
                        }
                        crate::palette::Placement::Merge { into } => {
                            if let Some(earlier) = saved.iter_mut().find(|t| t.id == into) {
                                // A twin within this extraction: one token, both shares.
                                earlier.share += token.share;
                                sqlx::query("UPDATE color_tokens SET share = $1 WHERE id = $2")
                                    .bind(earlier.share)
                                    .bind(into)
                                    .execute(&mut *tx)
                                    .await?;
                                continue;
                            }
                            // The project's token now belongs to this extraction, with what
                            // it measured; its curated name, role and colour stay.
                            let merged = sqlx::query_as::<_, ColorTokenRecord>(
                                "UPDATE color_tokens SET session_id = $1, share = $2,
                                    confidence = $3 WHERE id = $4 RETURNING *",
                            )
                            .bind(token.session_id)
                            .bind(token.share)
                            .bind(token.confidence)
                            .bind(into)
                            .fetch_one(&mut *tx)
                            .await?;
                            saved.push(merged);
                        }
                    }
                }
                tx.commit().await?;
                Ok(saved)
            })
        }

        async fn list_tokens(
            &self,
            project_id: Uuid,
            session_id: Option<Uuid>,
            page: Page,
        ) -> StoreResult<(Vec<ColorTokenRecord>, i64)> {
            let rows = sqlx::query(
                "SELECT *, COUNT(*) OVER () AS total FROM color_tokens WHERE project_id = $1
                    AND ($2 IS NULL OR session_id = $2)
                 ORDER BY position, id LIMIT $3 OFFSET $4",
            )
            .bind(project_id)
            .bind(session_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let (items, total) = split_total::<ColorTokenRecord>(rows)?;
            let total = match total {
                Some(total) => total,
                None if page.offset == 0 => 0,
                None => {
                    sqlx::query_scalar(
                        "SELECT COUNT(*) FROM color_tokens WHERE project_id = $1
                            AND ($2 IS NULL OR session_id = $2)",
                    )
                    .bind(project_id)
                    .bind(session_id)
                    .fetch_one(&self.pool)
                    .await?
                }
            };
            Ok((items, total))
        }

        async fn owned_token(
            &self,
            id: Uuid,
            owner: Owner,
        ) -> StoreResult<Option<ColorTokenRecord>> {
            Ok(sqlx::query_as::<_, ColorTokenRecord>(
                "SELECT t.* FROM color_tokens t JOIN projects p ON p.id = t.project_id
                 WHERE t.id = $1 AND ($2 IS NULL OR p.owner_id = $2)",
            )
            .bind(id)
            .bind(owner.filter())
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn add_token(
            &self,
            token: &ColorTokenRecord,
            named: bool,
            caps: Caps,
        ) -> StoreResult<ColorTokenRecord> {
            write_tx!(self.pool, $begin, ColorTokenRecord, |tx| {
                lock_project(&mut tx, token.project_id).await?;
                let held = project_tokens(&mut tx, token.project_id).await?;
                if held.len() as i64 >= caps.tokens_per_project {
                    return Err(StoreError::CapReached(Cap::Tokens(caps.tokens_per_project)));
                }
                if let Some(twin) = crate::palette::twin_of(&held, token) {
                    return Err(StoreError::Refused(format!(
                        "the project already holds this colour as {:?} ({})",
                        crate::error::shorten(&twin.name, 64),
                        twin.hex
                    )));
                }
                let taken = held.iter().any(|t| t.name.eq_ignore_ascii_case(token.name.trim()));
                if taken && named {
                    return Err(StoreError::Refused(
                        "another colour token of this project has this name".into(),
                    ));
                }
                let names = held.iter().map(|t| t.name.to_lowercase()).collect();
                let name = crate::palette::unique_name(&held, &names, token);
                // Tokens added by hand live in the project's one `manual` session.
                let manual: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM extraction_sessions WHERE project_id = $1 AND source = 'manual'
                     ORDER BY id LIMIT 1",
                )
                .bind(token.project_id)
                .fetch_optional(&mut *tx)
                .await?;
                let session_id = match manual {
                    Some(id) => id,
                    None => {
                        let session = ExtractionSession {
                            id: Uuid::now_v7(),
                            project_id: token.project_id,
                            name: Some("Added by hand".into()),
                            source: "manual".into(),
                            image_width: None,
                            image_height: None,
                            image_format: None,
                            created_at: token.created_at,
                        };
                        insert_session(&mut *tx, &session).await?;
                        session.id
                    }
                };
                let mut token = token.clone();
                token.name = name;
                token.session_id = session_id;
                token.position = held.iter().map(|t| t.position + 1).max().unwrap_or(0);
                insert_token(&mut *tx, &token).await?;
                tx.commit().await?;
                Ok(token)
            })
        }

        async fn update_token(
            &self,
            id: Uuid,
            change: &TokenChange,
        ) -> StoreResult<Option<ColorTokenRecord>> {
            write_tx!(self.pool, $begin, Option<ColorTokenRecord>, |tx| {
                let project_id: Option<Uuid> =
                    sqlx::query_scalar("SELECT project_id FROM color_tokens WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(project_id) = project_id else {
                    return Ok(None);
                };
                lock_project(&mut tx, project_id).await?;
                let held = project_tokens(&mut tx, project_id).await?;
                let Some(index) = held.iter().position(|t| t.id == id) else {
                    return Ok(None);
                };
                if let Some(name) = &change.name
                    && held
                        .iter()
                        .any(|t| t.id != id && t.name.eq_ignore_ascii_case(name.trim()))
                {
                    return Err(StoreError::Refused(
                        "another colour token of this project has this name".into(),
                    ));
                }
                if let Some(target) = change.position {
                    // Renumber the project's order with the token at its new place.
                    let mut order: Vec<Uuid> = held.iter().map(|t| t.id).collect();
                    order.remove(index);
                    let target = usize::try_from(target).unwrap_or(0).min(order.len());
                    order.insert(target, id);
                    for (position, (token_id, before)) in order.iter().zip(&held).enumerate() {
                        if *token_id != before.id || before.position != position as i64 {
                            sqlx::query("UPDATE color_tokens SET position = $1 WHERE id = $2")
                                .bind(position as i64)
                                .bind(token_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                let updated = sqlx::query_as::<_, ColorTokenRecord>(
                    "UPDATE color_tokens SET role = CASE WHEN $1 THEN $2 ELSE role END,
                        name = COALESCE($3, name)
                     WHERE id = $4 RETURNING *",
                )
                .bind(change.role.is_some())
                .bind(change.role.clone().flatten())
                .bind(&change.name)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(updated)
            })
        }

        async fn delete_token(&self, id: Uuid) -> StoreResult<bool> {
            Ok(sqlx::query("DELETE FROM color_tokens WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1)
        }

        async fn insert_check(&self, check: &DriftCheck, keep: i64) -> StoreResult<()> {
            write_tx!(self.pool, $begin, (), |tx| {
                lock_project(&mut tx, check.project_id).await?;
                sqlx::query(
                    "INSERT INTO drift_checks (id, project_id, score, mask, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(check.id)
                .bind(check.project_id)
                .bind(check.score)
                .bind(&check.mask)
                .bind(check.created_at)
                .execute(&mut *tx)
                .await?;
                // Ids are UUIDv7: the newest `keep` by id are the latest checks.
                sqlx::query(
                    "DELETE FROM drift_checks WHERE project_id = $1 AND id NOT IN (
                        SELECT id FROM drift_checks WHERE project_id = $1
                        ORDER BY id DESC LIMIT $2)",
                )
                .bind(check.project_id)
                .bind(keep)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            })
        }

        async fn owned_check_mask(&self, id: Uuid, owner: Owner) -> StoreResult<Option<Vec<u8>>> {
            Ok(sqlx::query_scalar(
                "SELECT c.mask FROM drift_checks c JOIN projects p ON p.id = c.project_id
                 WHERE c.id = $1 AND ($2 IS NULL OR p.owner_id = $2)",
            )
            .bind(id)
            .bind(owner.filter())
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn resource_exists(&self, kind: ResourceKind, id: Uuid) -> StoreResult<bool> {
            let sql = match kind {
                ResourceKind::Project => "SELECT COUNT(*) FROM projects WHERE id = $1",
                ResourceKind::Session => "SELECT COUNT(*) FROM extraction_sessions WHERE id = $1",
                ResourceKind::ColorToken => "SELECT COUNT(*) FROM color_tokens WHERE id = $1",
                ResourceKind::Check => "SELECT COUNT(*) FROM drift_checks WHERE id = $1",
            };
            let count: i64 = sqlx::query_scalar(sql).bind(id).fetch_one(&self.pool).await?;
            Ok(count > 0)
        }

        async fn insert_audit_event(&self, e: &AuditEvent) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_events (id, at, request_id, actor, ip, action, target, outcome,
                    detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(e.id)
            .bind(e.at)
            .bind(&e.request_id)
            .bind(&e.actor)
            .bind(&e.ip)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.outcome)
            .bind(&e.detail)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_audit_events(&self, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)> {
            let items = sqlx::query_as::<_, AuditEvent>(
                "SELECT * FROM audit_events ORDER BY id DESC LIMIT $1 OFFSET $2",
            )
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&self.pool)
                .await?;
            Ok((items, total))
        }
    }
    };
}

/// Free functions the shared methods call with either a pool or a transaction.
macro_rules! shared_helpers {
    ($db:ty, for_update = $for_update:literal) => {
        /// A page and the total it is a page of, from one statement whose rows carry
        /// `COUNT(*) OVER () AS total` (counted over every matching row, before LIMIT and
        /// OFFSET): one round trip, and one snapshot for both. `None` when the page is
        /// empty, so no row carries the total.
        fn split_total<T>(
            rows: Vec<<$db as sqlx::Database>::Row>,
        ) -> StoreResult<(Vec<T>, Option<i64>)>
        where
            T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
        {
            use sqlx::Row as _;
            let total = rows
                .first()
                .map(|row| row.try_get::<i64, _>("total"))
                .transpose()?;
            let items = rows
                .iter()
                .map(T::from_row)
                .collect::<Result<Vec<T>, sqlx::Error>>()?;
            Ok((items, total))
        }

        /// Reads the account row and holds its lock until the transaction ends.
        async fn lock_user(
            tx: &mut sqlx::Transaction<'static, $db>,
            id: Uuid,
        ) -> StoreResult<Option<User>> {
            Ok(
                sqlx::query_as::<_, User>(concat!(
                    "SELECT * FROM users WHERE id = $1",
                    $for_update
                ))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?,
            )
        }

        /// Holds the project's row lock until the transaction ends; a project deleted
        /// meanwhile is a missing parent.
        async fn lock_project(
            tx: &mut sqlx::Transaction<'static, $db>,
            id: Uuid,
        ) -> StoreResult<()> {
            let found: Option<Uuid> = sqlx::query_scalar(concat!(
                "SELECT id FROM projects WHERE id = $1",
                $for_update
            ))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            found.map(|_| ()).ok_or(StoreError::MissingParent)
        }

        async fn check_session_cap(
            tx: &mut sqlx::Transaction<'static, $db>,
            project_id: Uuid,
            caps: Caps,
        ) -> StoreResult<()> {
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM extraction_sessions WHERE project_id = $1",
            )
            .bind(project_id)
            .fetch_one(&mut **tx)
            .await?;
            if held >= caps.sessions_per_project {
                return Err(StoreError::CapReached(Cap::Sessions(
                    caps.sessions_per_project,
                )));
            }
            Ok(())
        }

        /// Every token of a project in its order; the caller holds the project's lock.
        async fn project_tokens(
            tx: &mut sqlx::Transaction<'static, $db>,
            project_id: Uuid,
        ) -> StoreResult<Vec<ColorTokenRecord>> {
            Ok(sqlx::query_as::<_, ColorTokenRecord>(
                "SELECT * FROM color_tokens WHERE project_id = $1 ORDER BY position, id",
            )
            .bind(project_id)
            .fetch_all(&mut **tx)
            .await?)
        }

        /// Revokes a refresh-token family and ends the account's access tokens (S4); the
        /// caller holds the account's row lock.
        async fn end_family(
            tx: &mut sqlx::Transaction<'static, $db>,
            user_id: Uuid,
            family_id: Uuid,
            now: OffsetDateTime,
        ) -> StoreResult<u64> {
            sqlx::query(
                "UPDATE users SET token_version = token_version + 1, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
            Ok(sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1
                 WHERE family_id = $2 AND user_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(family_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected())
        }

        async fn insert_token<'e, E>(executor: E, token: &ColorTokenRecord) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO color_tokens (id, project_id, session_id, position, hex, rgb,
                    hsl, oklch, name, share, confidence, role, contrast_white,
                    contrast_black, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(token.id)
            .bind(token.project_id)
            .bind(token.session_id)
            .bind(token.position)
            .bind(&token.hex)
            .bind(&token.rgb)
            .bind(&token.hsl)
            .bind(&token.oklch)
            .bind(&token.name)
            .bind(token.share)
            .bind(token.confidence)
            .bind(&token.role)
            .bind(token.contrast_white)
            .bind(token.contrast_black)
            .bind(token.created_at)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn insert_refresh<'e, E>(executor: E, t: &RefreshTokenRecord) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at,
                    expires_at, revoked_at, replaced_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t.id)
            .bind(t.user_id)
            .bind(t.family_id)
            .bind(&t.token_hash)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.revoked_at)
            .bind(t.replaced_by)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn insert_session<'e, E>(executor: E, s: &ExtractionSession) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO extraction_sessions (id, project_id, name, source, image_width,
                    image_height, image_format, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(s.id)
            .bind(s.project_id)
            .bind(&s.name)
            .bind(&s.source)
            .bind(s.image_width)
            .bind(s.image_height)
            .bind(s.image_format.as_deref())
            .bind(s.created_at)
            .execute(executor)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use {shared_helpers, shared_store_impl, write_tx};
