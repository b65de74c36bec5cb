"""Hand-made values for unit tests of the checks: a wheel that was never zipped, binary facts."""

from __future__ import annotations

from pathlib import Path

from noetl_build.layout import Layout
from noetl_build.targets import Target, load_matrix
from noetl_build.verify.binary import BinaryFacts, ElfFacts, MachoFacts, MachoSlice
from noetl_build.verify.claim import ClaimError, claim_of
from noetl_build.verify.context import Context
from noetl_build.wheelfile import Member, RecordRow, WheelFile
from tests.conftest import ROOT

DIST_INFO = "noetl-0.1.0.dist-info"


def target(name: str) -> Target:
    (found,) = load_matrix(ROOT / "targets.toml").select([name])
    return found


def wheel(
    platform_tags: tuple[str, ...] = ("manylinux_2_17_x86_64",),
    members: tuple[Member, ...] = (),
    record: tuple[RecordRow, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> WheelFile:
    return WheelFile(
        path=Path("/nowhere/noetl.whl"), distribution="noetl", version="0.1.0",
        filename_tags=frozenset(f"py3-none-{t}" for t in platform_tags), members=members,
        dist_info=DIST_INFO, wheel_headers=headers, record=record,
    )


def context(
    platform_tags: tuple[str, ...] = ("manylinux_2_17_x86_64",),
    facts: BinaryFacts | None = None,
    target_name: str | None = None,
    **wheel_fields: object,
) -> Context:
    try:
        claim, problem = claim_of(platform_tags), ""
    except ClaimError as exc:
        claim, problem = None, str(exc)
    return Context(
        wheel=wheel(platform_tags, **wheel_fields),  # type: ignore[arg-type]
        target=target(target_name) if target_name else None,
        layout=Layout.at(ROOT), work=Path("/nowhere"), find_links=Path("/nowhere"),
        claim=claim, claim_problem=problem, binary_member="noetl/bin/noetl", facts=facts,
    )


def elf(
    machine: str = "EM_X86_64", *, elf_class: int = 64, endian: str = "little", flags: int = 0,
    interpreter: str | None = "/lib64/ld-linux-x86-64.so.2", needed: tuple[str, ...] = ("libc.so.6",),
    glibc: tuple[int, ...] | None = (2, 17), arm: dict[str, int] | None = None, osabi: str = "ELFOSABI_SYSV",
) -> ElfFacts:
    return ElfFacts(machine=machine, elf_class=elf_class, endian=endian, flags=flags,
                    interpreter=interpreter, needed=needed, glibc=glibc, arm=tuple((arm or {}).items()), osabi=osabi)


def macho(*slices: tuple[str, tuple[int, int] | None, bool]) -> MachoFacts:
    return MachoFacts(slices=tuple(MachoSlice(cpu, minos, signed) for cpu, minos, signed in slices),
                      fat=len(slices) > 1)
