"""PyPI's upload rules, applied to a wheel or an sdist on disk before anything is uploaded.

PyPI checks each file it is sent, one at a time, and answers 400 with a reason when the file
breaks one of its rules; a release refused halfway is a half-published release. The rules
below are PyPI's own, read in pypi/warehouse at commit
6b62157124ab7865029afeeadf282bce27d601d9 (2026-08-21, ``WAREHOUSE_COMMIT``) and written here
anew:

    warehouse/forklift/legacy.py    file name characters and length, size, zip or tar, the
                                    compression ratio and methods, WHEEL / PKG-INFO present, the
                                    sdist's top directory, sparse tar members, the sdist's name
                                    (PEP 625), platform tags, name and version against the file
                                    name, License-File present, RECORD, entry points, METADATA
    warehouse/forklift/metadata.py  the metadata as packaging.metadata validates it, plus PyPI's
                                    own: Metadata-Version, no local version, Summary length,
                                    classifiers (trove-classifiers), URLs (rfc3986), direct
                                    references, Dynamic, License beside License-Expression
    warehouse/utils/zipfiles.py     the zip's records: no data descriptor, no comment on an
                                    entry, no duplicate or mismatched entries, no trailing data
    warehouse/utils/wheel.py        RECORD present and readable; entry_points.txt an INI file
                                    whose script names are [\\w.-]+
    warehouse/utils/readme.py       the description renders (readme_renderer, comrak for Markdown)
    warehouse/constants.py          100 MiB a file, 10 GiB a project

    refusals(path, real_index=True) -> [Refusal]   every rule the file breaks, in PyPI's order
    check_release(paths, real_index=True)          ReleaseError naming the first refusal

``real_index=False`` relaxes the one rule a private index does not have: a local version
(``+g1234abc``) is refused by PyPI, and taken by the rehearsal's pypiserver.

Not checked here, because no file shows them: the index's state (a file or file name already
used, a release older than 14 days, a second sdist in an existing release), the account
(e-mail, 2FA, permissions), the digests twine computes, PyPI's malware scan (YARA rules) and
author/maintainer e-mail syntax (PyPI's email-validator; noetl declares no address). A RECORD
that lists other files than the zip holds is mailed to the owners, not refused: verify's RECORD
check refuses it instead. docs/verify.md lists every rule and where PyPI keeps it.
"""

from __future__ import annotations

import configparser
import csv
import os
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt
import rfc3986  # type: ignore[import-untyped]
import rfc3986.exceptions  # type: ignore[import-untyped]
import rfc3986.validators  # type: ignore[import-untyped]
import trove_classifiers
from packaging.metadata import InvalidMetadata, Metadata, RawMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import ReleaseError, printable

WAREHOUSE_COMMIT = "6b62157124ab7865029afeeadf282bce27d601d9"

MIB, GIB = 1 << 20, 1 << 30
MAX_FILE_SIZE = 100 * MIB  # warehouse/constants.py MAX_FILESIZE: a project may be given more, never less
MAX_PROJECT_SIZE = 10 * GIB  # MAX_PROJECT_SIZE: every file of every release of the project
RATIO_MIN_SIZE = 64 * MIB  # legacy.py: a zip unpacking to more than this ...
RATIO_LIMIT = 50  # ... and to more than 50 times its size is taken for a zip bomb
NAME_MAX = 255  # PyPI writes METADATA beside the upload as <file name>.metadata: one path component

SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
SUMMARY_LIMIT = 512
URL_LABEL_LIMIT = 32
DYNAMIC_FIELDS = frozenset(name.lower() for name in (
    "Platform", "Supported-Platform", "Summary", "Description", "Description-Content-Type", "Keywords",
    "Home-Page", "Download-Url", "Author", "Author-Email", "Maintainer", "Maintainer-Email", "License",
    "License-Expression", "License-File", "Classifier", "Requires-Dist", "Requires-Python",
    "Requires-External", "Project-Url", "Provides-Extra", "Provides-Dist", "Obsoletes-Dist",
    "Requires", "Provides", "Obsoletes", "Import-Name", "Import-Namespace",
))

# ---- platform tags PyPI takes (legacy.py _valid_platform_tag): a list, and four families by pattern
PLATFORMS = frozenset({
    "any", "win32", "win_arm64", "win_amd64", "win_ia64",
    "manylinux1_x86_64", "manylinux1_i686", "manylinux2010_x86_64", "manylinux2010_i686",
    "manylinux2014_x86_64", "manylinux2014_i686", "manylinux2014_aarch64", "manylinux2014_armv7l",
    "manylinux2014_ppc64", "manylinux2014_ppc64le", "manylinux2014_s390x",
    "linux_armv6l", "linux_armv7l",
})
MACOS_ARCHES = frozenset({"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64",
                          "universal", "universal2"})
MACOS_MAJORS = frozenset({"11", "12", "13", "14", "15", "26"})  # macosx_<major>_0; 10 takes any minor
LINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
LIBC_ARCHES = {"many": LINUX_ARCHES | {"ppc64"}, "musl": LINUX_ARCHES}
IOS_ARCHES = frozenset({"arm64", "x86_64"})
ANDROID_ARCHES = frozenset({"armeabi_v7a", "arm64_v8a", "x86", "x86_64"})
# PyPI matches these from the tag's start (re.match): whatever follows is the architecture
_MACOS = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.*)")
_LINUX = re.compile(r"(?P<libc>many|musl)linux_\d+_\d+_(?P<arch>.*)")
_IOS = re.compile(r"ios_\d+_\d+_(?P<arch>.*)_(?:iphoneos|iphonesimulator)")
_ANDROID = re.compile(r"android_\d+_(?P<arch>.*)")
_EMSCRIPTEN = re.compile(r"pyemscripten_\d+_\d+_wasm32")
_ENTRY_POINT_NAME = re.compile(r"[\w.-]+")


@dataclass(frozen=True)
class Refusal:
    """One rule PyPI would refuse a file for."""

    file: str  # the file's name
    rule: str  # short rule id, e.g. "zip-data-descriptor"
    reason: str  # PyPI's reason, in its own words where it has them

    def __str__(self) -> str:
        return f"{printable(self.file, 200)}: PyPI would refuse it ({self.rule}): {printable(self.reason)}"


def platform_tag_allowed(platform: str) -> bool:
    """True when PyPI takes a wheel with this platform tag."""
    if platform in PLATFORMS:
        return True
    if m := _MACOS.match(platform):
        if m["arch"] in MACOS_ARCHES and (m["major"] == "10" or (m["major"] in MACOS_MAJORS and m["minor"] == "0")):
            return True
    if m := _LINUX.match(platform):
        return m["arch"] in LIBC_ARCHES[m["libc"]]
    if (m := _IOS.match(platform)) and m["arch"] in IOS_ARCHES:
        return True
    if (m := _ANDROID.match(platform)) and m["arch"] in ANDROID_ARCHES:
        return True
    return _EMSCRIPTEN.match(platform) is not None


def check_release(paths: Sequence[Path], *, real_index: bool = True) -> None:
    """ReleaseError, in one line, when PyPI would refuse any of ``paths`` (or the set as a whole);
    the first refusal is named, the others counted."""
    found = [refusal for path in paths for refusal in refusals(path, real_index=real_index)]
    sdists = [p.name for p in paths if not p.name.endswith(".whl")]
    if len(sdists) > 1:
        found.append(Refusal(sdists[1], "one-sdist", "Only one sdist may be uploaded per release."))
    total = sum(p.stat().st_size for p in paths)
    if total > MAX_PROJECT_SIZE:
        found.append(Refusal(paths[-1].name, "project-size",
                             f"Project size too large. Limit for project total size is {MAX_PROJECT_SIZE // GIB} GB "
                             f"(this release alone is {total / GIB:.1f} GiB)."))
    if found:
        more = f" (and {len(found) - 1} more refusal{'s' if len(found) > 2 else ''})" if len(found) > 1 else ""
        raise ReleaseError(f"{found[0]}{more}: fix it and build the release again")


def refusals(path: Path, *, real_index: bool = True) -> list[Refusal]:
    """Every rule of PyPI's that ``path`` (a wheel or an sdist) breaks, in the order PyPI checks them.

    PyPI answers with the first; later rules that need what an earlier one found broken (a
    readable zip, a parsable name, metadata) are not tried.
    """
    if not path.is_file():
        raise ReleaseError(f"{path}: no such file to check against PyPI's upload rules")
    name = path.name
    found: list[Refusal] = []

    def refuse(rule: str, reason: str) -> None:
        found.append(Refusal(name, rule, reason))

    wheel = name.endswith(".whl")
    if not (wheel or name.endswith(".tar.gz")):
        refuse("file-extension", "Invalid file extension: use .whl, or .tar.gz for an sdist (PEP 625).")
        return found
    archive = _read_wheel(path) if wheel else _read_sdist(path)
    meta = _Meta.read(archive.metadata) if archive.metadata is not None else None
    if meta is not None:  # the upload form: twine sends the file's metadata, PyPI validates it first
        for rule, reason in meta.problems(real_index=real_index):
            refuse(rule, reason)
    for rule, reason in _file_name_problems(name):
        refuse(rule, reason)
    if path.stat().st_size > MAX_FILE_SIZE:
        refuse("file-size", f"File too large. Limit for project is {MAX_FILE_SIZE // MIB} MB "
                            f"({path.stat().st_size / MIB:.1f} MiB).")
    for rule, reason in archive.problems:
        refuse(rule, reason)
    if archive.readable:
        rules = _wheel_problems(name, archive, meta) if wheel else _sdist_problems(name, archive, meta)
        for rule, reason in rules:
            refuse(rule, reason)
    return found


Problems = Iterator[tuple[str, str]]  # (rule, reason)


# ---- the metadata (forklift/metadata.py over packaging.metadata; readme.py)


@dataclass(frozen=True)
class _Meta:
    """What twine sends from METADATA / PKG-INFO, as PyPI reads it (lenient where it failed)."""

    raw: RawMetadata
    unparsed: tuple[str, ...]
    parsed: Metadata | None
    invalid: tuple[InvalidMetadata, ...]

    @classmethod
    def read(cls, data: bytes) -> _Meta:
        raw, unparsed = parse_email(data)
        if Version(_version_or_zero(raw.get("metadata_version"))) < Version("2.4"):
            # twine drops License-File below 2.4 (setuptools wrote it under 2.1), so PyPI never sees it
            raw.pop("license_files", None)
            unparsed.pop("license-file", None)
        try:
            return cls(raw, tuple(unparsed), Metadata.from_raw(raw), ())
        except ExceptionGroup as group:
            errors = tuple(e for e in group.exceptions if isinstance(e, InvalidMetadata))
            return cls(raw, tuple(unparsed), None, errors)

    @property
    def name(self) -> str | None:
        """The project's name; None when it is not a valid one (a refusal of its own)."""
        if self.parsed:
            return self.parsed.name
        return None if self._broken("name") else self.raw.get("name")

    @property
    def version(self) -> Version | None:
        if self.parsed:
            return self.parsed.version
        if self._broken("version"):
            return None
        try:
            return Version(self.raw.get("version", ""))
        except InvalidVersion:
            return None

    def _broken(self, field_name: str) -> bool:
        return any(error.field == field_name for error in self.invalid)

    @property
    def license_files(self) -> list[str]:
        return list(self.raw.get("license_files") or [])

    def problems(self, *, real_index: bool) -> Problems:
        for key in self.unparsed:  # twine itself refuses these before sending anything
            yield "metadata", f"Invalid distribution metadata: unrecognized or malformed field {key!r}."
        for error in self.invalid:
            yield _metadata_rule(error.field), _sentence(str(error))
        if self.parsed is None:
            return
        meta = self.parsed
        yield from _pypi_metadata_problems(meta, real_index=real_index)
        yield from _description_problems(meta)


def _metadata_rule(field_name: str) -> str:
    return {"metadata_version": "metadata-version", "metadata-version": "metadata-version",
            "classifier": "classifier", "classifiers": "classifier"}.get(field_name, "metadata")


def _pypi_metadata_problems(meta: Metadata, *, real_index: bool) -> Problems:
    """PyPI's own rules on top of packaging's (forklift/metadata.py _validate_metadata)."""
    if meta.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        yield "metadata-version", f"{meta.metadata_version!r} is not a valid metadata version."
    if real_index and meta.version.local:
        yield "local-version", f"The use of local versions in '{meta.version}' is not allowed."
    if meta.summary is not None and len(meta.summary) > SUMMARY_LIMIT:
        yield "metadata", f"'summary' field must be {SUMMARY_LIMIT} characters or less."
    for classifier in sorted(set(meta.classifiers or []) - set(trove_classifiers.all_classifiers)):
        yield "classifier", f"{classifier!r} is not a valid classifier."
    for classifier in sorted(set(meta.classifiers or []) & set(trove_classifiers.deprecated_classifiers)):
        instead = trove_classifiers.deprecated_classifiers[classifier]
        yield "classifier", (f"The classifier {classifier!r} has been deprecated"
                             + (f", use one of {instead} instead." if instead else "."))
    for key, url in (("home-page", meta.home_page), ("download-url", meta.download_url)):
        if url is not None and not _valid_url(url):
            yield "metadata", f"{key}: {url!r} is not a valid url."
    for label, url in (meta.project_urls or {}).items():
        if not label:
            yield "metadata", "project-url: Must have a label."
        elif len(label) > URL_LABEL_LIMIT:
            yield "metadata", f"project-url: {label!r} must be {URL_LABEL_LIMIT} characters or less."
        elif not url:
            yield "metadata", "project-url: Must have a URL."
        elif not _valid_url(url):
            yield "metadata", f"project-url: {url!r} is not a valid url."
    for key, values in (("provides-dist", meta.provides_dist), ("obsoletes-dist", meta.obsoletes_dist)):
        for text in values or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as exc:
                yield "metadata", f"{key}: {text!r} is invalid: {exc}."
                continue
            if requirement.url is not None:
                yield "metadata", f"{key}: Can't have direct dependency: {text!r}."
    for requirement in meta.requires_dist or []:
        if requirement.url is not None:
            yield "metadata", f"requires-dist: Can't have direct dependency: {requirement}."
    for key in meta.dynamic or []:
        if key.lower() not in DYNAMIC_FIELDS:
            yield "metadata", f"Dynamic field {key!r} is not a valid dynamic field."
    if meta.license and meta.license_expression:
        yield "metadata", ("License is deprecated when License-Expression is present. "
                           "Only License-Expression should be present.")


def _valid_url(url: str) -> bool:
    """A URL PyPI takes (warehouse/utils/http.py is_valid_uri, require_authority=False): http(s)."""
    validator = (rfc3986.validators.Validator().allow_schemes("http", "https").require_presence_of("scheme")
                 .check_validity_of("scheme", "host", "port", "path", "query"))
    try:
        validator.validate(rfc3986.uri_reference(url).normalize())
    except rfc3986.exceptions.ValidationError:
        return False
    return True


RENDERERS: Mapping[str, Callable[[str], str | None]] = {
    "text/x-rst": readme_renderer.rst.render,
    "text/plain": readme_renderer.txt.render,
    "text/markdown": readme_renderer.markdown.render,
}


def _description_problems(meta: Metadata) -> Problems:
    """The description renders in its content type (readme.py; PyPI does not fall back to text)."""
    if not meta.description:
        return
    content_type = meta.description_content_type or "text/x-rst"
    header = EmailMessage()
    header["content-type"] = content_type
    render = RENDERERS.get(header.get_content_type(), readme_renderer.txt.render)
    if render(meta.description) is None:
        if meta.description_content_type:
            yield "description", f"The description failed to render for '{content_type}'."
        else:
            yield "description", "The description failed to render in the default format of reStructuredText."


# ---- the file name (legacy.py _validate_filename; the .metadata file written beside it)


def _file_name_problems(name: str) -> Problems:
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        yield "filename-characters", ("Cannot upload a file with non-printable characters (ordinals 0-31) "
                                      "or the DEL character (ordinal 127) in the name.")
    if "/" in name or "\\" in name:
        yield "filename-characters", "Cannot upload a file with '/' or '\\' in the name."
    if name.endswith(".whl") and len(name.encode()) + len(".metadata") > NAME_MAX:
        yield "filename-length", f"Filename is too long: '{name}' ({len(name.encode())} bytes)."


# ---- the archive (legacy.py _is_valid_dist_file, utils/zipfiles.py)


@dataclass
class _Archive:
    """A wheel's or an sdist's names and the few members the rules read."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    readable: bool = False
    names: frozenset[str] = frozenset()
    texts: dict[str, bytes] = field(default_factory=dict)  # METADATA, RECORD, entry_points.txt
    top: str = ""  # an sdist's top directory
    metadata: bytes | None = None


def _wheel_parts(name: str) -> tuple[str, str] | None:
    """The name and version as PyPI cuts them from a wheel's file name: at its first two '-'."""
    parts = name.split("-", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else None


def _read_wheel(path: Path) -> _Archive:
    archive = _Archive()
    is_zip, is_tar = zipfile.is_zipfile(path), _is_tarfile(path)
    if is_zip and is_tar:
        archive.problems.append(("not-zip", "File is both a zip and a tar file."))
        return archive
    if not is_zip:
        archive.problems.append(("not-zip", "File is not a zipfile."))
        return archive
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            archive.problems += _zip_content_problems(path, infos)
            parts = _wheel_parts(path.name)
            if parts is None:
                archive.problems.append(("wheel-filename", "Unable to parse name and version from wheel filename."))
            elif f"{parts[0]}-{parts[1]}.dist-info/WHEEL" not in zf.NameToInfo:
                archive.problems.append(("wheel-file", f"WHEEL not found at {parts[0]}-{parts[1]}.dist-info/WHEEL."))
            defect = _zip_defect(path, {info.orig_filename: (info.compress_size, info.file_size) for info in infos})
            if defect is not None:
                archive.problems.append(defect)
            archive.names = frozenset(zf.NameToInfo)
            if parts is not None:
                dist_info = f"{parts[0]}-{parts[1]}.dist-info"
                for member in ("METADATA", "RECORD", "entry_points.txt"):
                    if f"{dist_info}/{member}" in zf.NameToInfo:
                        archive.texts[member] = zf.read(f"{dist_info}/{member}")
                archive.metadata = archive.texts.get("METADATA")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        archive.problems.append(("not-zip", f"Invalid distribution file ({exc})."))
        return archive
    archive.readable = not archive.problems
    return archive


def _is_tarfile(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _zip_content_problems(path: Path, infos: list[zipfile.ZipInfo]) -> Problems:
    unpacked = sum(info.file_size for info in infos)
    if unpacked > RATIO_MIN_SIZE and unpacked / max(path.stat().st_size, 1) > RATIO_LIMIT:
        yield "compression-ratio", f"File exceeds compression ratio of {RATIO_LIMIT}."
    odd = sorted({info.compress_type for info in infos} - {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
    if odd:
        yield "compression-method", ("File does not use a supported compression type "
                                     f"(method {', '.join(map(str, odd))}; PyPI takes stored and deflated).")


def _read_sdist(path: Path) -> _Archive:
    archive = _Archive()
    if zipfile.is_zipfile(path) and _is_tarfile(path):
        archive.problems.append(("not-tar", "File is both a zip and a tar file."))
        return archive
    if not _is_tarfile(path):
        archive.problems.append(("not-tar", "File is not a tarfile."))
        return archive
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            archive.names = frozenset(names)
            if any(m.issparse() for m in members):
                archive.problems.append(("tar-sparse", "tar archive not accepted: Sparse members are not allowed."))
            try:
                top = os.path.commonpath(names) if names else ""
            except ValueError:  # absolute and relative names mixed
                top = ""
            archive.top = top
            if top in {".", "/", ""}:
                archive.problems.append(("sdist-top-level", "Incorrect number of top-level directories in sdist."))
            elif f"{top}/PKG-INFO" not in archive.names:
                archive.problems.append(("pkg-info", f"PKG-INFO not found at {top}/PKG-INFO."))
            else:
                stream = tar.extractfile(f"{top}/PKG-INFO")
                archive.metadata = stream.read() if stream is not None else None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        archive.problems.append(("not-tar", f"Invalid distribution file ({exc})."))
        return archive
    archive.readable = not archive.problems
    return archive


# ---- the zip's records, walked from the first byte to the last (utils/zipfiles.py)

_LOCAL, _CENTRAL, _END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_END64, _LOCATOR = b"PK\x06\x06", b"PK\x06\x07"
_ZIP64_EXTRA, _UNICODE_PATH_EXTRA = 0x0001, 0x7075
_UNSET32 = 0xFFFFFFFF
_NOT_ACCEPTED = "ZIP archive not accepted: {}. See https://docs.pypi.org/archives"


class _ZipDefect(Exception):
    def __init__(self, rule: str, text: str) -> None:
        super().__init__(text)
        self.rule, self.text = rule, text


def _malformed() -> _ZipDefect:
    return _ZipDefect("zip-malformed", "Malformed zip file")


def _zip_defect(path: Path, central: Mapping[str, tuple[int, int]]) -> tuple[str, str] | None:
    """The first thing a reader that streams the local headers would see otherwise than one that
    reads the central directory; None when both read the same archive and nothing follows it."""
    with path.open("rb") as stream:
        try:
            _ZipWalk(stream, central).walk()
        except _ZipDefect as defect:
            return defect.rule, _NOT_ACCEPTED.format(defect.text)
    return None


@dataclass
class _ZipWalk:
    stream: BinaryIO
    central: Mapping[str, tuple[int, int]]  # name -> (compressed, uncompressed) per the central directory
    local_names: set[bytes] = field(default_factory=set)
    central_names: set[bytes] = field(default_factory=set)
    directory_at: int | None = None  # where the first central directory header is
    directory_entries: int = 0
    directory_size: int = 0
    end64: tuple[int, int, int] | None = None  # entries, size, offset as the ZIP64 end record says
    locator_seen: bool = False

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise _malformed()
        return data

    def walk(self) -> None:
        handlers = {_LOCAL: self.local_header, _CENTRAL: self.central_header, _END64: self.end64_record,
                    _LOCATOR: self.locator}
        while (signature := self.read(4)) != _END:
            handler = handlers.get(signature)
            if handler is None:
                raise _ZipDefect("zip-malformed", "Unknown record signature")
            handler()
        self.end_record()
        if self.central_names != self.local_names:
            raise _ZipDefect("zip-header-mismatch", "Mis-matched local headers and central directory")
        here = self.stream.tell()
        if here != self.stream.seek(0, os.SEEK_END):
            raise _ZipDefect("zip-trailing-data", "Trailing data")

    def local_header(self) -> None:
        flags, method, packed, size, name_length, extra_length = struct.unpack("<2xHH8xIIHH", self.read(26))
        name, extra = self.read(name_length), self.read(extra_length)
        _check_name(name)
        packed, size = _sizes_from_extras(extra, method, packed, size)
        if flags & 0x08:
            raise _ZipDefect("zip-data-descriptor", "ZIP contains a data descriptor")
        try:
            expected = self.central[name.decode("utf-8")]
        except UnicodeDecodeError:
            raise _ZipDefect("zip-entry-name", "Filename not unicode") from None
        except KeyError:
            raise _ZipDefect("zip-header-mismatch", "Filename not in central directory") from None
        if expected[0] != packed:
            raise _ZipDefect("zip-header-mismatch", "Mis-matched data size")
        if expected[1] != size:
            raise _ZipDefect("zip-header-mismatch", "Mis-matched file size")
        self.stream.seek(packed, os.SEEK_CUR)
        if name in self.local_names:
            raise _ZipDefect("zip-duplicate-entry", "Duplicate filename in local headers")
        self.local_names.add(name)

    def central_header(self) -> None:
        if self.directory_at is None:
            self.directory_at = self.stream.tell() - 4
        self.directory_entries += 1
        name_length, extra_length, comment_length = struct.unpack("<24xHHH12x", self.read(42))
        if comment_length:
            raise _ZipDefect("zip-entry-comment", "Comment in central directory")
        name, extra = self.read(name_length), self.read(extra_length)
        _check_name(name)
        self.directory_size += 46 + len(name) + len(extra)
        if name in self.central_names:
            raise _ZipDefect("zip-duplicate-entry", "Duplicate filename in central directory")
        if name not in self.local_names:
            raise _ZipDefect("zip-header-mismatch", "Missing filename in local headers")
        self.central_names.add(name)

    def end64_record(self) -> None:
        record_size, on_disk, entries, size, offset = struct.unpack("<Q12xQQQQ", self.read(52))
        if on_disk != entries:
            raise _malformed()
        if record_size != 44:
            raise _ZipDefect("zip-malformed", "ZIP64 extensible data not allowed")
        self.end64 = (entries, size, offset)

    def locator(self) -> None:
        self.read(16)
        self.locator_seen = True

    def end_record(self) -> None:
        if self.end64 is not None and not self.locator_seen:
            raise _malformed()
        at = self.stream.tell() - 4
        on_disk, entries, size, offset, comment_length = struct.unpack("<4xHHIIH", self.read(18))
        if on_disk != entries:
            raise _malformed()
        self.stream.seek(comment_length, os.SEEK_CUR)  # an archive comment PyPI takes
        if self.end64 is not None:
            entries, size, offset = self.end64
        if self.directory_at is None:
            self.directory_at = at  # an empty archive
        if entries != self.directory_entries:
            raise _ZipDefect("zip-header-mismatch", "Mismatched central directory records")
        if offset != self.directory_at:
            raise _ZipDefect("zip-header-mismatch", "Mismatched central directory offset")
        if size != self.directory_size:
            raise _ZipDefect("zip-header-mismatch", "Mismatched central directory size")


def _check_name(name: bytes) -> None:
    if any(byte < 0x20 or byte == 0x7F for byte in name):
        raise _ZipDefect("zip-entry-name", "Invalid character in filename")


def _sizes_from_extras(extra: bytes, method: int, packed: int, size: int) -> tuple[int, int]:
    """A local header's (compressed, uncompressed) sizes once its ZIP64 extra is read; the extras
    PyPI allows once (ZIP64, Info-ZIP Unicode Path) appear once, the Unicode name is UTF-8."""
    seen: set[int] = set()
    while extra:
        if len(extra) < 4:
            raise _malformed()
        kind, length = struct.unpack("<HH", extra[:4])
        body, extra = extra[4:4 + length], extra[4 + length:]
        if len(body) != length:
            raise _malformed()
        if kind in seen and kind in (_ZIP64_EXTRA, _UNICODE_PATH_EXTRA):
            raise _ZipDefect("zip-malformed", "Invalid duplicate extra in local file")
        seen.add(kind)
        if kind == _ZIP64_EXTRA:
            packed, size = _zip64_sizes(body, method, packed, size)
        elif kind == _UNICODE_PATH_EXTRA:
            unicode_name = body[5:]  # after a version byte and the CRC-32 of the header's name
            _check_name(unicode_name)
            try:
                unicode_name.decode("utf-8")
            except UnicodeDecodeError:
                raise _ZipDefect("zip-entry-name", "Filename not valid UTF-8") from None
    return packed, size


def _zip64_sizes(body: bytes, method: int, packed: int, size: int) -> tuple[int, int]:
    if len(body) == 0:
        if _UNSET32 in (packed, size):
            raise _malformed()
        return packed, size
    if len(body) == 8:  # only the uncompressed size: right only for a stored entry
        if method != zipfile.ZIP_STORED:
            raise _malformed()
        (unpacked,) = struct.unpack("<Q", body)
        return unpacked, unpacked if size == _UNSET32 else size
    if len(body) in (16, 24, 28):
        first, second = struct.unpack("<QQ", body[:16])
        return second, first if size == _UNSET32 else size
    raise _malformed()


# ---- rules on the names and files inside


def _sdist_problems(name: str, archive: _Archive, meta: _Meta | None) -> Problems:
    """legacy.py, for filetype sdist: its name against the metadata (PEP 625), License-File."""
    try:
        from_name, _ = parse_sdist_filename(name)
    except InvalidSdistFilename:
        yield "sdist-filename", f"Invalid source distribution filename: {name}."
        return
    version = meta.version if meta else None
    if meta is None or meta.name is None or version is None:
        return
    project = canonicalize_name(meta.name)
    if canonicalize_name(_sdist_name_with_post_release(name, from_name, meta.name, version)) != project:
        yield "name", f"Start filename for {meta.name!r} with {project.replace('-', '_')!r}."
    expected = f"{project.replace('-', '_')}-{version}.tar.gz"
    if name != expected:
        yield "sdist-filename", f"Filename {name!r} is invalid, should be {expected!r}."
    for license_file in meta.license_files:
        where = os.path.join(archive.top, license_file)
        if where not in archive.names:
            yield "license-file", f"License-File {license_file} does not exist in distribution file {name} at {where}."


def _sdist_name_with_post_release(name: str, from_name: str, meta_name: str, version: Version) -> str:
    """PyPI's second reading of a name whose version held a '-' (1.0-1, a post release)."""
    if not (version.is_postrelease and from_name != canonicalize_name(meta_name) and name.count("-") >= 2):
        return from_name
    candidate = name.rpartition("-")[0].rpartition("-")[0]
    try:
        Version(name[len(candidate) + 1: -len(".tar.gz")])
    except InvalidVersion:
        return from_name
    return candidate


def _wheel_problems(name: str, archive: _Archive, meta: _Meta | None) -> Problems:
    """legacy.py, for .whl: tags, name and version, License-File, RECORD, entry points, METADATA."""
    try:
        _, version, _, tags = parse_wheel_filename(name)
    except InvalidWheelFilename as exc:
        yield "wheel-filename", str(exc)
        return
    for platform in sorted({tag.platform for tag in tags}):
        if not platform_tag_allowed(platform):
            yield "platform-tag", f"Binary wheel '{name}' has an unsupported platform tag '{platform}'."
    parts = _wheel_parts(name)
    assert parts is not None  # parse_wheel_filename took it
    from_name, from_version = parts
    if meta is not None and meta.name is not None:
        project = canonicalize_name(meta.name)
        if project != canonicalize_name(from_name):
            yield "name", f"Start filename for {meta.name!r} with {project.replace('-', '_')!r}."
        elif from_name != project.replace("-", "_"):
            yield "name-normalization", (f"Filename {name!r} should contain the normalized project name "
                                         f"{project.replace('-', '_')!r}, not {from_name!r}.")
    if meta is not None and meta.version is not None and meta.version != version:
        yield "version", f"Version in filename should be '{meta.version}' not '{version}'."
    dist_info = f"{from_name}-{from_version}.dist-info"
    for license_file in meta.license_files if meta else []:
        if f"{dist_info}/licenses/{license_file}" not in archive.names:
            yield "license-file", (f"License-File {license_file} does not exist in distribution file {name} "
                                   f"at {dist_info}/licenses/{license_file}.")
    if not _record_readable(archive.texts.get("RECORD")):
        yield "record", f"Wheel '{name}' does not contain the required RECORD file: {dist_info}/RECORD."
    problem = entry_points_problem(archive.texts.get("entry_points.txt"))
    if problem:
        yield "entry-points", f"Wheel '{name}' has invalid entry points defined in the entry_points.txt file ({problem})."
    if archive.metadata is None:
        yield "metadata-file", f"Wheel '{name}' does not contain the required METADATA file: {dist_info}/METADATA."


def _record_readable(data: bytes | None) -> bool:
    if data is None:
        return False
    try:
        list(csv.reader(data.decode("utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error):
        return False
    return True


def entry_points_problem(data: bytes | None) -> str | None:
    """Why PyPI refuses this entry_points.txt (utils/wheel.py), or None (also when there is none):
    UTF-8, an INI file with '=' between name and value, script names of [\\w.-]+ only."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "entry_points.txt is not decodable as UTF-8"
    parser = case_sensitive_parser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return f"entry_points.txt is not a valid INI file: {type(exc).__name__}: {printable(str(exc), 200)}"
    for section in ("console_scripts", "gui_scripts"):
        for script in parser[section] if parser.has_section(section) else []:
            if _ENTRY_POINT_NAME.fullmatch(script) is None:
                return f"Invalid entry point name {script!r} in {section!r}"
    return None


def case_sensitive_parser() -> configparser.ConfigParser:
    """An INI reader as the entry points specification reads entry_points.txt: names keep their case."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _version_or_zero(text: str | None) -> str:
    try:
        return str(Version(text or "0"))
    except InvalidVersion:
        return "0"
