"""`python -m noetl_build verify` as nox runs it: the good wheels pass with one table and a
JSON report; a bad wheel makes it exit non-zero; wrong arguments get one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from noetl_build.verify import CHECK_NAMES
from tests.conftest import CI_TARGETS, ROOT, BuiltDist, build_version

from .surgery import rewrite

# Every check that applies to each OS, in the table's order.
EXPECTED_CHECKS = {
    "x86_64-unknown-linux-gnu": ["tags", "RECORD", "WHEEL", "files", "modes", "twine", "pypi", "check-wheel-contents",
                                 "sbom", "compiler", "name", "version", "entry-points", "auditable", "arch", "libraries",
                                 "glibc", "build-paths", "auditwheel", "run", "console-script", "install", "pip", "uv"],
    "x86_64-apple-darwin": ["tags", "RECORD", "WHEEL", "files", "modes", "twine", "pypi", "check-wheel-contents", "sbom",
                            "compiler", "name", "version", "entry-points", "auditable", "arch", "macos-min", "build-paths",
                            "delocate", "run", "install", "pip", "uv"],
    "x86_64-pc-windows-gnu": ["tags", "RECORD", "WHEEL", "files", "modes", "twine", "pypi", "check-wheel-contents", "sbom",
                              "compiler", "name", "version", "entry-points", "auditable", "arch", "libraries",
                              "build-paths", "run", "install", "pip", "uv"],
}


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict  # type: ignore[type-arg]


def cli(*args: str | Path, dist: Path, json_path: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """verify --fresh: the checks themselves, not an earlier run's memory of them (test_memory.py)."""
    json_path = json_path or dist.parent / f"{dist.name}-verify.json"
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "--dist", str(dist), "verify", "--fresh", "--json", str(json_path),
         *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, check=False, env=env,
    )
    report = json.loads(json_path.read_text()) if json_path.is_file() else {}
    return Run(proc.returncode, proc.stdout, proc.stderr, report)


@pytest.fixture(scope="session")
def clean_run(built_dist: BuiltDist) -> Run:
    """verify with no arguments on the dist/ the build produced (every wheel in it)."""
    return cli(dist=built_dist.path, json_path=built_dist.path / "verify.json")


def test_good_wheels_pass(clean_run: Run) -> None:
    assert clean_run.code == 0, clean_run.stdout + clean_run.stderr
    assert clean_run.report["ok"] is True
    assert sorted(w["target"] for w in clean_run.report["wheels"]) == sorted(CI_TARGETS)


@pytest.mark.parametrize("target", CI_TARGETS)
def test_every_check_that_applies_ran(clean_run: Run, target: str) -> None:
    (wheel,) = [w for w in clean_run.report["wheels"] if w["target"] == target]
    assert [r["check"] for r in wheel["results"]] == EXPECTED_CHECKS[target]
    statuses = {r["check"]: r["status"] for r in wheel["results"]}
    skipped = {check for check, status in statuses.items() if status != "pass"}
    assert skipped == ({"run"} if target == "x86_64-apple-darwin" else set()), statuses


def test_the_table_says_how_each_binary_ran(clean_run: Run) -> None:
    out = clean_run.stdout
    assert out.splitlines()[0].split() == ["wheel", "check", "result", "detail"]
    assert f"ran natively: noetl {build_version()}" in out
    assert "ran under wine (wine64" in out
    assert f"ran the console script in a fresh venv: noetl {build_version()}" in out
    assert "this host cannot run macOS binaries" in out
    assert "3 wheels, 67 checks: 66 passed, 0 failed, 1 skipped" in out
    assert "error:" not in out


def test_checks_are_known_in_order() -> None:
    flat = [check for checks in EXPECTED_CHECKS.values() for check in checks]
    assert set(flat) <= set(CHECK_NAMES)
    for checks in EXPECTED_CHECKS.values():
        assert checks == sorted(checks, key=CHECK_NAMES.index)


def test_a_bad_wheel_fails_the_run(built_dist: BuiltDist, tmp_path: Path) -> None:
    wheel = built_dist.wheel_for("x86_64-unknown-linux-gnu")
    broken = rewrite(wheel, tmp_path / "broken", modes={"noetl/bin/noetl": 0o644})
    run = cli(broken, dist=tmp_path / "dist", json_path=tmp_path / "verify.json")
    assert run.code == 1
    assert "error: x86_64-unknown-linux-gnu: modes: noetl/bin/noetl is 0644, expected 0755 (not executable)" in run.stdout
    assert run.report["ok"] is False


def test_a_triple_picks_its_wheel_from_the_manifest(built_dist: BuiltDist, tmp_path: Path) -> None:
    same_wheel = built_dist.wheel_for("x86_64-apple-darwin")  # named twice, checked once
    run = cli("x86_64-apple-darwin", same_wheel, "--only", "arch", dist=built_dist.path, json_path=tmp_path / "v.json")
    assert run.code == 0, run.stdout + run.stderr
    assert [(w["target"], [r["check"] for r in w["results"]]) for w in run.report["wheels"]] == [
        ("x86_64-apple-darwin", ["arch"])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x86_64-unknown-linux-gnux"], "error: unknown target 'x86_64-unknown-linux-gnux' (did you mean 'x86_64-unknown-linux-gnu'?)"),
        ([], "error: no "),
        (["x86_64-unknown-linux-gnu"], "error: no "),
        (["--only", "archs"], "error: unknown check 'archs' (did you mean 'arch'?)"),
        (["nowhere/noetl-0.1.0-py3-none-any.whl"], "error: nowhere/noetl-0.1.0-py3-none-any.whl: no such wheel"),
    ],
)
def test_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    run = cli(*args, dist=tmp_path / "missing-dist")
    assert run.code == 2
    assert run.stderr.startswith(message) and run.stderr.count("\n") == 1, run.stderr
    assert run.stdout == "" and run.report == {}


def test_console_script_ignores_pythonpath(built_dist: BuiltDist, tmp_path: Path) -> None:
    """With the checkout on PYTHONPATH (as the tests session has it) the venv's console script
    would import the checkout's noetl, which has no binary: verify must not inherit it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = cli("x86_64-unknown-linux-gnu", "--only", "console-script", dist=built_dist.path,
              json_path=tmp_path / "v.json", env=env)
    assert run.code == 0, run.stdout + run.stderr
    assert f"ran the console script in a fresh venv: noetl {build_version()}" in run.stdout
