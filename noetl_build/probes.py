"""What a machine of a target's platform tells an installer: pip's `--platform` tag and uv's
`--python-platform` name ("probes").

The machine is the target's oldest supported one (its minimum glibc/musl/macOS from
targets.toml), so a probe does not just echo the wheel's own tags; each OS's class
(noetl_build/systems/) spells its machines. verify's pip and uv checks, the dependency check
(deps) and the rehearsal ask installers with these; this module needs nothing but the platform
data, so publish's environment can use it without verify's checkers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .platforms import Family, PlatformTag, families
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
    """The machine(s) the target's wheel is for, as pip and uv are asked: its OS class's answer."""
    return target.triple.os_family.probes(target)


def tag_family(target: Target) -> Family:
    """The family of the target's first tag: what pip is asked for (linux_armv6l names no version)."""
    return families()[PlatformTag.parse(sorted(target.tags)[0]).family]
