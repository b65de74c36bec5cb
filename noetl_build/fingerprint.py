"""Content fingerprints: the keys by which a rerun with unchanged inputs skips the work (reuse.py)."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
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


PACKAGE = Path(__file__).resolve().parent


@cache
def code_digest(module: Path, package: Path = PACKAGE) -> str:
    """sha256 over ``module`` and every module of ``package`` it imports, directly or not, and the
    package's data files (TOML tables, C sources): the code that decides what a cached step makes.

    A cache keyed on it is right without anyone remembering to bump a version; an edit to code
    the step does not import (verify, publish) leaves it valid.
    """
    seen: set[Path] = set()
    pending = [module.resolve()]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        pending += _imported_modules(path)
    package = package.resolve()
    data = [p for p in files_under(package) if p.suffix in {".toml", ".c"}]
    return digest(files=sorted(p for p in seen if package in p.parents) + data, base=package)


def _imported_modules(path: Path) -> list[Path]:
    """The files of this package that ``path`` imports relatively (``from .x import y``, ``from . import x``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
        if node.module:
            base = base.joinpath(*node.module.split("."))
            found += [base.with_suffix(".py"), base / "__init__.py"]
        # the names may be modules themselves: `from . import x`, `from .pkg import mod`
        found += [base / f"{alias.name}.py" for alias in node.names]
        found += [base / alias.name / "__init__.py" for alias in node.names]
    return [p.resolve() for p in found if p.is_file()]


class Stamp:
    """A JSON record of a recipe's key, for what is no file to hash (a userland's root); a build
    step's outputs are reused through reuse.reused / reuse.record instead."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, data: dict[str, object]) -> None:
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
