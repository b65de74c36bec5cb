"""Do installers pick this wheel? pip and uv, asked as a machine of the target's platform would.

A probe (noetl_build/probes.py) is what such a machine tells an installer: pip's `--platform`
tag and uv's `--python-platform` name, for the target's oldest supported machine.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..probes import PYTHON, Probe, probes
from ..procs import capture
from ..wheelfile import installed_tags
from .context import Context
from .execution import clean_environment, uv_binary
from .results import Verdict, check, fail, ok, skip


@check("pip")
def check_pip(ctx: Context) -> Verdict | None:
    """`pip download --platform ...` from the wheels' directory downloads exactly this wheel."""
    if ctx.target is None:
        return None
    findings = []
    for number, probe in enumerate(probes(ctx.target)):
        links = _links(ctx, probe, number)
        dest = ctx.work / f"pip-{number}"
        out = capture(
            [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--platform", probe.pip_platform,
             "--python-version", f"{PYTHON[0]}.{PYTHON[1]}", "--implementation", "cp",
             "--abi", f"cp{PYTHON[0]}{PYTHON[1]}", "--no-index", "--find-links", links,
             "-d", dest, f"{ctx.wheel.distribution}=={ctx.wheel.version}"],
            env=clean_environment(), timeout=180,
        )
        if not out.ok:
            return fail(f"{probe.pip_platform}: pip download found no wheel ({out.last_line()})")
        chosen = sorted(p.name for p in dest.glob("*.whl"))
        if chosen != [ctx.wheel.path.name]:
            return fail(f"{probe.pip_platform}: pip chose {', '.join(chosen) or 'nothing'}")
        findings.append(probe.pip_platform + (" (alone)" if probe.alone else ""))
    return ok("chosen for " + ", ".join(findings))


@check("uv")
def check_uv(ctx: Context) -> Verdict | None:
    """`uv pip install --python-platform ...` installs exactly this wheel (read back its WHEEL)."""
    if ctx.target is None:
        return None
    findings, missing = [], []
    for number, probe in enumerate(probes(ctx.target)):
        if probe.uv_platform is None:
            missing.append(probe.uv_missing)
            continue
        links = _links(ctx, probe, number)
        dest = ctx.work / f"uv-{number}"
        env = clean_environment()
        env.pop("MACOSX_DEPLOYMENT_TARGET", None)
        if probe.macos:
            env["MACOSX_DEPLOYMENT_TARGET"] = probe.macos
        out = capture(
            [uv_binary(), "pip", "install", "--no-config", "--no-cache", "--no-deps", "--no-index",
             "--find-links", links, "--python-platform", probe.uv_platform,
             "--python-version", f"{PYTHON[0]}.{PYTHON[1]}", "--target", dest,
             f"{ctx.wheel.distribution}=={ctx.wheel.version}"],
            env=env, timeout=180,
        )
        if not out.ok:
            return fail(f"{probe.uv_platform}: uv found no wheel ({out.last_line()})")
        installed = installed_tags(dest, ctx.wheel.dist_info)
        if installed != ctx.wheel.filename_tags:
            shown = ", ".join(sorted(installed)) or "nothing"
            return fail(f"{probe.uv_platform}: uv installed the wheel tagged {shown}")
        suffix = f" (MACOSX_DEPLOYMENT_TARGET={probe.macos}" + (", alone)" if probe.alone else ")") if probe.macos else ""
        findings.append(probe.uv_platform + suffix)
    if not findings:
        return skip("; ".join(missing))
    note = f"; {'; '.join(missing)}" if missing else ""
    return ok("chosen for " + ", ".join(findings) + note)


def _links(ctx: Context, probe: Probe, number: int) -> Path:
    """Where installers look: the wheels' directory, or a directory holding only this wheel."""
    if not probe.alone:
        return ctx.find_links
    alone = ctx.work / f"alone-{number}"
    alone.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.wheel.path, alone / ctx.wheel.path.name)
    return alone
