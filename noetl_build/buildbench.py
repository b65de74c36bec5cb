"""`nox -s bench -- --concurrent [TRIPLE ...]`: the serial and the concurrent cold build, side by side.

    concurrent(targets, layout, matrix, scratch=...) -> BuildBench    every measurement below
    render(result) -> str                                             the table and bench.toml's goals
    to_json(result)                                                   bench-build.json

In one run, on this machine, in ``scratch`` (nothing of build/, dist/ or the user's caches is used
or changed): the targets (default: all of targets.toml) built cold one after another
(`build --serial`: one cargo at a time with every jobserver token), then cold again, in lanes
(`build`: three lanes on one jobserver). Each phase starts from empty cargo, cargo-zigbuild and zig
caches at the same paths (the first phase's are moved aside), so neither inherits the other's
work. The CPU's busy share over each phase comes from /proc/stat (all CPUs; the bench samples it,
not the build). Then the two phases' wheels are compared byte for byte, and a one-line change is
rebuilt: a copy of the checkout at another path (a shared git clone with the working tree laid
over it) gets one line added to noetlctl/src/main.rs and committed (a new version and commit
time), and one target of each OS and libc is built again from the concurrent phase's caches,
against its cold time in the serial phase.
Nothing asserts a time: the goals are printed met or missed, with the numbers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import pipeline
from .bench import load_settings, machine, release_profile
from .errors import BuildError
from .files import sha256_file
from .layout import LANES, Layout
from .procs import capture, run
from .report import table
from .version import build_version
from .targets import Matrix, Target
from .toolchain import plan

# the line the rebuild adds: a comment, so the binary's behaviour cannot change
EDIT = "// bench: one line added, to time what a one-line change rebuilds\n"
EDITED = Path("noetlctl") / "src" / "main.rs"
ZIG_CACHE = "ZIG_GLOBAL_CACHE_DIR"


@dataclass(frozen=True)
class Phase:
    name: str  # serial / concurrent
    seconds: float
    busy: float  # share of all CPUs' time not idle over the phase, 0..1
    per_target: dict[str, float]  # each target's own seconds (compile, SBOM, wheel)
    wheels: dict[str, str]  # wheel file name -> sha256
    version: str = ""  # the version the phase's build gave (it names the wheels)
    lanes: dict[str, int] = field(default_factory=dict)  # the lane each target built in

    def lane_sums(self) -> list[tuple[int, float]]:
        """(targets, seconds) per lane: how evenly the phase's targets shared the lanes."""
        return [(sum(1 for lane in self.lanes.values() if lane == n),
                 round(sum(self.per_target[t] for t, lane in self.lanes.items() if lane == n), 1))
                for n in range(LANES)]


@dataclass(frozen=True)
class Rebuild:
    target: str
    cold_seconds: float  # the target's build in the serial phase
    seconds: float  # the same target after one line added to main.rs

    @property
    def ratio(self) -> float:
        return self.seconds / self.cold_seconds if self.cold_seconds else float("nan")


@dataclass(frozen=True)
class BuildBench:
    machine: dict[str, Any]
    profile: dict[str, Any]
    targets: tuple[str, ...]
    jobs: int
    serial: Phase
    concurrent: Phase
    rebuilds: tuple[Rebuild, ...]
    goals: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.concurrent.seconds / self.serial.seconds if self.serial.seconds else float("nan")

    @property
    def differing(self) -> list[str]:
        """Wheels whose bytes differ between the phases (or that one phase lacks)."""
        names = sorted(set(self.serial.wheels) | set(self.concurrent.wheels))
        return [n for n in names if self.serial.wheels.get(n) != self.concurrent.wheels.get(n)]


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat's first line; busy is all
    but idle and iowait."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return busy / total if total > 0 else float("nan")


def rebuild_targets(targets: Sequence[Target]) -> list[Target]:
    """One target of each OS and libc among ``targets`` (the first in their order), single-arch
    only: a fat target's slices are their own targets."""
    firsts: dict[tuple[str, str], Target] = {}
    for target in targets:
        if not target.fat:
            firsts.setdefault((target.triple.os, target.triple.libc or ""), target)
    return list(firsts.values())


def concurrent(
    targets: Sequence[Target], layout: Layout, matrix: Matrix, *, scratch: Path, jobs: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildBench:
    """Every measurement, in ``scratch`` (emptied first)."""
    settings = load_settings(layout.root)
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    tokens = jobs or pipeline.usable_cores()
    toolchains = plan(targets, matrix=matrix.targets)
    phases = []
    for name, serial in (("serial", True), ("concurrent", False)):
        work = Layout.at(layout.root, build=scratch / f"{name}-build", dist=scratch / f"{name}-dist",
                         targets=layout.targets_file, cache=scratch / "cache")
        progress(f"==> bench: the {name} cold build of {len(targets)} targets, {tokens} jobserver tokens")
        with _environ(ZIG_CACHE, str(scratch / "cache" / "zig")):
            pipeline.build([], work)  # the UI and the generic wheel: not the targets' cost
            before, started = cpu_times(), time.monotonic()
            results = pipeline.build(targets, work, matrix=matrix.targets, jobs=tokens, serial=serial)
            seconds, after = time.monotonic() - started, cpu_times()
        failed = [r for r in results if not r.ok]
        if failed:
            raise BuildError(f"bench: the {name} build of {failed[0].target} failed: {failed[0].message}")
        phases.append(Phase(
            name, round(seconds, 1), round(busy_share(before, after), 3),
            {r.target: round(r.seconds, 1) for r in results},
            {r.wheel: sha256_file(work.dist_file(r.wheel)) for r in results if r.wheel},
            build_version(layout.root),
            {t.name: lane for t in targets if not t.fat
             and (lane := work.home_lane(toolchains.choice(t).key, t.name)) is not None},
        ))
        progress(f"    {seconds:.0f} s, CPU busy {busy_share(before, after):.0%}")
        if serial:  # the next phase starts cold at the same paths
            (scratch / "cache").rename(scratch / "serial-cache")
    serial_phase, concurrent_phase = phases

    copy = scratch / "edited"
    progress(f"==> bench: one line added to {EDITED} and committed, in a copy of the checkout at {copy}")
    _checkout_copy(layout, copy)
    with open(copy / EDITED, "a") as source:
        source.write(EDIT)
    _commit(copy, f"bench: one line added to {EDITED.name}")
    edited = Layout.at(copy, build=scratch / "concurrent-build", dist=scratch / "concurrent-dist",
                       targets=layout.targets_file, cache=scratch / "cache")
    rebuilds = []
    with _environ(ZIG_CACHE, str(scratch / "cache" / "zig")):
        for target in rebuild_targets(targets):
            (result,) = pipeline.build([target], edited, matrix=matrix.targets, jobs=tokens, serial=True)
            if not result.ok:
                raise BuildError(f"bench: the rebuild of {target.name} failed: {result.message}")
            rebuilds.append(Rebuild(target.name, serial_phase.per_target[target.name], round(result.seconds, 1)))
            progress(f"    {target.name}: {result.seconds:.1f} s, cold {serial_phase.per_target[target.name]:.1f} s")
    return BuildBench(
        machine=machine(), profile=release_profile(layout), targets=tuple(t.name for t in targets), jobs=tokens,
        serial=serial_phase, concurrent=concurrent_phase, rebuilds=tuple(rebuilds), goals=settings["goals"],
    )


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _checkout_copy(layout: Layout, copy: Path) -> None:
    """The checkout as it is now, at another path: a git clone sharing its objects (so the same
    commit, version and SOURCE_DATE_EPOCH), the working tree's files laid over it (tracked and
    untracked, not ignored) and the built UI (ignored, and not the rebuild's cost)."""
    root = layout.root
    head = capture(["git", "rev-parse", "HEAD"], cwd=root)
    if not head.ok:
        raise BuildError(f"bench: the rebuild needs a git checkout at {root}: {head.failure()}")
    run(["git", "clone", "--quiet", "--shared", "--no-checkout", root, copy], what="bench: a copy of the checkout")
    run(["git", "checkout", "--quiet", "--detach", head.stdout.strip()], what="bench: its commit", cwd=copy)
    listed = capture(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root)
    if not listed.ok:
        raise BuildError(f"bench: git ls-files: {listed.failure()}")
    for name in filter(None, listed.stdout.split("\0")):
        source = root / name
        if source.is_file() and not source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    if layout.ui_output.is_dir():
        target = copy / layout.ui_output.relative_to(root)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(layout.ui_output, target)


def _commit(copy: Path, message: str) -> None:
    """Commit everything tracked in ``copy``, a second after the time it has: a new commit gives
    the build a new version and SOURCE_DATE_EPOCH, as the developer's own commit does."""
    head_time = int(capture(["git", "log", "-1", "--format=%ct"], cwd=copy).stdout.strip() or 0)
    when = f"@{max(head_time + 1, int(time.time()))} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    run(["git", "-c", "user.name=noetl bench", "-c", "user.email=bench@127.0.0.1", "-c", "commit.gpgsign=false",
         "commit", "--quiet", "--all", "--no-verify", "--message", message], what="bench: commit the change",
        cwd=copy, env=env)


# ---------------------------------------------------------------- showing it


def goals_verdicts(result: BuildBench) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met?) for each goal of bench.toml this bench measures."""
    goals = result.goals
    rows: list[tuple[str, str, bool | None]] = []
    if "concurrent-over-serial" in goals:
        limit = goals["concurrent-over-serial"]
        rows.append((f"concurrent / serial cold build ≤ {limit:.2f}", f"{result.ratio:.2f}", result.ratio <= limit))
    if "cpu-busy" in goals:
        limit = goals["cpu-busy"]
        rows.append((f"CPU busy during the concurrent build ≥ {limit:.0%}", f"{result.concurrent.busy:.0%}",
                     result.concurrent.busy >= limit))
    rows.append(("wheels of both builds identical", "all" if not result.differing else
                 f"{len(result.differing)} differ", not result.differing))
    if "windows-over-gnu" in goals:
        limit = goals["windows-over-gnu"]
        for windows, gnu in _windows_pairs(result):
            ratio = result.serial.per_target[windows] / result.serial.per_target[gnu]
            rows.append((f"{windows} / {gnu} ≤ {limit:.2f} (serial)", f"{ratio:.2f}", ratio <= limit))
    if "rebuild-over-cold" in goals:
        limit = goals["rebuild-over-cold"]
        for rebuild in result.rebuilds:
            rows.append((f"{rebuild.target}: one-line rebuild / cold ≤ {limit:.2f}", f"{rebuild.ratio:.2f}",
                         rebuild.ratio <= limit))
    return rows


def _windows_pairs(result: BuildBench) -> list[tuple[str, str]]:
    """Each Windows GNU target with the Linux glibc target of its architecture, when both were built."""
    built = result.serial.per_target
    pairs = []
    for name in built:
        arch, _, rest = name.partition("-")
        if rest == "pc-windows-gnu" and f"{arch}-unknown-linux-gnu" in built:
            pairs.append((name, f"{arch}-unknown-linux-gnu"))
    return pairs


def render(result: BuildBench) -> str:
    serial, both = result.serial, result.concurrent
    rows = [[name, f"{serial.per_target[name]:.1f}", f"{both.per_target[name]:.1f}", str(both.lanes.get(name, "-"))]
            for name in result.targets]
    sums = ", ".join(f"lane {n}: {count} target{'' if count == 1 else 's'}, {seconds:.0f} s"
                     for n, (count, seconds) in enumerate(both.lane_sums()))
    lines = [
        table(["target", "serial s", "concurrent s", "lane"], rows), "",
        f"cold build of {len(result.targets)} targets, {result.jobs} jobserver tokens: serial {serial.seconds:.0f} s "
        f"(CPU busy {serial.busy:.0%}), concurrent {both.seconds:.0f} s (CPU busy {both.busy:.0%}): "
        f"{result.ratio:.2f}x",
        f"concurrent build's lanes (the sum of their targets' seconds): {sums}",
        "wheels byte for byte: " + ("identical" if not result.differing else "DIFFER: " + ", ".join(result.differing)),
    ]
    if serial.version != both.version:
        lines.append(f"note: the version changed between the builds ({serial.version}, then {both.version}): "
                     "the checkout changed during the bench; run it in a clean clone")
    if result.rebuilds:
        lines += ["", table(["one line committed to main.rs", "cold s", "rebuild s", "rebuild / cold"],
                            [[r.target, f"{r.cold_seconds:.1f}", f"{r.seconds:.1f}", f"{r.ratio:.2f}"]
                             for r in result.rebuilds])]
    marks = {True: "met", False: "MISSED", None: "not measured"}
    lines += ["", table(["goal (bench.toml)", "measured", ""], [[g, m, marks[ok]] for g, m, ok in goals_verdicts(result)])]
    lines.append(f"\n{result.machine.get('cpus')} CPUs, load {result.machine.get('load')} at the end; "
                 f"profile.release {result.profile}")
    return "\n".join(lines)


def to_json(result: BuildBench) -> dict[str, Any]:
    data = asdict(result)
    data["ratio"] = round(result.ratio, 3)
    data["differing"] = result.differing
    data["rebuilds"] = [{**asdict(r), "ratio": round(r.ratio, 3)} for r in result.rebuilds]
    data["goals"] = [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals_verdicts(result)]
    return data
