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

from ..platforms import Arch, arches
from ..procs import capture
from ..targets import Target
from ..wheelfile import installed_tags
from .context import Context
from .execution import clean_environment, uv_binary
from .results import Verdict, check, fail, ok, skip


PYTHON = (3, 12)  # the interpreter the probes pretend to be; noetl's wheels are py3-none

# glibc versions uv's --python-platform knows per architecture (uv 0.13.9: its help lists
# x86_64/aarch64; s390x-manylinux_2_17 and ppc64le-manylinux_2_17 are accepted unlisted).
UV_MANYLINUX = {
    "x86_64": ((2, 17), (2, 28), *((2, m) for m in range(31, 41))),
    "aarch64": ((2, 17), (2, 28), *((2, m) for m in range(31, 41))),
    "s390x": ((2, 17),),
    "ppc64le": ((2, 17),),
}
# uv's `<arch>-unknown-linux-gnu` names mean glibc 2.28 (measured: a manylinux_2_28 wheel is
# taken, a manylinux_2_29 one refused), for architectures that have no manylinux_2_x name >= ours.
UV_GNU = {
    "x86_64": "x86_64-unknown-linux-gnu",
    "aarch64": "aarch64-unknown-linux-gnu",
    "s390x": "s390x-unknown-linux-gnu",
    "ppc64le": "powerpc64le-unknown-linux-gnu",
}
UV_GNU_GLIBC = (2, 28)
UV_MUSL = {"x86_64": "x86_64-unknown-linux-musl", "aarch64": "aarch64-unknown-linux-musl"}
UV_MACOS = {"x86_64": "x86_64-apple-darwin", "arm64": "aarch64-apple-darwin"}
UV_WINDOWS = {"win_amd64": "x86_64-pc-windows-msvc", "win_arm64": "aarch64-pc-windows-msvc", "win32": "i686-pc-windows-msvc"}


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
    os_ = target.triple.os
    if os_ == "macos":
        return tuple(_macos_probe(target, arches()[name], alone=bool(arch.slices)) for name in arch.slices or (arch.name,))
    wheel_arch = arch.wheel_arch[os_]
    if os_ == "windows":
        uv = UV_WINDOWS.get(wheel_arch)
        return (Probe(f"Windows {wheel_arch}", wheel_arch, uv, "" if uv else f"uv has no platform for {wheel_arch}"),)
    if target.triple.libc == "musl":
        major, minor = target.musl or (1, 2)
        uv = UV_MUSL.get(wheel_arch)
        return (Probe(f"musl {major}.{minor} {wheel_arch}", f"musllinux_{major}_{minor}_{wheel_arch}", uv,
                      "" if uv else f"uv has no --python-platform for musl on {wheel_arch}"),)
    major, minor = target.glibc or (2, 17)
    names = [(v, f"{wheel_arch}-manylinux_{v[0]}_{v[1]}") for v in UV_MANYLINUX.get(wheel_arch, ())]
    names += [(UV_GNU_GLIBC, UV_GNU[wheel_arch])] if wheel_arch in UV_GNU else []
    fitting = sorted(item for item in names if item[0] >= (major, minor))  # the oldest machine uv can be
    uv = fitting[0][1] if fitting else None
    if uv:
        missing = ""
    elif names:
        missing = f"uv has no --python-platform for glibc >= {major}.{minor} on {wheel_arch}"
    else:
        missing = f"uv has no --python-platform for {wheel_arch} Linux"
    return (Probe(f"glibc {major}.{minor} {wheel_arch}", f"manylinux_{major}_{minor}_{wheel_arch}", uv, missing),)


def _macos_probe(target: Target, arch: Arch, *, alone: bool) -> Probe:
    version = max(target.macos or (10, 12), arch.min_macos or (0, 0))
    wheel_arch = arch.wheel_arch["macos"]
    dotted = f"{version[0]}.{version[1]}"
    return Probe(f"macOS {dotted} {wheel_arch}", f"macosx_{version[0]}_{version[1]}_{wheel_arch}",
                 UV_MACOS.get(wheel_arch), "" if wheel_arch in UV_MACOS else f"uv has no platform for {wheel_arch}",
                 macos=dotted, alone=alone)


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
