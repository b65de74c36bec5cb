"""What a binary is, read with pyelftools, macholib and pefile: facts only, no verdicts."""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BinaryFormatError

if TYPE_CHECKING:
    from elftools.elf.sections import ARMAttributesSection

EF_ARM_ABI_FLOAT_HARD = 0x400  # e_flags bit of an EABI5 hard-float (gnueabihf) binary
_MACHO_MAGICS = {
    bytes.fromhex(m) for m in ("feedface", "cefaedfe", "feedfacf", "cffaedfe", "cafebabe", "bebafeca")
}


@dataclass(frozen=True)
class ElfFacts:
    machine: str  # e_machine name as pyelftools gives it: EM_X86_64, ...
    elf_class: int  # 32 or 64
    endian: str  # "little" or "big"
    flags: int  # e_flags
    interpreter: str | None  # PT_INTERP: the dynamic loader, None when static
    needed: tuple[str, ...]  # DT_NEEDED libraries
    glibc: tuple[int, ...] | None  # highest GLIBC_x.y[.z] symbol version needed
    arm: tuple[tuple[str, int], ...] = ()  # ARM: the aeabi .ARM.attributes (TAG_CPU_ARCH, ...)
    compilers: tuple[str, ...] = ()  # .comment's "rustc version 1.96.0 (ac68faa20 2026-05-25)" lines
    osabi: str = "ELFOSABI_SYSV"  # e_ident[EI_OSABI] as pyelftools names it: the OS the binary is for

    format = "ELF"

    @property
    def hard_float(self) -> bool:
        return bool(self.flags & EF_ARM_ABI_FLOAT_HARD)

    @property
    def static(self) -> bool:
        return self.interpreter is None and not self.needed

    def describe(self) -> str:
        abi = (", hard-float" if self.hard_float else ", soft-float") if self.machine == "EM_ARM" else ""
        return f"ELF {self.elf_class}-bit {self.endian}-endian {self.machine}{abi}"


@dataclass(frozen=True)
class MachoSlice:
    cpu: str  # macholib's CPU_TYPE_NAMES: x86_64, ARM64, ...
    minos: tuple[int, int] | None  # LC_BUILD_VERSION minos or LC_VERSION_MIN_MACOSX version
    signed: bool  # has LC_CODE_SIGNATURE
    signature_problem: str = ""  # why that signature does not hold (its page hashes), "" if it does


@dataclass(frozen=True)
class MachoFacts:
    slices: tuple[MachoSlice, ...]
    fat: bool

    format = "Mach-O"

    def describe(self) -> str:
        kind = "fat Mach-O" if self.fat else "Mach-O"
        return f"{kind} " + " + ".join(s.cpu for s in self.slices)


@dataclass(frozen=True)
class PeFacts:
    machine: str  # pefile.MACHINE_TYPE name: IMAGE_FILE_MACHINE_AMD64, ...
    subsystem: str
    imports: tuple[str, ...] = ()  # imported DLLs, lower case

    format = "PE"

    def describe(self) -> str:
        return f"PE {self.machine}"


BinaryFacts = ElfFacts | MachoFacts | PeFacts


def inspect(path: Path) -> BinaryFacts:
    """Read the executable at ``path``; BinaryFormatError when it is none of ELF, Mach-O, PE."""
    head = path.read_bytes()[:4]
    try:
        if head == b"\x7fELF":
            return _elf(path)
        if head in _MACHO_MAGICS:
            return _macho(path)
        if head[:2] == b"MZ":
            return _pe(path)
    except BinaryFormatError:
        raise
    except Exception as exc:  # the parsers raise anything on a damaged file
        raise BinaryFormatError(f"unreadable {_kind(head)} file ({type(exc).__name__}: {exc})") from None
    if head[:2] == b"#!":
        raise BinaryFormatError("a script (#!), not an executable")
    raise BinaryFormatError(f"not an executable (starts with {head!r})")


def _kind(head: bytes) -> str:
    return "ELF" if head == b"\x7fELF" else "PE" if head[:2] == b"MZ" else "Mach-O"


def version_tuple(name: str, prefix: str) -> tuple[int, ...] | None:
    """GLIBC_2.17 -> (2, 17); None for GLIBC_PRIVATE or other names."""
    match = re.fullmatch(re.escape(prefix) + r"(\d+(?:\.\d+)*)", name)
    return tuple(int(p) for p in match[1].split(".")) if match else None


def _elf(path: Path) -> ElfFacts:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection
    from elftools.elf.sections import ARMAttributesSection
    from elftools.elf.segments import InterpSegment

    with path.open("rb") as stream:
        elf = ELFFile(stream)
        interpreter = None
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                interpreter = segment.get_interp_name()
        needed: list[str] = []
        glibc: list[tuple[int, ...]] = []
        arm: list[tuple[str, int]] = []
        comments: list[str] = []
        for section in elf.iter_sections():
            if section.name == ".comment":
                comments += [text.decode("utf-8", "replace") for text in section.data().split(b"\0")
                             if text.startswith(b"rustc version ")]
            if isinstance(section, ARMAttributesSection):
                arm += _arm_attributes(section)
            if isinstance(section, DynamicSection):
                # pyelftools sets .needed on DT_NEEDED tags only: its type hints do not know it
                needed += [str(getattr(t, "needed")) for t in section.iter_tags("DT_NEEDED")]
            if isinstance(section, GNUVerNeedSection):
                for _, auxiliaries in section.iter_versions():
                    glibc += [v for aux in auxiliaries if (v := version_tuple(aux.name, "GLIBC_"))]
        return ElfFacts(
            machine=str(elf["e_machine"]),
            elf_class=elf.elfclass,
            endian="little" if elf.little_endian else "big",
            flags=int(elf["e_flags"]),
            interpreter=interpreter,
            needed=tuple(needed),
            glibc=max(glibc) if glibc else None,
            arm=tuple(arm),
            compilers=tuple(dict.fromkeys(comments)),
            osabi=str(elf["e_ident"]["EI_OSABI"]),
        )


def _arm_attributes(section: ARMAttributesSection) -> list[tuple[str, int]]:
    """The integer attributes of the "aeabi" subsection: what the linker says the code needs."""
    found = []
    for subsection in section.iter_subsections():
        if subsection.header["vendor_name"] != "aeabi":
            continue
        for subsubsection in subsection.iter_subsubsections():
            found += [(str(a.tag), a.value) for a in subsubsection.iter_attributes() if isinstance(a.value, int)]
    return found


def _macho(path: Path) -> MachoFacts:
    from macholib import mach_o
    from macholib.MachO import MachO

    macho = MachO(str(path))
    data = path.read_bytes()
    slices = []
    for header in macho.headers:
        minos = None
        signed, signature_problem = False, ""
        for load_command, command, _ in header.commands:
            if load_command.cmd == mach_o.LC_BUILD_VERSION:
                minos = _macho_version(command.minos)
            elif load_command.cmd == mach_o.LC_VERSION_MIN_MACOSX and minos is None:
                minos = _macho_version(command.version)
            elif load_command.cmd == mach_o.LC_CODE_SIGNATURE:
                signed = True
                signature_problem = _signature_problem(data, header.offset, command.dataoff, command.datasize)
        cpu = mach_o.CPU_TYPE_NAMES.get(header.header.cputype, f"cputype {header.header.cputype}")
        slices.append(MachoSlice(cpu=cpu, minos=minos, signed=signed, signature_problem=signature_problem))
    return MachoFacts(slices=tuple(slices), fat=macho.fat is not None)


# Apple's code signature: a SuperBlob of blobs, one a CodeDirectory holding a hash of every page
# of the file up to codeLimit (xnu's cs_blobs.h). The kernel checks those hashes on arm64.
CS_SUPERBLOB, CS_CODEDIRECTORY = 0xFADE0CC0, 0xFADE0C02
CS_HASHES = {1: hashlib.sha1, 2: hashlib.sha256}  # CS_HASHTYPE_SHA1, CS_HASHTYPE_SHA256


def _signature_problem(data: bytes, base: int, offset: int, size: int) -> str:
    """Why the slice's code signature would not hold; "" if every page hash matches."""
    blob = data[base + offset : base + offset + size]
    if len(blob) < 12 or struct.unpack_from(">I", blob)[0] != CS_SUPERBLOB:
        return "LC_CODE_SIGNATURE points at no signature (SuperBlob)"
    (count,) = struct.unpack_from(">I", blob, 8)
    for index in range(min(count, 64)):
        if 20 + 8 * index > len(blob):
            break
        _, at = struct.unpack_from(">II", blob, 12 + 8 * index)
        if at + 44 > len(blob) or struct.unpack_from(">I", blob, at)[0] != CS_CODEDIRECTORY:
            continue
        hash_offset, _, _, code_slots, code_limit = struct.unpack_from(">IIIII", blob, at + 16)
        hash_size, hash_type, _, page_shift = struct.unpack_from(">BBBB", blob, at + 36)
        hasher = CS_HASHES.get(hash_type)
        if hasher is None:
            return f"code signature hash type {hash_type} unknown"
        page = 1 << page_shift if page_shift else code_limit
        if not page or code_slots > len(data) // page + 1:
            return f"code signature claims {code_slots} pages of {page} bytes: more than the file has"
        stale = 0
        for slot in range(code_slots):
            start = at + hash_offset + slot * hash_size
            recorded = blob[start : start + hash_size]
            content = data[base + slot * page : base + min((slot + 1) * page, code_limit)]
            stale += hasher(content).digest()[:hash_size] != recorded
        if stale:
            return f"code signature stale: {stale} of {code_slots} page hashes differ (changed after signing)"
        return ""
    return "code signature has no CodeDirectory"


def _macho_version(packed: int) -> tuple[int, int]:
    """Mach-O packs X.Y.Z as xxxx.yy.zz nibbles: 0x000A0C00 is 10.12."""
    return (packed >> 16) & 0xFFFF, (packed >> 8) & 0xFF


def _pe(path: Path) -> PeFacts:
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    try:
        machine = pefile.MACHINE_TYPE.get(pe.FILE_HEADER.Machine, hex(pe.FILE_HEADER.Machine))
        subsystem = pefile.SUBSYSTEM_TYPE.get(pe.OPTIONAL_HEADER.Subsystem, str(pe.OPTIONAL_HEADER.Subsystem))
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
        imports = tuple(entry.dll.decode("ascii", "replace").lower() for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", ()))
    finally:
        pe.close()
    return PeFacts(machine=str(machine), subsystem=str(subsystem), imports=imports)
