"""Reuse if unchanged: a step's outputs are kept while the inputs that made them are the same.

    reused(stamp, key, outputs) -> Record | None   the stamp's record when ``key`` made ``outputs``
                                                    and each is still as it was then; else None
    record(stamp, key, outputs, **facts)            after the step made them: the stamp, written atomically

A step computes ``key`` from everything that decides its outputs (fingerprint.digest: input
files, settings, fingerprint.code_digest of its code). The stamp is one JSON file beside the
outputs, in one format for every step (the binary, the SBOM, the wheels, the UI):

    {"stamp": 1, "key": "<sha256>", "outputs": {"<file name>": "<sha256>", ...}, "facts": {...}}

An output is named by its file name and hashed by its content (a directory: over its files);
``facts`` is what the step remembers about the run (its seconds, the toolchain), never part
of the decision. A missing, unreadable or older stamp holds no record: the step runs once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .files import atomic_write_text, sha256_file
from .fingerprint import digest, files_under

FORMAT = 1  # the "stamp" field; a stamp of another format is not read (its step runs again)


@dataclass(frozen=True)
class Record:
    """What a stamp says: the key of the inputs, each output's sha256 by file name, and facts."""

    key: str
    outputs: Mapping[str, str]
    facts: Mapping[str, object] = field(default_factory=dict)

    def holds(self, key: str, outputs: Sequence[Path]) -> bool:
        """True when ``key`` made exactly ``outputs``, and each still has the content recorded."""
        return (
            bool(outputs)
            and self.key == key
            and sorted(self.outputs) == sorted(p.name for p in outputs)
            and all(self.outputs[p.name] == content_sha256(p) for p in outputs)
        )

    def sha256(self, output: Path) -> str:
        return self.outputs[output.name]

    def paths(self, directory: Path) -> list[Path]:
        """The outputs it names, in ``directory``: for a step whose output's name it alone knows."""
        return [directory / name for name in sorted(self.outputs)]


def content_sha256(path: Path) -> str | None:
    """A file's sha256, a directory's over its files (names and contents), None when neither."""
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        return digest(files=files_under(path), base=path)
    return None


def read(stamp: Path) -> Record | None:
    """The record at ``stamp``; None when there is none, or not one in this format."""
    try:
        data = json.loads(stamp.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != FORMAT:
        return None
    key, outputs, facts = data.get("key"), data.get("outputs"), data.get("facts", {})
    if not (isinstance(key, str) and isinstance(outputs, dict) and isinstance(facts, dict)):
        return None
    if not all(_plain(name) and isinstance(sha, str) for name, sha in outputs.items()):
        return None
    return Record(key, outputs, facts)


def _plain(name: object) -> bool:
    """A file name alone: what a stamp names can only be an entry of the directory it is looked for in."""
    return isinstance(name, str) and name not in {"", ".", ".."} and "/" not in name and "\\" not in name


def reused(stamp: Path, key: str, outputs: Sequence[Path]) -> Record | None:
    """The record at ``stamp`` when ``key`` made ``outputs`` and they are unchanged since: the
    step can be skipped. None: run it (and ``record`` what it made)."""
    found = read(stamp)
    return found if found is not None and found.holds(key, outputs) else None


def record(stamp: Path, key: str, outputs: Sequence[Path], **facts: object) -> Record:
    """Write ``stamp``: ``key`` made ``outputs`` (as they are now), with ``facts`` about the run."""
    names = [p.name for p in outputs]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{stamp}: a stamp needs outputs with distinct file names, got {names}")
    sums: dict[str, str] = {}
    for path in outputs:
        sha = content_sha256(path)
        if sha is None:
            raise FileNotFoundError(f"{stamp}: output {path} does not exist")
        sums[path.name] = sha
    made = Record(key, sums, dict(facts))
    text = json.dumps({"stamp": FORMAT, "key": key, "outputs": sums, "facts": made.facts}, indent=2, sort_keys=True)
    atomic_write_text(stamp, text + "\n")
    return made
