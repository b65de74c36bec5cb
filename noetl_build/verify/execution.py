"""Running the binary: `--version` natively, under qemu-user or wine; the console script in a venv."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from packaging.tags import sys_tags

from .. import systems
from ..platforms import Arch, arches
from ..procs import Captured, capture
from ..runners import Runner, runner_for
from ..targets import RunMethod
from .binary import ElfFacts, PeFacts
from .context import Context
from .results import Verdict, check, fail, ok, skip

from .wine_stand_in import WINE_STAND_IN, place_stand_in

# wine's first start creates its prefix (~20 s on 2 cores); qemu and native are quick.
TIMEOUTS = {RunMethod.WINE: 240.0, RunMethod.QEMU: 60.0, RunMethod.NATIVE: 60.0}


def expected_output(ctx: Context) -> str:
    return f"noetl {ctx.wheel.version}"


@check("run")
def check_run(ctx: Context) -> Verdict | None:
    """The binary prints `noetl <version>` for --version, run however this host can run it."""
    if ctx.target is None:
        return None
    runner = runner_for(ctx.target)
    if runner.via == RunMethod.NONE:
        system = ctx.target.triple.system.name
        return skip(f"this host cannot run {system} binaries: checked by reading them instead")
    if runner.missing:
        return fail(f"cannot run it under {runner.via}: {runner.missing}")
    if ctx.binary is None:
        return fail(ctx.facts_problem)
    problem = _not_for(runner, ctx)
    if problem:
        return fail(problem)
    how = _describe(runner)
    if runner.via == RunMethod.WINE and isinstance(ctx.facts, PeFacts) and WINE_STAND_IN in ctx.facts.imports:
        problem = place_stand_in(ctx)
        if problem:
            return fail(problem)
        how += f" + {WINE_STAND_IN} stand-in"
    out = capture([*runner.prefix, ctx.binary, "--version"], env=_environment(runner, ctx), cwd=ctx.work,
                  timeout=TIMEOUTS.get(runner.via, 60.0))
    return _judge(out, expected_output(ctx), how=how)


@check("console-script")
def check_console_script(ctx: Context) -> Verdict | None:
    """On the host's own platform: install into a fresh venv and run the `noetl` console script."""
    if not installable_here(ctx.wheel.filename_tags):
        return None
    problem = _not_for(Runner(RunMethod.NATIVE), ctx)
    if problem:
        return fail(problem)
    venv = ctx.work / "venv"
    made = capture([sys.executable, "-m", "venv", "--without-pip", venv], env=clean_environment())
    if not made.ok:
        return fail(f"python -m venv: {made.failure()}")
    python = venv / "bin" / "python"
    installed = capture(
        [uv_binary(), "pip", "install", "--no-config", "--no-cache", "--no-deps", "--no-index",
         "--python", python, ctx.wheel.path],
        env=clean_environment(),
    )
    if not installed.ok:
        return fail(f"uv pip install: {installed.failure()}")
    out = capture([venv / "bin" / "noetl", "--version"], cwd=ctx.work, env=clean_environment())
    return _judge(out, expected_output(ctx), how="the console script in a fresh venv")


def _not_for(runner: Runner, ctx: Context) -> str:
    """Why running the binary through ``runner`` would prove nothing, decided from the binary's
    format and machine and never by trying it: where binfmt_misc handlers are registered (qemu,
    wine: many CI runners), the kernel starts a foreign binary through an emulator, so a
    "native" run of a wrong binary could pass; and wine starts an ELF file as a Linux program."""
    facts, name = ctx.facts, ctx.binary_member
    if facts is None:
        return f"not run: {ctx.facts_problem}"
    if runner.via == RunMethod.NATIVE:
        host = host_arch()
        if host is None:  # not Linux, or a machine platforms.toml does not know: nothing to hold it to
            return ""
        if not isinstance(facts, ElfFacts) or (facts.machine, facts.elf_class, facts.endian) != (
                host.elf_machine, host.elf_class, host.endian):
            return (f"not run: {name} is {facts.describe()}, and only ELF {host.elf_class}-bit "
                    f"{host.endian}-endian {host.elf_machine} runs natively on this {platform.machine()} host "
                    "(anything else would start only through a binfmt_misc emulator, if at all)")
    if runner.via == RunMethod.WINE and not isinstance(facts, PeFacts):
        return f"not run: {name} is {facts.describe()}, not a PE program (wine would start it as a host program)"
    return ""


def host_arch() -> Arch | None:
    """This host's architecture as platforms.toml describes it, from platform.machine(); None
    where the host's OS is not an ELF one (Linux): what _not_for holds a native run to is ELF."""
    host = systems.host()
    if host is None or host.facts.format != "ELF":
        return None
    machine = platform.machine()
    return next((arch for arch in arches().values() if host.machine(arch) == machine and arch.elf_machine), None)


def installable_here(filename_tags: frozenset[str]) -> bool:
    return any(str(tag) in filename_tags for tag in sys_tags())


def _judge(out: Captured, expected: str, *, how: str) -> Verdict:
    if not out.ok:
        return fail(f"ran {how}: {out.failure()}")
    printed = out.stdout.strip()
    if printed != expected:
        shown = printed.splitlines()[0][:60] if printed else "nothing"
        return fail(f"ran {how}: printed '{shown}', expected '{expected}'")
    return ok(f"ran {how}: {printed}")


def _describe(runner: Runner) -> str:
    if runner.via == RunMethod.NATIVE:
        return "natively"
    shown = " ".join([Path(runner.prefix[0]).name, *runner.prefix[1:]])
    return f"under {runner.via} ({shown})"


def _environment(runner: Runner, ctx: Context) -> dict[str, str]:
    env = {**os.environ, **runner.env}
    if runner.via == RunMethod.WINE:
        prefix = ctx.layout.wine_prefix
        prefix.mkdir(parents=True, exist_ok=True)
        env["WINEPREFIX"] = str(prefix)
        # wine's own bcryptprimitives.dll first where it has one; else the stand-in by the .exe
        env["WINEDLLOVERRIDES"] = WINE_STAND_IN.removesuffix(".dll") + "=b,n"
    return env


def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def clean_environment() -> dict[str, str]:
    """This environment without PIP_* and UV_* settings (a find-links of the host's, say) and
    without PYTHONPATH & co, which would put a checkout's `noetl` before the installed one.
    uv, asked as another machine, never downloads a Python for it."""
    dropped = ("PIP_", "UV_", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env
