-- Drift checks: the mask of off-palette pixels of each check, for its owner to fetch.
-- Only the latest few per project are kept (the store prunes older ones on insert).
CREATE TABLE drift_checks (
    id         UUID PRIMARY KEY,
    project_id UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    score      DOUBLE PRECISION NOT NULL,
    mask       BYTEA NOT NULL,              -- PNG
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX drift_checks_project ON drift_checks (project_id, id);
