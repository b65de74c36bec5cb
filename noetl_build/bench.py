"""`nox -s bench`: what a build costs, measured side by side in one run on this machine.

    bench(targets, layout, matrix) -> Bench      every measurement below, in a scratch build dir
    render(bench) -> str                         the table, ratios and the goals of bench.toml
    write_json(bench, path)                      bench.json

Per target (default: the first target of each OS in targets.toml): cargo-zigbuild's raw cold
compile (our command and toolchain, no cargo-auditable, a scratch target dir) against our cold
build of the same target (compile, SBOM, wheel; a scratch build dir), then the packaging alone
(the wheel and manifest made again around the cached binary), and the binary's and wheel's
size. Then a build and a verify with nothing to do, through the CLI as a user runs them, and
`noetl --version` through the console script against the bare binary (medians, interleaved).
Nothing here asserts a time: the goals are printed met or missed, with the numbers.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import pipeline
from .compile import ZigTools, raw_compile, slice_targets
from .errors import BuildError, ConfigError
from .files import atomic_write_text, read_toml
from .layout import Layout
from .procs import capture, run
from .report import human_size, table
from .targets import Matrix, RunMethod, Target
from .toolchain import choose
from .version import build_version
from .wheels import binary_member

BENCH_FILE = "bench.toml"


@dataclass(frozen=True)
class TargetBench:
    target: str
    raw_seconds: float  # cargo-zigbuild, cold, bare
    ours_seconds: float  # our cold build of the target: compile, SBOM, wheel
    packaging_seconds: float  # the wheel and manifest again, the binary cached
    binary_bytes: int
    wheel_bytes: int
    fat: bool = False

    @property
    def ratio(self) -> float:
        return self.ours_seconds / self.raw_seconds if self.raw_seconds else float("nan")


@dataclass(frozen=True)
class Bench:
    machine: dict[str, Any]
    profile: dict[str, Any]  # noetlctl/Cargo.toml's [profile.release]
    targets: tuple[TargetBench, ...]
    noop_build_seconds: float | None
    noop_verify_seconds: float | None
    version_bare_ms: float | None
    version_script_ms: float | None
    python_start_ms: float | None = None  # the venv's python doing nothing: the console script's floor
    notes: tuple[str, ...] = ()
    goals: dict[str, float] = field(default_factory=dict)


def default_targets(matrix: Matrix) -> list[Target]:
    """The first target of each OS, in targets.toml's order: one per OS family."""
    firsts: dict[str, Target] = {}
    for target in matrix.targets:
        firsts.setdefault(target.triple.os, target)
    return list(firsts.values())


def load_settings(root: Path) -> dict[str, Any]:
    path = root / BENCH_FILE
    data = read_toml(path, what="the bench's runs and goals", error=ConfigError)
    runs, goals, candidates = data.get("runs", {}), data.get("goals", {}), data.get("candidates", {})
    if not isinstance(runs.get("version"), int) or runs["version"] < 1:
        raise ConfigError(f"{path}: [runs] version must be a positive integer")
    if not all(isinstance(v, int | float) for v in goals.values()):
        raise ConfigError(f"{path}: every [goals] value must be a number")
    if not all(isinstance(c, dict) and all(isinstance(v, str | int | bool) for v in c.values())
               for c in candidates.values()):
        raise ConfigError(f"{path}: each [candidates.NAME] must be a table of profile settings (opt-level = \"z\", ...)")
    return {"runs": runs, "goals": {k: float(v) for k, v in goals.items()}, "candidates": candidates}


def scratch_layout(layout: Layout, scratch: Path) -> Layout:
    """``scratch`` emptied, and a Layout of the same checkout whose build dir, dist and cache
    live in it: a bench touches nothing of build/, dist/ or the user's cache."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    return Layout.at(layout.root, build=scratch / "build", dist=scratch / "dist", targets=layout.targets_file,
                     cache=scratch / "cache")


def bench(
    targets: Sequence[Target], layout: Layout, matrix: Matrix, *, scratch: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> Bench:
    """Every measurement, in ``scratch`` (emptied first): nothing of build/ or dist/ is used or changed."""
    settings = load_settings(layout.root)
    work = scratch_layout(layout, scratch)
    tools = ZigTools.find()
    version = build_version(layout.root)
    notes: list[str] = []

    progress("==> the UI and the generic wheel, once (not timed per target)")
    pipeline.build([], work)

    results = []
    for target in targets:
        progress(f"==> {target.name}: raw cargo-zigbuild, cold")
        raw = _raw_seconds(target, work, tools, version=version, scratch=scratch)
        progress(f"    {raw:.1f} s; our build, cold")
        (ours,) = pipeline.build([target], work)
        if not ours.ok:
            raise BuildError(f"bench: our build of {target.name} failed: {ours.message}")
        progress(f"    {ours.seconds:.1f} s; the packaging alone")
        (work.target_dir(target.name) / pipeline.WHEEL_STAMP).unlink()
        (again,) = pipeline.build([target], work)
        binary = work.target_dir(target.name) / target.binary_name
        results.append(TargetBench(
            target.name, round(raw, 1), round(ours.seconds, 1), round(again.seconds, 2),
            binary.stat().st_size, int(ours.size or 0), fat=target.fat))

    cli = [sys.executable, "-m", "noetl_build", "--build-dir", str(work.build), "--dist", str(work.dist),
           "--targets-file", str(layout.targets_file)]
    names = [t.name for t in targets]
    progress("==> build with nothing to do")
    noop_build = _timed(cli + ["build", *names], cwd=layout.root)
    progress("==> verify, then verify again with nothing changed")
    _timed(cli + ["verify"], cwd=layout.root, ok_codes=(0, 1))
    noop_verify = _timed(cli + ["verify"], cwd=layout.root, ok_codes=(0, 1))

    bare_ms = script_ms = python_ms = None
    host = next((t for t in targets if t.run == RunMethod.NATIVE), None)
    if host is None:
        notes.append("--version: no target that runs natively here was benched")
    else:
        progress("==> noetl --version: the console script against the bare binary")
        bare_ms, script_ms, python_ms = _version_times(work, host, scratch / "venv", int(settings["runs"]["version"]))
    return Bench(
        machine=machine(), profile=release_profile(layout), targets=tuple(results),
        noop_build_seconds=noop_build, noop_verify_seconds=noop_verify,
        version_bare_ms=bare_ms, version_script_ms=script_ms, python_start_ms=python_ms, notes=tuple(notes),
        goals=settings["goals"],
    )


def _raw_seconds(target: Target, work: Layout, tools: ZigTools, *, version: str, scratch: Path) -> float:
    """cargo-zigbuild's cold compile (both slices of a fat target, one after the other)."""
    total = 0.0
    for part in slice_targets(target) if target.fat else [target]:
        choice = choose(part)
        command, env = raw_compile(part, choice, work, tools, version=version,
                                   target_dir=scratch / "raw" / part.name)
        started = time.monotonic()
        run(command, what=f"{part.name}: raw cargo-zigbuild", cwd=work.crate, env=env,
            log=work.log(f"{part.name}.raw"))
        total += time.monotonic() - started
    return total


def _timed(command: list[str], *, cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> float:
    started = time.monotonic()
    proc = capture(command, cwd=cwd, timeout=3600)
    seconds = time.monotonic() - started
    if proc.code not in ok_codes:
        raise BuildError(f"bench: {' '.join(command[3:])} exited {proc.code}: {proc.failure()}")
    return round(seconds, 2)


def _version_times(work: Layout, host: Target, venv: Path, runs: int) -> tuple[float, float, float]:
    """Median milliseconds of `noetl --version` by the bare binary and by the console script, and
    of the venv's python starting to do nothing (what no console script can go below)."""
    from . import dist

    entry = dist.load_entries(work.dist)[host.name]
    run([sys.executable, "-m", "venv", venv], what="bench: a venv for --version")
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", work.dist_file(entry.wheel)], what="bench: installing the host wheel")
    script = venv / "bin" / "noetl"
    site = next((venv / "lib").glob("python*/site-packages"))
    binary = site / binary_member(host.binary_name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    bare: list[float] = []
    wrapped: list[float] = []
    python: list[float] = []
    for _ in range(runs):  # interleaved: a busy moment of the machine hits all alike
        bare.append(_once([binary, "--version"], env))
        wrapped.append(_once([script, "--version"], env))
        python.append(_once([venv / "bin" / "python", "-c", "pass"], env))
    return tuple(round(statistics.median(times), 1) for times in (bare, wrapped, python))  # type: ignore[return-value]


def _once(command: Sequence[str | Path], env: dict[str, str]) -> float:
    """The milliseconds ``command`` takes to run to its end; BuildError when it fails."""
    started = time.perf_counter()
    proc = capture(command, env=env, timeout=60)
    milliseconds = (time.perf_counter() - started) * 1000
    if not proc.ok:
        raise BuildError(f"bench: {shlex.join(proc.command)}: {proc.failure()}")
    return milliseconds


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "load": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def release_profile(layout: Layout) -> dict[str, Any]:
    manifest = tomllib.loads((layout.crate / "Cargo.toml").read_text())
    return dict(manifest.get("profile", {}).get("release", {}))


# ---------------------------------------------------------------- release profile candidates


@dataclass(frozen=True)
class ProfileBench:
    profile: str
    settings: dict[str, Any]
    target: str
    seconds: float  # raw cargo-zigbuild, cold
    binary_bytes: int
    version_ms: float | None  # median `--version` of that binary, if it runs here


def profile_overrides(settings: dict[str, Any]) -> list[str]:
    """cargo --config arguments setting each key of [profile.release] (TOML values)."""
    return [f"profile.release.{key}={json.dumps(value)}" for key, value in settings.items()]


def profiles(
    targets: Sequence[Target], layout: Layout, *, scratch: Path, progress: Callable[[str], None] = lambda _: None,
) -> list[ProfileBench]:
    """Each candidate of bench.toml compiled cold for each target, one after another."""
    settings = load_settings(layout.root)
    work = scratch_layout(layout, scratch)
    tools = ZigTools.find()
    version = build_version(layout.root)
    rows = []
    runs = int(settings["runs"]["version"])
    for target in targets:
        if target.fat:
            raise ConfigError(f"{target.name}: compare profiles on a single-architecture target (a slice of it)")
        for name, values in settings["candidates"].items():
            progress(f"==> {target.name}: profile {name} {values}")
            target_dir = scratch / "profiles" / name
            choice = choose(target)
            command, env = raw_compile(target, choice, work, tools, version=version,
                                       target_dir=target_dir, config=profile_overrides(values))
            started = time.monotonic()
            run(command, what=f"{target.name}: profile {name}", cwd=work.crate, env=env,
                log=work.log(f"{target.name}.profile-{name}"))
            seconds = time.monotonic() - started
            binary = target_dir / target.name / "release" / target.binary_name
            version_ms = (round(statistics.median(_once([binary, "--version"], dict(os.environ)) for _ in range(runs)), 1)
                          if target.run == RunMethod.NATIVE else None)
            rows.append(ProfileBench(name, values, target.name, round(seconds, 1), binary.stat().st_size, version_ms))
            progress(f"    {seconds:.1f} s, {human_size(binary.stat().st_size)}")
            shutil.rmtree(target_dir)  # each candidate cold; the disk stays small
    return rows


def render_profiles(rows: Sequence[ProfileBench]) -> str:
    firsts: dict[str, ProfileBench] = {}
    for row in rows:
        firsts.setdefault(row.target, row)
    body = []
    for row in rows:
        base = firsts[row.target]
        body.append([row.target, row.profile, f"{row.seconds:.1f}", f"{row.seconds / base.seconds:.2f}",
                     human_size(row.binary_bytes), f"{row.binary_bytes / base.binary_bytes:.2f}",
                     "-" if row.version_ms is None else f"{row.version_ms:.1f}"])
    return table(["target", "profile", "cold s", "× first", "binary", "× first", "--version ms"], body)


# ---------------------------------------------------------------- showing it


def goals_verdicts(result: Bench) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met?) for each goal of bench.toml the run measured (None: not measured)."""
    goals = result.goals
    rows: list[tuple[str, str, bool | None]] = []
    if "ours-over-raw" in goals:
        for t in result.targets:
            rows.append((f"{t.target}: ours/raw ≤ {goals['ours-over-raw']:.2f}", f"{t.ratio:.2f}",
                         t.ratio <= goals["ours-over-raw"]))
    for key, value, unit in (("noop-build-seconds", result.noop_build_seconds, "s"),
                             ("noop-verify-seconds", result.noop_verify_seconds, "s")):
        if key in goals:
            label = f"{key.removesuffix('-seconds').replace('-', ' ')} ≤ {goals[key]:g} {unit}"
            rows.append((label, "-" if value is None else f"{value:.2f} {unit}",
                         None if value is None else value <= goals[key]))
    if "wrapper-overhead-ms" in goals:
        overhead = (None if result.version_bare_ms is None or result.version_script_ms is None
                    else result.version_script_ms - result.version_bare_ms)
        rows.append((f"console script adds ≤ {goals['wrapper-overhead-ms']:g} ms",
                     "-" if overhead is None else f"{overhead:.1f} ms",
                     None if overhead is None else overhead <= goals["wrapper-overhead-ms"]))
    for t in result.targets:
        if t.target == "x86_64-unknown-linux-gnu" and "linux-x86_64-binary-bytes" in goals:
            limit = goals["linux-x86_64-binary-bytes"]
            rows.append((f"{t.target} binary ≤ {human_size(int(limit))}", human_size(t.binary_bytes),
                         t.binary_bytes <= limit))
        key = "fat-wheel-bytes" if t.fat else "wheel-bytes"
        if key in goals:
            rows.append((f"{t.target} wheel ≤ {human_size(int(goals[key]))}", human_size(t.wheel_bytes),
                         t.wheel_bytes <= goals[key]))
    return rows


def render(result: Bench) -> str:
    rows = [[t.target, f"{t.raw_seconds:.1f}", f"{t.ours_seconds:.1f}", f"{t.ratio:.2f}",
             f"{t.packaging_seconds:.2f}", human_size(t.binary_bytes), human_size(t.wheel_bytes)]
            for t in result.targets]
    lines = [table(["target", "raw s", "ours s", "ours/raw", "packaging s", "binary", "wheel"], rows), ""]
    if result.noop_build_seconds is not None:
        lines.append(f"build with nothing to do ({len(result.targets)} targets): {result.noop_build_seconds:.2f} s")
    if result.noop_verify_seconds is not None:
        lines.append(f"verify with nothing changed: {result.noop_verify_seconds:.2f} s")
    if result.version_bare_ms is not None and result.version_script_ms is not None:
        lines.append(f"noetl --version, median: bare binary {result.version_bare_ms:.1f} ms, console script "
                     f"{result.version_script_ms:.1f} ms (+{result.version_script_ms - result.version_bare_ms:.1f} ms)"
                     + (f"; python -c pass alone {result.python_start_ms:.1f} ms" if result.python_start_ms else ""))
    lines += [f"note: {note}" for note in result.notes]
    verdicts = goals_verdicts(result)
    if verdicts:
        marks = {True: "met", False: "MISSED", None: "not measured"}
        lines += ["", table(["goal (bench.toml)", "measured", ""], [[g, m, marks[ok]] for g, m, ok in verdicts])]
    load = result.machine.get("load")
    lines.append(f"\n{result.machine.get('cpus')} CPUs, load {load} at the end; profile.release {result.profile}")
    return "\n".join(lines)


def to_json(result: Bench) -> dict[str, Any]:
    data = asdict(result)
    data["targets"] = [{**asdict(t), "ratio": round(t.ratio, 3)} for t in result.targets]
    data["goals"] = [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals_verdicts(result)]
    return data


def write_json(result: Bench, path: Path) -> None:
    atomic_write_text(path, json.dumps(to_json(result), indent=2) + "\n")
