"""Making broken wheels from good ones: rewrite the zip in Python, one defect at a time.

RECORD is rewritten to match (so a defect stays the only one) unless the caller says not to.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def rewrite(
    wheel: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    replace: Mapping[str, bytes] | None = None,
    modes: Mapping[str, int] | None = None,
    edit_wheel: Callable[[str], str] | None = None,
    update_record: bool = True,
) -> Path:
    """A copy of ``wheel`` in ``out_dir`` (renamed to ``name``) with members replaced, modes
    changed (permission bits, e.g. 0o644) or the WHEEL file edited."""
    replace, modes = dict(replace or {}), dict(modes or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (name or wheel.name)
    with zipfile.ZipFile(wheel) as src:
        infos = [i for i in src.infolist() if not i.is_dir()]
        contents = {i.filename: replace.pop(i.filename) if i.filename in replace else src.read(i) for i in infos}
    assert not replace, f"not in the wheel: {sorted(replace)}"
    record = next(n for n in contents if n.endswith(".dist-info/RECORD"))
    if edit_wheel:
        wheel_file = record.removesuffix("RECORD") + "WHEEL"
        contents[wheel_file] = edit_wheel(contents[wheel_file].decode()).encode()
    if update_record:
        contents[record] = record_for(contents, record)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in infos:
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            mode = modes.pop(info.filename, None)
            entry.external_attr = info.external_attr if mode is None else (0o100000 | mode) << 16
            dst.writestr(entry, contents[info.filename])
    assert not modes, f"not in the wheel: {sorted(modes)}"
    return out


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
