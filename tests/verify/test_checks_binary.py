"""The binary checks against the wheel's tags (checks_binary.py), on hand-made facts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from noetl_build.verify.binary import PeFacts
from noetl_build.verify.checks_binary import (
    check_arch, check_codesign, check_glibc, check_libraries, check_macos_min, check_musl,
)
from noetl_build.verify.results import FAIL, PASS

from .fakes import context, elf, macho

HARD, SOFT = 0x05000400, 0x05000200  # EABI5 hard-float / soft-float e_flags
# .ARM.attributes as the linker writes them: ARMv7-A with Thumb-2 and NEON; ARMv6KZ (ARM1176)
ARMV7 = {"TAG_CPU_ARCH": 10, "TAG_CPU_ARCH_PROFILE": 65, "TAG_THUMB_ISA_USE": 2, "TAG_FP_ARCH": 3, "TAG_ADVANCED_SIMD_ARCH": 1}
ARMV6 = {"TAG_CPU_ARCH": 7, "TAG_THUMB_ISA_USE": 1, "TAG_FP_ARCH": 2}


@pytest.mark.parametrize(
    ("tags", "facts", "target", "message"),
    [
        (("manylinux_2_17_x86_64",), elf(), None, ""),
        (("manylinux_2_17_aarch64",), elf(), None, "aarch64 needs EM_AARCH64"),
        (("manylinux_2_17_x86_64",), elf(osabi="ELFOSABI_LINUX"), None, ""),
        (("manylinux_2_17_x86_64",), elf(osabi="ELFOSABI_FREEBSD"), None,
         "is ELF 64-bit little-endian EM_X86_64: OS/ABI ELFOSABI_FREEBSD, but a Linux binary says ELFOSABI_SYSV or ELFOSABI_LINUX"),
        (("musllinux_1_2_aarch64",), elf("EM_AARCH64", osabi="ELFOSABI_NETBSD"), None, "OS/ABI ELFOSABI_NETBSD"),
        (("manylinux_2_17_x86_64",), PeFacts("IMAGE_FILE_MACHINE_AMD64", "x"), None, "is PE IMAGE_FILE_MACHINE_AMD64, but a manylinux wheel needs ELF"),
        (("manylinux_2_24_ppc64le",), elf("EM_PPC64", endian="big"), None, "needs 64-bit little-endian"),
        (("manylinux_2_17_i686",), elf("EM_386", elf_class=64), None, "needs 32-bit little-endian"),
        (("manylinux_2_17_armv7l",), elf("EM_ARM", elf_class=32, flags=HARD, arm=ARMV7), "armv7-unknown-linux-gnueabihf", ""),
        (("manylinux_2_17_armv7l",), elf("EM_ARM", elf_class=32, flags=SOFT, arm=ARMV7), "armv7-unknown-linux-gnueabihf", "needs the hard-float EABI"),
        (("manylinux_2_17_armv7l",), elf("EM_ARM", elf_class=32, flags=HARD, arm=ARMV6), "armv7-unknown-linux-gnueabihf", ""),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=HARD, arm=ARMV6), "arm-unknown-linux-gnueabihf", ""),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=HARD, arm=ARMV7), "arm-unknown-linux-gnueabihf", "TAG_CPU_ARCH is v7"),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=HARD, arm={**ARMV6, "TAG_THUMB_ISA_USE": 2}), None, "TAG_THUMB_ISA_USE is 2"),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=HARD, arm={**ARMV6, "TAG_ADVANCED_SIMD_ARCH": 1}), None, "TAG_ADVANCED_SIMD_ARCH is 1"),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=HARD), None, "no .ARM.attributes"),
        (("linux_armv6l",), elf("EM_ARM", elf_class=32, flags=SOFT, arm=ARMV6), "arm-unknown-linux-gnueabihf", "needs the hard-float EABI"),
        (("win_arm64",), PeFacts("IMAGE_FILE_MACHINE_ARM64", "x"), None, ""),
        (("win32",), PeFacts("IMAGE_FILE_MACHINE_I386", "x"), None, ""),
        (("win32",), PeFacts("IMAGE_FILE_MACHINE_AMD64", "x"), None, "win32 needs IMAGE_FILE_MACHINE_I386"),
        (("macosx_10_12_x86_64",), macho(("x86_64", (10, 12), False)), None, ""),
        (("macosx_10_12_x86_64",), elf(), None, "needs Mach-O"),
        (("macosx_11_0_arm64",), macho(("x86_64", (10, 12), False)), None, "arm64 needs ARM64"),
        (("macosx_10_12_universal2",), macho(("x86_64", (10, 12), False), ("ARM64", (11, 0), True)), None, ""),
        (("macosx_10_12_universal2",), macho(("x86_64", (10, 12), False)), None, "universal2 needs ARM64 + x86_64"),
        (("win_amd64",), PeFacts("IMAGE_FILE_MACHINE_AMD64", "x"), None, ""),
        (("win_amd64",), PeFacts("IMAGE_FILE_MACHINE_ARM64", "x"), None, "win_amd64 needs IMAGE_FILE_MACHINE_AMD64"),
        (("win_amd64",), macho(("x86_64", (10, 12), False)), None, "needs PE"),
    ],
)
def test_arch(tags: tuple[str, ...], facts: object, target: str | None, message: str) -> None:
    result = check_arch(context(tags, facts, target))  # type: ignore[arg-type]
    if message:
        assert result.status == FAIL and message in result.detail, result
    else:
        assert result.status == PASS, result


def test_arch_without_a_binary_fails() -> None:
    ctx = replace(context(("manylinux_2_17_x86_64",), None), facts_problem="no executable under noetl/bin/")
    result = check_arch(ctx)
    assert result.status == FAIL and "no executable" in result.detail


@pytest.mark.parametrize(
    ("facts", "status", "message"),
    [
        (elf(glibc=(2, 17)), PASS, "needs GLIBC_2.17 at most; tag allows 2.17"),
        (elf(glibc=(2, 3, 4)), PASS, "GLIBC_2.3.4"),
        (elf(glibc=(2, 18)), FAIL, "needs GLIBC_2.18, newer than the tag's glibc 2.17"),
        (elf(glibc=(2, 34)), FAIL, "GLIBC_2.34"),
        (elf(glibc=None, interpreter=None, needed=()), PASS, "static"),
        (elf(glibc=None, interpreter="/lib/ld-musl-x86_64.so.1"), FAIL, "musl"),
    ],
)
def test_glibc(facts: object, status: str, message: str) -> None:
    result = check_glibc(context(("manylinux2014_x86_64", "manylinux_2_17_x86_64"), facts))  # type: ignore[arg-type]
    assert result is not None and result.status == status and message in result.detail, result


def test_glibc_only_for_manylinux() -> None:
    assert check_glibc(context(("musllinux_1_2_x86_64",), elf())) is None
    assert check_glibc(context(("win_amd64",), PeFacts("IMAGE_FILE_MACHINE_AMD64", "x"))) is None


@pytest.mark.parametrize(
    ("facts", "status", "message"),
    [
        (elf(glibc=None, interpreter=None, needed=()), PASS, "static executable"),
        (elf(glibc=None, interpreter="/lib/ld-musl-x86_64.so.1"), PASS, "musl loader /lib/ld-musl-x86_64.so.1"),
        (elf(glibc=None), FAIL, "not the musl loader"),
        (elf(glibc=(2, 17)), FAIL, "built against glibc"),
    ],
)
def test_musl(facts: object, status: str, message: str) -> None:
    result = check_musl(context(("musllinux_1_2_x86_64",), facts))  # type: ignore[arg-type]
    assert result is not None and result.status == status and message in result.detail, result


@pytest.mark.parametrize(
    ("tags", "facts", "status", "message"),
    [
        (("macosx_10_12_x86_64",), macho(("x86_64", (10, 12), False)), PASS, "x86_64 10.12"),
        (("macosx_10_12_x86_64",), macho(("x86_64", (15, 0), False)), FAIL, "needs macOS 15.0, newer than the tag's 10.12"),
        (("macosx_10_9_x86_64",), macho(("x86_64", (10, 12), False)), FAIL, "newer than the tag's 10.9"),
        (("macosx_10_12_x86_64",), macho(("x86_64", None, False)), FAIL, "no LC_BUILD_VERSION"),
        (("macosx_11_0_arm64",), macho(("ARM64", (11, 0), True)), PASS, "arm64 11.0"),
        (("macosx_10_12_universal2",), macho(("x86_64", (10, 12), False), ("ARM64", (11, 0), True)), PASS, "tag says 10.12"),
        (("macosx_10_12_universal2",), macho(("x86_64", (10, 12), False), ("ARM64", (12, 0), True)), FAIL, "arm64 slice needs macOS 12.0, newer than the tag's 11.0"),
        (("macosx_10_12_universal2",), macho(("x86_64", (10, 13), False), ("ARM64", (11, 0), True)), FAIL, "x86_64 slice needs macOS 10.13"),
    ],
)
def test_macos_min(tags: tuple[str, ...], facts: object, status: str, message: str) -> None:
    result = check_macos_min(context(tags, facts))  # type: ignore[arg-type]
    assert result is not None and result.status == status and message in result.detail, result


def test_codesign() -> None:
    signed = check_codesign(context(("macosx_11_0_arm64",), macho(("ARM64", (11, 0), True))))
    assert signed is not None and signed.status == PASS
    unsigned = check_codesign(context(("macosx_10_12_universal2",), macho(("x86_64", (10, 12), False), ("ARM64", (11, 0), False))))
    assert unsigned is not None and unsigned.status == FAIL and "no LC_CODE_SIGNATURE" in unsigned.detail
    assert check_codesign(context(("macosx_10_12_x86_64",), macho(("x86_64", (10, 12), False)))) is None


CONSOLE, GUI = "IMAGE_SUBSYSTEM_WINDOWS_CUI", "IMAGE_SUBSYSTEM_WINDOWS_GUI"
WINDOWS_DLLS = ("kernel32.dll", "ntdll.dll", "ws2_32.dll", "bcryptprimitives.dll", "api-ms-win-crt-heap-l1-1-0.dll",
                "api-ms-win-core-synch-l1-2-0.dll")


@pytest.mark.parametrize(
    ("tags", "facts", "message"),
    [
        (("manylinux_2_17_x86_64",), elf(needed=("libc.so.6", "libpthread.so.0", "ld-linux-x86-64.so.2")), ""),
        (("linux_armv6l",), elf("EM_ARM", needed=("libc.so.6", "ld-linux-armhf.so.3", "libdl.so.2")), ""),
        (("linux_armv6l",), elf("EM_ARM", needed=("libc.so.6", "libssl.so.3")), "loads libssl.so.3: not on every Linux system"),
        (("musllinux_1_2_x86_64",), elf(interpreter=None, needed=()), ""),
        (("win_arm64",), PeFacts("IMAGE_FILE_MACHINE_ARM64", CONSOLE, WINDOWS_DLLS), ""),
        (("win_arm64",), PeFacts("IMAGE_FILE_MACHINE_ARM64", CONSOLE, (*WINDOWS_DLLS, "libgcc_s_seh-1.dll")), "loads libgcc_s_seh-1.dll"),
        (("win_arm64",), PeFacts("IMAGE_FILE_MACHINE_ARM64", CONSOLE, ("kernel32.dll", "vcruntime140.dll")), "loads vcruntime140.dll"),
        (("win_amd64",), PeFacts("IMAGE_FILE_MACHINE_AMD64", GUI, WINDOWS_DLLS), "subsystem IMAGE_SUBSYSTEM_WINDOWS_GUI"),
    ],
)
def test_libraries(tags: tuple[str, ...], facts: object, message: str) -> None:
    result = check_libraries(context(tags, facts))  # type: ignore[arg-type]
    if message:
        assert result is not None and result.status == FAIL and message in result.detail, result
    else:
        assert result is not None and result.status == PASS, result


def test_libraries_does_not_apply_to_macos() -> None:
    assert check_libraries(context(("macosx_10_12_x86_64",), macho(("x86_64", (10, 12), False)))) is None


def test_glibc_floor_of_an_unversioned_tag_is_the_targets() -> None:
    ok = check_glibc(context(("linux_armv6l",), elf("EM_ARM", glibc=(2, 17)), "arm-unknown-linux-gnueabihf"))
    assert ok is not None and ok.status == PASS and "targets.toml allows 2.17" in ok.detail, ok
    new = check_glibc(context(("linux_armv6l",), elf("EM_ARM", glibc=(2, 28)), "arm-unknown-linux-gnueabihf"))
    assert new is not None and new.status == FAIL and "newer than the glibc targets.toml gives 2.17" in new.detail, new
    alone = check_glibc(context(("linux_armv6l",), elf("EM_ARM", glibc=(2, 17))))
    assert alone is not None and alone.status == FAIL and "names no glibc version" in alone.detail, alone
