"""What a wheel's platform tags promise: the OS, the architecture and the oldest OS/libc."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ClaimError
from ..platforms import LEGACY_MANYLINUX, Arch, PlatformTag, arches

FAMILY_OS = {"manylinux": "linux", "musllinux": "linux", "macosx": "macos", "win": "windows"}


@dataclass(frozen=True)
class Claim:
    family: str  # manylinux, musllinux, macosx, win
    arch: Arch
    version: tuple[int, int] | None  # the lowest version any of the tags names

    @property
    def os(self) -> str:
        return FAMILY_OS[self.family]

    @property
    def slices(self) -> tuple[Arch, ...]:
        """The architectures the binary must hold: two for universal2, else one."""
        return tuple(arches()[name] for name in self.arch.slices) or (self.arch,)

    @property
    def wheel_arch(self) -> str:
        return self.arch.wheel_arch[self.os]


def claim_of(platform_tags: Sequence[str]) -> Claim:
    """The promise made by a wheel's platform tags; ClaimError if they are unknown or disagree."""
    claims = [_one(tag) for tag in platform_tags]  # (Arch holds a dict: a list, not a set)
    if not claims:
        raise ClaimError("the wheel has no platform tag")
    families = {(family, arch.name) for family, arch, _ in claims}
    if len(families) > 1:
        raise ClaimError("its platform tags disagree: " + ", ".join(sorted(platform_tags)))
    family, arch, _ = claims[0]
    versions = [version for _, _, version in claims if version]
    return Claim(family=family, arch=arch, version=min(versions) if versions else None)


def _one(tag: str) -> tuple[str, Arch, tuple[int, int] | None]:
    try:
        parsed = PlatformTag.parse(tag)
    except ValueError as exc:
        raise ClaimError(str(exc)) from None
    os = FAMILY_OS[parsed.family]
    wanted = tag if parsed.family == "win" else parsed.arch
    for arch in arches().values():
        if arch.wheel_arch.get(os) == wanted:
            return parsed.family, arch, parsed.version
    raise ClaimError(f"'{tag}': no architecture in platforms.toml has {os} wheels tagged '{wanted}'")


def canonical(tag: str) -> str:
    """PEP 600 spelling of a legacy manylinux alias: manylinux2014_x86_64 -> manylinux_2_17_x86_64."""
    for alias, (major, minor) in LEGACY_MANYLINUX.items():
        if tag.startswith(alias + "_"):
            return f"manylinux_{major}_{minor}_{tag[len(alias) + 1:]}"
    return tag


def dotted(version: Sequence[int] | None) -> str:
    return ".".join(map(str, version)) if version else "-"
