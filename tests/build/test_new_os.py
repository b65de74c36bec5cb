"""Adding an operating system is data plus one class (issue 20): FreeBSD x86_64, test-only, goes
from targets.toml through the build's and verify's questions with rows in platforms.toml and the
class in tests/build/freebsd.py, and no module of noetl_build changed. An [os.*] table without a
class stops at load, instead of falling through to Linux's answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from noetl_build import platforms
from noetl_build.compile import zig_target
from noetl_build.deps import environments
from noetl_build.errors import ConfigError
from noetl_build.probes import probes
from noetl_build.targets import Target, load_matrix, parse_matrix
from noetl_build.toolchain import missing_tools
from noetl_build.verify.binary import ElfFacts, inspect
from noetl_build.verify.checks_binary import check_arch, check_libraries
from noetl_build.verify.claim import claim_of
from noetl_build.verify.results import FAIL, PASS

from ..verify.fakes import context, target as real_target
from ..verify.surgery import elf_header, with_osabi
from .freebsd import OS_TABLE, TARGETS_TOML, new_os, platforms_with

ELFOSABI_FREEBSD = 9
EM_X86_64 = 62


@pytest.fixture
def freebsd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from new_os(tmp_path, monkeypatch)


def freebsd_target(tmp_path: Path) -> Target:
    """The FreeBSD target, read from a targets.toml of its own (the real one never names it)."""
    matrix = tmp_path / "targets.toml"
    matrix.write_text(TARGETS_TOML)
    (found,) = load_matrix(matrix).targets
    return found


def test_its_tags_and_claim(freebsd: None, tmp_path: Path) -> None:
    target = freebsd_target(tmp_path)
    assert (target.triple.os, target.triple.libc, target.triple.system.name) == ("freebsd", None, "FreeBSD")
    assert target.platform_tag == "freebsd_amd64" and target.minimum is None
    assert platforms.minimum_key(target.triple) is None
    claim = claim_of(target.tags)
    assert (claim.family.name, claim.arch.name, claim.version, claim.os, claim.wheel_arch) == (
        "freebsd", "x86_64", None, "freebsd", "amd64")
    with pytest.raises(ConfigError, match="'manylinux_2_17_x86_64' is a manylinux tag, but "
                                          "x86_64-unknown-freebsd needs freebsd"):
        parse_matrix({"target": [{"triple": "x86_64-unknown-freebsd", "tags": ["manylinux_2_17_x86_64"],
                                  "run": "none"}]}, Path("targets.toml"))


def test_its_compile(freebsd: None, tmp_path: Path) -> None:
    target = freebsd_target(tmp_path)
    assert zig_target(target) == "x86_64-freebsd"
    assert target.zig_target == "x86_64-unknown-freebsd" and target.rust_targets == ("x86_64-unknown-freebsd",)
    assert target.binary_name == "noetl"
    assert target.triple.os_family.deployment_env(target) == {}
    assert missing_tools(target, SimpleNamespace(toolchain=SimpleNamespace(objcopy=None))) == []  # type: ignore[arg-type]


def test_its_installer_probes(freebsd: None, tmp_path: Path) -> None:
    target = freebsd_target(tmp_path)
    (probe,) = probes(target)
    assert (probe.machine, probe.pip_platform, probe.uv_platform, probe.uv_missing) == (
        "FreeBSD amd64", "freebsd_amd64", None, "uv has no --python-platform for FreeBSD")
    found = environments([target], [(3, 12)])
    assert [(e.platform, e.markers["platform_machine"], e.markers["platform_system"]) for e in found] == [
        ("freebsd_amd64", "amd64", "FreeBSD")]


def test_its_binary_check_reads_the_os_abi_byte(freebsd: None, tmp_path: Path) -> None:
    target = freebsd_target(tmp_path)
    linux_elf = tmp_path / "linux"
    linux_elf.write_bytes(elf_header(64, "little", EM_X86_64))  # OS/ABI 0, as Linux linkers write it
    freebsd_elf = tmp_path / "freebsd"
    freebsd_elf.write_bytes(with_osabi(linux_elf.read_bytes(), ELFOSABI_FREEBSD))
    linux_facts, freebsd_facts = inspect(linux_elf), inspect(freebsd_elf)
    assert isinstance(freebsd_facts, ElfFacts) and freebsd_facts.osabi == "ELFOSABI_FREEBSD"

    accepted = check_arch(replace(context(target.tags, freebsd_facts), target=target))
    assert accepted.status == PASS, accepted
    refused = check_arch(replace(context(target.tags, linux_facts), target=target))
    assert refused.status == FAIL and refused.detail == (
        "noetl/bin/noetl is ELF 64-bit little-endian EM_X86_64: OS/ABI ELFOSABI_SYSV, "
        "but a FreeBSD binary says ELFOSABI_FREEBSD"), refused
    libraries = check_libraries(replace(context(target.tags, freebsd_facts), target=target))
    assert libraries is not None and libraries.status == PASS, libraries  # static: loads nothing

    # and the other way round: the FreeBSD binary in a Linux wheel
    linux = real_target("x86_64-unknown-linux-gnu")
    wrong = check_arch(replace(context(linux.tags, freebsd_facts), target=linux))
    assert wrong.status == FAIL and "OS/ABI ELFOSABI_FREEBSD, but a Linux binary says" in wrong.detail, wrong


def test_an_os_table_without_its_class_stops_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platforms_with(tmp_path, monkeypatch, OS_TABLE)  # the rows, but no class registered
    line = ('platforms.toml: [os.freebsd]: no OS class for \'freebsd\': register one in noetl_build/systems/ '
            '(docs/architecture.md, "Add an operating system")')
    with pytest.raises(ConfigError) as raised:
        platforms.load_platforms(platforms.PLATFORMS_FILE)
    assert str(raised.value) == line
    with pytest.raises(ConfigError) as raised:  # what every command that reads targets.toml shows
        parse_matrix({"target": [{"triple": "x86_64-unknown-linux-gnu"}]}, Path("targets.toml"))
    assert str(raised.value) == line
