-- Drift checks: the mask of off-palette pixels of each check, for its owner to fetch.
-- Only the latest few per project are kept (the store prunes older ones on insert).
CREATE TABLE drift_checks (
    id         BLOB PRIMARY KEY NOT NULL,
    project_id BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    score      REAL NOT NULL,
    mask       BLOB NOT NULL,              -- PNG
    created_at TEXT NOT NULL
);
CREATE INDEX drift_checks_project ON drift_checks (project_id, id);
