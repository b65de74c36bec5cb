"""Wheel files, the one place that reads and writes WHEEL and RECORD.

    WheelFile.read(path)     a wheel read once: its name's tags, members (mode, size, sha256),
                             WHEEL's lines and RECORD's rows (verify)
    wheel_tags(path)         the Tag lines of a wheel's WHEEL (dist/manifest.json)
    installed_tags(dir, di)  the Tag lines of the WHEEL an installer put in a directory
    parse_wheel / parse_record   the two formats, for anything else holding their bytes (delocate)
    rewrite(src, dest, ...)  one pass over a wheel: add or replace members, set Root-Is-Purelib,
                             give every entry its one mode and time, write RECORD last

Retagging is `wheel tags` (the build's design); everything after it is one ``rewrite``.
"""

from __future__ import annotations

import base64
import csv
import email.policy
import hashlib
import io
import stat
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .errors import WheelError
from .files import EXEC_MODE, FILE_MODE, atomic_output

ZIP_EPOCH = 315532800  # 1980-01-01: the earliest time a zip entry can carry


@dataclass(frozen=True)
class Member:
    name: str
    mode: int  # st_mode from the zip entry (0 when the zip carries none)
    size: int
    sha256: str  # RECORD's form: urlsafe base64 without padding

    @property
    def permissions(self) -> int:
        return stat.S_IMODE(self.mode)

    @property
    def is_regular(self) -> bool:
        return stat.S_ISREG(self.mode)


@dataclass(frozen=True)
class RecordRow:
    path: str
    hash: str  # "sha256=..." or "" (RECORD's own row)
    size: str


@dataclass(frozen=True)
class WheelFile:
    path: Path
    distribution: str
    version: str
    filename_tags: frozenset[str]  # expanded: py3-none-manylinux_2_17_x86_64, ...
    members: tuple[Member, ...]
    dist_info: str  # "noetl-0.1.0.dist-info"
    wheel_headers: tuple[tuple[str, str], ...]  # the WHEEL file's lines, in order
    record: tuple[RecordRow, ...]

    @classmethod
    def read(cls, path: Path) -> WheelFile:
        name, version, tags = _name_parts(path)
        dist_info = dist_info_of(path)
        try:
            with zipfile.ZipFile(path) as zf:
                members = tuple(_member(zf, info) for info in zf.infolist() if not info.is_dir())
                names = {m.name for m in members}
                wheel_text = zf.read(f"{dist_info}/WHEEL") if f"{dist_info}/WHEEL" in names else b""
                record_text = zf.read(f"{dist_info}/RECORD") if f"{dist_info}/RECORD" in names else b""
        except (zipfile.BadZipFile, OSError) as exc:
            raise WheelError(f"{path.name}: cannot read the zip ({exc})") from None
        return cls(
            path=path,
            distribution=name,
            version=version,
            filename_tags=tags,
            members=members,
            dist_info=dist_info,
            wheel_headers=parse_wheel(wheel_text),
            record=parse_record(record_text),
        )

    @property
    def platform_tags(self) -> tuple[str, ...]:
        return tuple(sorted({t.rsplit("-", 1)[1] for t in self.filename_tags}))

    @staticmethod
    def platform_tags_of(filename: str) -> tuple[str, ...]:
        """The platform tags a wheel's file name carries (empty if it is no wheel's name)."""
        try:
            tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename:
            return ()
        return tuple(sorted({t.platform for t in tags}))

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def header(self, key: str) -> list[str]:
        return header(self.wheel_headers, key)

    def read_member(self, name: str) -> bytes:
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(name)

    def extract(self, name: str, dest: Path) -> Path:
        """Write one member to ``dest`` with the permission bits the zip gives it (as pip does)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.read_member(name))
        member = self.member(name)
        dest.chmod((member.permissions if member and member.mode else 0o644) & 0o777)
        return dest


# ---- the two formats


def parse_wheel(data: bytes) -> tuple[tuple[str, str], ...]:
    """WHEEL's lines as (key, value) pairs, in order (RFC 822 headers, as pip reads them)."""
    headers = BytesParser(policy=email.policy.compat32).parsebytes(data)
    return tuple((key, str(value).strip()) for key, value in headers.items())


def header(headers: tuple[tuple[str, str], ...], key: str) -> list[str]:
    return [value for name, value in headers if name.lower() == key.lower()]


def parse_record(data: bytes) -> tuple[RecordRow, ...]:
    rows = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    return tuple(RecordRow(*(row + ["", ""])[:3]) for row in rows if row)


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_tags(path: Path) -> list[str]:
    """The Tag lines of a wheel's WHEEL file."""
    dist_info = dist_info_of(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return header(parse_wheel(zf.read(f"{dist_info}/WHEEL")), "Tag")
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise WheelError(f"{path.name}: cannot read its WHEEL ({exc})") from None


def installed_tags(target_dir: Path, dist_info: str) -> frozenset[str]:
    """The Tag lines of the WHEEL an installer put under ``target_dir`` (empty if none)."""
    wheel = target_dir / dist_info / "WHEEL"
    if not wheel.is_file():
        return frozenset()
    return frozenset(header(parse_wheel(wheel.read_bytes()), "Tag"))


# ---- writing


def rewrite(
    src: Path, dest: Path, *, epoch: int, add: Mapping[str, bytes] | None = None,
    executables: frozenset[str] = frozenset(), purelib: bool | None = None,
) -> Path:
    """``src`` written to ``dest`` in one pass, byte-reproducibly.

    ``add`` puts (or replaces) members; ``purelib`` sets WHEEL's Root-Is-Purelib. Every entry
    becomes a regular file of mode 0644 (0755 for the names in ``executables``) dated
    ``epoch``; packages first, then the .dist-info, RECORD last and rewritten to match.
    """
    dist_info = dist_info_of(src)
    wheel_name, record_name = f"{dist_info}/WHEEL", f"{dist_info}/RECORD"
    try:
        with zipfile.ZipFile(src) as zf:
            contents = {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise WheelError(f"{src.name}: cannot read the zip ({exc})") from None
    if wheel_name not in contents:
        raise WheelError(f"{src.name}: no {wheel_name}")
    contents.pop(record_name, None)
    contents.update(add or {})
    if purelib is not None:
        contents[wheel_name] = _set_header(contents[wheel_name], "Root-Is-Purelib", str(purelib).lower(), src)

    order = sorted(contents, key=lambda n: (n.startswith(f"{dist_info}/"), n))
    when = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    with atomic_output(dest) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for member in order:
            _write(zf, member, contents[member], EXEC_MODE if member in executables else FILE_MODE, when)
        _write(zf, record_name, _record(order, contents, record_name), FILE_MODE, when)
    return dest


def _record(order: list[str], contents: Mapping[str, bytes], record_name: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for member in order:
        writer.writerow([member, record_hash(contents[member]), len(contents[member])])
    writer.writerow([record_name, "", ""])
    return out.getvalue().encode()


def _write(zf: zipfile.ZipFile, name: str, data: bytes, mode: int, when: tuple[int, ...]) -> None:
    entry = zipfile.ZipInfo(name, date_time=when)  # type: ignore[arg-type]
    entry.external_attr = (stat.S_IFREG | mode) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(entry, data)


def _set_header(data: bytes, key: str, value: str, src: Path) -> bytes:
    lines = data.decode("utf-8").splitlines()
    prefix = f"{key}:"
    if not any(line.startswith(prefix) for line in lines):
        raise WheelError(f"{src.name}: its WHEEL has no {key} line")
    return ("\n".join(f"{prefix} {value}" if line.startswith(prefix) else line for line in lines) + "\n").encode()


def dist_info_of(path: Path) -> str:
    """The .dist-info directory the wheel named ``path`` holds, e.g. noetl-0.1.0.dist-info."""
    name, version, _ = _name_parts(path)
    return f"{name.replace('-', '_')}-{version}.dist-info"


def _name_parts(path: Path) -> tuple[str, str, frozenset[str]]:
    try:
        name, version, _, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise WheelError(f"{path.name}: not a wheel's name ({exc})") from None
    return str(name), str(version), frozenset(str(t) for t in tags)


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    data = zf.read(info)
    return Member(info.filename, info.external_attr >> 16, len(data), record_hash(data))
