"""nox -s bench: which targets by default, bench.toml read strictly, the raw compile's command,
and goals judged and shown from the numbers (no timing asserted: numbers are given here)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build import bench
from noetl_build.compile import ZigTools, raw_compile
from noetl_build.errors import BuildError, ConfigError
from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from noetl_build.toolchain import choose
from tests.conftest import ROOT

MATRIX = load_matrix(ROOT / "targets.toml")


def sample(**changes: object) -> bench.Bench:
    result = bench.Bench(
        machine={"cpus": 2, "load": [1.0, 1.0, 1.0]}, profile={"strip": "symbols"},
        targets=(bench.TargetBench("x86_64-unknown-linux-gnu", 60.0, 66.0, 0.8, 2_000_000, 900_000),
                 bench.TargetBench("universal2-apple-darwin", 100.0, 130.0, 1.2, 4_000_000, 2_900_000, fat=True)),
        noop_build_seconds=1.2, noop_verify_seconds=6.5, version_bare_ms=1.0, version_script_ms=30.0,
        goals=bench.load_settings(ROOT)["goals"],
    )
    return replace(result, **changes)  # type: ignore[arg-type]


def test_one_target_per_os_by_default() -> None:
    chosen = [t.name for t in bench.default_targets(MATRIX)]
    assert chosen == ["x86_64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-pc-windows-gnu"]


def test_the_repository_bench_toml_reads() -> None:
    settings = bench.load_settings(ROOT)
    assert settings["runs"]["version"] >= 20  # the issue asks for a median of at least 20 runs
    assert {"noop-build-seconds", "noop-verify-seconds", "wrapper-overhead-ms", "wheel-bytes"} <= set(settings["goals"])


@pytest.mark.parametrize(("text", "message"), [
    (None, "no such file"),
    ("[runs\n", "not valid TOML"),
    ("[runs]\nversion = 0\n", "positive integer"),
    ("[runs]\nversion = 3\n[goals]\nx = 'fast'\n", "must be a number"),
])
def test_a_bad_bench_toml_is_one_line(tmp_path: Path, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / "bench.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        bench.load_settings(tmp_path)
    assert "\n" not in str(caught.value)


def test_goals_are_judged_from_the_numbers() -> None:
    verdicts = {goal: (measured, met) for goal, measured, met in bench.goals_verdicts(sample())}
    assert verdicts["x86_64-unknown-linux-gnu: ours/raw ≤ 1.15"] == ("1.10", True)
    assert verdicts["universal2-apple-darwin: ours/raw ≤ 1.15"] == ("1.30", False)
    assert verdicts["noop build ≤ 2 s"] == ("1.20 s", True)
    assert verdicts["noop verify ≤ 5 s"] == ("6.50 s", False)
    assert verdicts["console script adds ≤ 15 ms"] == ("29.0 ms", False)
    assert verdicts["universal2-apple-darwin wheel ≤ 2.9 MiB"][1] is True  # the fat wheel's own limit
    assert any(goal.startswith("x86_64-unknown-linux-gnu binary ≤") and met for goal, (_, met) in verdicts.items())


def test_unmeasured_goals_say_so() -> None:
    verdicts = bench.goals_verdicts(sample(version_bare_ms=None, noop_verify_seconds=None))
    assert ("console script adds ≤ 15 ms", "-", None) in verdicts
    assert ("noop verify ≤ 5 s", "-", None) in verdicts


def test_the_table_and_json(tmp_path: Path) -> None:
    text = bench.render(sample())
    header = text.splitlines()[0].split()
    assert header == ["target", "raw", "s", "ours", "s", "ours/raw", "packaging", "s", "binary", "wheel"]
    assert "noetl --version, median: bare binary 1.0 ms, console script 30.0 ms (+29.0 ms)" in text
    assert "MISSED" in text and "met" in text
    bench.write_json(sample(), tmp_path / "bench.json")
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["targets"][0]["ratio"] == 1.1
    assert {"goal": "noop build ≤ 2 s", "measured": "1.20 s", "met": True} in data["goals"]
    assert data["profile"] == {"strip": "symbols"}


def test_the_raw_compile_is_ours_without_auditable(tmp_path: Path) -> None:
    target = MATRIX.select(["x86_64-unknown-linux-gnu"])[0]
    layout = Layout.at(ROOT, build=tmp_path / "build", dist=tmp_path / "dist", cache=tmp_path / "cache")
    command, env = raw_compile(target, choose(target), layout, ZigTools.find(), version="1.0",
                               target_dir=tmp_path / "raw", config=["profile.release.opt-level='z'"])
    assert command[command.index("--target-dir") + 1] == str(tmp_path / "raw")
    rustc_args = command.index("--")  # cargo's own arguments end there; rustc's (noetl's unit's) follow
    assert command[rustc_args - 2:rustc_args] == ["--config", "profile.release.opt-level='z'"]
    assert "RUSTC_WORKSPACE_WRAPPER" not in env and env["NOETL_BUILD_VERSION"] == "1.0"


def test_profile_candidates_become_cargo_config_overrides() -> None:
    candidates = bench.load_settings(ROOT)["candidates"]
    assert candidates["size"] == {"opt-level": "z", "lto": "fat", "codegen-units": 1}
    assert bench.profile_overrides(candidates["size"]) == [
        'profile.release.opt-level="z"', 'profile.release.lto="fat"', "profile.release.codegen-units=1"]
    assert bench.profile_overrides({"lto": False, "opt-level": 3}) == [
        "profile.release.lto=false", "profile.release.opt-level=3"]


def test_profiles_are_shown_against_the_first_candidate() -> None:
    rows = [bench.ProfileBench("cargo-default", {}, "x", 100.0, 4_000_000, 2.0),
            bench.ProfileBench("size", {}, "x", 80.0, 2_000_000, 2.5)]
    lines = bench.render_profiles(rows).splitlines()
    assert lines[-1].split() == ["x", "size", "80.0", "0.80", "1.9", "MiB", "0.50", "2.5"]


def test_a_timed_run_goes_through_procs_and_a_failure_is_one_line() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    assert bench._once([sys.executable, "-c", "pass"], env) > 0
    with pytest.raises(BuildError) as caught:
        bench._once([sys.executable, "-c", "import sys; print('no such flag', file=sys.stderr); sys.exit(3)"], env)
    assert str(caught.value).endswith(": exit 3: no such flag") and "\n" not in str(caught.value)
    with pytest.raises(BuildError, match="not found"):
        bench._once(["/nonexistent/noetl", "--version"], env)


@pytest.mark.slow
def test_the_bench_runs_for_real(tmp_path: Path) -> None:
    """One target end to end through the CLI: two cold compiles, the packaging, no-op build and
    verify, --version timings; the numbers are whatever they are, their presence is checked."""
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "--build-dir", str(tmp_path / "build"), "bench",
         "x86_64-unknown-linux-gnu", "--json", str(tmp_path / "bench.json")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "bench.json").read_text())
    (target,) = data["targets"]
    assert target["target"] == "x86_64-unknown-linux-gnu"
    assert target["raw_seconds"] > 1 and target["ours_seconds"] > 1 and 0 < target["packaging_seconds"]
    assert target["binary_bytes"] > 500_000 and target["wheel_bytes"] > 100_000
    assert data["noop_build_seconds"] > 0 and data["noop_verify_seconds"] > 0
    assert 0 < data["version_bare_ms"] and 0 < data["version_script_ms"] and 0 < data["python_start_ms"]
    assert {g["goal"] for g in data["goals"]} >= {"noop build ≤ 2 s", "console script adds ≤ 15 ms"}
    assert "noetl --version, median: bare binary" in proc.stdout
    assert len(list((tmp_path / "build" / "bench" / "dist").glob("*.whl"))) == 1  # all in the build dir given
