//! `/auth/*`: registration, login, refresh rotation, logout, the caller's profile,
//! password change and API keys (S1-S7, S10, S24).

mod cookie;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{ANONYMOUS, Audit, Outcome, RequestMeta, user_actor};
use crate::auth::Principal;
use crate::auth::api_keys;
use crate::auth::password::check_policy;
use crate::auth::tokens::{IssuedRefresh, TokenType, sha256_hex};
use crate::error::ApiError;
use crate::extract::{ApiForm, ApiJson, ApiPath, ApiQuery};
use crate::limits::{self, Quota};
use crate::request_id::ClientIp;
use crate::store::{ApiKeyRecord, RefreshTokenRecord, Role, Rotation, Scope, StoreError, User};
use crate::validate::{self, Checks, Paging};
use cookie::{RefreshInput, WantsCookie};

/// Most API keys one account may hold at once.
const MAX_API_KEYS_PER_USER: i64 = 50;

/// The public view of an account: never the hash, never the token version.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub roles: Vec<Role>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            is_active: u.is_active,
            roles: u.roles.0.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    full_name: Option<String>,
}

pub async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let mut checks = Checks::default();
    let email = checks.check("email", validate::email(&body.email));
    let full_name = checks.check(
        "full_name",
        validate::optional_text(body.full_name.as_deref(), validate::MAX_NAME_CHARS),
    );
    if let Some(email) = &email {
        checks.check("password", check_policy(&body.password, email));
    }
    checks.finish()?;
    let (Some(email), Some(full_name)) = (email, full_name) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };

    // Hash before looking at the email, so a taken address costs the same time.
    let password_hash = state
        .auth
        .passwords
        .hash(SecretString::from(body.password))
        .await?;
    let now = OffsetDateTime::now_utc();
    let user = User {
        id: Uuid::now_v7(),
        email,
        password_hash,
        full_name,
        is_active: true,
        is_verified: false,
        roles: sqlx::types::Json(vec![Role::User]),
        token_version: 0,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let audit = Audit {
        store: &state.store,
        meta: &meta,
    };
    match state.store.insert_user(&user).await {
        Ok(()) => {
            audit
                .record(
                    &user_actor(user.id),
                    "register",
                    Some(user.id.to_string()),
                    Outcome::Success,
                    json!({}),
                )
                .await;
            Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
        }
        Err(StoreError::Conflict) => {
            audit
                .record(
                    ANONYMOUS,
                    "register",
                    None,
                    Outcome::Failure,
                    json!({ "reason": "email taken" }),
                )
                .await;
            Err(ApiError::Conflict(
                "an account cannot be created with this email".into(),
            ))
        }
        Err(err) => Err(ApiError::internal(err)),
    }
}

#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    /// Absent when the refresh token travels in the web page's cookie instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    token_type: &'static str,
    expires_in: i64,
}

/// The OAuth2 password form; the optional OAuth2 fields are accepted and checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenForm {
    username: String,
    password: String,
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
}

fn refresh_record(user_id: Uuid, issued: &IssuedRefresh) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: issued.id,
        user_id,
        family_id: issued.family_id,
        token_hash: sha256_hex(&issued.token),
        issued_at: issued.issued_at,
        expires_at: issued.expires_at,
        revoked_at: None,
        replaced_by: None,
    }
}

fn token_response(
    state: &AppState,
    user: &User,
    refresh: IssuedRefresh,
    as_cookie: bool,
) -> Result<Response, ApiError> {
    let access_token = state
        .auth
        .tokens
        .issue_access(user)
        .map_err(ApiError::internal)?;
    let mut response = Json(TokenResponse {
        access_token,
        refresh_token: (!as_cookie).then(|| refresh.token.clone()),
        token_type: "bearer",
        expires_in: state.auth.tokens.access_ttl_secs(),
    })
    .into_response();
    if as_cookie {
        cookie::attach(
            &state.config,
            &mut response,
            &refresh.token,
            refresh.expires_at,
        );
    }
    Ok(response)
}

pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ClientIp(ip): ClientIp,
    WantsCookie(as_cookie): WantsCookie,
    ApiForm(form): ApiForm<TokenForm>,
) -> Result<Response, ApiError> {
    if form.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::field("grant_type", "must be \"password\""));
    }
    let _ = (&form.scope, &form.client_id);
    let audit = Audit {
        store: &state.store,
        meta: &meta,
    };
    // The throttle keys on what was typed, bounded so junk cannot bloat its memory.
    let account: String = form
        .username
        .trim()
        .to_lowercase()
        .chars()
        .take(320)
        .collect();
    // S6: a locked account or address; S15: attempts per account, shared across
    // instances, except from an address the account recently signed in from.
    let refusal = match state.auth.throttle.check(&account, ip).await {
        Err(locked) => Some(("locked out", locked.retry_after.as_secs())),
        Ok(()) if !state.auth.throttle.is_known(&account, ip).await => {
            let key = format!("login:account:{}", &sha256_hex(&account)[..32]);
            let quota = Quota::per_minute(state.config.login_per_minute);
            match limits::check_with_policy(&state, &key, quota).await? {
                Some(d) if !d.allowed => Some(("account rate limit", d.retry_after_secs)),
                _ => None,
            }
        }
        Ok(()) => None,
    };
    if let Some((reason, retry_after_secs)) = refusal {
        audit
            .record(
                ANONYMOUS,
                "login",
                None,
                Outcome::Denied,
                json!({ "reason": reason }),
            )
            .await;
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }

    let user = match validate::email(&account) {
        Ok(email) => state
            .store
            .find_user_by_email(&email)
            .await
            .map_err(ApiError::internal)?,
        Err(_) => None,
    };
    // An unknown account still pays for one verify (S5).
    let matches = state
        .auth
        .passwords
        .verify(
            SecretString::from(form.password),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;

    let user = match user {
        Some(user) if matches && user.is_active => user,
        other => {
            let locked = state.auth.throttle.record_failure(&account, ip).await;
            let reason = match &other {
                None => "unknown account",
                Some(u) if !u.is_active => "account disabled",
                Some(_) => "wrong password",
            };
            audit
                .record(
                    ANONYMOUS,
                    "login",
                    other.as_ref().map(|u| u.id.to_string()),
                    Outcome::Failure,
                    json!({ "reason": reason }),
                )
                .await;
            if locked {
                audit
                    .record(
                        ANONYMOUS,
                        "lockout",
                        other.as_ref().map(|u| u.id.to_string()),
                        Outcome::Denied,
                        json!({ "reason": "too many failed logins" }),
                    )
                    .await;
            }
            return Err(ApiError::InvalidCredentials);
        }
    };

    state.auth.throttle.record_success(&account, ip).await;
    state.store.record_login(user.id).await?;
    let refresh = state
        .auth
        .tokens
        .issue_refresh(&user, Uuid::new_v4())
        .map_err(ApiError::internal)?;
    // S27: the session starts only if the account is as it was when the password was
    // checked; a password change or disable in between refuses it.
    let started = state
        .store
        .insert_refresh_token(&refresh_record(user.id, &refresh), user.token_version)
        .await?;
    if !started {
        return Err(ApiError::InvalidCredentials);
    }
    audit
        .record(
            &user_actor(user.id),
            "login",
            Some(user.id.to_string()),
            Outcome::Success,
            json!({}),
        )
        .await;
    token_response(&state, &user, refresh, as_cookie)
}

/// `{refresh_token}` in the body, or an empty body and the web page's cookie.
pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    input: RefreshInput,
) -> Result<Response, ApiError> {
    let config = state.config.clone();
    let result = rotate_refresh(state, meta, &input).await;
    cookie::clear_on_failure(&config, input.by_cookie(), result)
}

async fn rotate_refresh(
    state: AppState,
    meta: RequestMeta,
    input: &RefreshInput,
) -> Result<Response, ApiError> {
    let audit = Audit {
        store: &state.store,
        meta: &meta,
    };
    let record = stored_refresh_token(&state, input.token()).await?;
    let user = state
        .store
        .find_user(record.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let next = state
        .auth
        .tokens
        .issue_refresh(&user, record.family_id)
        .map_err(ApiError::internal)?;
    // S4/S27: the store decides under the account's row lock, so a logout, password
    // change or disable racing this refresh either sees the new token or refuses it.
    let current = match state
        .store
        .rotate_refresh_token(&record, &refresh_record(user.id, &next))
        .await?
    {
        Rotation::Rotated(current) => current,
        Rotation::Reused { tokens_revoked } => {
            audit_reuse(&audit, &record, tokens_revoked).await;
            return Err(ApiError::Unauthorized);
        }
        Rotation::Refused => return Err(ApiError::Unauthorized),
    };
    audit
        .record(
            &user_actor(current.id),
            "token_refresh",
            Some(current.id.to_string()),
            Outcome::Success,
            json!({}),
        )
        .await;
    token_response(&state, &current, next, input.by_cookie())
}

/// The stored record of a refresh token that verifies as one (S3); any failure is a 401.
async fn stored_refresh_token(
    state: &AppState,
    token: &str,
) -> Result<RefreshTokenRecord, ApiError> {
    let claims = state
        .auth
        .tokens
        .verify(token, TokenType::Refresh)
        .ok_or(ApiError::Unauthorized)?;
    state
        .store
        .find_refresh_token(&sha256_hex(token))
        .await
        .map_err(ApiError::internal)?
        .filter(|r| r.user_id == claims.sub)
        .ok_or(ApiError::Unauthorized)
}

/// S4: a rotated token came back. Whoever holds the family, it is compromised: the store
/// has revoked it and ended the access tokens minted from it, in one transaction.
async fn audit_reuse(audit: &Audit<'_>, record: &RefreshTokenRecord, tokens_revoked: u64) {
    audit
        .record(
            &user_actor(record.user_id),
            "refresh_reuse",
            Some(record.user_id.to_string()),
            Outcome::Denied,
            json!({ "family_revoked": true, "tokens_revoked": tokens_revoked }),
        )
        .await;
}

/// `{refresh_token}` in the body, or an empty body and the web page's cookie, which the
/// answer then clears.
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    input: RefreshInput,
) -> Result<Response, ApiError> {
    let result = end_session(&state, &principal, input.token()).await;
    let result = result.map(|status| {
        let mut response = status.into_response();
        if input.by_cookie() {
            response.headers_mut().append(
                axum::http::header::SET_COOKIE,
                cookie::clear_cookie(&state.config),
            );
        }
        response
    });
    cookie::clear_on_failure(&state.config, input.by_cookie(), result)
}

async fn end_session(
    state: &AppState,
    principal: &Principal,
    token: &str,
) -> Result<StatusCode, ApiError> {
    let record = stored_refresh_token(state, token).await?;
    if record.user_id != principal.user.id {
        return Err(ApiError::Unauthorized);
    }
    // The family is revoked and outstanding access tokens die in one transaction; other
    // devices renew with their own refresh token.
    state
        .store
        .revoke_refresh_family(principal.user.id, record.family_id)
        .await?;
    principal
        .record(
            &state.store,
            "logout",
            Some(principal.user.id.to_string()),
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(principal: Principal) -> Json<UserView> {
    Json(UserView::from(&principal.user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let user = &principal.user;
    let audit = principal.audit(&state.store);
    if let Err(locked) = state.auth.throttle.check(&user.email, ip).await {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: locked.retry_after.as_secs(),
        });
    }
    let current_ok = state
        .auth
        .passwords
        .verify(
            SecretString::from(body.current_password.clone()),
            Some(user.password_hash.clone()),
        )
        .await?;
    if !current_ok {
        state.auth.throttle.record_failure(&user.email, ip).await;
        audit
            .record(
                &principal.actor(),
                "password_change",
                Some(user.id.to_string()),
                Outcome::Failure,
                json!({ "reason": "wrong current password" }),
            )
            .await;
        return Err(ApiError::field("current_password", "is incorrect"));
    }
    let mut checks = Checks::default();
    checks.check(
        "new_password",
        check_policy(&body.new_password, &user.email),
    );
    if body.new_password == body.current_password {
        checks.check::<(), _>("new_password", Err("must differ from the current password"));
    }
    checks.finish()?;

    let hash = state
        .auth
        .passwords
        .hash(SecretString::from(body.new_password))
        .await?;
    // S4/S27: the new hash, the end of every session and every API key, in one
    // transaction; the caller is told what was revoked.
    let revoked = state.store.update_password(user.id, &hash).await?;
    principal
        .record(
            &state.store,
            "password_change",
            Some(user.id.to_string()),
            json!({ "sessions_revoked": revoked.refresh_tokens, "api_keys_revoked": revoked.api_keys }),
        )
        .await;
    Ok(Json(PasswordChanged {
        sessions_revoked: revoked.refresh_tokens,
        api_keys_revoked: revoked.api_keys,
    }))
}

/// What a password change ended: every refresh token (session) and every API key of the
/// account; the caller signs in again and creates new keys.
#[derive(Serialize)]
pub struct PasswordChanged {
    sessions_revoked: u64,
    api_keys_revoked: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    name: String,
    scopes: Vec<Scope>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// A per-minute quota for this key below the account's (S15); the key always draws
    /// on the account's quota as well.
    rate_per_minute: Option<i64>,
}

#[derive(Serialize)]
pub struct CreatedApiKey {
    id: Uuid,
    name: String,
    /// The full key: in this response only, never again.
    key: String,
    prefix: String,
    scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    rate_per_minute: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize)]
pub struct ApiKeyView {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    rate_per_minute: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.key_prefix,
            scopes: k.scopes.0,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            rate_per_minute: k.rate_per_minute,
            created_at: k.created_at,
        }
    }
}

pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut checks = Checks::default();
    let name = checks.check("name", validate::name(&body.name));
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        checks.check::<(), _>(
            "scopes",
            Err("must name at least one of read, write, delete"),
        );
    }
    if body.expires_at.is_some_and(|at| at <= now) {
        checks.check::<(), _>("expires_at", Err("must be in the future"));
    }
    let account_rate = i64::from(state.config.rate_per_minute);
    if body
        .rate_per_minute
        .is_some_and(|n| !(1..=account_rate).contains(&n))
    {
        checks.check::<(), _>(
            "rate_per_minute",
            Err(format!(
                "must be between 1 and the account's {account_rate}"
            )),
        );
    }
    checks.finish()?;
    let Some(name) = name else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated name missing"
        )));
    };
    let generated = api_keys::generate();
    let record = ApiKeyRecord {
        id: Uuid::now_v7(),
        user_id: principal.user.id,
        name,
        key_prefix: generated.prefix.clone(),
        key_hash: generated.hash,
        scopes: sqlx::types::Json(scopes.clone()),
        is_active: true,
        expires_at: body.expires_at,
        last_used_at: None,
        created_at: now,
        rate_per_minute: body.rate_per_minute,
    };
    let stored = state
        .store
        .insert_api_key_capped(&record, MAX_API_KEYS_PER_USER)
        .await
        .map_err(ApiError::internal)?;
    if !stored {
        return Err(ApiError::Conflict(format!(
            "an account may hold at most {MAX_API_KEYS_PER_USER} API keys; revoke one first"
        )));
    }
    principal
        .record(
            &state.store,
            "api_key_create",
            Some(record.id.to_string()),
            json!({ "scopes": scopes, "prefix": record.key_prefix }),
        )
        .await;
    let created = CreatedApiKey {
        id: record.id,
        name: record.name,
        key: generated.key,
        prefix: record.key_prefix,
        scopes,
        expires_at: record.expires_at,
        rate_per_minute: record.rate_per_minute,
        created_at: record.created_at,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Serialize)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub total: i64,
}

pub async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ListResponse<ApiKeyView>>, ApiError> {
    let page = paging.page()?;
    let keys = state
        .store
        .list_api_keys(principal.user.id)
        .await
        .map_err(ApiError::internal)?;
    let total = keys.len() as i64;
    let items = keys
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .map(ApiKeyView::from)
        .collect();
    Ok(Json(ListResponse { items, total }))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let revoked = state
        .store
        .revoke_api_key(id, principal.user.id)
        .await
        .map_err(ApiError::internal)?;
    if !revoked {
        return Err(ApiError::NotFound);
    }
    principal
        .record(
            &state.store,
            "api_key_revoke",
            Some(id.to_string()),
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
