"""dist/: wheels and the sdist land atomically; SHA256SUMS and manifest.json are written last."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ReleaseError
from .files import atomic_copy, atomic_write_text

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class Entry:
    target: str
    wheel: str
    sha256: str
    size: int
    build_seconds: float
    built_at: str  # ISO 8601 UTC
    tags: list[str]
    # the rustc that compiled the binary: rustc (release), commit-hash, host, toolchain, std
    compiler: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SdistRecord:
    file: str
    sha256: str
    size: int


def publish(wheel: Path, dist: Path) -> Path:
    """Copy ``wheel`` (or an sdist) into dist/ so that dist/ never holds a half-written file."""
    return atomic_copy(wheel, dist / wheel.name)


def _manifest(dist: Path) -> dict[str, Any]:
    """dist/manifest.json as written, or {} when it is missing or not a JSON object."""
    try:
        data = json.loads((dist / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load_entries(dist: Path) -> dict[str, Entry]:
    """The manifest's entries whose wheels are still in dist/, by target."""
    try:
        entries = {row["target"]: Entry(**row) for row in _manifest(dist)["wheels"]}
    except (KeyError, TypeError):
        return {}
    return {t: e for t, e in entries.items() if (dist / e.wheel).is_file()}


def load_sdist(dist: Path) -> SdistRecord | None:
    """The manifest's sdist if it is still in dist/."""
    try:
        sdist = SdistRecord(**_manifest(dist)["sdist"])
    except (KeyError, TypeError):
        return None
    return sdist if (dist / sdist.file).is_file() else None


def load_meta(dist: Path) -> dict[str, object]:
    """The manifest's run-wide fields (version, source_date_epoch)."""
    return {k: v for k, v in _manifest(dist).items() if k not in ("schema", "wheels", "sdist")}


def write_index(
    dist: Path, entries: dict[str, Entry], *, meta: dict[str, object], sdist: SdistRecord | None = None,
    keep_sdist: bool = True,
) -> None:
    """Write SHA256SUMS, then manifest.json (the last file a run writes).

    ``sdist`` None keeps the sdist the manifest already records (a wheel build leaves it be),
    unless ``keep_sdist`` is False (gather lists exactly what its parts bring).
    """
    dist.mkdir(parents=True, exist_ok=True)
    sdist = sdist or (load_sdist(dist) if keep_sdist else None)
    rows = sorted(entries.values(), key=lambda e: e.wheel)
    files = [(e.sha256, e.wheel) for e in rows] + ([(sdist.sha256, sdist.file)] if sdist else [])
    sums = "".join(f"{sha}  {name}\n" for sha, name in files)
    atomic_write_text(dist / SUMS, sums)
    manifest = {"schema": SCHEMA, **meta, "wheels": [asdict(e) for e in sorted(rows, key=lambda e: e.target)]}
    if sdist:
        manifest["sdist"] = asdict(sdist)
    atomic_write_text(dist / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def one_compiler(entries: list[Entry], *, rebuild: str) -> dict[str, str]:
    """The one rustc (release and commit) that compiled every wheel of ``entries``; ReleaseError
    naming the targets when an entry records none or two compilers are among them."""
    unknown = [e.target for e in entries if not e.compiler.get("rustc")]
    if unknown:
        raise ReleaseError(
            f"manifest.json does not record the compiler of {', '.join(unknown)} (built before compilers were "
            f"recorded): rebuild ({rebuild})"
        )
    by_compiler: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        by_compiler.setdefault((entry.compiler["rustc"], entry.compiler.get("commit-hash", "unknown")), []).append(
            entry.target)
    if len(by_compiler) > 1:
        groups = sorted(by_compiler.items(), key=lambda item: -len(item[1]))
        parts = [f"rustc {rustc} ({commit[:12]}) built {', '.join(names) if len(names) <= 3 else f'{len(names)} targets'}"
                 for (rustc, commit), names in groups]
        raise ReleaseError(
            f"the wheels were compiled by {len(by_compiler)} compilers ({'; '.join(parts)}): a release is built by "
            f"one; rebuild them with one toolchain (nox -s doctor shows which each target gets; {rebuild})"
        )
    return entries[0].compiler if entries else {}

