"""Reading binaries (binary.py) on tiny programs zig builds for each format."""

from __future__ import annotations

from pathlib import Path

import pytest

from noetl_build.verify.binary import (
    BinaryFormatError, ElfFacts, MachoFacts, PeFacts, _macho_version, inspect, version_tuple,
)

from tests.conftest import BuiltDist

from .conftest import Compile
from .surgery import EI_OSABI, elf_header, read, strip_code_signature, with_osabi


def test_version_tuple() -> None:
    assert version_tuple("GLIBC_2.17", "GLIBC_") == (2, 17)
    assert version_tuple("GLIBC_2.2.5", "GLIBC_") == (2, 2, 5)
    assert version_tuple("GLIBC_PRIVATE", "GLIBC_") is None
    assert version_tuple("GCC_3.0", "GLIBC_") is None


def test_macho_versions_unpack() -> None:
    assert _macho_version(0x000A0C00) == (10, 12)
    assert _macho_version(0x000B0000) == (11, 0)
    assert _macho_version(0x000F0100) == (15, 1)


def test_glibc_elf(compile_c: Compile) -> None:
    facts = inspect(compile_c("x86_64-linux-gnu.2.34", "", "-DNEW_GLIBC"))
    assert isinstance(facts, ElfFacts)
    assert (facts.machine, facts.elf_class, facts.endian) == ("EM_X86_64", 64, "little")
    assert facts.glibc == (2, 34)
    assert facts.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in facts.needed and not facts.static


def test_glibc_version_follows_the_target(compile_c: Compile) -> None:
    facts = inspect(compile_c("x86_64-linux-gnu.2.17"))
    assert isinstance(facts, ElfFacts) and facts.glibc == (2, 17)


@pytest.mark.parametrize(
    ("elf_class", "endian", "machine", "name"),
    [(64, "big", 22, "EM_S390"), (32, "little", 3, "EM_386"), (64, "little", 243, "EM_RISCV")],
)
def test_elf_header_facts(tmp_path: Path, elf_class: int, endian: str, machine: int, name: str) -> None:
    path = tmp_path / "noetl"
    path.write_bytes(elf_header(elf_class, endian, machine))
    facts = inspect(path)
    assert isinstance(facts, ElfFacts)
    assert (facts.machine, facts.elf_class, facts.endian) == (name, elf_class, endian)
    assert facts.static and facts.glibc is None  # no PT_INTERP, no dynamic section


@pytest.mark.parametrize(("osabi", "name"), [(0, "ELFOSABI_SYSV"), (3, "ELFOSABI_LINUX"), (9, "ELFOSABI_FREEBSD")])
def test_elf_os_abi(tmp_path: Path, osabi: int, name: str) -> None:
    header = elf_header(64, "little", 62)
    assert header[EI_OSABI] == 0  # what linkers write for Linux
    path = tmp_path / "noetl"
    path.write_bytes(with_osabi(header, osabi))
    facts = inspect(path)
    assert isinstance(facts, ElfFacts) and facts.osabi == name


@pytest.mark.parametrize(("abi", "hard"), [("gnueabihf", True), ("gnueabi", False)])
def test_arm_float_abi(compile_c: Compile, abi: str, hard: bool) -> None:
    facts = inspect(compile_c(f"arm-linux-{abi}.2.17"))
    assert isinstance(facts, ElfFacts)
    assert (facts.machine, facts.elf_class, facts.hard_float) == ("EM_ARM", 32, hard)
    assert facts.describe().endswith("hard-float" if hard else "soft-float")


def test_arm64_macho_is_signed_until_stripped(compile_c: Compile, tmp_path: Path) -> None:
    signed = compile_c("aarch64-macos.11.0")
    facts = inspect(signed)
    assert isinstance(facts, MachoFacts) and not facts.fat
    assert [(s.cpu, s.minos, s.signed) for s in facts.slices] == [("ARM64", (11, 0), True)]
    unsigned = strip_code_signature(signed, tmp_path / "unsigned")
    facts = inspect(unsigned)
    assert isinstance(facts, MachoFacts) and [s.signed for s in facts.slices] == [False]


def test_built_macos_binary(built_dist: BuiltDist, tmp_path: Path) -> None:
    binary = tmp_path / "noetl"
    binary.write_bytes(read(built_dist.wheel_for("x86_64-apple-darwin"), "noetl/bin/noetl"))
    facts = inspect(binary)
    assert isinstance(facts, MachoFacts)
    assert [(s.cpu, s.minos) for s in facts.slices] == [("x86_64", (10, 12))]


def test_built_windows_binary(built_dist: BuiltDist, tmp_path: Path) -> None:
    binary = tmp_path / "noetl.exe"
    binary.write_bytes(read(built_dist.wheel_for("x86_64-pc-windows-gnu"), "noetl/bin/noetl.exe"))
    facts = inspect(binary)
    assert isinstance(facts, PeFacts) and facts.machine == "IMAGE_FILE_MACHINE_AMD64"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"#!/bin/sh\necho noetl 0.1.0\n", "a script"),
        (b"hello", "not an executable"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9, "unreadable ELF"),
    ],
)
def test_not_an_executable(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "noetl"
    path.write_bytes(content)
    with pytest.raises(BinaryFormatError, match=message):
        inspect(path)
