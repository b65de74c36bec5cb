"""Facts about operating systems, tag families and architectures (platforms.toml), typed.

Everything that differs per OS, libc or architecture is a row of platforms.toml; this module
reads it into small frozen values and answers the questions the build and verify ask of them
(which family a tag is, which minimum-version key a triple needs, how zig or uv spell it). What
an OS does that data cannot say is its class in noetl_build/systems/, paired with its [os.*]
table here (``Triple.os_family``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .files import read_toml
from .platforms_schema import check_platforms

if TYPE_CHECKING:
    from .systems import OsFamily

PLATFORMS_FILE = Path(__file__).with_name("platforms.toml")


class OS(StrEnum):
    """The operating systems the code names (each an [os.*] key, its string): the keys of the OS
    classes in noetl_build/systems/. The set of OSes is the data's: a triple's ``os`` is any
    [os.*] key that has a class; no code outside systems/ compares with these."""

    LINUX = "linux"
    MACOS = "macos"
    WINDOWS = "windows"


class Libc(StrEnum):
    """The C libraries the code names (each a Linux environment of platforms.toml, its string)."""

    GNU = "gnu"
    MUSL = "musl"


@dataclass(frozen=True, kw_only=True)
class System:
    """An operating system's facts (platforms.toml [os.*])."""

    key: str  # linux, macos, windows: Triple.os
    name: str
    rust_os: str  # the triple's OS field: linux, darwin, windows
    format: str  # ELF, Mach-O, PE
    zig_os: str
    exe_suffix: str = ""
    link_args: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()  # patterns of the shared libraries every system has
    subsystem: str | None = None  # PE: the subsystem a console program has
    environments: tuple[str, ...] = ()  # the triple's env starts with one: its C library (none: no env)
    markers: dict[str, str] = field(default_factory=dict)  # PEP 508 values: os_name, sys_platform, platform_system

    def environment(self, env: str | None) -> str | None:
        """The C library (or toolchain) a triple's environment names; ValueError if none fits."""
        if not self.environments:
            return None
        fitting = [name for name in self.environments if env and env.startswith(name)]
        if not fitting:
            raise ValueError(f"unsupported {self.name} environment '{env or ''}' "
                             f"(one of {', '.join(self.environments)})")
        return max(fitting, key=len)

    def foreign(self, libraries: tuple[str, ...]) -> list[str]:
        """The libraries not every system of this OS has."""
        return [lib for lib in libraries if not any(fnmatch.fnmatchcase(lib, p) for p in self.libraries)]


@dataclass(frozen=True, kw_only=True)
class Arch:
    name: str
    wheel_arch: dict[str, str]
    elf_machine: str | None = None
    elf_class: int | None = None
    endian: str | None = None
    macho_cpu: str | None = None
    pe_machine: str | None = None
    min_macos: tuple[int, int] | None = None
    slices: tuple[str, ...] = ()
    zig_arch: str = ""
    arm_isa: str | None = None  # v6, v7: the newest ARM instruction set the binary may use
    uv: UvNames = field(default_factory=lambda: UvNames())
    windows_machine: str | None = None  # platform.machine() on Windows: AMD64, x86, ARM64 (OsFamily.machine)


@dataclass(frozen=True, kw_only=True)
class UvNames:
    """How `uv --python-platform` names machines of one architecture (None: it has no name)."""

    manylinux: tuple[tuple[int, int], ...] = ()  # glibc versions of <wheel-arch>-manylinux_<x>_<y>
    gnu: str | None = None  # a glibc machine of gnu_glibc
    gnu_glibc: tuple[int, int] | None = None  # None: [installers.uv] gnu-glibc
    musl: str | None = None
    macos: str | None = None
    windows: str | None = None


@dataclass(frozen=True, kw_only=True)
class Triple:
    """A Rust target triple split into what a wheel tag cares about."""

    text: str
    arch: str
    os: str  # an [os.*] key (linux, macos, windows), which has its class in systems/
    libc: str | None  # the environment it starts with: Libc.GNU / Libc.MUSL on Linux, gnu / gnullvm / msvc on Windows
    abi: str | None  # e.g. "gnueabihf"

    @classmethod
    def parse(cls, text: str) -> Triple:
        parts = text.split("-")
        if len(parts) < 3:
            raise ValueError(f"'{text}' is not a target triple (expected arch-vendor-os[-env])")
        arch, os_part = parts[0], parts[2]
        env = parts[3] if len(parts) > 3 else None
        system = next((s for s in systems().values() if s.rust_os == os_part), None)
        if system is None:
            names = ", ".join(s.name for s in systems().values())
            raise ValueError(f"'{text}': unsupported operating system ({names} only)")
        try:
            libc = system.environment(env)
        except ValueError as exc:
            raise ValueError(f"'{text}': {exc}") from None
        return cls(text=text, arch=arch, os=system.key, libc=libc, abi=env if system.environments else None)

    @property
    def hard_float(self) -> bool:
        return bool(self.abi and self.abi.endswith("hf"))

    @property
    def system(self) -> System:
        return systems()[self.os]

    @property
    def os_family(self) -> OsFamily:
        """Its OS's class (noetl_build/systems/): what differs per OS beyond the data."""
        return os_families()[self.os]

    @property
    def exe_suffix(self) -> str:
        return self.system.exe_suffix


@dataclass(frozen=True, kw_only=True)
class PlatformData:
    """platforms.toml, checked and read: every table as a typed, frozen value."""

    systems: dict[str, System]
    os_families: dict[str, OsFamily]  # each [os.*] table with its class (noetl_build/systems/)
    families: dict[str, Family]
    arches: dict[str, Arch]
    python_versions: tuple[tuple[int, int], ...]


@cache
def _data() -> PlatformData:
    """platforms.toml, loaded and checked once per process (ConfigError in one line if it is wrong)."""
    return load_platforms(PLATFORMS_FILE)


@cache
def systems() -> dict[str, System]:
    return _data().systems


def os_families() -> dict[str, OsFamily]:
    return _data().os_families


@cache
def arches() -> dict[str, Arch]:
    return _data().arches


def parse_version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"'{text}' is not a MAJOR.MINOR version")
    return int(match[1]), int(match[2])


@dataclass(frozen=True, kw_only=True)
class Family:
    """A wheel platform-tag family (platforms.toml [family.*])."""

    name: str  # manylinux, musllinux, linux, macosx, win
    os: str
    libc: str | None = None
    minimum: str | None = None  # targets.toml key of the minimum version
    tag: str  # "manylinux_{major}_{minor}_{arch}"
    aliases: tuple[tuple[str, tuple[int, int]], ...] = ()
    policy: str | None = None  # auditwheel, delocate
    archs: tuple[str, ...] = ()  # the wheel-archs it may name; () = any the OS has

    @property
    def versioned(self) -> bool:
        return "{major}" in self.tag

    def spell(self, arch: str, version: tuple[int, int] | None = None) -> str:
        major, minor = version or (0, 0)
        return self.tag.format(arch=arch, major=major, minor=minor)

    def fits(self, triple: Triple) -> bool:
        """A tag of this family can label a binary of ``triple`` (same OS; same libc, if it names one)."""
        return self.os == triple.os and self.libc in (None, triple.libc)

    def match(self, tag: str) -> PlatformTag | None:
        """The tag read as one of this family's, or None."""
        for alias, version in self.aliases:
            if tag.startswith(alias + "_"):
                return PlatformTag(self.name, version, tag[len(alias) + 1 :])
        if self.tag == "{arch}":  # the tag is the architecture's name alone (win32, win_amd64)
            known = {a.wheel_arch[self.os] for a in arches().values() if self.os in a.wheel_arch}
            return PlatformTag(self.name, None, tag) if tag in known else None
        pattern = re.escape(self.tag).replace(r"\{major\}", r"(?P<major>\d+)").replace(
            r"\{minor\}", r"(?P<minor>\d+)").replace(r"\{arch\}", r"(?P<arch>\w+)")
        found = re.fullmatch(pattern, tag)
        if not found:
            return None
        if self.archs and found["arch"] not in self.archs:
            return None
        if not self.versioned:
            return PlatformTag(self.name, None, found["arch"])
        return PlatformTag(self.name, (int(found["major"]), int(found["minor"])), found["arch"])


@cache
def families() -> dict[str, Family]:
    return _data().families


def minimum_key(triple: Triple) -> str | None:
    """The targets.toml key (glibc, musl, macos) a target of this triple must give, if any."""
    keys = {f.minimum for f in families().values() if f.fits(triple)}
    return next(iter(keys)) if len(keys) == 1 else None


@dataclass(frozen=True)
class PlatformTag:
    """A parsed wheel platform tag: ``manylinux_2_17_x86_64`` -> (manylinux, (2, 17), x86_64)."""

    family: str  # a [family.*] name: manylinux, musllinux, linux, macosx, win
    version: tuple[int, int] | None
    arch: str  # the wheel's spelling: x86_64, arm64, win_amd64, ...

    @classmethod
    def parse(cls, tag: str) -> PlatformTag:
        for family in families().values():
            parsed = family.match(tag)
            if parsed:
                return parsed
        raise ValueError(f"'{tag}' is not a platform tag this project knows")


def canonical(tag: str) -> str:
    """A tag without legacy aliases: manylinux2014_x86_64 -> manylinux_2_17_x86_64."""
    try:
        parsed = PlatformTag.parse(tag)
    except ValueError:
        return tag
    return families()[parsed.family].spell(parsed.arch, parsed.version)


def tag_problem(tag: str, triple: Triple, minimum: tuple[int, int] | None) -> str | None:
    """Why ``tag`` cannot label a wheel of ``triple`` built for ``minimum``; None if it fits."""
    try:
        parsed = PlatformTag.parse(tag)
    except ValueError as exc:
        return str(exc)
    arch = arches().get(triple.arch)
    if arch is None:
        return f"unknown architecture '{triple.arch}' (known: {', '.join(sorted(arches()))})"
    expected_arch = arch.wheel_arch.get(triple.os)
    if expected_arch is None:
        return f"architecture '{triple.arch}' has no {triple.os} wheels"
    family = families()[parsed.family]
    if not family.fits(triple):
        fitting = " or ".join(f.name for f in families().values() if f.fits(triple)) or "none"
        return f"'{tag}' is a {family.name} tag, but {triple.text} needs {fitting}"
    if parsed.arch != expected_arch:
        return f"'{tag}' is for {parsed.arch}, but {triple.text} is {expected_arch}"
    if family.versioned and minimum is not None and parsed.version != minimum:
        have = ".".join(map(str, parsed.version or ()))
        want = ".".join(map(str, minimum))
        return f"'{tag}' says {have}, but the target's minimum is {want}"
    return None


def python_versions() -> tuple[tuple[int, int], ...]:
    """The Python versions noetl's dependencies are proven for (platforms.toml [python])."""
    return _data().python_versions


def load_platforms(path: Path) -> PlatformData:
    """``path`` (a platforms.toml) read, checked against its schema and turned into values.

    A mistake in it (an unknown or missing key, a wrong type, a name no table defines) is a
    ConfigError of one line naming the file, the table and the key, with the closest valid name."""
    data = read_toml(path, what="facts about operating systems, tag families and architectures", error=ConfigError)
    check_platforms(data, path.name)
    uv_glibc = data["installers"]["uv"]["gnu-glibc"]
    systems = {key: _system(key, facts) for key, facts in data["os"].items()}
    return PlatformData(
        systems=systems,
        os_families={key: _os_class(key, path.name)(system) for key, system in systems.items()},
        families={name: _family(name, facts) for name, facts in data["family"].items()},
        arches={name: _arch(name, facts, uv_glibc) for name, facts in data["arch"].items()},
        python_versions=tuple(parse_version(v) for v in data["python"]["versions"]),
    )


def _os_class(key: str, file: str) -> type[OsFamily]:
    """The class registered for the [os.<key>] table; ConfigError in one line if none is."""
    from .systems import CLASSES  # its classes read this module's values

    if key not in CLASSES:
        raise ConfigError(f"{file}: [os.{key}]: no OS class for '{key}': register one in noetl_build/systems/ "
                          "(docs/architecture.md, \"Add an operating system\")")
    return CLASSES[key]


def _system(key: str, facts: dict[str, Any]) -> System:
    return System(key=key, name=facts["name"], rust_os=facts["rust-os"], format=facts["format"], zig_os=facts["zig-os"],
                  environments=tuple(facts.get("environments", ())),
                  exe_suffix=facts.get("exe-suffix", ""), link_args=tuple(facts.get("link-args", ())),
                  libraries=tuple(facts.get("libraries", ())), subsystem=facts.get("subsystem"),
                  markers=dict(facts.get("markers", {})))


def _family(name: str, facts: dict[str, Any]) -> Family:
    aliases = tuple((alias, parse_version(v)) for alias, v in facts.get("aliases", {}).items())
    return Family(name=name, os=facts["os"], libc=facts.get("libc"), minimum=facts.get("minimum"),
                  tag=facts["tag"], aliases=aliases, policy=facts.get("policy"), archs=tuple(facts.get("archs", ())))


def _arch(name: str, facts: dict[str, Any], uv_glibc: str) -> Arch:
    min_macos = facts.get("min-macos")
    uv = facts.get("uv", {})
    return Arch(
        name=name,
        wheel_arch=dict(facts["wheel-arch"]),
        elf_machine=facts.get("elf-machine"),
        elf_class=facts.get("elf-class"),
        endian=facts.get("endian"),
        macho_cpu=facts.get("macho-cpu"),
        pe_machine=facts.get("pe-machine"),
        min_macos=parse_version(min_macos) if min_macos else None,
        slices=tuple(facts.get("slices", ())),
        zig_arch=facts.get("zig-arch", name),
        arm_isa=facts.get("arm-isa"),
        uv=UvNames(manylinux=tuple(parse_version(v) for v in uv.get("manylinux", ())), gnu=uv.get("gnu"),
                   gnu_glibc=parse_version(uv.get("gnu-glibc") or uv_glibc), musl=uv.get("musl"),
                   macos=uv.get("macos"), windows=uv.get("windows")),
        windows_machine=facts.get("windows-machine"),
    )
