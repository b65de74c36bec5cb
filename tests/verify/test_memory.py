"""verify remembers: unchanged wheels that passed keep their results; anything that could change a
verdict (bytes, target, checks asked, wheels beside it) checks again; --fresh always does; and
verifying a few wheels keeps dist/verify.json's verdicts on the rest.

The memory's own rules run on stand-in files; the CLI tests run real (cheap) checks on the
session's wheels, in a build dir of their own so no other test's memory is used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from noetl_build.verify import memory as memory_module
from noetl_build.verify.memory import Memory
from noetl_build.verify.results import WheelReport, failed, passed, skipped
from noetl_build.verify.subjects import Subject
from tests.conftest import ROOT, BuiltDist

from .surgery import rewrite

MATRIX = load_matrix(ROOT / "targets.toml")
LINUX = MATRIX.select(["x86_64-unknown-linux-gnu"])[0]
WINDOWS = MATRIX.select(["x86_64-pc-windows-gnu"])[0]
CHEAP = ("--only", "tags", "--only", "RECORD", "--only", "modes", "--only", "sbom")


def memory_in(tmp_path: Path) -> Memory:
    return Memory.at(Layout.at(ROOT, build=tmp_path / "build", dist=tmp_path / "dist"))


def stand_in(tmp_path: Path, name: str = "noetl-1.0.0-py3-none-any.whl", data: bytes = b"wheel") -> Path:
    path = tmp_path / "dist" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def report_for(path: Path, *results: object) -> WheelReport:
    return WheelReport(path.name, str(path), LINUX.name, "0" * 64, tuple(results))  # type: ignore[arg-type]


# ---------------------------------------------------------------- the memory's rules


def test_what_a_verdict_depends_on_changes_the_key(tmp_path: Path) -> None:
    memory = memory_in(tmp_path)
    wheel = stand_in(tmp_path)
    base = memory.key(Subject(wheel, LINUX), ())
    assert memory.key(Subject(wheel, LINUX), ()) == base  # stable
    assert memory.key(Subject(wheel, LINUX), ("tags",)) != base
    assert memory.key(Subject(wheel, WINDOWS), ()) != base
    assert memory.key(Subject(wheel, replace(LINUX, tags=("linux_x86_64",))), ()) != base  # its targets.toml entry
    stand_in(tmp_path, "noetl-1.0.0-py3-none-other.whl")  # pip and uv choose among the wheels beside it
    beside = memory.key(Subject(wheel, LINUX), ())
    assert beside != base
    wheel.write_bytes(b"other bytes")
    assert memory.key(Subject(wheel, LINUX), ()) not in {base, beside}


def test_the_checkers_installed_are_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = memory_in(tmp_path)
    wheel = stand_in(tmp_path)
    versions = memory_module.checker_versions(ROOT / "requirements" / "verify.txt")
    assert {"auditwheel", "delocate", "twine", "uv", "pip"} <= set(versions)
    base = memory.key(Subject(wheel, LINUX), ())
    monkeypatch.setattr(memory_module, "checker_versions", lambda pins: {**versions, "auditwheel": "0.0"})
    assert memory.key(Subject(wheel, LINUX), ()) != base


def test_passing_reports_are_kept_and_failing_ones_forgotten(tmp_path: Path) -> None:
    memory = memory_in(tmp_path)
    wheel = stand_in(tmp_path)
    key = memory.key(Subject(wheel, LINUX), ())
    memory.keep(key, report_for(wheel, passed("tags", "fine"), skipped("run", "this host cannot")))
    memory.save()
    again = memory_in(tmp_path)
    recalled = again.recall(key, wheel)
    assert recalled is not None and recalled.remembered
    assert [(r.check, r.status, r.detail) for r in recalled.results] == [
        ("tags", "pass", "fine"), ("run", "skip", "this host cannot")]
    again.keep(key, report_for(wheel, failed("tags", "wrong")))  # a failure replaces nothing: it forgets
    again.save()
    assert memory_in(tmp_path).recall(key, wheel) is None


def test_a_remembered_report_is_for_that_file_name_only(tmp_path: Path) -> None:
    memory = memory_in(tmp_path)
    wheel = stand_in(tmp_path)
    key = memory.key(Subject(wheel, LINUX), ())
    memory.keep(key, report_for(wheel, passed("tags", "fine")))
    assert memory.recall(key, wheel.with_name("noetl-2.0.0-py3-none-any.whl")) is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"schema": 99, "entries": {}}',
                                     '{"schema": 1, "entries": {"k": {"results": 5}}}'])
def test_an_unreadable_memory_means_checking_everything(tmp_path: Path, content: str) -> None:
    path = tmp_path / "build" / "verify" / "memory.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    memory = memory_in(tmp_path)
    assert memory.recall("k", stand_in(tmp_path)) is None


def test_the_memory_keeps_the_newest_entries_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "LIMIT", 3)
    memory = memory_in(tmp_path)
    wheel = stand_in(tmp_path)
    for number in range(5):
        memory.keep(f"key{number}", report_for(wheel, passed("tags", str(number))))
    memory.save()
    kept = json.loads(memory.path.read_text())["entries"]
    assert list(kept) == ["key2", "key3", "key4"]


# ---------------------------------------------------------------- through the CLI, real checks


def cli(tmp_path: Path, dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_build", "--dist", str(dist), "--build-dir", str(tmp_path / "build"),
         "verify", *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture
def dist_copy(built_dist: BuiltDist, tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    shutil.copytree(built_dist.path, dist, ignore=shutil.ignore_patterns("verify.json"))
    return dist


def wheels_in(report: Path) -> dict[str, dict[str, object]]:
    return {str(w["target"]): w for w in json.loads(report.read_text())["wheels"]}


def test_a_rerun_reuses_passing_results_and_says_so(tmp_path: Path, dist_copy: Path) -> None:
    first = cli(tmp_path, dist_copy, *CHEAP)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "unchanged" not in first.stdout + first.stderr
    second = cli(tmp_path, dist_copy, *CHEAP)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 files unchanged since passing, results reused (--fresh checks again)" in second.stdout
    assert second.stderr.count("(unchanged; --fresh checks again)") == 3
    reused = wheels_in(dist_copy / "verify.json")
    assert all(w["remembered"] for w in reused.values())
    assert second.stdout.split("\n\n")[0] == first.stdout.split("\n\n")[0]  # the same table

    fresh = cli(tmp_path, dist_copy, "--fresh", *CHEAP)
    assert fresh.returncode == 0 and "unchanged" not in fresh.stdout + fresh.stderr
    assert not any("remembered" in w for w in wheels_in(dist_copy / "verify.json").values())

    other_checks = cli(tmp_path, dist_copy, "--only", "tags")
    assert "unchanged" not in other_checks.stdout + other_checks.stderr


def test_a_changed_wheel_is_checked_again(tmp_path: Path, dist_copy: Path, built_dist: BuiltDist) -> None:
    assert cli(tmp_path, dist_copy, *CHEAP).returncode == 0
    linux = built_dist.wheel_for(LINUX.name)
    broken = rewrite(linux, tmp_path / "broken", modes={"noetl/bin/noetl": 0o644})
    shutil.copyfile(broken, dist_copy / linux.name)
    run = cli(tmp_path, dist_copy, *CHEAP)
    assert run.returncode == 1
    assert f"error: {LINUX.name}: modes: noetl/bin/noetl is 0644" in run.stdout
    assert "2 files unchanged since passing" in run.stdout
    shutil.copyfile(linux, dist_copy / linux.name)  # the bytes that passed: their results stand
    assert "3 files unchanged since passing" in cli(tmp_path, dist_copy, *CHEAP).stdout


def test_verifying_a_few_wheels_keeps_the_report_of_the_rest(tmp_path: Path, dist_copy: Path,
                                                           built_dist: BuiltDist) -> None:
    assert cli(tmp_path, dist_copy, *CHEAP).returncode == 0
    before = wheels_in(dist_copy / "verify.json")
    one = cli(tmp_path, dist_copy, "--fresh", WINDOWS.name, *CHEAP)
    assert one.returncode == 0, one.stdout + one.stderr
    after = wheels_in(dist_copy / "verify.json")
    assert list(after) == list(before)  # the same wheels, in the same order
    assert after[LINUX.name] == before[LINUX.name]
    assert "remembered" not in after[WINDOWS.name]

    (dist_copy / built_dist.wheel_for(LINUX.name).name).write_bytes(b"not the wheel that passed")
    assert cli(tmp_path, dist_copy, WINDOWS.name, *CHEAP).returncode == 0
    assert LINUX.name not in wheels_in(dist_copy / "verify.json")  # its verdict no longer holds
    assert json.loads((dist_copy / "verify.json").read_text())["ok"] is True
