//! JWT access and refresh tokens (S3): HS256 pinned by the server, typed, with issuer,
//! audience, id and the user's token version; refresh tokens are stored only hashed (S4).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Config;
use crate::store::User;

pub const ISSUER: &str = "copythat";
pub const AUDIENCE: &str = "copythat-api";
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub typ: TokenType,
    pub iss: String,
    pub aud: String,
    pub ver: i64,
    /// The refresh-token family (refresh tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
}

pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: i64,
    refresh_ttl: i64,
}

pub struct IssuedRefresh {
    pub token: String,
    pub id: Uuid,
    pub family_id: Uuid,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl TokenIssuer {
    pub fn new(config: &Config) -> Self {
        let key = config.secret_key.expose();
        // The algorithm comes from here, never from a token's header.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            access_ttl: config.access_ttl.as_secs() as i64,
            refresh_ttl: config.refresh_ttl.as_secs() as i64,
        }
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl
    }

    fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    pub fn issue_access(&self, user: &User) -> anyhow::Result<String> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.sign(&Claims {
            sub: user.id,
            exp: now + self.access_ttl,
            iat: now,
            jti: Uuid::new_v4(),
            typ: TokenType::Access,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            ver: user.token_version,
            fam: None,
        })
    }

    pub fn issue_refresh(&self, user: &User, family_id: Uuid) -> anyhow::Result<IssuedRefresh> {
        let issued_at = OffsetDateTime::now_utc();
        let expires_at = issued_at + time::Duration::seconds(self.refresh_ttl);
        let id = Uuid::new_v4();
        let token = self.sign(&Claims {
            sub: user.id,
            exp: expires_at.unix_timestamp(),
            iat: issued_at.unix_timestamp(),
            jti: id,
            typ: TokenType::Refresh,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            ver: user.token_version,
            fam: Some(family_id),
        })?;
        Ok(IssuedRefresh {
            token,
            id,
            family_id,
            issued_at,
            expires_at,
        })
    }

    /// The claims of a valid token of type `expected`; `None` for anything else.
    pub fn verify(&self, token: &str, expected: TokenType) -> Option<Claims> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        // RFC 7515: extensions marked critical must be understood; this server knows none.
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.crit.is_some() || header.zip.is_some() || header.enc.is_some() {
            return None;
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        if claims.typ != expected {
            return None;
        }
        // A token from the future, or living longer than this server issues them, was not
        // minted here as configured: refuse it rather than trust its own word.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let ttl = match expected {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let leeway = self.validation.leeway as i64;
        if claims.iat > now + leeway || claims.exp.saturating_sub(claims.iat) > ttl {
            return None;
        }
        Some(claims)
    }
}

/// Refresh tokens and API keys are stored as SHA-256: they are long random values, so a
/// fast hash is enough and lets the lookup be by hash.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
