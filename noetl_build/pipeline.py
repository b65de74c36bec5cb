"""A whole build run: UI, generic wheel, then each target on its own, ending in dist/'s index."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from . import dist, wheels
from .compile import ZigTools, compile_target
from .errors import BuildError, CommandError, ToolchainError
from .files import exclusive_lock, sha256_file, sweep_temporaries
from .fingerprint import code_digest, digest
from .jobserver import Jobserver
from .layout import LANES, Layout
from .report import human_size, say, table, unexpected
from .reuse import record, reused
from .sbom import kept_sbom
from .source import COMPILE_EPOCH, FALLBACK_EPOCH, source_date_epoch
from .targets import Target
from .toolchain import Plan, plan
from .ui import build_ui
from .version import build_version
from .wheelfile import wheel_tags
from .wheels import build_generic_wheel, finish_wheel

WHEEL_STAMP = "wheel.json"  # in a target's dir: reuse.record of what made its wheel in dist/


class BuildStatus(StrEnum):
    """What a run did with one target; each is its string, as the table and messages spell it."""

    BUILT = "built"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    target: str
    status: BuildStatus
    wheel: str | None = None
    size: int | None = None
    seconds: float = 0.0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != BuildStatus.FAILED


@dataclass(frozen=True)
class Run:
    """What every target of one build run shares."""

    layout: Layout
    tools: ZigTools
    version: str
    epoch: int
    generic: Path
    generic_sha: str
    toolchains: Plan


@contextlib.contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """One build at a time per build dir: two would rewrite each other's work files."""
    with exclusive_lock(layout.lock, lambda: say(f"==> waiting for another build using {layout.build}")):
        yield


def build(
    targets: Sequence[Target], layout: Layout, *, matrix: Sequence[Target] = (), jobs: int | None = None,
    serial: bool = False,
) -> list[BuildResult]:
    """Build every target's wheel into dist/, going on past failures; one BuildResult per target,
    in the order of ``targets``.

    ``matrix`` (all of targets.toml) decides the one compiler: the toolchain that can build every
    target of it, so a later build of other targets gets the same one. ``jobs`` (default: the
    cores this process may use) is the run's jobserver tokens: what every cargo of the run
    compiles at once, all together. Targets build in lanes (layout.LANES), one per lane at once,
    unless ``serial`` (or one token): one target after another, in the order asked, its cargo
    with every token.
    """
    with exclusive(layout):
        return _build(targets, layout, matrix, jobs or usable_cores(), serial)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a CI runner's cgroup sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _build(
    targets: Sequence[Target], layout: Layout, matrix: Sequence[Target], jobs: int, serial: bool
) -> list[BuildResult]:
    _sweep(targets, layout)
    epoch = source_date_epoch(layout.root)
    if epoch == FALLBACK_EPOCH:
        say(f"warning: not a git checkout; timestamps in wheels are {FALLBACK_EPOCH} (1980-01-01)")
    version = build_version(layout.root)
    tools = ZigTools.find()
    say(f"==> noetl {version}: zig {tools.zig_version}, {tools.zigbuild_version}, SOURCE_DATE_EPOCH "
        f"{epoch} for the wheels' files and {COMPILE_EPOCH} for cargo")
    say("==> ui: " + ("built" if build_ui(layout) else "up to date"))
    generic = build_generic_wheel(layout, version=version, epoch=epoch)
    say(f"==> generic wheel: {generic.name}")
    toolchains = plan(targets, matrix=matrix)
    _say_compilers(toolchains, len(targets))
    run = Run(layout, tools, version, epoch, generic, sha256_file(generic), toolchains)

    entries = dist.load_entries(layout.dist)
    try:
        with Jobserver.open(layout.build, jobs) as jobserver:
            # one token runs one cargo at a time: lanes would only wait on each other
            results = _each_lane(targets, lambda target, lane: _build_target(target, run, entries, jobserver, lane),
                                 lambda target: _home(target, run), serial=serial or jobs < 2)
    finally:
        dist.write_index(layout.dist, entries, meta={"version": version, "source_date_epoch": epoch})
    return results


def _home(target: Target, run: Run) -> int | None:
    """The lane the target's triple is warm in (Layout.home_lane), if any."""
    try:
        key = run.toolchains.choice(target).key
    except ToolchainError:  # the target fails alone when it builds
        return None
    return run.layout.home_lane(key, target.triple.text)


def _each_lane(
    targets: Sequence[Target], build_one: Callable[[Target, int], BuildResult],
    home: Callable[[Target], int | None], *, serial: bool = False,
) -> list[BuildResult]:
    """build_one(target, lane) for every target; the results come back in the order of
    ``targets``, and a failure is its target's alone.

    A target builds in its triple's ``home`` lane, where its cargo target dir is warm; a cold
    one in the lane its build claims. Unless ``serial``, one thread per lane (the work is
    cargo's, in its processes): each takes its own lane's targets first, in the order asked,
    then whichever cold target comes next, so the lanes stay busy whatever the subset; a target
    warm in a lane waits for that lane rather than build cold in the other. A fat target
    (universal2) builds its slices in their own triples' lanes: it comes after the lanes, alone
    (its slices are cargo's fresh units by then when their targets were built). ``serial``: one
    target at a time, in the order asked, a cold one in the lane holding fewer of them, so that
    a later concurrent build finds every lane warm."""
    singles = [target for target in targets if not target.fat]
    homes = {target.name: home(target) for target in singles}
    done: dict[str, BuildResult] = {}

    def build(target: Target, lane: int) -> None:
        result = build_one(target, lane)
        done[target.name] = result
        mark = "✓" if result.ok else "✗"
        say(f"    {mark} {target.name}: {result.status} {result.wheel or result.message}")

    if serial or len(singles) < 2:
        held = [sum(lane == n for lane in homes.values()) for n in range(LANES)]
        for target in targets:
            lane = homes.get(target.name)
            if lane is None:
                lane = held.index(min(held))
                held[lane] += 1
            build(target, lane)
        return [done[target.name] for target in targets]

    pending = list(singles)
    taking = threading.Lock()
    stop = threading.Event()  # set when the run is interrupted: the lanes start no new target

    def take(lane: int) -> Target | None:
        with taking:
            for wanted in (lane, None):
                found = next((target for target in pending if homes[target.name] == wanted), None)
                if found:
                    pending.remove(found)
                    return found
        return None

    def work(lane: int) -> None:
        while not stop.is_set() and (target := take(lane)):
            build(target, lane)

    with concurrent.futures.ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="lane") as pool:
        futures = [pool.submit(work, lane) for lane in range(LANES)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
    for target in targets:
        if target.fat:
            build(target, 0)
    return [done[target.name] for target in targets]


def _sweep(targets: Sequence[Target], layout: Layout) -> None:
    """Remove what writers killed mid-write left behind (atomic_output's temporaries whose
    process is gone): in dist/, the generic wheel's dir and each target's dir."""
    places = [layout.dist, layout.generic, *(layout.target_dir(t.name) for t in targets)]
    swept = [path for place in places for path in sweep_temporaries(place)]
    if swept:
        say(f"==> removed {len(swept)} temporary file(s) an interrupted run left")


def _say_compilers(toolchains: Plan, count: int) -> None:
    if toolchains.mixed:
        say(f"warning: {toolchains.describe()} build these {count} targets: publish refuses a release that "
            "mixes them; nox -s doctor shows which toolchain each target gets")
    elif toolchains.compilers:
        say(f"==> compiler: {toolchains.describe()}")


def target_sbom(target: Target, run: Run, compiler: dict[str, str]) -> bytes:
    """The target's SBOM (crates compiled into its binary, bundled UI, requirements), kept in its dir."""
    return kept_sbom(run.layout.root, run.layout.target_dir(target.name), version=run.version, epoch=run.epoch,
                     rust_targets=target.rust_targets, subject=f"wheel for {target.name}", compiler=compiler)


def _build_target(
    target: Target, run: Run, entries: dict[str, dist.Entry], jobserver: Jobserver, lane: int
) -> BuildResult:
    started = time.monotonic()
    layout = run.layout
    try:
        choice = run.toolchains.choice(target)
        say(f"==> {target.name}: {choice.describe()}")
        compiled = compile_target(target, choice, layout, run.tools, version=run.version, jobserver=jobserver,
                                  lane=lane)
        sbom = target_sbom(target, run, choice.toolchain.compiler)
        stamp = layout.target_dir(target.name) / WHEEL_STAMP
        fingerprint = digest(extra={
            "binary": compiled.sha256, "generic": run.generic_sha, "tags": target.platform_tag,
            "sbom": hashlib.sha256(sbom).hexdigest(), "code": code_digest(Path(wheels.__file__)),
        })
        previous = entries.get(target.name)
        done = reused(stamp, fingerprint, [layout.dist_file(previous.wheel)]) if previous else None
        if previous and done and done.outputs[previous.wheel] == previous.sha256:  # and manifest.json agrees
            return BuildResult(target=target.name, status=BuildStatus.UP_TO_DATE, wheel=previous.wheel,
                          size=previous.size, seconds=time.monotonic() - started)
        log = layout.log(f"{target.name}.wheel")
        built = finish_wheel(
            run.generic, layout.target_dir(target.name) / "wheel", sbom=sbom, epoch=run.epoch, log=log,
            what=target.name, binary=compiled.binary, binary_name=target.binary_name,
            platform_tag=target.platform_tag,
        )
        final = dist.publish(built, layout.dist)
        if previous and previous.wheel != final.name:
            layout.dist_file(previous.wheel).unlink(missing_ok=True)
        seconds = time.monotonic() - started
        entry = dist.Entry(
            target=target.name, wheel=final.name, sha256=sha256_file(final), size=final.stat().st_size,
            build_seconds=round(seconds, 1),
            built_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            tags=wheel_tags(final), compiler=choice.compiler,
        )
        entries[target.name] = entry
        record(stamp, fingerprint, [final])
        return BuildResult(target=target.name, status=BuildStatus.BUILT, wheel=final.name, size=entry.size, seconds=seconds)
    except BuildError as exc:
        if isinstance(exc, CommandError) and exc.tail:
            say("\n".join("      " + line for line in exc.tail.splitlines()))
        return BuildResult(target=target.name, status=BuildStatus.FAILED, seconds=time.monotonic() - started, message=str(exc))
    except Exception as exc:  # a bug hit by one target fails that target; the others still build
        message = unexpected(exc, layout.target_crash_log(target.name), f"building {target.name}")
        return BuildResult(target=target.name, status=BuildStatus.FAILED, seconds=time.monotonic() - started,
                      message=f"{target.name}: {message}")


def render(results: Sequence[BuildResult]) -> str:
    rows = [
        [r.target, r.wheel or "-", human_size(r.size), f"{r.seconds:.1f}", r.status]
        for r in results
    ]
    text = table(["target", "wheel", "size", "seconds", "status"], rows)
    failures = [f"error: {r.message}" for r in results if not r.ok]
    built = sum(r.status == BuildStatus.BUILT for r in results)
    fresh = sum(r.status == BuildStatus.UP_TO_DATE for r in results)
    summary = f"{built} built, {fresh} up to date, {len(failures)} failed"
    return "\n".join([text, "", summary, *failures])
