"""Windows: PE binaries linked by zig's MinGW (the -gnu environment), whatever the triple's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..platforms import OS, Arch, System, Triple, arches
from ..probes import Probe
from . import register

if TYPE_CHECKING:
    from ..targets import Target
    from ..toolchain import ToolchainChoice


@register
@dataclass(frozen=True)
class Windows:
    key: ClassVar[str] = OS.WINDOWS
    elf_osabi: ClassVar[tuple[str, ...]] = ()
    facts: System

    def zig_target(self, target: Target) -> str:
        return f"{arches()[target.triple.arch].zig_arch}-{self.facts.zig_os}-gnu"

    def deployment_env(self, target: Target) -> dict[str, str]:
        return {}

    def missing_tools(self, target: Target, choice: ToolchainChoice) -> list[str]:
        return []

    def probes(self, target: Target) -> tuple[Probe, ...]:
        """Windows tags name no version: the machine is the architecture's."""
        arch = arches()[target.triple.arch]
        wheel_arch = arch.wheel_arch[self.key]
        uv = arch.uv.windows
        return (Probe(f"Windows {wheel_arch}", wheel_arch, uv, "" if uv else f"uv has no platform for {wheel_arch}"),)

    def machine(self, arch: Arch) -> str | None:
        """platform.machine() on Windows is not the wheel-arch: AMD64, x86, ARM64."""
        return arch.windows_machine

    def debian_userland(self, triple: Triple) -> bool:
        return False
