"""`nox -s doctor`: per target, which toolchain and strategy will be used, and what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from .compile import ZigTools
from .errors import BuildError
from .report import table
from .runners import runner_for
from .targets import RunMethod, Target
from .toolchain import discover, missing_tools, plan

# Tools checked besides the per-target ones: name -> what it is for and how to get it
HOST_TOOLS = {
    "npm": "builds the UI (apt-get install nodejs npm)",
    "llvm-otool-15": "delocate's otool on Linux, for verify (apt-get install llvm-15)",
    "llvm-install-name-tool-15": "delocate's install_name_tool, for verify (apt-get install llvm-15)",
    "chromium": "the end-to-end UI test (apt-get install chromium)",
}


@dataclass(frozen=True)
class DoctorRow:
    target: str
    toolchain: str
    strategy: str
    runs: str
    problem: str
    can_build: bool


def diagnose(targets: Sequence[Target]) -> tuple[list[str], list[DoctorRow]]:
    """Host-wide findings, then one row per target."""
    notes = []
    for found in discover():
        std = "std source" if found.has_std_source else "no std source"
        notes.append(f"toolchain {found.name}: {found.version}, {std}")
    if not discover():
        notes.append("MISSING Rust: no toolchain found (rustup, or apt-get install rustc-web cargo-web rust-web-src)")
    try:
        tools = ZigTools.find()
        notes.append(f"zig {tools.zig_version}; {tools.zigbuild_version}; cargo-auditable {tools.auditable_version}")
    except BuildError as exc:
        notes.append(f"MISSING {exc}")
    for tool, why in HOST_TOOLS.items():
        path = shutil.which(tool)
        notes.append(f"{tool}: {path}" if path else f"MISSING {tool}: {why}")

    toolchains = plan(targets, matrix=targets)
    if toolchains.mixed:
        notes.append(f"WARNING {toolchains.describe()}: publish refuses a release that mixes them (no one "
                     "toolchain builds every target here: install one with the standard library's source, "
                     "apt-get install rust-web-src)")
    elif toolchains.compilers:
        notes.append(f"compiler for every target: {toolchains.describe()}")
    rows = []
    for target in targets:
        strategy: str  # the toolchain's Strategy, or why there is none
        try:
            choice = toolchains.choice(target)
            toolchain, strategy = choice.toolchain.label, choice.strategy
            problem = "; ".join(missing_tools(target, choice))
            can_build = not problem
        except BuildError as exc:
            toolchain, strategy, problem, can_build = "-", "cannot build", str(exc), False
        runner = runner_for(target)
        runs = runner.via if runner.available else ("no" if runner.via == RunMethod.NONE else f"{runner.via}: MISSING")
        if runner.missing:
            problem = "; ".join(p for p in (problem, runner.missing) if p)
        rows.append(DoctorRow(target.name, toolchain, strategy, runs, problem, can_build))
    return notes, rows


def render(notes: list[str], rows: list[DoctorRow]) -> str:
    body = table(
        ["target", "toolchain", "strategy", "runs here", "missing"],
        [[r.target, r.toolchain, r.strategy, r.runs, r.problem or "-"] for r in rows],
    )
    return "\n".join([*notes, "", body])
