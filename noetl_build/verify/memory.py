"""verify remembers: a wheel verified before, unchanged, under the same verify, is not verified again.

    Memory.at(layout) -> Memory            build/verify/memory.json, read once
    memory.key(subject, only) -> str       what a verdict depends on, hashed
    memory.recall(key) -> WheelReport|None a passing report from an earlier run
    memory.keep(key, report); memory.save()

A verdict depends on the wheel's bytes and name, the target it is checked against (its
targets.toml entry), the checks asked for, the verify code and its data (``code_digest``), the
checkers' versions (requirements/verify.txt, as installed), the Python running them, the
program that runs the binary (qemu, wine: path, size, mtime) and the wheels beside it (pip and uv
choose among them). Only passing reports are remembered: a failure is re-checked every run, so
a fix on the host (a package installed) shows at once. ``--fresh`` ignores the memory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from ..files import atomic_write_text, sha256_file
from ..fingerprint import code_digest
from ..layout import Layout
from ..runners import runner_for
from .results import CheckResult, CheckStatus, WheelReport
from .subjects import Subject

SCHEMA = 1
LIMIT = 400  # entries kept, newest first: a few releases' worth of wheels
VERIFY_CODE = Path(__file__).resolve().parent / "__init__.py"


@dataclass
class Memory:
    path: Path
    layout: Layout
    entries: dict[str, dict[str, object]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def at(cls, layout: Layout) -> Memory:
        path = layout.verify_tools / "memory.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}  # none yet, or unreadable: verify everything, write a fresh one
        entries = data.get("entries") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
        return cls(path, layout, entries if isinstance(entries, dict) else {})

    def key(self, subject: Subject, only: tuple[str, ...]) -> str:
        wheel = subject.wheel
        runner = runner_for(subject.target) if subject.target else None
        parts = {
            "wheel": [wheel.name, sha256_file(wheel)],
            "target": repr(subject.target),
            "only": sorted(only),
            "code": code_digest(VERIFY_CODE),
            "checkers": checker_versions(self.layout.root / "requirements" / "verify.txt"),
            "python": sys.version,
            "host": [platform.system(), platform.machine()],
            "runner": [runner.via, runner.missing, *map(_program, runner.prefix[:1])] if runner else None,
            "beside": sorted(p.name for p in wheel.parent.iterdir() if p.name.endswith((".whl", ".tar.gz"))),
            "root": str(self.layout.root),  # build-paths looks for this checkout's paths
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def recall(self, key: str, path: Path) -> WheelReport | None:
        """The passing report kept under ``key``, for the wheel now at ``path``; None if none."""
        entry = self.entries.get(key)
        kept = entry.get("results") if isinstance(entry, dict) else None
        if entry is None or not isinstance(kept, list):
            return None  # absent, or not an entry this code wrote: verify again
        try:
            results = tuple(CheckResult(str(r["check"]), CheckStatus(r["status"]), str(r["detail"])) for r in kept)
            target = entry["target"]
            report = WheelReport(str(entry["wheel"]), str(path), None if target is None else str(target),
                                 str(entry["sha256"]), results, remembered=str(entry["at"]))
        except (KeyError, TypeError, ValueError):
            return None  # an entry this code cannot read (a status it does not know, say): verify again
        return report if report.ok and report.wheel == path.name else None

    def keep(self, key: str, report: WheelReport) -> None:
        if not report.ok:
            self.changed |= self.entries.pop(key, None) is not None
            return
        self.entries.pop(key, None)
        self.entries[key] = {
            "wheel": report.wheel, "target": report.target, "sha256": report.sha256,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "results": [asdict(r) for r in report.results],
        }
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        newest = dict(list(self.entries.items())[-LIMIT:])
        atomic_write_text(self.path, json.dumps({"schema": SCHEMA, "entries": newest}, indent=1) + "\n")
        self.changed = False


@cache
def checker_versions(pins: Path) -> dict[str, str | None]:
    """The installed version of each checker pinned in ``pins`` (None: not installed here)."""
    names = ["pip"]
    try:
        lines = pins.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # a blank line, an option (-r, --hash)
        names.append(requirement.name)
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _program(path: str) -> list[object]:
    """A program by where it is and which build it is (a reinstall changes size or mtime)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return [path, None]
    return [path, stat.st_size, stat.st_mtime_ns]
