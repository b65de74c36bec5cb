"""Content fingerprints: a rerun with unchanged inputs skips the work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from .files import atomic_write_text, sha256_file

SKIP_PARTS = {"__pycache__", "node_modules", "target", ".git", "dist"}


def files_under(root: Path, *, skip: Iterable[str] = ()) -> list[Path]:
    """Files below ``root`` in a stable order, leaving out caches and ``skip`` (relative paths)."""
    skipped = {root / s for s in skip}
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        if any(path == s or s in path.parents for s in skipped):
            continue
        found.append(path)
    return found


def digest(*, files: Iterable[Path] = (), base: Path | None = None, extra: object = None) -> str:
    """sha256 over files (by path relative to ``base`` and content) and any JSON-able extra."""
    h = hashlib.sha256()
    for path in files:
        name = path.relative_to(base) if base else path
        h.update(str(name).encode() + b"\0")
        h.update(bytes.fromhex(sha256_file(path)))
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


class Stamp:
    """A JSON record beside an output saying which inputs made it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def current(self, output: Path, fingerprint: str) -> bool:
        """True when ``output`` exists, was made from ``fingerprint`` and is unchanged since."""
        recorded = self.read()
        return (
            output.is_file()
            and recorded.get("fingerprint") == fingerprint
            and recorded.get("sha256") == sha256_file(output)
        )

    def write(self, data: dict[str, object]) -> None:
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
