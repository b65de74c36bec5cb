"""Where NoETL keeps its files (docs/api.md, "Process contract")."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """The per-user data directory, as the Rust CLI's ``dirs::data_dir()`` sees it."""
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        if appdata:
            return Path(appdata)
        return Path.home() / "AppData" / "Roaming"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".local" / "share"


def noetl_home() -> Path:
    """``$NOETL_HOME`` if set, else ``<user data dir>/noetl``."""
    home = os.environ.get("NOETL_HOME")
    if home:
        return Path(home).expanduser()
    return user_data_dir() / "noetl"


def default_db_path() -> Path:
    """``$NOETL_DB`` if set, else ``<NOETL_HOME>/noetl.db``."""
    env = os.environ.get("NOETL_DB")
    if env:
        return Path(env).expanduser()
    return noetl_home() / "noetl.db"


def package_dir() -> Path:
    """The installed ``noetl`` package directory."""
    return Path(__file__).resolve().parent.parent


def default_ui_dir() -> Path:
    """The built web UI (``npm run build`` in ui-src/ writes it here)."""
    return package_dir() / "core" / "ui"


def ddl_dir(dialect: str = "sqlite") -> Path:
    """The DDL files for ``dialect`` (``sqlite`` or ``postgres``)."""
    return package_dir() / "database" / "ddl" / dialect
