"""Facts about architectures (platforms.toml) and the wheel platform tags they imply."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PLATFORMS_FILE = Path(__file__).with_name("platforms.toml")

# manylinux's legacy aliases (PEP 600): alias -> glibc version
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True, kw_only=True)
class System:
    """An operating system's facts (platforms.toml [os.*])."""

    key: str  # linux, macos, windows: Triple.os
    name: str
    format: str  # ELF, Mach-O, PE
    zig_os: str
    exe_suffix: str = ""
    link_args: tuple[str, ...] = ()


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


@dataclass(frozen=True, kw_only=True)
class Triple:
    """A Rust target triple split into what a wheel tag cares about."""

    text: str
    arch: str
    os: str  # "linux", "macos" or "windows"
    libc: str | None  # "gnu" / "musl" on Linux, "gnu" / "gnullvm" / "msvc" on Windows
    abi: str | None  # e.g. "gnueabihf"

    @classmethod
    def parse(cls, text: str) -> Triple:
        parts = text.split("-")
        if len(parts) < 3:
            raise ValueError(f"'{text}' is not a target triple (expected arch-vendor-os[-env])")
        arch, os_part = parts[0], parts[2]
        env = parts[3] if len(parts) > 3 else None
        if os_part == "linux" and env:
            libc = "musl" if env.startswith("musl") else "gnu" if env.startswith("gnu") else None
            if libc is None:
                raise ValueError(f"'{text}': unsupported Linux environment '{env}'")
            return cls(text=text, arch=arch, os="linux", libc=libc, abi=env)
        if os_part == "darwin":
            return cls(text=text, arch=arch, os="macos", libc=None, abi=None)
        if os_part == "windows" and env:
            return cls(text=text, arch=arch, os="windows", libc=env, abi=env)
        raise ValueError(f"'{text}': unsupported operating system (Linux, macOS, Windows only)")

    @property
    def hard_float(self) -> bool:
        return bool(self.abi and self.abi.endswith("hf"))

    @property
    def system(self) -> System:
        return systems()[self.os]

    @property
    def exe_suffix(self) -> str:
        return self.system.exe_suffix


@cache
def _data() -> dict[str, Any]:
    return tomllib.loads(PLATFORMS_FILE.read_text())


@cache
def systems() -> dict[str, System]:
    return {
        key: System(key=key, name=facts["name"], format=facts["format"], zig_os=facts["zig-os"],
                    exe_suffix=facts.get("exe-suffix", ""), link_args=tuple(facts.get("link-args", ())))
        for key, facts in _data()["os"].items()
    }


@cache
def arches() -> dict[str, Arch]:
    data = _data()
    result = {}
    for name, facts in data["arch"].items():
        min_macos = facts.get("min-macos")
        result[name] = Arch(
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
        )
    return result


def parse_version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"'{text}' is not a MAJOR.MINOR version")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class PlatformTag:
    """A parsed wheel platform tag: ``manylinux_2_17_x86_64`` -> (manylinux, (2, 17), x86_64)."""

    family: str  # manylinux, musllinux, macosx, win
    version: tuple[int, int] | None
    arch: str

    @classmethod
    def parse(cls, tag: str) -> PlatformTag:
        for alias, version in LEGACY_MANYLINUX.items():
            if tag.startswith(alias + "_"):
                return cls("manylinux", version, tag[len(alias) + 1 :])
        match = re.fullmatch(r"(manylinux|musllinux|macosx)_(\d+)_(\d+)_(\w+)", tag)
        if match:
            return cls(match[1], (int(match[2]), int(match[3])), match[4])
        if tag in ("win32", "win_amd64", "win_arm64"):
            return cls("win", None, tag)
        raise ValueError(f"'{tag}' is not a platform tag this project knows")


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
    family = _tag_family(triple)
    if parsed.family != family:
        return f"'{tag}' is a {parsed.family} tag, but {triple.text} needs {family}"
    if family == "win":
        if tag != expected_arch:
            return f"'{tag}' does not match {triple.text} (expected {expected_arch})"
        return None
    if parsed.arch != expected_arch:
        return f"'{tag}' is for {parsed.arch}, but {triple.text} is {expected_arch}"
    if minimum is not None and parsed.version != minimum:
        have = ".".join(map(str, parsed.version or ()))
        want = ".".join(map(str, minimum))
        return f"'{tag}' says {have}, but the target's minimum is {want}"
    return None


def _tag_family(triple: Triple) -> str:
    """The wheel tag family of a triple: manylinux, musllinux, macosx or win."""
    if triple.os == "linux":
        return "musllinux" if triple.libc == "musl" else "manylinux"
    return "macosx" if triple.os == "macos" else "win"
