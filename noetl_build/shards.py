"""CI shards: the targets split by the toolchain a runner sets up, and their dist/ parts gathered.

    strategy_matrix(matrix) -> {"include": [{"shard": NAME, "targets": "T1 T2 ..."}, ...]}
    gather(parts, dist, matrix) -> summary    the parts proven whole and consistent, then merged

A shard is every target of one OS and C library (linux-gnu, linux-musl, macos, windows-gnu):
the name comes from the triple, so a new target in targets.toml joins a shard (or makes one)
with no code change, and universal2 builds beside both darwin slices it is made of. Each shard
uploads its dist/; gather refuses, before writing anything, a part that is not whole (no or an
unreadable manifest.json, a file missing or changed since it was built) and parts that disagree
(on the version or another run-wide field, on a target's wheel, on a file's bytes, on the sdist),
then copies every file atomically and writes one SHA256SUMS and one manifest.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dist import MANIFEST, SCHEMA, Entry, SdistRecord, load_meta, publish, write_index
from .errors import ConfigError
from .files import sha256_file
from .targets import Matrix, Target

REBUILD = "download the shard's dist/ whole again, or rebuild it (nox -s wheel -- TRIPLE ...)"


@dataclass(frozen=True)
class Shard:
    name: str  # a valid artifact name: [a-z0-9-]
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Part:
    """One shard's dist/, as its manifest.json records it."""

    path: Path
    meta: dict[str, object]
    wheels: tuple[Entry, ...]
    sdist: SdistRecord | None

    def files(self) -> list[tuple[str, str]]:
        """(file name, sha256) of every file the manifest lists."""
        rows = [(e.wheel, e.sha256) for e in self.wheels]
        return rows + ([(self.sdist.file, self.sdist.sha256)] if self.sdist else [])


@dataclass(frozen=True)
class Gathered:
    """What the parts make together: the index to write and where each file comes from."""

    meta: dict[str, object]
    entries: dict[str, Entry]
    sdist: SdistRecord | None
    sources: dict[str, Path]  # file name -> the part's copy


# ---------------------------------------------------------------- shards


def shard_name(target: Target) -> str:
    """What a runner sets up for ``target``: its OS, then its C library when the triple names one."""
    triple = target.triple
    words = [triple.os, *([triple.libc] if triple.libc else [])]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")


def shards(matrix: Matrix) -> tuple[Shard, ...]:
    """Every target in exactly one shard; targets.toml order, shards in order of first appearance."""
    groups: dict[str, list[Target]] = {}
    for target in matrix.targets:
        groups.setdefault(shard_name(target), []).append(target)
    return tuple(Shard(name, tuple(targets)) for name, targets in groups.items())


def strategy_matrix(matrix: Matrix) -> dict[str, list[dict[str, str]]]:
    """The JSON object for a GitHub Actions ``strategy.matrix``."""
    return {"include": [{"shard": s.name, "targets": " ".join(t.name for t in s.targets)} for s in shards(matrix)]}


# ---------------------------------------------------------------- gather


def gather(parts: Sequence[Path], dist: Path, matrix: Matrix) -> str:
    """Merge the shards' dist/ ``parts`` into ``dist``: everything proven first, then copied."""
    if not parts:
        raise ConfigError("gather: name the shards' dist/ directories to merge (gather PART [PART ...])")
    if dist.exists() and not dist.is_dir():
        raise ConfigError(f"{dist}: not a directory; gather into a dist/ directory (--dist DIR)")
    loaded = [read_part(p) for p in dict.fromkeys(p.resolve() for p in parts)]
    merged = merge(loaded, matrix)
    for part in loaded:
        check_files(part)
    for source in merged.sources.values():
        publish(source, dist)
    write_index(dist, merged.entries, meta=merged.meta, sdist=merged.sdist, keep_sdist=False)
    wheels = f"{len(merged.entries)} wheel{'' if len(merged.entries) == 1 else 's'}"
    and_sdist = " and the sdist" if merged.sdist else ""
    count = f"{len(loaded)} part{'' if len(loaded) == 1 else 's'}"
    return f"gathered {wheels}{and_sdist} from {count} into {dist}: version {merged.meta['version']}"


def read_part(path: Path) -> Part:
    """A shard's dist/ by its manifest.json, or ConfigError saying why it is not one."""
    manifest = path / MANIFEST
    if not path.is_dir():
        raise ConfigError(f"{path}: no such directory; name the dist/ directories the shards built")
    if not manifest.is_file():
        raise ConfigError(f"{path}: no {MANIFEST}, so not a whole dist/ a shard built; {REBUILD}")
    try:
        data = json.loads(manifest.read_text())
        return _part(path, data)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        reason = f"no '{exc.args[0]}'" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise ConfigError(f"{manifest}: not a manifest this build writes ({reason}); {REBUILD}") from None


def _part(path: Path, data: Any) -> Part:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"schema {data.get('schema')!r}, not {SCHEMA}")
    wheels = tuple(Entry(**row) for row in data["wheels"])
    sdist = SdistRecord(**data["sdist"]) if data.get("sdist") is not None else None
    part = Part(path, load_meta(path), wheels, sdist)
    for name, sha in part.files():
        if not (isinstance(name, str) and name == Path(name).name and not name.startswith(".")):
            raise ValueError(f"{name!r} is not a file name")
        if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise ValueError(f"{name}: {sha!r} is not a sha256")
    if not isinstance(part.meta.get("version"), str):
        raise ValueError("no version")
    return part


def merge(parts: Sequence[Part], matrix: Matrix) -> Gathered:
    """The parts as one dist/, or ConfigError naming the first two that disagree."""
    meta = _common_meta(parts)
    known = set(matrix.names())
    entries: dict[str, tuple[Entry, Path]] = {}
    files: dict[str, tuple[str, Path]] = {}
    sdist: tuple[SdistRecord, Path] | None = None
    for part in parts:
        for entry in part.wheels:
            if entry.target not in known:
                raise ConfigError(
                    f"{part.path}: target '{entry.target}' is not in targets.toml; "
                    "gather the parts of a build of this checkout's targets"
                )
            seen = entries.setdefault(entry.target, (entry, part.path))
            if (seen[0].wheel, seen[0].sha256) != (entry.wheel, entry.sha256):
                raise ConfigError(
                    f"target {entry.target} comes from two parts with different wheels ({seen[1] / seen[0].wheel} "
                    f"and {part.path / entry.wheel}); build each target in one shard only"
                )
        if part.sdist:
            sdist = sdist or (part.sdist, part.path)
            if sdist[0] != part.sdist:
                raise ConfigError(
                    f"two different sdists: {sdist[1] / sdist[0].file} and {part.path / part.sdist.file}; "
                    "build the sdist in one shard only"
                )
        for name, sha in part.files():
            first = files.setdefault(name, (sha, part.path))
            if first[0] != sha:
                raise ConfigError(
                    f"{name} differs between {first[1]} and {part.path} (another sha256); "
                    "gather the parts of one build"
                )
    return Gathered(
        meta=meta,
        entries={target: entry for target, (entry, _) in entries.items()},
        sdist=sdist[0] if sdist else None,
        sources={name: where / name for name, (_, where) in files.items()},
    )


def _common_meta(parts: Sequence[Part]) -> dict[str, object]:
    """The run-wide fields (version, source_date_epoch), which every part must agree on."""
    meta: dict[str, tuple[object, Path]] = {}
    for part in parts:
        for key, value in part.meta.items():
            first = meta.setdefault(key, (value, part.path))
            if first[0] != value:
                raise ConfigError(
                    f"the parts disagree on {key}: {first[1]} says {first[0]!r}, {part.path} says {value!r}; "
                    "gather the parts of one build (one commit, one run)"
                )
    return {key: value for key, (value, _) in meta.items()}


def check_files(part: Part) -> None:
    """Every file the part's manifest lists is there with the bytes it was built with."""
    for name, sha in part.files():
        file = part.path / name
        if not file.is_file():
            raise ConfigError(f"{file}: missing, though {part.path / MANIFEST} lists it; {REBUILD}")
        try:
            actual = sha256_file(file)
        except OSError as exc:
            raise ConfigError(f"{file}: unreadable ({exc.strerror}); {REBUILD}") from None
        if actual != sha:
            raise ConfigError(
                f"{file}: sha256 {actual[:12]}… is not its manifest's {sha[:12]}… (changed since it was built); {REBUILD}"
            )
