"""`nox -s bench -- --timings [TRIPLE ...]`: where a target's cold compile goes, by cargo's own timings.

    timings(targets, layout, scratch=...) -> list[Timing]    one cold compile each, `cargo --timings`
    unit_data(html) -> list[dict]                            the units of cargo's timing report
    render(rows) -> str                                      per target: wall, unit time by group, the top units

Each target is compiled cold and alone (the bench's raw cargo-zigbuild command and toolchain, a
scratch target dir, an empty zig cache: what a fresh machine pays) with `--timings`; cargo's HTML
report carries its units as JSON (`const UNIT_DATA = [...]`, cargo 1.96), read here. A unit's
duration is its wall time from start to end; units overlap, so the sum is CPU-ish time and not the
wall. The units are put in groups that say what each class of target pays for: std (built for the
target with build-std), ring (its C compiled in its build script, and the crate), the Windows API
crates, noetl itself (the crate, its fat LTO and the link: one unit), everything else.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bench import scratch_layout
from .compile import ZigTools, raw_compile
from .errors import BuildError
from .layout import Layout
from .procs import run
from .report import table
from .targets import Target
from .toolchain import plan
from .version import build_version

# crates of the Rust standard library (build-std compiles them for the target): names no crates.io
# dependency of noetl has (std's own libc, cfg-if, hashbrown, memchr... are counted as "other")
STD_CRATES = frozenset({
    "core", "alloc", "std", "compiler_builtins", "panic_abort", "panic_unwind", "unwind", "std_detect",
    "rustc-std-workspace-core", "rustc-std-workspace-alloc", "rustc-std-workspace-std", "proc_macro",
    "addr2line", "gimli", "object", "miniz_oxide", "adler2", "rustc-demangle", "sysroot", "test",
})
GROUPS = ("std", "ring", "windows API", "noetl (crate, LTO, link)", "other")
MARKER = "const UNIT_DATA = "


def group_of(unit: dict[str, Any]) -> str:
    name = str(unit.get("name", ""))
    if name == "noetl" or name == "noetlctl":
        return GROUPS[3]
    if name in STD_CRATES:
        return GROUPS[0]
    if name == "ring":
        return GROUPS[1]
    if name.startswith(("windows-sys", "windows_", "windows-targets", "windows-link", "winapi")):
        return GROUPS[2]
    return GROUPS[4]


def unit_data(html: str) -> list[dict[str, Any]]:
    """The units of one cargo timing report; BuildError if the report has none (another format)."""
    start = html.find(MARKER)
    if start < 0:
        raise BuildError(f"cargo's timing report has no '{MARKER.strip()}': a cargo whose report this bench does not read")
    decoder = json.JSONDecoder()
    units, _ = decoder.raw_decode(html[start + len(MARKER):])
    if not isinstance(units, list):
        raise BuildError("cargo's timing report: UNIT_DATA is not a list")
    return [u for u in units if isinstance(u, dict)]


@dataclass(frozen=True)
class Unit:
    name: str
    mode: str  # todo (a crate), run-custom-build (its build script running), build (compiling it)...
    seconds: float


@dataclass(frozen=True)
class Timing:
    target: str
    wall_seconds: float  # cargo from start to end
    units: tuple[Unit, ...]

    def by_group(self) -> dict[str, float]:
        totals = dict.fromkeys(GROUPS, 0.0)
        for unit in self.units:
            totals[group_of({"name": unit.name})] += unit.seconds
        return totals

    @property
    def unit_seconds(self) -> float:
        return sum(unit.seconds for unit in self.units)


def timings(
    targets: Sequence[Target], layout: Layout, *, scratch: Path, matrix: Sequence[Target] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> list[Timing]:
    """A cold compile of each target with `--timings`, one after another, in ``scratch`` (emptied
    first), by the toolchain and strategy a build of ``matrix`` gives it (toolchain.plan)."""
    work = scratch_layout(layout, scratch)
    tools = ZigTools.find()
    version = build_version(layout.root)
    toolchains = plan(targets, matrix=matrix)
    rows = []
    for target in targets:
        if target.fat:
            raise BuildError(f"{target.name}: time a single-architecture target (each slice is one)")
        target_dir = scratch / "target" / target.name
        command, env = raw_compile(target, toolchains.choice(target), work, tools, version=version,
                                   target_dir=target_dir)
        command.insert(command.index("--"), "--timings")
        env = {**env, "ZIG_GLOBAL_CACHE_DIR": str(scratch / "zig" / target.name)}
        progress(f"==> {target.name}: cold compile with cargo --timings")
        started = time.monotonic()
        run(command, what=f"{target.name}: cargo --timings", cwd=work.crate, env=env,
            log=work.log(f"{target.name}.timings"))
        wall = time.monotonic() - started
        report = target_dir / "cargo-timings" / "cargo-timing.html"
        if not report.is_file():
            raise BuildError(f"{target.name}: cargo --timings left no {report}")
        kept = scratch / f"cargo-timing-{target.name}.html"  # cargo's own report, to open in a browser
        shutil.copy(report, kept)
        units = tuple(Unit(str(u.get("name")), str(u.get("mode")), float(u.get("duration") or 0))
                      for u in unit_data(report.read_text()))
        rows.append(Timing(target.name, round(wall, 1), units))
        progress(f"    {wall:.1f} s, {len(units)} units; cargo's report: {kept}")
        shutil.rmtree(target_dir)  # the disk stays small
    return rows


def render(rows: Sequence[Timing], *, top: int = 8) -> str:
    body = []
    for row in rows:
        groups = row.by_group()
        body.append([row.target, f"{row.wall_seconds:.0f}", f"{row.unit_seconds:.0f}",
                     *(f"{groups[g]:.0f}" for g in GROUPS)])
    lines = [table(["target", "wall s", "units s", *GROUPS], body)]
    for row in rows:
        biggest = sorted(row.units, key=lambda u: u.seconds, reverse=True)[:top]
        lines += ["", f"{row.target}: the {top} longest units",
                  table(["unit", "mode", "s"], [[u.name, u.mode, f"{u.seconds:.1f}"] for u in biggest])]
    return "\n".join(lines)


def to_json(rows: Sequence[Timing]) -> list[dict[str, Any]]:
    return [{"target": r.target, "wall_seconds": r.wall_seconds, "unit_seconds": round(r.unit_seconds, 1),
             "groups": {g: round(s, 1) for g, s in r.by_group().items()},
             "units": [{"name": u.name, "mode": u.mode, "seconds": u.seconds} for u in r.units]}
            for r in rows]

