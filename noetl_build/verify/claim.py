"""What a wheel's platform tags promise: the OS, the architecture and the oldest OS/libc."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ClaimError
from ..platforms import Arch, Family, PlatformTag, arches, families


@dataclass(frozen=True)
class Claim:
    family: Family
    arch: Arch
    version: tuple[int, int] | None  # the lowest version any of the tags names

    @property
    def os(self) -> str:
        return self.family.os

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
    kinds = {(family.name, arch.name) for family, arch, _ in claims}
    if len(kinds) > 1:
        raise ClaimError("its platform tags disagree: " + ", ".join(sorted(platform_tags)))
    family, arch, _ = claims[0]
    versions = [version for _, _, version in claims if version]
    return Claim(family=family, arch=arch, version=min(versions) if versions else None)


def _one(tag: str) -> tuple[Family, Arch, tuple[int, int] | None]:
    try:
        parsed = PlatformTag.parse(tag)
    except ValueError as exc:
        raise ClaimError(str(exc)) from None
    family = families()[parsed.family]
    for arch in arches().values():
        if arch.wheel_arch.get(family.os) == parsed.arch:
            return family, arch, parsed.version
    raise ClaimError(f"'{tag}': no architecture in platforms.toml has {family.os} wheels tagged '{parsed.arch}'")


def dotted(version: Sequence[int] | None) -> str:
    return ".".join(map(str, version)) if version else "-"
