"""A post-link edit of an ELF binary's symbol versions: weak references that lose their version.

Rust's std refers weakly to ``__cxa_thread_atexit_impl@GLIBC_2.18`` and does without it when the
C library lacks it, but the linker still records a GLIBC_2.18 version need, which glibc 2.17's
loader (and auditwheel) treat as required. A real glibc-2.17 link leaves that reference
unversioned; this does the same after the fact: each named symbol (undefined and weak) gets
the version index "global" (1), and a version need no symbol uses any more is unlinked from
its library's list (``.gnu.version_r``). Nothing else moves: sizes and offsets stay.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ElfPatchError

if TYPE_CHECKING:
    from elftools.elf.gnuversions import GNUVerNeedSection

VER_NDX_GLOBAL = 1
VERNEED_SIZE = VERNAUX_SIZE = 16  # the same in ELF32 and ELF64: Half, Half, Word, Word, Word


@dataclass(frozen=True)
class _Need:
    library: str
    version: str
    index: int  # vna_other: the index .gnu.version entries use
    at: int  # file offset of this Vernaux
    verneed_at: int  # file offset of its Verneed
    previous_at: int | None  # file offset of the Vernaux before it in the chain (None: first)


def unversion_weak(data: bytes, symbols: Sequence[str]) -> tuple[bytes, list[str]]:
    """``data`` with ``symbols`` unversioned; also the version needs dropped ("libc.so.6 GLIBC_2.18")."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
    from elftools.elf.sections import SymbolTableSection

    elf = ELFFile(io.BytesIO(data))
    order = "<" if elf.little_endian else ">"
    dynsym, versym, verneed = (elf.get_section_by_name(n) for n in (".dynsym", ".gnu.version", ".gnu.version_r"))
    if not (isinstance(dynsym, SymbolTableSection) and isinstance(versym, GNUVerSymSection)
            and isinstance(verneed, GNUVerNeedSection)):
        raise ElfPatchError("the binary has no dynamic symbol versions (.dynsym, .gnu.version, .gnu.version_r)")
    out = bytearray(data)
    names = {sym.name: number for number, sym in enumerate(dynsym.iter_symbols())}
    released = set()
    for name in symbols:
        number = names.get(name)
        if number is None:
            raise ElfPatchError(f"no dynamic symbol {name!r} to unversion")
        symbol = dynsym.get_symbol(number)
        if symbol["st_shndx"] != "SHN_UNDEF" or symbol["st_info"]["bind"] != "STB_WEAK":
            raise ElfPatchError(f"{name!r} is not a weak undefined symbol: only those may lose their version")
        at = versym["sh_offset"] + 2 * number
        (index,) = struct.unpack_from(order + "H", out, at)
        struct.pack_into(order + "H", out, at, VER_NDX_GLOBAL)
        if index > VER_NDX_GLOBAL:
            released.add(index & 0x7FFF)
    in_use = {struct.unpack_from(order + "H", out, versym["sh_offset"] + 2 * n)[0] & 0x7FFF
              for n in range(dynsym.num_symbols())}
    dropped = []
    for need in _needs(out, verneed, order):
        if need.index in released and need.index not in in_use:
            _unlink(out, need, order)
            dropped.append(f"{need.library} {need.version}")
    return bytes(out), dropped


def _needs(data: bytearray, section: GNUVerNeedSection, order: str) -> list[_Need]:
    from elftools.elf.sections import StringTableSection

    strings = section.elffile.get_section(section["sh_link"])
    assert isinstance(strings, StringTableSection)
    found = []
    at = section["sh_offset"]
    for _ in range(section.num_versions()):
        _, count, file, aux, following = struct.unpack_from(order + "HHIII", data, at)
        library = strings.get_string(file)
        aux_at, previous = at + aux, None
        for _ in range(count):
            _, _, index, name, aux_next = struct.unpack_from(order + "IHHII", data, aux_at)
            found.append(_Need(library, strings.get_string(name), index, aux_at, at, previous))
            if not aux_next:
                break
            previous, aux_at = aux_at, aux_at + aux_next
        if not following:
            break
        at += following
    return found


def _unlink(data: bytearray, need: _Need, order: str) -> None:
    """Take one Vernaux out of its Verneed's chain (its bytes stay, unreferenced)."""
    version, count, file, aux, following = struct.unpack_from(order + "HHIII", data, need.verneed_at)
    if count < 2:
        raise ElfPatchError(f"{need.library} {need.version} is the library's only version need")
    (aux_next,) = struct.unpack_from(order + "I", data, need.at + 12)
    if need.previous_at is None:  # the first: the Verneed points past it
        aux += aux_next
    else:
        (previous_next,) = struct.unpack_from(order + "I", data, need.previous_at + 12)
        struct.pack_into(order + "I", data, need.previous_at + 12, previous_next + aux_next if aux_next else 0)
    struct.pack_into(order + "HHIII", data, need.verneed_at, version, count - 1, file, aux, following)
