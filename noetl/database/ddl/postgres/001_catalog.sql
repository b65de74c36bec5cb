-- NoETL catalog (PostgreSQL). Equivalent to ../sqlite/001_catalog.sql.
-- Files in this directory run in sorted order and must be idempotent.

CREATE TABLE IF NOT EXISTS catalog (
    id            BIGSERIAL   PRIMARY KEY,
    path          TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    version       INTEGER     NOT NULL CHECK (version >= 1),
    content       TEXT        NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (path, version)
);

CREATE INDEX IF NOT EXISTS catalog_path_version_idx ON catalog (path, version DESC);
