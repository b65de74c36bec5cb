"""What differs per operating system, behind one Protocol: one small class per OS.

platforms.toml's [os.*] table holds an OS's facts (its name, rust-os, format, zig-os, ...); the
class registered here under the same key holds what cannot be data: how zig spells a target, the
deployment variable, the tools it needs, the installers' probes, the machine names Python reports
there, the OS/ABI its ELF binaries carry. Nothing here imports verify: compile's cache key covers
every module compile imports (fingerprint.code_digest), and an edit to a check rebuilds nothing.
platforms.load_platforms pairs each table with its class and refuses a table with none, so a new
OS never falls through to Linux's answers. Adding one is a table and a class (docs/architecture.md,
"Add an operating system").
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from ..platforms import Arch, System, Triple
    from ..probes import Probe
    from ..targets import Target
    from ..toolchain import ToolchainChoice


class OsFamily(Protocol):
    """One operating system: its platforms.toml facts and the behaviour that differs per OS."""

    key: ClassVar[str]  # its [os.*] key
    # the ELF OS/ABI values (e_ident[EI_OSABI], pyelftools' names) its binaries carry, which
    # verify's arch check holds an ELF to; () for an OS whose binaries are not ELF
    elf_osabi: ClassVar[tuple[str, ...]]

    def __init__(self, facts: System) -> None: ...

    @property
    def facts(self) -> System:
        """Its [os.*] table, read."""
        ...

    def zig_target(self, target: Target) -> str:
        """The target as `zig cc -target` spells it (e.g. x86_64-linux-gnu.2.17)."""
        ...

    def deployment_env(self, target: Target) -> dict[str, str]:
        """Variables the compile runs with that name the oldest OS version (MACOSX_DEPLOYMENT_TARGET)."""
        ...

    def missing_tools(self, target: Target, choice: ToolchainChoice) -> list[str]:
        """What building for this OS needs that this host lacks, each with how to get it."""
        ...

    def probes(self, target: Target) -> tuple[Probe, ...]:
        """The target's oldest machine(s) as pip (--platform) and uv (--python-platform) are asked."""
        ...

    def machine(self, arch: Arch) -> str | None:
        """What platform.machine() says on this OS on ``arch`` (PEP 508's platform_machine)."""
        ...

    def debian_userland(self, triple: Triple) -> bool:
        """Whether a Debian userland (userlands.toml) can run the wheel of ``triple``."""
        ...


# [os.*] key -> its class; a class registers itself with @register
CLASSES: dict[str, type[OsFamily]] = {}
_Class = TypeVar("_Class", bound=type[OsFamily])


def register(cls: _Class) -> _Class:
    """Class decorator: ``cls`` answers for the [os.*] table named by its ``key``."""
    CLASSES[cls.key] = cls
    return cls


def host() -> OsFamily | None:
    """This host's OS as platforms.toml knows it (by PEP 508's platform_system), or None."""
    from ..platforms import os_families

    system = platform.system()
    return next((os for os in os_families().values() if os.facts.markers.get("platform_system") == system), None)


from . import linux, macos, windows  # noqa: E402,F401  (each registers its class)
