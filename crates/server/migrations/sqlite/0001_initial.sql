-- The whole data model (DESIGN.md "Data model"), SQLite flavour.
-- UUIDs are 16-byte BLOBs, times RFC 3339 TEXT in UTC, lists JSON TEXT.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,            -- normalised: trimmed, lowercase
    password_hash TEXT NOT NULL,            -- argon2id PHC string
    full_name     TEXT,
    is_active     BOOLEAN NOT NULL DEFAULT 1,
    is_verified   BOOLEAN NOT NULL DEFAULT 0,
    roles         TEXT NOT NULL DEFAULT '["user"]',
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_login_at TEXT
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE refresh_tokens (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   BLOB NOT NULL,
    token_hash  TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    replaced_by BLOB
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    is_active    BOOLEAN NOT NULL DEFAULT 1,
    expires_at   TEXT,
    last_used_at TEXT,
    created_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE projects (
    id          BLOB PRIMARY KEY NOT NULL,
    owner_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, id);

CREATE TABLE extraction_sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    project_id   BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT,
    source       TEXT NOT NULL,             -- 'upload' | 'url'
    image_width  INTEGER,
    image_height INTEGER,
    image_format TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX extraction_sessions_project ON extraction_sessions (project_id, id);

CREATE TABLE color_tokens (
    id             BLOB PRIMARY KEY NOT NULL,
    project_id     BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    session_id     BLOB NOT NULL REFERENCES extraction_sessions (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    hex            TEXT NOT NULL,
    rgb            TEXT NOT NULL,
    hsl            TEXT NOT NULL,
    oklch          TEXT NOT NULL,
    name           TEXT NOT NULL,
    share          REAL NOT NULL,
    confidence     REAL NOT NULL,
    role           TEXT,
    contrast_white REAL NOT NULL,
    contrast_black REAL NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX color_tokens_project ON color_tokens (project_id, session_id, position);
CREATE INDEX color_tokens_session ON color_tokens (session_id, position);

CREATE TABLE audit_events (
    id         BLOB PRIMARY KEY NOT NULL,
    at         TEXT NOT NULL,
    request_id TEXT,
    actor      TEXT NOT NULL,               -- user:<id> | api_key:<id> | anonymous
    ip         TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
