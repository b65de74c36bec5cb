"""What a machine of a target's platform tells an installer: pip's `--platform` tag and uv's
`--python-platform` name ("probes").

The machine is the target's oldest supported one (its minimum glibc/musl/macOS from
targets.toml), so a probe does not just echo the wheel's own tags. verify's pip and uv checks,
the dependency check (deps) and the rehearsal ask installers with these; this module needs
nothing but the platform data, so publish's environment can use it without verify's checkers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .platforms import OS, Arch, Family, Libc, PlatformTag, arches, families
from .targets import Target


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
