"""Making broken wheels from good ones: rewrite the zip in Python, one defect at a time.

RECORD is rewritten to match (so a defect stays the only one) unless the caller says not to.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO


def rewrite(
    wheel: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    replace: Mapping[str, bytes] | None = None,
    modes: Mapping[str, int] | None = None,
    edit_wheel: Callable[[str], str] | None = None,
    update_record: bool = True,
    add: Mapping[str, bytes] | None = None,
    remove: Sequence[str] = (),
    comments: Mapping[str, bytes] | None = None,
    duplicate: str | None = None,
    data_descriptors: bool = False,
    trailing: bytes = b"",
) -> Path:
    """A copy of ``wheel`` in ``out_dir`` (renamed to ``name``) with members replaced, added or removed,
    modes changed (permission bits, e.g. 0o644) or the WHEEL file edited; and zip defects PyPI
    refuses: a comment on entries, ``duplicate`` written twice, every entry streamed with a data
    descriptor, bytes after the end record."""
    replace, modes, comments = dict(replace or {}), dict(modes or {}), dict(comments or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (name or wheel.name)
    with zipfile.ZipFile(wheel) as src:
        infos = [i for i in src.infolist() if not i.is_dir() and i.filename not in remove]
        assert set(remove) <= set(src.namelist()), f"not in the wheel: {sorted(set(remove) - set(src.namelist()))}"
        contents = {i.filename: replace.pop(i.filename) if i.filename in replace else src.read(i) for i in infos}
    assert not replace, f"not in the wheel: {sorted(replace)}"
    for name_added, data in (add or {}).items():
        assert name_added not in contents, f"already in the wheel: {name_added}"
        contents[name_added] = data
        infos.append(zipfile.ZipInfo(name_added, date_time=infos[0].date_time))
        infos[-1].external_attr = infos[0].external_attr
    record = next(n for n in contents if n.endswith(".dist-info/RECORD"))
    if edit_wheel:
        wheel_file = record.removesuffix("RECORD") + "WHEEL"
        contents[wheel_file] = edit_wheel(contents[wheel_file].decode()).encode()
    if update_record:
        contents[record] = record_for(contents, record)
    with out.open("wb") as raw, zipfile.ZipFile(_Unseekable(raw) if data_descriptors else raw, "w") as dst:
        for info in infos:
            mode = modes.pop(info.filename, None)
            comment = comments.pop(info.filename, b"")
            for _ in range(2 if info.filename == duplicate else 1):
                entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = info.external_attr if mode is None else (0o100000 | mode) << 16
                entry.comment = comment
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "Duplicate name": the defect asked for
                    dst.writestr(entry, contents[info.filename])
    assert not modes and not comments, f"not in the wheel: {sorted([*modes, *comments])}"
    if trailing:
        with out.open("ab") as stream:
            stream.write(trailing)
    return out


class _Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back in, so it writes each entry with a data descriptor."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.stream.write(data)


def retag(wheel: Path, out_dir: Path, platform_tags: Sequence[str], **changes: object) -> Path:
    """The wheel under other platform tags: file name and WHEEL Tag lines both, consistently."""
    distribution, version, python, abi, _ = wheel.name.removesuffix(".whl").split("-")
    platforms = ".".join(sorted(platform_tags))

    def edit(text: str) -> str:
        # (a blank line would end the headers: Tag lines after it are no headers at all)
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Tag:")]
        lines += [f"Tag: {python}-{abi}-{tag}" for tag in sorted(platform_tags)]
        return "\n".join(lines) + "\n"

    name = f"{distribution}-{version}-{python}-{abi}-{platforms}.whl"
    return rewrite(wheel, out_dir, name=name, edit_wheel=edit, **changes)  # type: ignore[arg-type]


def record_for(contents: Mapping[str, bytes], record: str) -> bytes:
    rows = []
    for path, data in contents.items():
        if path == record:
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{record},,")
    return ("\n".join(rows) + "\n").encode()


def read(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def strip_code_signature(binary: Path, out: Path) -> Path:
    """A copy of a thin Mach-O without its LC_CODE_SIGNATURE load command (macholib)."""
    from macholib import mach_o
    from macholib.MachO import MachO

    out.write_bytes(binary.read_bytes())
    macho = MachO(str(out))
    (header,) = macho.headers
    for index, (load_command, _, _) in enumerate(header.commands):
        if load_command.cmd == mach_o.LC_CODE_SIGNATURE:
            del header.commands[index]
            header.header.ncmds -= 1
            header.changedHeaderSizeBy(-load_command.cmdsize)
            break
    else:
        raise AssertionError(f"{binary} has no LC_CODE_SIGNATURE")
    with out.open("r+b") as stream:
        macho.write(stream)
    return out


def elf_header(elf_class: int, endian: str, machine: int, flags: int = 0) -> bytes:
    """A bare ELF executable header: no program headers, no sections."""
    order = "<" if endian == "little" else ">"
    ident = b"\x7fELF" + bytes([elf_class // 32, 1 if endian == "little" else 2, 1]) + b"\0" * 9
    if elf_class == 64:
        rest = struct.pack(order + "HHIQQQIHHHHHH", 2, machine, 1, 0, 0, 0, flags, 64, 56, 0, 64, 0, 0)
    else:
        rest = struct.pack(order + "HHIIIIIHHHHHH", 2, machine, 1, 0, 0, 0, flags, 52, 32, 0, 40, 0, 0)
    return ident + rest


EI_OSABI = 7  # e_ident's OS/ABI byte: 0 SYSV, 3 GNU/Linux, 9 FreeBSD, ...


def with_osabi(binary: bytes, osabi: int) -> bytes:
    """An ELF file's bytes with another OS/ABI in its e_ident (what brandelf(1) does on FreeBSD)."""
    assert binary[:4] == b"\x7fELF", "not an ELF file"
    return binary[:EI_OSABI] + bytes([osabi]) + binary[EI_OSABI + 1 :]
