"""The run and console-script checks decide from the binary's format and machine whether a run
here proves anything, never by trying it: on a host with binfmt_misc handlers (qemu, wine: many
CI runners) the kernel starts a foreign binary through an emulator, and wine starts an ELF file
as a host program. These tests hold the checks to that on hand-made facts, whatever handlers
this host has and whatever its machine is: the runner and the host's architecture are given."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build.platforms import arches
from noetl_build.procs import Captured
from noetl_build.runners import Runner
from noetl_build.verify import execution
from noetl_build.verify.binary import BinaryFacts, PeFacts
from noetl_build.verify.context import Context
from noetl_build.verify.results import FAIL, PASS

from .fakes import context, elf, macho

LINUX, WINDOWS = "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every command the checks start; each prints `noetl 0.1.0` (the fake wheel's version)."""
    commands: list[tuple[str, ...]] = []

    def fake_capture(cmd, **_: object) -> Captured:
        commands.append(tuple(str(part) for part in cmd))
        return Captured(tuple(str(part) for part in cmd), 0, "noetl 0.1.0\n", "")

    monkeypatch.setattr(execution, "capture", fake_capture)
    monkeypatch.setattr(execution, "host_arch", lambda: arches()["x86_64"])
    monkeypatch.setattr(execution, "place_stand_in", lambda ctx: "")
    return commands


def run_context(tmp_path: Path, tags: tuple[str, ...], facts: BinaryFacts | None, target: str,
                member: str = "noetl/bin/noetl") -> Context:
    binary = tmp_path / Path(member).name
    binary.write_bytes(b"never run")
    return replace(context(tags, facts, target), binary=binary, binary_member=member, work=tmp_path)


def native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "runner_for", lambda target: Runner("native"))


def wine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "runner_for", lambda target: Runner("wine", ("/usr/bin/wine64",)))


@pytest.mark.parametrize(
    ("facts", "described"),
    [
        (elf("EM_AARCH64", interpreter=None, needed=()), "is ELF 64-bit little-endian EM_AARCH64"),
        (elf("EM_386", elf_class=32), "is ELF 32-bit little-endian EM_386"),  # x86_64 kernels run these natively
        (elf("EM_X86_64", elf_class=32), "is ELF 32-bit little-endian EM_X86_64"),  # x32
        (elf("EM_PPC64", endian="big"), "is ELF 64-bit big-endian EM_PPC64"),
        (PeFacts("IMAGE_FILE_MACHINE_AMD64", "IMAGE_SUBSYSTEM_WINDOWS_CUI"), "is PE IMAGE_FILE_MACHINE_AMD64"),
        (macho(("x86_64", (10, 12), False)), "is Mach-O x86_64"),
    ],
)
def test_a_foreign_binary_is_not_run_natively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list, facts: BinaryFacts, described: str,
) -> None:
    native(monkeypatch)
    result = execution.check_run(run_context(tmp_path, ("manylinux_2_17_x86_64",), facts, LINUX))
    assert result is not None and result.status == FAIL, result
    assert result.detail.startswith(f"not run: noetl/bin/noetl {described}, and only ELF 64-bit little-endian "
                                    "EM_X86_64 runs natively on this"), result.detail
    assert "binfmt_misc" in result.detail
    assert started == []


def test_the_hosts_own_binary_is_run_natively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list) -> None:
    native(monkeypatch)
    ctx = run_context(tmp_path, ("manylinux_2_17_x86_64",), elf(), LINUX)
    result = execution.check_run(ctx)
    assert result is not None and result.status == PASS and result.detail == "ran natively: noetl 0.1.0", result
    assert started == [(str(ctx.binary), "--version")]


def test_a_binary_without_facts_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list) -> None:
    """A #! script that prints the right version proves nothing about the binary."""
    native(monkeypatch)
    ctx = replace(run_context(tmp_path, ("manylinux_2_17_x86_64",), None, LINUX),
                  facts_problem="noetl/bin/noetl: a script (#!), not an executable")
    result = execution.check_run(ctx)
    assert result is not None and result.status == FAIL
    assert result.detail == "not run: noetl/bin/noetl: a script (#!), not an executable"
    assert started == []


def test_wine_runs_only_a_pe_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list) -> None:
    """wine64 starts an ELF file as a Linux program (measured: `wine64 /bin/echo hi` prints hi),
    so a Linux binary in the Windows wheel would pass as 'ran under wine'."""
    wine(monkeypatch)
    bad = run_context(tmp_path, ("win_amd64",), elf(), WINDOWS, member="noetl/bin/noetl.exe")
    result = execution.check_run(bad)
    assert result is not None and result.status == FAIL, result
    assert result.detail == ("not run: noetl/bin/noetl.exe is ELF 64-bit little-endian EM_X86_64, not a PE program "
                             "(wine would start it as a host program)")
    assert started == []
    good = replace(bad, facts=PeFacts("IMAGE_FILE_MACHINE_AMD64", "IMAGE_SUBSYSTEM_WINDOWS_CUI"))
    result = execution.check_run(good)
    assert result is not None and result.status == PASS and result.detail == "ran under wine (wine64): noetl 0.1.0"
    assert started == [("/usr/bin/wine64", str(bad.binary), "--version")]


def test_the_console_script_runs_only_the_hosts_own_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list,
) -> None:
    monkeypatch.setattr(execution, "installable_here", lambda tags: True)
    ctx = run_context(tmp_path, ("manylinux_2_17_x86_64",), elf("EM_AARCH64"), LINUX)
    result = execution.check_console_script(ctx)
    assert result is not None and result.status == FAIL, result
    assert result.detail.startswith("not run: noetl/bin/noetl is ELF 64-bit little-endian EM_AARCH64, and only")
    assert started == []  # not even the venv
    execution.check_console_script(replace(ctx, facts=elf()))
    assert started and started[-1][-1] == "--version"


@pytest.mark.parametrize(
    ("system", "machine", "arch"),
    [("Linux", "x86_64", "x86_64"), ("Linux", "aarch64", "aarch64"), ("Linux", "armv7l", "armv7"),
     ("Linux", "i686", "i686"), ("Linux", "ppc64le", "powerpc64le"), ("Linux", "riscv64", "riscv64gc"),
     ("Linux", "sparc64", None), ("Darwin", "x86_64", None), ("Windows", "AMD64", None)],
)
def test_host_arch(monkeypatch: pytest.MonkeyPatch, system: str, machine: str, arch: str | None) -> None:
    monkeypatch.setattr(execution.platform, "system", lambda: system)
    monkeypatch.setattr(execution.platform, "machine", lambda: machine)
    found = execution.host_arch()
    assert (found.name if found else None) == arch
