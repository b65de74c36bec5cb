"""Showing a verify run: one table (wheel × check → result and reason) and a JSON report."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..files import atomic_write_text
from ..report import table
from .results import FAIL, PASS, Report

MARKS = {PASS: "ok", FAIL: "FAIL", "skip": "skip"}
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
        f"{counts[FAIL]} failed, {counts['skip']} skipped ({report.seconds:.0f} s)"
    )
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


def to_json(report: Report) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "ok": report.ok,
        "seconds": round(report.seconds, 1),
        "wheels": [
            {
                "wheel": w.wheel, "target": w.target, "sha256": w.sha256, "ok": w.ok,
                "results": [asdict(r) for r in w.results],
            }
            for w in report.wheels
        ],
    }


def write_json(report: Report, path: Path) -> None:
    """Write the report atomically: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(to_json(report), indent=2) + "\n")
