"""A wheel read once: its filename's tags, members (mode, size, sha256), WHEEL and RECORD."""

from __future__ import annotations

import base64
import csv
import email.policy
import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..errors import BuildError


class WheelError(BuildError):
    """The file is not a wheel at all (not a zip, or a name that is not a wheel's)."""


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
        try:
            name, version, _, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename as exc:
            raise WheelError(f"{path.name}: not a wheel's name ({exc})") from None
        try:
            with zipfile.ZipFile(path) as zf:
                members = tuple(_member(zf, info) for info in zf.infolist() if not info.is_dir())
                names = {m.name for m in members}
                dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
                wheel_text = zf.read(f"{dist_info}/WHEEL") if f"{dist_info}/WHEEL" in names else b""
                record_text = zf.read(f"{dist_info}/RECORD") if f"{dist_info}/RECORD" in names else b""
        except (zipfile.BadZipFile, OSError) as exc:
            raise WheelError(f"{path.name}: cannot read the zip ({exc})") from None
        headers = BytesParser(policy=email.policy.compat32).parsebytes(wheel_text)
        return cls(
            path=path,
            distribution=str(name),
            version=str(version),
            filename_tags=frozenset(str(t) for t in tags),
            members=members,
            dist_info=dist_info,
            wheel_headers=tuple((k, str(v).strip()) for k, v in headers.items()),
            record=_parse_record(record_text),
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
        return [v for k, v in self.wheel_headers if k.lower() == key.lower()]

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


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    data = zf.read(info)
    return Member(info.filename, info.external_attr >> 16, len(data), record_hash(data))


def _parse_record(text: bytes) -> tuple[RecordRow, ...]:
    rows = csv.reader(io.StringIO(text.decode("utf-8", errors="replace")))
    return tuple(RecordRow(*(row + ["", ""])[:3]) for row in rows if row)
