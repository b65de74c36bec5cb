"""The build bench (issue 21): the serial and the concurrent cold build, and cargo's timings, as
numbers and verdicts. The builds themselves are real only in `nox -s bench`; here, what is made of
their results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from noetl_build import buildbench, timings
from noetl_build.buildbench import BuildBench, Phase, Rebuild
from noetl_build.errors import BuildError
from noetl_build.layout import Layout
from noetl_build.source import source_date_epoch
from noetl_build.targets import load_matrix
from tests.conftest import ROOT

GOALS = {"concurrent-over-serial": 0.7, "cpu-busy": 0.9, "windows-over-gnu": 1.3, "rebuild-over-cold": 0.35}
GNU, WINDOWS = "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu"


def sample(*, concurrent_seconds: float = 600, busy: float = 0.95, windows: float = 120,
           wheels: dict[str, str] | None = None, rebuild: float = 20) -> BuildBench:
    serial = Phase("serial", 1000, 0.74, {GNU: 100, WINDOWS: windows}, {"a.whl": "1", "b.whl": "2"})
    both = Phase("concurrent", concurrent_seconds, busy, {GNU: 150, WINDOWS: 170},
                 wheels if wheels is not None else {"a.whl": "1", "b.whl": "2"}, lanes={GNU: 1, WINDOWS: 0})
    return BuildBench({"cpus": 2, "load": [1.0]}, {"lto": "fat"}, (GNU, WINDOWS), 2, serial, both,
                      (Rebuild(GNU, 100, rebuild),), GOALS)


def verdicts(result: BuildBench) -> dict[str, bool | None]:
    return {goal: met for goal, _measured, met in buildbench.goals_verdicts(result)}


def test_every_goal_met() -> None:
    result = sample()
    assert result.ratio == 0.6
    assert all(verdicts(result).values())
    assert len(verdicts(result)) == 5  # ratio, busy, identical, one Windows pair, one rebuild


@pytest.mark.parametrize("changes, missed", [
    ({"concurrent_seconds": 800}, "concurrent / serial cold build ≤ 0.70"),
    ({"busy": 0.85}, "CPU busy during the concurrent build ≥ 90%"),
    ({"windows": 140}, f"{WINDOWS} / {GNU} ≤ 1.30 (serial)"),
    ({"rebuild": 40}, f"{GNU}: one-line rebuild / cold ≤ 0.35"),
    ({"wheels": {"a.whl": "1", "b.whl": "3"}}, "wheels of both builds identical"),
    ({"wheels": {"a.whl": "1"}}, "wheels of both builds identical"),
])
def test_each_goal_can_be_missed(changes: dict[str, object], missed: str) -> None:
    result = sample(**changes)  # type: ignore[arg-type]
    judged = verdicts(result)
    assert judged[missed] is False
    assert [goal for goal, met in judged.items() if not met] == [missed]


def test_differing_wheels_are_named_in_the_table() -> None:
    result = sample(wheels={"a.whl": "1", "b.whl": "3", "c.whl": "4"})
    assert result.differing == ["b.whl", "c.whl"]
    text = buildbench.render(result)
    assert "DIFFER: b.whl, c.whl" in text and "MISSED" in text


def test_a_checkout_changed_during_the_bench_is_said() -> None:
    result = sample(wheels={"a.dirty.whl": "1", "b.dirty.whl": "2"})
    result = BuildBench(result.machine, result.profile, result.targets, result.jobs,
                        result.serial, Phase(**{**result.concurrent.__dict__, "version": "1.0.dirty"}),
                        result.rebuilds, result.goals)
    assert "the checkout changed during the bench" in buildbench.render(result)
    assert "the checkout changed" not in buildbench.render(sample())


def test_the_table_and_json_carry_the_figures() -> None:
    result = sample()
    text = buildbench.render(result)
    assert "serial 1000 s (CPU busy 74%), concurrent 600 s (CPU busy 95%): 0.60x" in text
    assert "identical" in text and "MISSED" not in text
    assert "lanes (the sum of their targets' seconds): lane 0: 1 target, 170 s, lane 1: 1 target, 150 s" in text
    data = json.loads(json.dumps(buildbench.to_json(result)))
    assert data["ratio"] == 0.6 and data["differing"] == []
    assert data["rebuilds"][0]["ratio"] == 0.2
    assert all(goal["met"] for goal in data["goals"])


def test_cpu_busy_comes_from_proc_stat() -> None:
    busy, total = buildbench.cpu_times()
    assert 0 < busy < total
    assert buildbench.busy_share((100, 1000), (250, 1200)) == 0.75
    assert buildbench.busy_share((1, 1), (1, 1)) != buildbench.busy_share((1, 1), (1, 1))  # nan: no time passed


def test_one_rebuild_per_os_and_libc_and_no_fat_target() -> None:
    matrix = load_matrix(ROOT / "targets.toml")
    chosen = [t.name for t in buildbench.rebuild_targets(matrix.targets)]
    assert chosen[:2] == [GNU, "x86_64-unknown-linux-musl"]
    assert "x86_64-apple-darwin" in chosen and WINDOWS in chosen
    assert "universal2-apple-darwin" not in chosen
    assert len(chosen) == len({(t.triple.os, t.triple.libc) for t in matrix.targets if not t.fat})


def test_the_copy_of_the_checkout_is_the_working_tree_at_the_same_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "noetlctl" / "src").mkdir(parents=True)
    (repo / "noetlctl" / "src" / "main.rs").write_text("fn main() {}\n")
    (repo / ".gitignore").write_text("/build/\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "one"], check=True)
    (repo / "noetlctl" / "src" / "main.rs").write_text("fn main() { changed(); }\n")  # not committed
    (repo / "new.txt").write_text("untracked\n")
    (repo / "build").mkdir()
    (repo / "build" / "big").write_text("ignored\n")
    copy = tmp_path / "copy"
    buildbench._checkout_copy(Layout.at(repo), copy)
    assert (copy / "noetlctl" / "src" / "main.rs").read_text() == "fn main() { changed(); }\n"
    assert (copy / "new.txt").is_file() and not (copy / "build").exists()
    head = ["git", "rev-parse", "HEAD"]
    assert (subprocess.run(head, cwd=copy, capture_output=True, text=True).stdout
            == subprocess.run(head, cwd=repo, capture_output=True, text=True).stdout)

    # the rebuild's edit is then committed there: a new commit, later than the checkout's, and
    # the checkout itself is untouched
    before = source_date_epoch(copy)
    buildbench._commit(copy, "bench: one line")
    assert source_date_epoch(copy) > before
    assert (subprocess.run(head, cwd=copy, capture_output=True, text=True).stdout
            != subprocess.run(head, cwd=repo, capture_output=True, text=True).stdout)
    status = ["git", "status", "--porcelain", "--untracked-files=no"]
    assert subprocess.run(status, cwd=copy, capture_output=True, text=True).stdout == ""
    assert "changed()" not in subprocess.run(["git", "show", "HEAD:noetlctl/src/main.rs"], cwd=repo,
                                             capture_output=True, text=True).stdout


def test_a_copy_needs_a_git_checkout(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="needs a git checkout"):
        buildbench._checkout_copy(Layout.at(tmp_path), tmp_path / "copy")


# ---------------------------------------------------------------- cargo's timings

REPORT = """<html><script>
const UNIT_DATA = [
  {"i": 0, "name": "core", "version": "0.0.0", "mode": "todo", "start": 0.1, "duration": 30.5},
  {"i": 1, "name": "ring", "version": "0.17.14", "mode": "run-custom-build", "start": 1.0, "duration": 12.0},
  {"i": 2, "name": "ring", "version": "0.17.14", "mode": "todo", "start": 13.0, "duration": 4.0},
  {"i": 3, "name": "windows-sys", "version": "0.59.0", "mode": "todo", "start": 2.0, "duration": 9.0},
  {"i": 4, "name": "noetl", "version": "0.1.0", "mode": "todo", "start": 40.0, "duration": 50.0},
  {"i": 5, "name": "serde", "version": "1.0.0", "mode": "todo", "start": 3.0, "duration": 2.5}
];
const CONCURRENCY_DATA = [];
</script></html>"""


def test_the_units_of_cargos_report_are_read_and_grouped() -> None:
    units = timings.unit_data(REPORT)
    assert [u["name"] for u in units] == ["core", "ring", "ring", "windows-sys", "noetl", "serde"]
    row = timings.Timing(GNU, 95.0, tuple(timings.Unit(u["name"], u["mode"], u["duration"]) for u in units))
    assert row.by_group() == {"std": 30.5, "ring": 16.0, "windows API": 9.0, "noetl (crate, LTO, link)": 50.0,
                              "other": 2.5}
    assert row.unit_seconds == 108.0
    text = timings.render([row], top=2)
    assert "noetl" in text and f"{GNU}: the 2 longest units" in text
    assert json.loads(json.dumps(timings.to_json([row])))[0]["groups"]["ring"] == 16.0


def test_a_report_without_units_is_one_error() -> None:
    with pytest.raises(BuildError, match="UNIT_DATA"):
        timings.unit_data("<html>no data</html>")
