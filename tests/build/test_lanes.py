"""Targets build at once in lanes: one cargo target dir each; a triple builds where it is warm,
else in the lane that is free (issue 21)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from noetl_build.compile import claim_lane
from noetl_build.errors import ConfigError
from noetl_build.layout import LANES, Layout
from noetl_build.pipeline import BuildResult, BuildStatus, _each_lane
from noetl_build.targets import Target, load_matrix

ROOT = Path(__file__).resolve().parents[2]
TARGETS = load_matrix(ROOT / "targets.toml").targets
SINGLES = [t for t in TARGETS if not t.fat]
TRIPLE = "x86_64-pc-windows-gnu"


def cold(target: Target) -> None:
    return None


def test_a_triple_has_no_home_until_claimed_then_keeps_it(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path, cache=tmp_path / "cache")
    assert layout.home_lane("k", TRIPLE) is None
    assert claim_lane(layout, "k", TRIPLE, 1) == layout.cargo_lane("k", 1)
    assert (layout.cargo_lane("k", 1) / TRIPLE).is_dir(), "the claim is cargo's own subdir"
    assert layout.home_lane("k", TRIPLE) == 1
    assert claim_lane(layout, "k", TRIPLE, 0) == layout.cargo_lane("k", 1), "warm in lane 1: stays there"
    assert not (layout.cargo_lane("k", 0) / TRIPLE).exists()
    assert layout.home_lane("other-toolchain", TRIPLE) is None, "a home is per toolchain"
    assert claim_lane(layout, "k", "aarch64-apple-darwin", 0) == layout.cargo_lane("k", 0)


def test_builds_claiming_one_triple_at_once_give_it_one_home(tmp_path: Path) -> None:
    """Every process sharing the cache claims under one lock: never a home in two lanes."""
    layout = Layout.at(tmp_path, cache=tmp_path / "cache")
    for round_ in range(20):
        triple = f"x86_64-unknown-linux-gnu{round_}"
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            dirs = set(pool.map(lambda lane: claim_lane(layout, "k", triple, lane), [0, 1, 0, 1]))
        assert len(dirs) == 1, dirs
        assert [(layout.cargo_lane("k", n) / triple).is_dir() for n in range(LANES)].count(True) == 1


def test_a_lane_is_one_of_the_lanes_and_a_triple_a_plain_name(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path, cache=tmp_path / "cache")
    with pytest.raises(ValueError, match=f"lane {LANES} "):
        layout.cargo_lane("k", LANES)
    with pytest.raises(ConfigError, match="not a plain file name"):
        layout.home_lane("k", "../../elsewhere")


class Recorder:
    """A fake build_one: which lane each target got, how many ran at once, and never two of one lane."""

    def __init__(self, fail: str = "", seconds: float = 0.02, together: int = 1) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most = 0
        self.started: list[tuple[str, int]] = []
        self.fail, self.seconds = fail, seconds
        # the first targets wait (bounded) until this many run at once: the lanes really overlap
        self.together, self.overlapped = together, threading.Event()

    def __call__(self, target: Target, lane: int) -> BuildResult:
        with self.lock:
            assert lane not in self.running.values(), "two targets of one lane at once"
            self.running[target.name] = lane
            self.most = max(self.most, len(self.running))
            self.started.append((target.name, lane))
            if len(self.running) >= self.together:
                self.overlapped.set()
        self.overlapped.wait(timeout=10)
        time.sleep(self.seconds)
        with self.lock:
            del self.running[target.name]
        if target.name == self.fail:
            return BuildResult(target=target.name, status=BuildStatus.FAILED, message=f"{target.name}: broke")
        return BuildResult(target=target.name, status=BuildStatus.BUILT, wheel=f"{target.name}.whl")

    def lanes(self) -> dict[str, int]:
        return dict(self.started)


def test_serial_builds_in_the_order_asked_and_spreads_cold_triples_over_the_lanes() -> None:
    recorder = Recorder(seconds=0)
    results = _each_lane(TARGETS, recorder, cold, serial=True)
    assert [name for name, _ in recorder.started] == [t.name for t in TARGETS]
    assert recorder.most == 1
    assert [r.target for r in results] == [t.name for t in TARGETS]
    assert [lane for _, lane in recorder.started] == [n % LANES for n in range(len(TARGETS))]


def test_serial_builds_a_warm_triple_in_its_lane_and_a_cold_one_in_the_lane_holding_fewer() -> None:
    warm = {t.name: 1 for t in SINGLES[:3]}
    recorder = Recorder(seconds=0)
    _each_lane(SINGLES[:5], recorder, lambda t: warm.get(t.name), serial=True)
    lanes = recorder.lanes()
    assert {name: lanes[name] for name in warm} == warm
    # lane 1 holds three: the cold pair goes to the others, the lowest first (two lanes: both to 0)
    assert [lanes[t.name] for t in SINGLES[3:5]] == ([0, 2] if LANES > 2 else [0, 0]), lanes


def test_lanes_build_at_once_and_results_keep_the_order() -> None:
    recorder = Recorder(together=LANES)
    results = _each_lane(TARGETS, recorder, cold)
    assert recorder.most == LANES
    assert [r.target for r in results] == [t.name for t in TARGETS]
    assert sorted(name for name, _ in recorder.started) == sorted(t.name for t in TARGETS)
    assert set(recorder.lanes().values()) == set(range(LANES))


def test_a_cold_subset_keeps_every_lane_busy() -> None:
    """The hash lanes put 4 of these 5 in one lane (0.90x serial): a free lane takes the next."""
    names = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "x86_64-apple-darwin",
             "x86_64-pc-windows-gnu", "aarch64-pc-windows-gnullvm"]
    subset = [t for t in TARGETS if t.name in names]
    recorder = Recorder(seconds=0.2, together=LANES)
    _each_lane(subset, recorder, cold)
    per_lane = [list(recorder.lanes().values()).count(n) for n in range(LANES)]
    assert recorder.most == LANES and min(per_lane) >= 1 and max(per_lane) - min(per_lane) <= 1, per_lane


def test_a_warm_triple_waits_for_its_lane_and_the_other_lanes_take_the_cold_ones() -> None:
    warm = {t.name: 1 for t in SINGLES[:4]}
    recorder = Recorder(together=LANES)
    _each_lane(SINGLES[:8], recorder, lambda t: warm.get(t.name))
    lanes = recorder.lanes()
    assert all(lanes[name] == 1 for name in warm), lanes
    lane_1 = [name for name, lane in recorder.started if lane == 1]
    assert lane_1[:4] == list(warm), "a lane takes its own warm targets first, in the order asked"
    assert {lanes[t.name] for t in SINGLES[4:8]} >= set(range(LANES)) - {1}, "every other lane takes cold ones"


def test_a_fat_target_builds_after_the_lanes_alone() -> None:
    """universal2's slices build in their triples' lanes, either of them: never beside a lane's target."""
    recorder = Recorder()
    _each_lane(TARGETS, recorder, cold)
    fat = [t.name for t in TARGETS if t.fat]
    assert fat and [name for name, _ in recorder.started[-len(fat):]] == fat


def test_a_failing_target_fails_alone(capsys: pytest.CaptureFixture[str]) -> None:
    broken = TARGETS[3].name
    results = _each_lane(TARGETS, Recorder(fail=broken), cold)
    assert [r.target for r in results if not r.ok] == [broken]
    err = capsys.readouterr().err.splitlines()
    assert f"    ✗ {broken}: failed {broken}: broke" in err
    assert sum(line.startswith("    ✓ ") for line in err) == len(TARGETS) - 1


def test_a_bug_stops_the_lanes_starting_new_targets() -> None:
    first = TARGETS[0]

    def build_one(target: Target, lane: int) -> BuildResult:
        if target is first:
            raise RuntimeError("a bug")
        time.sleep(0.01)
        return BuildResult(target=target.name, status=BuildStatus.BUILT)

    started: list[str] = []
    spy: Callable[[Target, int], BuildResult] = lambda t, lane: (started.append(t.name), build_one(t, lane))[1]
    with pytest.raises(RuntimeError, match="a bug"):
        _each_lane(TARGETS, spy, cold)
    assert len(started) < len(TARGETS)
