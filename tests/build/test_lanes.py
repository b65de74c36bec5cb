"""Targets build at once in lanes: one cargo target dir each, a stable lane per triple."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from noetl_build.compile import slice_targets
from noetl_build.layout import LANES, Layout, lane_of
from noetl_build.pipeline import BuildResult, BuildStatus, _each_lane
from noetl_build.targets import Target, load_matrix

ROOT = Path(__file__).resolve().parents[2]
TARGETS = load_matrix(ROOT / "targets.toml").targets


def test_every_lane_is_used_and_a_triple_always_gets_the_same() -> None:
    lanes = [lane_of(t.triple.text) for t in TARGETS]
    assert set(lanes) == set(range(LANES))
    assert lanes == [lane_of(t.triple.text) for t in TARGETS]
    assert lane_of("x86_64-unknown-linux-gnu") == lane_of("x86_64-unknown-linux-gnu")


def test_a_universal2_slice_builds_in_its_own_targets_lane(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path, cache=tmp_path / "cache")
    by_triple = {t.triple.text: t for t in TARGETS}
    fat = next(t for t in TARGETS if t.fat)
    for part in slice_targets(fat):
        alone = by_triple[part.triple.text]
        assert layout.cargo_lane("k", part.triple.text) == layout.cargo_lane("k", alone.triple.text)
    assert layout.cargo_lane("k", "x").parent == layout.cargo_dir("k")


class Recorder:
    """A fake build_one: how many run at once, overall and per lane, and in what order they start."""

    def __init__(self, fail: str = "", seconds: float = 0.02) -> None:
        self.lock = threading.Lock()
        self.running: list[Target] = []
        self.most = 0
        self.started: list[str] = []
        self.fail, self.seconds = fail, seconds

    def __call__(self, target: Target) -> BuildResult:
        with self.lock:
            lanes = [lane_of(t.triple.text) for t in self.running]
            assert lane_of(target.triple.text) not in lanes, "two targets of one lane at once"
            self.running.append(target)
            self.most = max(self.most, len(self.running))
            self.started.append(target.name)
        time.sleep(self.seconds)
        with self.lock:
            self.running.remove(target)
        if target.name == self.fail:
            return BuildResult(target=target.name, status=BuildStatus.FAILED, message=f"{target.name}: broke")
        return BuildResult(target=target.name, status=BuildStatus.BUILT, wheel=f"{target.name}.whl")


def test_one_job_builds_in_the_order_asked() -> None:
    recorder = Recorder(seconds=0)
    results = _each_lane(TARGETS, recorder, at_once=1)
    assert recorder.started == [t.name for t in TARGETS]
    assert recorder.most == 1
    assert [r.target for r in results] == [t.name for t in TARGETS]


@pytest.mark.parametrize("jobs", [2, 8])
def test_lanes_build_at_once_and_results_keep_the_order(jobs: int) -> None:
    recorder = Recorder()
    results = _each_lane(TARGETS, recorder, at_once=jobs)
    assert recorder.most == min(jobs, LANES)
    assert [r.target for r in results] == [t.name for t in TARGETS]
    for lane in range(LANES):  # each lane in the order asked
        mine = [name for name in recorder.started[:-1] if lane_of(_triple(name)) == lane]
        assert mine == [t.name for t in TARGETS if lane_of(t.triple.text) == lane and not t.fat]


def test_a_fat_target_builds_after_the_lanes_alone() -> None:
    """universal2's slices build in both lanes' dirs: never beside a lane's target."""
    recorder = Recorder()
    _each_lane(TARGETS, recorder, at_once=2)
    fat = [t.name for t in TARGETS if t.fat]
    assert fat and recorder.started[-len(fat):] == fat


def test_a_failing_target_fails_alone(capsys: pytest.CaptureFixture[str]) -> None:
    broken = TARGETS[3].name
    results = _each_lane(TARGETS, Recorder(fail=broken), at_once=2)
    assert [r.target for r in results if not r.ok] == [broken]
    err = capsys.readouterr().err.splitlines()
    assert f"    ✗ {broken}: failed {broken}: broke" in err
    assert sum(line.startswith("    ✓ ") for line in err) == len(TARGETS) - 1


def test_a_bug_stops_the_lanes_starting_new_targets() -> None:
    first = TARGETS[0]

    def build_one(target: Target) -> BuildResult:
        if target is first:
            raise RuntimeError("a bug")
        time.sleep(0.01)
        return BuildResult(target=target.name, status=BuildStatus.BUILT)

    started: list[str] = []
    spy: Callable[[Target], BuildResult] = lambda t: (started.append(t.name), build_one(t))[1]
    with pytest.raises(RuntimeError, match="a bug"):
        _each_lane(TARGETS, spy, at_once=2)
    assert len(started) < len(TARGETS)


def _triple(name: str) -> str:
    return next(t.triple.text for t in TARGETS if t.name == name)
