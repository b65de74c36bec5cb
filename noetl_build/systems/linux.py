"""Linux: ELF binaries of the SYSV or GNU OS/ABI; glibc (manylinux) or musl (musllinux) machines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..platforms import OS, Arch, Libc, System, Triple, arches
from ..probes import Probe, tag_family
from . import register

if TYPE_CHECKING:
    from ..targets import Target
    from ..toolchain import ToolchainChoice

OLDEST_GLIBC, OLDEST_MUSL = (2, 17), (1, 2)  # a target's probe when it gives no minimum


@register
@dataclass(frozen=True)
class Linux:
    key: ClassVar[str] = OS.LINUX
    # e_ident[EI_OSABI] (pyelftools' names): SYSV (0) as linkers write it, GNU (3, ELFOSABI_LINUX)
    # where the binary uses GNU extensions such as IFUNC
    elf_osabi: ClassVar[tuple[str, ...]] = ("ELFOSABI_SYSV", "ELFOSABI_LINUX")
    facts: System

    def zig_target(self, target: Target) -> str:
        """<arch>-linux-<abi>, with the glibc linked as a suffix: powerpc64le-linux-gnu.2.19."""
        abi = target.triple.abi or ""
        glibc = target.linked_glibc
        suffix = f".{glibc[0]}.{glibc[1]}" if glibc else ""
        return f"{arches()[target.triple.arch].zig_arch}-{self.facts.zig_os}-{abi}{suffix}"

    def deployment_env(self, target: Target) -> dict[str, str]:
        return {}

    def missing_tools(self, target: Target, choice: ToolchainChoice) -> list[str]:
        return []

    def probes(self, target: Target) -> tuple[Probe, ...]:
        """A musl machine of the target's musl, or a glibc machine of its glibc (uv: the oldest
        manylinux name at least that new, else its one versionless glibc name)."""
        arch = arches()[target.triple.arch]
        wheel_arch = arch.wheel_arch[self.key]
        family = tag_family(target)
        if target.triple.libc == Libc.MUSL:
            major, minor = target.musl or OLDEST_MUSL
            uv = arch.uv.musl
            return (Probe(f"musl {major}.{minor} {wheel_arch}", family.spell(wheel_arch, (major, minor)), uv,
                          "" if uv else f"uv has no --python-platform for musl on {wheel_arch}"),)
        major, minor = target.glibc or OLDEST_GLIBC
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

    def machine(self, arch: Arch) -> str | None:
        return arch.wheel_arch.get(self.key)

    def debian_userland(self, triple: Triple) -> bool:
        """glibc only: userlands.toml's roots are Debian releases."""
        return triple.libc == Libc.GNU
