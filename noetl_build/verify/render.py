"""Showing a verify run: one table (wheel × check → result and reason) and a JSON report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import atomic_write_text, sha256_file
from ..layout import plain_name
from ..report import table
from .results import FAIL, PASS, SKIP, Report, WheelReport

MARKS = {PASS: "ok", FAIL: "FAIL", SKIP: "skip"}
SCHEMA = 1


def render(report: Report) -> str:
    rows: list[list[str]] = []
    for wheel in report.wheels:
        if rows:
            rows.append(["", "", "", ""])  # a blank line between wheels
        label = wheel.target or wheel.wheel
        for number, result in enumerate(wheel.results):
            rows.append([label if number == 0 else "", result.check, MARKS[result.status], result.detail])
    text = table(["wheel", "check", "result", "detail"], rows)
    counts = {status: sum(r.status == status for w in report.wheels for r in w.results) for status in MARKS}
    bad = [w for w in report.wheels if not w.ok]
    summary = (
        f"{_files(report)}, {plural(sum(counts.values()), 'check')}: {counts[PASS]} passed, "
        f"{counts[FAIL]} failed, {counts[SKIP]} skipped ({report.seconds:.0f} s)"
    )
    remembered = sum(w.remembered is not None for w in report.wheels)
    if remembered:
        summary += f"; {plural(remembered, 'file')} unchanged since passing, results reused (--fresh checks again)"
    failures = [
        f"error: {w.target or w.wheel}: {r.check}: {r.detail}" for w in bad for r in w.results if r.failed
    ]
    return "\n".join([text, "", summary, *failures])


def _files(report: Report) -> str:
    sdists = sum(w.wheel.endswith(".tar.gz") for w in report.wheels)
    wheels = plural(len(report.wheels) - sdists, "wheel")
    return f"{wheels} and {plural(sdists, 'sdist')}" if sdists else wheels


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def to_json(report: Report, *, earlier: Sequence[dict[str, Any]] = ()) -> dict[str, object]:
    """The report as JSON; ``earlier`` wheels' entries (not verified this run) are kept in place."""
    now = {w.wheel: _wheel_json(w) for w in report.wheels}
    wheels = [now.pop(str(e["wheel"]), e) for e in earlier] + list(now.values())
    return {"schema": SCHEMA, "ok": all(w["ok"] for w in wheels), "seconds": round(report.seconds, 1), "wheels": wheels}


def _wheel_json(w: WheelReport) -> dict[str, Any]:
    entry = {"wheel": w.wheel, "target": w.target, "sha256": w.sha256, "ok": w.ok,
             "results": [asdict(r) for r in w.results]}
    return entry | ({"remembered": w.remembered} if w.remembered else {})


def write_json(report: Report, path: Path, *, keep_others: bool = False) -> None:
    """Write the report atomically: a reader never sees half a file.

    ``keep_others`` (dist/verify.json, when some wheels were named): the entries of the other
    files beside ``path`` that are still there with the same sha256 stay, so verifying a few
    wheels does not throw away the verdicts on the rest of dist/.
    """
    earlier = _still_true(path) if keep_others else []
    atomic_write_text(path, json.dumps(to_json(report, earlier=earlier), indent=2) + "\n")


def _still_true(path: Path) -> list[dict[str, Any]]:
    """The wheel entries of the report at ``path`` whose file beside it still has that sha256."""
    try:
        data = json.loads(path.read_text())
        entries = data["wheels"] if data.get("schema") == SCHEMA else []
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return []  # none, or not one this code wrote: start afresh
    kept = []
    for entry in entries if isinstance(entries, list) else []:
        if not (isinstance(entry, dict) and isinstance(entry.get("wheel"), str) and isinstance(entry.get("ok"), bool)):
            continue
        try:
            file = path.parent / plain_name(entry["wheel"], f"{path} names")
        except ConfigError:
            continue
        if file.is_file() and sha256_file(file) == entry.get("sha256"):
            kept.append(entry)
    return kept
