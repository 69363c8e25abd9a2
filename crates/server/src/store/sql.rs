//! The statements both backends share, written once: SQLite and PostgreSQL both accept
//! `$N` parameters, `RETURNING` and `ON CONFLICT`, so one body serves both pools.

macro_rules! shared_store_impl {
    ($store:ty, $backend:literal, $migrations:literal) => {
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

        async fn update_password(&self, id: Uuid, password_hash: &str) -> StoreResult<()> {
            sqlx::query(
                "UPDATE users SET password_hash = $1, token_version = token_version + 1,
                    updated_at = $2 WHERE id = $3",
            )
            .bind(password_hash)
            .bind(OffsetDateTime::now_utc())
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn record_login(&self, id: Uuid) -> StoreResult<()> {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(OffsetDateTime::now_utc())
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn bump_token_version(&self, id: Uuid) -> StoreResult<()> {
            sqlx::query(
                "UPDATE users SET token_version = token_version + 1, updated_at = $1 WHERE id = $2",
            )
            .bind(OffsetDateTime::now_utc())
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn update_user_admin(
            &self,
            id: Uuid,
            is_active: Option<bool>,
            roles: Option<&[Role]>,
        ) -> StoreResult<Option<User>> {
            let mut tx = self.pool.begin().await?;
            let Some(current) = sqlx::query_as::<_, User>("SELECT * FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let new_active = is_active.unwrap_or(current.is_active);
            let mut new_roles = roles.map(<[Role]>::to_vec).unwrap_or(current.roles.0.clone());
            new_roles.sort();
            new_roles.dedup();
            let changed = new_active != current.is_active || new_roles != current.roles.0;
            let bump = i64::from(changed);
            let updated = sqlx::query_as::<_, User>(
                "UPDATE users SET is_active = $1, roles = $2, token_version = token_version + $3,
                    updated_at = $4 WHERE id = $5 RETURNING *",
            )
            .bind(new_active)
            .bind(Json(new_roles))
            .bind(bump)
            .bind(OffsetDateTime::now_utc())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(updated))
        }

        async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
            insert_refresh(&self.pool, t).await
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
            old: Uuid,
            new: &RefreshTokenRecord,
        ) -> StoreResult<bool> {
            let mut tx = self.pool.begin().await?;
            // The conditional update is the lock: of two concurrent uses, one matches.
            let claimed = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1, replaced_by = $2
                 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(OffsetDateTime::now_utc())
            .bind(new.id)
            .bind(old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_refresh(&mut *tx, new).await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn revoke_refresh_family(&self, family_id: Uuid) -> StoreResult<u64> {
            Ok(sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1
                 WHERE family_id = $2 AND revoked_at IS NULL",
            )
            .bind(OffsetDateTime::now_utc())
            .bind(family_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
        }

        async fn revoke_user_refresh_tokens(&self, user_id: Uuid) -> StoreResult<u64> {
            Ok(sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1
                 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(OffsetDateTime::now_utc())
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
        }

        async fn insert_api_key_capped(&self, k: &ApiKeyRecord, cap: i64) -> StoreResult<bool> {
            let mut tx = self.pool.begin().await?;
            // Writing the owner's row takes its lock (a row lock in PostgreSQL, the write
            // lock in SQLite) before counting, so concurrent creates queue here.
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(k.user_id)
                .execute(&mut *tx)
                .await?;
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
                    expires_at, last_used_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
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

        async fn insert_project(&self, p: &Project) -> StoreResult<()> {
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
            .execute(&self.pool)
            .await?;
            Ok(())
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
            let items = sqlx::query_as::<_, Project>(
                "SELECT * FROM projects WHERE ($1 IS NULL OR owner_id = $1)
                 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(owner.filter())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE ($1 IS NULL OR owner_id = $1)")
                    .bind(owner.filter())
                    .fetch_one(&self.pool)
                    .await?;
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

        async fn insert_session(&self, s: &ExtractionSession) -> StoreResult<()> {
            insert_session(&self.pool, s).await
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
            let items = sqlx::query_as::<_, ExtractionSession>(
                "SELECT * FROM extraction_sessions WHERE project_id = $1
                 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(project_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM extraction_sessions WHERE project_id = $1")
                    .bind(project_id)
                    .fetch_one(&self.pool)
                    .await?;
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
        ) -> StoreResult<Vec<ColorTokenRecord>> {
            let mut tx = self.pool.begin().await?;
            if let Some(session) = new_session {
                insert_session(&mut *tx, session).await?;
            }
            let mut saved = Vec::with_capacity(tokens.len());
            if let Some(first) = tokens.first() {
                let next: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(position) + 1, 0) FROM color_tokens WHERE session_id = $1",
                )
                .bind(first.session_id)
                .fetch_one(&mut *tx)
                .await?;
                for (i, token) in tokens.iter().enumerate() {
                    let mut token = token.clone();
                    token.position = next + i as i64;
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
                    .execute(&mut *tx)
                    .await?;
                    saved.push(token);
                }
            }
            tx.commit().await?;
            Ok(saved)
        }

        async fn list_tokens(
            &self,
            project_id: Uuid,
            session_id: Option<Uuid>,
            page: Page,
        ) -> StoreResult<(Vec<ColorTokenRecord>, i64)> {
            let items = sqlx::query_as::<_, ColorTokenRecord>(
                "SELECT * FROM color_tokens WHERE project_id = $1
                    AND ($2 IS NULL OR session_id = $2)
                 ORDER BY session_id, position LIMIT $3 OFFSET $4",
            )
            .bind(project_id)
            .bind(session_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM color_tokens WHERE project_id = $1
                    AND ($2 IS NULL OR session_id = $2)",
            )
            .bind(project_id)
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?;
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

        async fn update_token(
            &self,
            id: Uuid,
            change: &TokenChange,
        ) -> StoreResult<Option<ColorTokenRecord>> {
            Ok(sqlx::query_as::<_, ColorTokenRecord>(
                "UPDATE color_tokens SET role = CASE WHEN $1 THEN $2 ELSE role END,
                    name = COALESCE($3, name)
                 WHERE id = $4 RETURNING *",
            )
            .bind(change.role.is_some())
            .bind(change.role.clone().flatten())
            .bind(&change.name)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn delete_token(&self, id: Uuid) -> StoreResult<bool> {
            Ok(sqlx::query("DELETE FROM color_tokens WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1)
        }

        async fn resource_exists(&self, kind: ResourceKind, id: Uuid) -> StoreResult<bool> {
            let sql = match kind {
                ResourceKind::Project => "SELECT COUNT(*) FROM projects WHERE id = $1",
                ResourceKind::Session => "SELECT COUNT(*) FROM extraction_sessions WHERE id = $1",
                ResourceKind::ColorToken => "SELECT COUNT(*) FROM color_tokens WHERE id = $1",
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
    ($db:ty) => {
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

pub(crate) use {shared_helpers, shared_store_impl};
