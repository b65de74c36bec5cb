"""Adding a platform is a data edit (issue 11): a new architecture and a new target exist in
platforms.toml and targets.toml only, and the build's and verify's questions about it are answered
without a line of code: its tags, minimum key, zig and uv spellings, the claim its wheel makes, and
the binary checks on its facts. (A new operating system is data plus its class: test_new_os.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build import platforms, systems
from noetl_build.compile import zig_target
from noetl_build.errors import ConfigError
from noetl_build.targets import parse_matrix
from noetl_build.verify.checks_binary import check_arch, check_glibc, check_libraries
from noetl_build.verify.claim import claim_of
from noetl_build.probes import probes
from noetl_build.verify.results import FAIL, PASS

from ..verify.fakes import context, elf
from .freebsd import FreeBSD

NEW_ARCH = '''
[arch.loongarch64]
wheel-arch = { linux = "loongarch64" }
elf-machine = "EM_LOONGARCH"
elf-class = 64
endian = "little"
uv.manylinux = ["2.36"]
'''
NEW_TARGET = {"triple": "loongarch64-unknown-linux-gnu", "tags": ["manylinux_2_36_loongarch64"], "glibc": "2.36",
              "run": "qemu", "qemu": {"program": "qemu-loongarch64", "sysroot": "/usr/loongarch64-linux-gnu"}}


def caches() -> None:
    for loader in (platforms._data, platforms.systems, platforms.arches, platforms.families):
        loader.cache_clear()


def platforms_with(extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """platforms.toml with ``extra`` rows appended, for the length of one test."""
    data = tmp_path / "platforms.toml"
    data.write_text(platforms.PLATFORMS_FILE.read_text() + extra)
    monkeypatch.setattr(platforms, "PLATFORMS_FILE", data)
    caches()
    yield
    monkeypatch.undo()
    caches()


@pytest.fixture
def with_new_arch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from platforms_with(NEW_ARCH, tmp_path, monkeypatch)


def test_a_new_architecture_and_target_by_data_alone(with_new_arch: None) -> None:
    (target,) = parse_matrix({"target": [NEW_TARGET]}, Path("targets.toml")).targets
    assert target.glibc == (2, 36) and target.zig_target == "loongarch64-unknown-linux-gnu.2.36"
    assert zig_target(target) == "loongarch64-linux-gnu.2.36"
    assert platforms.minimum_key(target.triple) == "glibc"

    claim = claim_of(target.tags)
    assert (claim.family.name, claim.arch.name, claim.version, claim.os) == ("manylinux", "loongarch64", (2, 36), "linux")
    assert claim.family.policy == "auditwheel"

    (probe,) = probes(target)
    assert (probe.pip_platform, probe.uv_platform) == ("manylinux_2_36_loongarch64", "loongarch64-manylinux_2_36")

    binary = elf("EM_LOONGARCH", interpreter="/lib64/ld-linux-loongarch-lp64d.so.1",
                 needed=("libc.so.6", "ld-linux-loongarch-lp64d.so.1"), glibc=(2, 36))
    ctx = replace(context(target.tags, binary), target=target)
    assert check_arch(ctx).status == PASS
    for check in (check_glibc, check_libraries):
        verdict = check(ctx)
        assert verdict is not None and verdict.status == PASS, verdict
    wrong = replace(context(target.tags, elf("EM_RISCV")), target=target)
    assert check_arch(wrong).status == FAIL


def test_without_the_row_the_same_target_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown architecture 'loongarch64'"):
        parse_matrix({"target": [NEW_TARGET]}, Path("targets.toml"))


NEW_OS = '''
[os.freebsd]
name = "FreeBSD"
rust-os = "freebsd"
format = "ELF"
zig-os = "freebsd"
'''


@pytest.fixture
def with_new_os(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A new OS is its [os.*] row plus its class (test_new_os.py takes FreeBSD end to end)."""
    monkeypatch.setitem(systems.CLASSES, FreeBSD.key, FreeBSD)
    yield from platforms_with(NEW_OS, tmp_path, monkeypatch)


def test_a_triple_s_operating_system_and_environment_come_from_the_data(with_new_os: None) -> None:
    triple = platforms.Triple.parse("x86_64-unknown-freebsd")
    assert (triple.os, triple.libc, triple.system.name, triple.system.format) == ("freebsd", None, "FreeBSD", "ELF")
    with pytest.raises(ValueError, match=r"unsupported operating system \(Linux, macOS, Windows, FreeBSD only\)"):
        platforms.Triple.parse("x86_64-unknown-netbsd")


@pytest.mark.parametrize(("text", "os", "libc"), [
    ("armv7-unknown-linux-gnueabihf", "linux", "gnu"), ("armv7-unknown-linux-musleabihf", "linux", "musl"),
    ("aarch64-pc-windows-gnullvm", "windows", "gnullvm"), ("i686-pc-windows-gnu", "windows", "gnu"),
    ("x86_64-apple-darwin", "macos", None),
])
def test_environments_name_the_c_library(text: str, os: str, libc: str | None) -> None:
    triple = platforms.Triple.parse(text)
    assert (triple.os, triple.libc) == (os, libc)


@pytest.mark.parametrize(("text", "message"), [
    ("x86_64-unknown-linux-uclibc", "unsupported Linux environment 'uclibc' (one of gnu, musl)"),
    ("x86_64-pc-windows", "unsupported Windows environment '' (one of gnullvm, gnu, msvc)"),
])
def test_an_unknown_environment_is_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        platforms.Triple.parse(text)
