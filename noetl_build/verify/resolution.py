"""Do installers pick this wheel? pip and uv, asked as a machine of the target's platform would.

A probe is what such a machine tells an installer: pip's `--platform` tag and uv's
`--python-platform` name. The machine is the target's oldest supported one (its minimum
glibc/musl/macOS from targets.toml), so the probe does not just echo the wheel's own tags.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..platforms import OS, Arch, Family, Libc, PlatformTag, arches, families
from ..procs import capture
from ..targets import Target
from ..wheelfile import installed_tags
from .context import Context
from .execution import clean_environment, uv_binary
from .results import Verdict, check, fail, ok, skip


PYTHON = (3, 12)  # the interpreter the probes pretend to be; noetl's wheels are py3-none
# uv's names for machines are platforms.toml's (each architecture's `uv` row)


@dataclass(frozen=True)
class Probe:
    machine: str  # what it stands for, for messages: "macOS 11.0 arm64"
    pip_platform: str
    uv_platform: str | None
    uv_missing: str = ""  # why uv cannot be asked, when uv_platform is None
    macos: str | None = None  # MACOSX_DEPLOYMENT_TARGET: uv's macOS version
    alone: bool = False  # ask with only this wheel visible (a thinner wheel would rightly win)


def probes(target: Target) -> tuple[Probe, ...]:
    arch = arches()[target.triple.arch]
    system = target.triple.system
    if system.key == OS.MACOS:
        return tuple(_macos_probe(target, arches()[name], alone=bool(arch.slices)) for name in arch.slices or (arch.name,))
    wheel_arch = arch.wheel_arch[system.key]
    if system.key == OS.WINDOWS:
        uv = arch.uv.windows
        return (Probe(f"Windows {wheel_arch}", wheel_arch, uv, "" if uv else f"uv has no platform for {wheel_arch}"),)
    family = _family(target)
    if target.triple.libc == Libc.MUSL:
        major, minor = target.musl or (1, 2)
        uv = arch.uv.musl
        return (Probe(f"musl {major}.{minor} {wheel_arch}", family.spell(wheel_arch, (major, minor)), uv,
                      "" if uv else f"uv has no --python-platform for musl on {wheel_arch}"),)
    major, minor = target.glibc or (2, 17)
    names = [(v, f"{wheel_arch}-manylinux_{v[0]}_{v[1]}") for v in arch.uv.manylinux]
    names += [(arch.uv.gnu_glibc, arch.uv.gnu)] if arch.uv.gnu and arch.uv.gnu_glibc else []
    fitting = sorted(item for item in names if item[0] >= (major, minor))  # the oldest machine uv can be
    uv = fitting[0][1] if fitting else None
    if uv:
        missing = ""
    elif names:
        missing = f"uv has no --python-platform for glibc >= {major}.{minor} on {wheel_arch}"
    else:
        missing = f"uv has no --python-platform for {wheel_arch} Linux"
    return (Probe(f"glibc {major}.{minor} {wheel_arch}", family.spell(wheel_arch, (major, minor)), uv, missing),)


def _family(target: Target) -> Family:
    """The family of the target's first tag: what pip is asked for (linux_armv6l names no version)."""
    return families()[PlatformTag.parse(sorted(target.tags)[0]).family]


def _macos_probe(target: Target, arch: Arch, *, alone: bool) -> Probe:
    version = max(target.macos or (10, 12), arch.min_macos or (0, 0))
    wheel_arch = arch.wheel_arch[OS.MACOS]
    dotted = f"{version[0]}.{version[1]}"
    uv = arch.uv.macos
    return Probe(f"macOS {dotted} {wheel_arch}", _family(target).spell(wheel_arch, version),
                 uv, "" if uv else f"uv has no platform for {wheel_arch}", macos=dotted, alone=alone)


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
