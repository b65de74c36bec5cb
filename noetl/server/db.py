"""The catalog database: SQLite (stdlib ``sqlite3``), schema from shipped DDL files."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from noetl.server.paths import ddl_dir

_CREATE_TABLE = re.compile(
    r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?(\w+)", re.IGNORECASE
)

ENTRY_COLUMNS = ("path", "name", "kind", "version", "registered_at")


class NotInitializedError(Exception):
    """The catalog tables do not exist yet (``noetl db init`` was never run)."""


def utc_now_iso() -> str:
    """The current time as ISO 8601 UTC with millisecond precision and a ``Z``."""
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    """A SQLite catalog database at ``path``.

    A new connection is opened for each operation: cheap for SQLite, and safe
    with Starlette running sync endpoints in a thread pool.
    """

    def __init__(self, path: str | Path, ddl_directory: str | Path | None = None):
        self.path = Path(path)
        self.ddl_directory = Path(ddl_directory) if ddl_directory else ddl_dir("sqlite")

    # -- schema ---------------------------------------------------------------

    def ddl_files(self) -> list[Path]:
        """The DDL files, in the sorted order they are applied in."""
        return sorted(self.ddl_directory.glob("*.sql"))

    def expected_tables(self) -> list[str]:
        """Tables the DDL files create, in the order they appear."""
        tables: list[str] = []
        for ddl in self.ddl_files():
            for name in _CREATE_TABLE.findall(ddl.read_text(encoding="utf-8")):
                if name not in tables:
                    tables.append(name)
        return tables

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; transactions are explicit below.
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def present_tables(self) -> list[str]:
        with closing(self.connect()) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        names = {row[0] for row in rows}
        return [t for t in self.expected_tables() if t in names]

    def init(self) -> list[str]:
        """Apply every DDL file (idempotent); return the tables now present."""
        files = self.ddl_files()
        if not files:
            raise RuntimeError("no DDL files found in %s" % self.ddl_directory)
        with closing(self.connect()) as conn:
            for ddl in files:
                conn.executescript(ddl.read_text(encoding="utf-8"))
        return self.present_tables()

    def validate(self) -> dict[str, Any]:
        expected = self.expected_tables()
        present = self.present_tables()
        missing = [t for t in expected if t not in present]
        return {"valid": not missing, "tables": present, "missing": missing}

    def is_initialized(self) -> bool:
        return bool(self.validate()["valid"])

    def _require_initialized(self) -> None:
        if not self.is_initialized():
            raise NotInitializedError()

    # -- catalog --------------------------------------------------------------

    def register(self, path: str, name: str, kind: str, content: str) -> dict[str, Any]:
        """Store a new version of the playbook at ``path``; return its entry."""
        self._require_initialized()
        registered_at = utc_now_iso()
        with closing(self.connect()) as conn:
            # IMMEDIATE takes the write lock now, so two registrations of the
            # same path cannot both read the same latest version.
            conn.execute("BEGIN IMMEDIATE")
            try:
                (latest,) = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM catalog WHERE path = ?",
                    (path,),
                ).fetchone()
                version = int(latest) + 1
                conn.execute(
                    "INSERT INTO catalog (path, name, kind, version, content, registered_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (path, name, kind, version, content, registered_at),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return {
            "path": path,
            "name": name,
            "kind": kind,
            "version": version,
            "registered_at": registered_at,
        }

    def list_latest(self) -> list[dict[str, Any]]:
        """The latest version of each path, sorted by path."""
        self._require_initialized()
        with closing(self.connect()) as conn:
            rows = conn.execute(
                "SELECT c.path, c.name, c.kind, c.version, c.registered_at"
                " FROM catalog AS c"
                " JOIN (SELECT path, MAX(version) AS version FROM catalog GROUP BY path) AS m"
                "   ON c.path = m.path AND c.version = m.version"
                " ORDER BY c.path"
            ).fetchall()
        return [dict(row) for row in rows]

    def get(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """One version (default: the latest) of ``path`` with its content, or None."""
        self._require_initialized()
        columns = ", ".join(ENTRY_COLUMNS) + ", content"
        with closing(self.connect()) as conn:
            if version is None:
                row = conn.execute(
                    "SELECT %s FROM catalog WHERE path = ? ORDER BY version DESC LIMIT 1"
                    % columns,
                    (path,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT %s FROM catalog WHERE path = ? AND version = ?" % columns,
                    (path, version),
                ).fetchone()
        return dict(row) if row is not None else None
