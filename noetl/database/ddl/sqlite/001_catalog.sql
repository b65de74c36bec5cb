-- NoETL catalog (SQLite, the embedded default database).
-- Applied by `python -m noetl.server --init-db` / POST /api/db/init; files in this
-- directory run in sorted order and must be idempotent.
-- Keep ../postgres/001_catalog.sql equivalent.

CREATE TABLE IF NOT EXISTS catalog (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    path          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    content       TEXT    NOT NULL,
    registered_at TEXT    NOT NULL,
    UNIQUE (path, version)
);

CREATE INDEX IF NOT EXISTS catalog_path_version_idx ON catalog (path, version DESC);
