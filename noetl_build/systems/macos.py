"""macOS: Mach-O binaries (fat for universal2), a deployment target, rust-objcopy to strip them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..platforms import OS, Arch, System, Triple, arches
from ..probes import Probe, tag_family
from . import register

if TYPE_CHECKING:
    from ..targets import Target
    from ..toolchain import ToolchainChoice

OLDEST_MACOS = (10, 12)  # a target's probe when it gives no minimum


@register
@dataclass(frozen=True)
class MacOS:
    key: ClassVar[str] = OS.MACOS
    elf_osabi: ClassVar[tuple[str, ...]] = ()
    facts: System

    def zig_target(self, target: Target) -> str:
        """<arch>-macos: the version is MACOSX_DEPLOYMENT_TARGET's (deployment_env)."""
        return f"{arches()[target.triple.arch].zig_arch}-{self.facts.zig_os}"

    def deployment_env(self, target: Target) -> dict[str, str]:
        return {"MACOSX_DEPLOYMENT_TARGET": "{}.{}".format(*target.macos)} if target.macos else {}

    def missing_tools(self, target: Target, choice: ToolchainChoice) -> list[str]:
        if choice.toolchain.objcopy is None:
            return ["rust-objcopy or llvm-objcopy, to strip Apple binaries (apt-get install llvm-15)"]
        return []

    def probes(self, target: Target) -> tuple[Probe, ...]:
        """A Mac of each slice's architecture at the target's macOS (raised to where the
        architecture starts); a slice is asked alone, where a thinner wheel would rightly win."""
        arch = arches()[target.triple.arch]
        return tuple(self._probe(target, arches()[name], alone=bool(arch.slices)) for name in arch.slices or (arch.name,))

    def _probe(self, target: Target, arch: Arch, *, alone: bool) -> Probe:
        version = max(target.macos or OLDEST_MACOS, arch.min_macos or (0, 0))
        wheel_arch = arch.wheel_arch[self.key]
        dotted = f"{version[0]}.{version[1]}"
        uv = arch.uv.macos
        return Probe(f"macOS {dotted} {wheel_arch}", tag_family(target).spell(wheel_arch, version),
                     uv, "" if uv else f"uv has no platform for {wheel_arch}", macos=dotted, alone=alone)

    def machine(self, arch: Arch) -> str | None:
        return arch.wheel_arch.get(self.key)

    def debian_userland(self, triple: Triple) -> bool:
        return False
