"""FreeBSD, an operating system the project does not build for (PyPI takes no FreeBSD wheels), added
the way docs/architecture.md's "Add an operating system" says: rows of data and this one class.

Tests use it to show that a new OS touches no module of noetl_build: ``new_os`` puts the rows in a
copy of platforms.toml and registers the class for the length of one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from noetl_build import platforms, systems
from noetl_build.platforms import Arch, System, Triple, arches
from noetl_build.probes import Probe, tag_family

if TYPE_CHECKING:
    from noetl_build.targets import Target
    from noetl_build.toolchain import ToolchainChoice

OS_TABLE = '''
[os.freebsd]
name = "FreeBSD"
rust-os = "freebsd"
format = "ELF"
zig-os = "freebsd"
markers = { os_name = "posix", sys_platform = "freebsd14", platform_system = "FreeBSD" }
libraries = ["libc.so.7", "libm.so.5", "libthr.so.3", "libgcc_s.so.1", "libexecinfo.so.1"]
'''
FAMILY_TABLE = '''
[family.freebsd]
os = "freebsd"
tag = "freebsd_{arch}"
'''
# x86_64's row names its FreeBSD wheel-arch (uname -m says amd64 there)
X86_64_WHEEL_ARCHS = ('wheel-arch = { linux = "x86_64", macos = "x86_64", windows = "win_amd64" }',
                      'wheel-arch = { linux = "x86_64", macos = "x86_64", windows = "win_amd64", freebsd = "amd64" }')
TARGETS_TOML = '''
[[target]]
triple = "x86_64-unknown-freebsd"
tags = ["freebsd_amd64"]
run = "none"
'''


@dataclass(frozen=True)
class FreeBSD:
    """FreeBSD: ELF binaries branded ELFOSABI_FREEBSD; uv has no name for its machines."""

    key: ClassVar[str] = "freebsd"
    elf_osabi: ClassVar[tuple[str, ...]] = ("ELFOSABI_FREEBSD",)  # what brandelf(1) writes
    facts: System

    def zig_target(self, target: Target) -> str:
        return f"{arches()[target.triple.arch].zig_arch}-{self.facts.zig_os}"

    def deployment_env(self, target: Target) -> dict[str, str]:
        return {}

    def missing_tools(self, target: Target, choice: ToolchainChoice) -> list[str]:
        return []

    def probes(self, target: Target) -> tuple[Probe, ...]:
        wheel_arch = arches()[target.triple.arch].wheel_arch[self.key]
        return (Probe(f"FreeBSD {wheel_arch}", tag_family(target).spell(wheel_arch), None,
                      "uv has no --python-platform for FreeBSD"),)

    def machine(self, arch: Arch) -> str | None:
        return arch.wheel_arch.get(self.key)

    def debian_userland(self, triple: Triple) -> bool:
        return False


def clear_caches() -> None:
    for loader in (platforms._data, platforms.systems, platforms.arches, platforms.families):
        loader.cache_clear()


def platforms_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str,
                   replace: tuple[str, str] | None = None) -> Path:
    """A copy of platforms.toml with ``extra`` tables appended (and one ``replace``d line), made
    the one platforms.py reads until the test ends."""
    text = platforms.PLATFORMS_FILE.read_text()
    if replace:
        assert replace[0] in text, replace[0]
        text = text.replace(*replace)
    data = tmp_path / "platforms.toml"
    data.write_text(text + "".join(extra))
    monkeypatch.setattr(platforms, "PLATFORMS_FILE", data)
    clear_caches()
    return data


def new_os(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """FreeBSD's rows in platforms.toml and its class registered, for the length of one test."""
    monkeypatch.setitem(systems.CLASSES, FreeBSD.key, FreeBSD)
    platforms_with(tmp_path, monkeypatch, OS_TABLE, FAMILY_TABLE, replace=X86_64_WHEEL_ARCHS)
    yield
    monkeypatch.undo()
    clear_caches()
