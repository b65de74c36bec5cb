"""PyPI's upload rules (noetl_build/pypi_rules.py): a good wheel and a good sdist pass; each case
breaks one rule of a good file and sees that rule, and only it, refuse the file with PyPI's reason.

The files are small ones written here (no Rust compiled); the real wheels meet the same rules
through verify's `pypi` check (tests/verify/test_defects.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from noetl_build import pypi_rules
from noetl_build.errors import ReleaseError
from noetl_build.pypi_rules import Refusal, check_release, platform_tag_allowed, refusals
from noetl_build.targets import load_matrix
from tests.conftest import ROOT

VERSION = "1.2.0"
PLATFORM = "manylinux2014_x86_64.manylinux_2_17_x86_64"
WHEEL_NAME = f"noetl-{VERSION}-py3-none-{PLATFORM}.whl"
SDIST_NAME = f"noetl-{VERSION}.tar.gz"
README = "# noetl\n\nA workflow server and the `noetl` command.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"


def metadata(version: str = VERSION, *, name: str = "noetl", head: Mapping[str, str] | None = None,
             drop: tuple[str, ...] = (), body: str = README) -> bytes:
    """METADATA / PKG-INFO as setuptools writes noetl's, with fields replaced, added or dropped."""
    fields = {
        "Metadata-Version": "2.4", "Name": name, "Version": version,
        "Summary": "NoETL: workflow server, web UI and the fast `noetl` command-line tool",
        "License-Expression": "MIT", "Project-URL": "Homepage, https://noetl.io",
        "Classifier": "Programming Language :: Rust", "Requires-Python": ">=3.10",
        "Description-Content-Type": "text/markdown", "License-File": "LICENSE",
        "Requires-Dist": "starlette>=0.40",
    }
    fields.update(head or {})
    lines = [f"{key}: {value}" for key, value in fields.items() if key not in drop]
    return ("\n".join(lines) + "\n\n" + body).encode()


def wheel_files(version: str = VERSION, *, dist_name: str = "noetl", **meta: object) -> dict[str, bytes]:
    info = f"{dist_name}-{version}.dist-info"
    tags = "".join(f"Tag: py3-none-{p}\n" for p in PLATFORM.split("."))
    return {
        "noetl/__init__.py": f'__version__ = "{version}"\n'.encode(),
        "noetl/bin/noetl": b"\x7fELF" + b"\0" * 60,
        f"{info}/METADATA": metadata(version, **meta),  # type: ignore[arg-type]
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n{tags}".encode(),
        f"{info}/entry_points.txt": b"[console_scripts]\nnoetl = noetl.cli_wrapper:main\n",
        f"{info}/licenses/LICENSE": b"MIT License\n",
    }


def with_record(files: Mapping[str, bytes]) -> dict[str, bytes]:
    info = next(n for n in files if n.endswith("/WHEEL") or n.endswith("/METADATA")).rsplit("/", 1)[0]
    rows = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}\n")
    return {**files, f"{info}/RECORD": ("".join(rows) + f"{info}/RECORD,,\n").encode()}


def write_zip(path: Path, files: Mapping[str, bytes], *, record: bool = True,
              entry: Callable[[zipfile.ZipInfo], None] = lambda _: None) -> Path:
    """A wheel as wheel tools write it (deflated, no data descriptors); ``entry`` edits each ZipInfo."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in (with_record(files) if record else files).items():
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            entry(info)
            zf.writestr(info, data)
    return path


def good_wheel(directory: Path, filename: str = WHEEL_NAME, **changes: object) -> Path:
    return write_zip(directory / filename, wheel_files(**changes))  # type: ignore[arg-type]


def write_tar(path: Path, members: Mapping[str, bytes], *, top: str = f"noetl-{VERSION}") -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size, info.mtime, info.mode = len(data), 1577836800, 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def sdist_members(version: str = VERSION, **meta: object) -> dict[str, bytes]:
    return {"PKG-INFO": metadata(version, **meta), "LICENSE": b"MIT License\n",  # type: ignore[arg-type]
            "pyproject.toml": b"[project]\nname = 'noetl'\n", "README.md": README.encode()}


def good_sdist(directory: Path, filename: str = SDIST_NAME, **changes: object) -> Path:
    return write_tar(directory / filename, sdist_members(**changes))  # type: ignore[arg-type]


def rules(path: Path, *, real_index: bool = True) -> list[str]:
    return [r.rule for r in refusals(path, real_index=real_index)]


def refused(path: Path, rule: str, *words: str, real_index: bool = True) -> Refusal:
    """The one refusal of ``path``: ``rule``, its reason holding ``words``."""
    found = refusals(path, real_index=real_index)
    assert [r.rule for r in found] == [rule], found
    for word in words:
        assert word in found[0].reason, f"{word!r} not in {found[0].reason!r}"
    return found[0]


# ---- good files


def test_a_good_wheel_and_sdist_are_not_refused(tmp_path: Path) -> None:
    wheel, sdist = good_wheel(tmp_path), good_sdist(tmp_path)
    assert refusals(wheel) == [] and refusals(sdist) == []
    check_release([wheel, sdist])


def test_every_target_platform_tag_is_one_pypi_takes() -> None:
    """All 20 targets' tags, linux_armv6l included (on warehouse's static list)."""
    matrix = load_matrix(ROOT / "targets.toml")
    tags = {tag for target in matrix.targets for tag in target.tags}
    assert "linux_armv6l" in tags
    assert {tag for tag in tags if not platform_tag_allowed(tag)} == set()


@pytest.mark.parametrize("tag", ["linux_x86_64", "linux_aarch64", "manylinux_2_17_mips64", "musllinux_1_2_ppc64",
                                 "macosx_11_3_arm64", "macosx_10_12_sparc", "win_x86", "manylinux2014_riscv64"])
def test_platform_tags_pypi_refuses(tag: str) -> None:
    assert not platform_tag_allowed(tag)


@pytest.mark.parametrize("tag", ["macosx_10_9_x86_64", "macosx_26_0_arm64", "manylinux_2_28_ppc64",
                                 "musllinux_1_1_riscv64", "android_24_arm64_v8a", "ios_13_0_arm64_iphoneos"])
def test_platform_tags_pypi_takes(tag: str) -> None:
    assert platform_tag_allowed(tag)


# ---- the file name and size


def test_a_control_character_in_the_file_name(tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path, f"noetl-{VERSION}-1\x7f-py3-none-{PLATFORM}.whl")  # in the build tag
    refusal = refused(wheel, "filename-characters", "non-printable characters (ordinals 0-31)", "DEL character")
    assert "\x7f" not in str(refusal) and "\\x7f" in str(refusal)  # one line, shown escaped


def test_a_file_name_too_long_for_its_metadata_file(tmp_path: Path) -> None:
    name = f"noetl-{VERSION}-1{'x' * 182}-py3-none-{PLATFORM}.whl"  # a build tag
    assert len(name) + len(".metadata") > 255 >= len(name)
    refused(good_wheel(tmp_path, name), "filename-length", "Filename is too long")


def test_a_zip_sdist_is_not_taken(tmp_path: Path) -> None:
    refused(write_zip(tmp_path / f"noetl-{VERSION}.zip", sdist_members(), record=False), "file-extension", "PEP 625", ".tar.gz")


def test_a_file_over_100_mib(tmp_path: Path) -> None:
    files = wheel_files()
    files["noetl/bin/noetl"] = os.urandom(101 << 20)  # random: stored or not, the wheel stays 101 MiB
    wheel = write_zip(tmp_path / WHEEL_NAME, files)
    refused(wheel, "file-size", "File too large. Limit for project is 100 MB")


# ---- the zip


def test_a_zip_bomb_ratio(tmp_path: Path) -> None:
    files = wheel_files()
    files["noetl/bin/noetl"] = bytes(65 << 20)  # 65 MiB of zeros deflate to ~64 KiB
    refused(write_zip(tmp_path / WHEEL_NAME, files), "compression-ratio", "File exceeds compression ratio of 50")


def test_a_compression_method_pypi_does_not_take(tmp_path: Path) -> None:
    def bzip2(info: zipfile.ZipInfo) -> None:
        if info.filename == "noetl/__init__.py":
            info.compress_type = zipfile.ZIP_BZIP2
    wheel = write_zip(tmp_path / WHEEL_NAME, wheel_files(), entry=bzip2)
    refused(wheel, "compression-method", "File does not use a supported compression type", "method 12")


def test_not_a_zip(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL_NAME
    wheel.write_bytes(b"not a zip at all\n" * 10)
    refused(wheel, "not-zip", "File is not a zipfile")


def test_no_wheel_file(tmp_path: Path) -> None:
    files = wheel_files()
    del files[f"noetl-{VERSION}.dist-info/WHEEL"]
    refused(write_zip(tmp_path / WHEEL_NAME, files), "wheel-file", f"WHEEL not found at noetl-{VERSION}.dist-info/WHEEL")


class _Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back in: it writes each entry with a data descriptor."""

    def __init__(self, stream: io.BufferedWriter) -> None:
        self.stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.stream.write(data)


def test_a_data_descriptor(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL_NAME
    with wheel.open("wb") as raw, zipfile.ZipFile(_Unseekable(raw), "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in with_record(wheel_files()).items():
            zf.writestr(name, data)
    with zipfile.ZipFile(wheel) as zf:  # pip reads it: only PyPI's streaming check tells
        assert zf.testzip() is None and all(info.flag_bits & 0x08 for info in zf.infolist())
    refused(wheel, "zip-data-descriptor", "ZIP archive not accepted: ZIP contains a data descriptor")


def test_a_comment_on_an_entry(tmp_path: Path) -> None:
    def comment(info: zipfile.ZipInfo) -> None:
        if info.filename == "noetl/__init__.py":
            info.comment = b"hello"
    refused(write_zip(tmp_path / WHEEL_NAME, wheel_files(), entry=comment),
            "zip-entry-comment", "Comment in central directory")


def test_an_archive_comment_is_taken(tmp_path: Path) -> None:
    """zipfiles.py skips the end record's comment: not a rule, though the issue listed it."""
    wheel = good_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.comment = b"built by noetl"
    assert refusals(wheel) == []


def test_a_duplicate_entry(tmp_path: Path) -> None:
    files = with_record(wheel_files())
    wheel = tmp_path / WHEEL_NAME
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("noetl/__init__.py", files["noetl/__init__.py"])
    refused(wheel, "zip-duplicate-entry", "Duplicate filename in local headers")


def test_bytes_after_the_end_record(tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path)
    with wheel.open("ab") as stream:
        stream.write(b"\0" * 16)
    refused(wheel, "zip-trailing-data", "ZIP archive not accepted: Trailing data")


def test_a_local_header_that_disagrees_with_the_central_directory(tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path)
    data = bytearray(wheel.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    (size,) = struct.unpack_from("<I", data, 22)  # the first entry's uncompressed size
    struct.pack_into("<I", data, 22, size + 1)
    wheel.write_bytes(bytes(data))
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("noetl/__init__.py")  # the central directory's reader does not notice
    refused(wheel, "zip-header-mismatch", "Mis-matched file size")


def test_a_control_character_in_an_entry_name(tmp_path: Path) -> None:
    files = wheel_files()
    files["noetl/a\x01.py"] = b""
    refused(write_zip(tmp_path / WHEEL_NAME, files), "zip-entry-name", "Invalid character in filename")


def test_bytes_before_the_first_record(tmp_path: Path) -> None:
    """A self-extracting stub: Python's zipfile finds the entries anyway, PyPI's walk does not."""
    wheel = good_wheel(tmp_path)
    wheel.write_bytes(b"#!/bin/sh\nexit 0\n" + wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        assert zf.testzip() is None
    refused(wheel, "zip-malformed", "Unknown record signature")


# ---- names, versions and what the wheel holds


def test_a_platform_tag_pypi_does_not_take(tmp_path: Path) -> None:
    refused(good_wheel(tmp_path, f"noetl-{VERSION}-py3-none-linux_x86_64.whl"), "platform-tag",
            "has an unsupported platform tag 'linux_x86_64'")


def test_an_unparsable_wheel_name(tmp_path: Path) -> None:
    refused(good_wheel(tmp_path, f"noetl-{VERSION}-py3-none.whl"), "wheel-filename", "Invalid wheel filename")


def test_metadata_names_another_project(tmp_path: Path) -> None:
    """The armv6l wheel of issue 19 said Name: noetlctl, and only uv noticed."""
    refused(good_wheel(tmp_path, name="noetlctl"), "name", "Start filename for 'noetlctl' with 'noetlctl'")


def test_a_file_name_not_normalised(tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path, f"Noetl-{VERSION}-py3-none-{PLATFORM}.whl", dist_name="Noetl")
    refused(wheel, "name-normalization", "should contain the normalized project name 'noetl', not 'Noetl'")


def test_metadata_says_another_version(tmp_path: Path) -> None:
    wheel = write_zip(tmp_path / WHEEL_NAME, {**wheel_files(), f"noetl-{VERSION}.dist-info/METADATA": metadata("1.2.1")})
    refused(wheel, "version", "Version in filename should be '1.2.1' not '1.2.0'")


def test_a_local_version_goes_only_to_a_private_index(tmp_path: Path) -> None:
    local = "1.2.0.dev3+g1234abc"
    wheel = good_wheel(tmp_path, f"noetl-{local}-py3-none-{PLATFORM}.whl", version=local)
    sdist = write_tar(tmp_path / f"noetl-{local}.tar.gz", sdist_members(local), top=f"noetl-{local}")
    for path in (wheel, sdist):
        refused(path, "local-version", f"The use of local versions in '{local}' is not allowed")
        assert refusals(path, real_index=False) == []


def test_a_license_file_declared_but_missing(tmp_path: Path) -> None:
    files = wheel_files()
    del files[f"noetl-{VERSION}.dist-info/licenses/LICENSE"]
    refused(write_zip(tmp_path / WHEEL_NAME, files), "license-file",
            f"License-File LICENSE does not exist in distribution file {WHEEL_NAME} "
            f"at noetl-{VERSION}.dist-info/licenses/LICENSE")


def test_license_file_under_metadata_2_1_is_not_sent(tmp_path: Path) -> None:
    """twine drops License-File below Metadata-Version 2.4 (setuptools wrote it under 2.1)."""
    files = wheel_files(head={"Metadata-Version": "2.1"}, drop=("License-Expression",))
    del files[f"noetl-{VERSION}.dist-info/licenses/LICENSE"]
    assert refusals(write_zip(tmp_path / WHEEL_NAME, files)) == []


def test_no_record(tmp_path: Path) -> None:
    refused(write_zip(tmp_path / WHEEL_NAME, wheel_files(), record=False), "record",
            f"does not contain the required RECORD file: noetl-{VERSION}.dist-info/RECORD")


@pytest.mark.parametrize(("text", "why"), [
    (b"[console_scripts]\nnoetl cli = noetl.cli_wrapper:main\n", "Invalid entry point name 'noetl cli'"),
    (b"[console_scripts]\n../noetl = noetl.cli_wrapper:main\n", "Invalid entry point name '../noetl'"),
    (b"noetl = noetl.cli_wrapper:main\n", "not a valid INI file: MissingSectionHeaderError"),
    (b"[console_scripts]\nnoetl = a:b\nnoetl = c:d\n", "DuplicateOptionError"),
    (b"[console_scripts]\nnoetl = \xff\n", "not decodable as UTF-8"),
])
def test_entry_points_pypi_refuses(tmp_path: Path, text: bytes, why: str) -> None:
    wheel = write_zip(tmp_path / WHEEL_NAME, {**wheel_files(), f"noetl-{VERSION}.dist-info/entry_points.txt": text})
    refused(wheel, "entry-points", "has invalid entry points defined in the entry_points.txt file", why)


def test_no_metadata_file(tmp_path: Path) -> None:
    files = wheel_files()
    del files[f"noetl-{VERSION}.dist-info/METADATA"]
    refused(write_zip(tmp_path / WHEEL_NAME, files), "metadata-file",
            f"does not contain the required METADATA file: noetl-{VERSION}.dist-info/METADATA")


# ---- the metadata


@pytest.mark.parametrize("version", ["2.6", "2.0", "3.0"])
def test_a_metadata_version_pypi_does_not_take(tmp_path: Path, version: str) -> None:
    """2.6 passes packaging 26.3 and not PyPI; 2.0 and 3.0 neither."""
    refused(good_wheel(tmp_path, head={"Metadata-Version": version}), "metadata-version",
            f"'{version}' is not a valid metadata version")


def test_a_classifier_not_on_pypis_list(tmp_path: Path) -> None:
    refused(good_wheel(tmp_path, head={"Classifier": "Programming Language :: Klingon"}), "classifier",
            "'Programming Language :: Klingon' is not a valid classifier")


def test_a_deprecated_classifier(tmp_path: Path) -> None:
    refused(good_wheel(tmp_path, head={"Classifier": "Natural Language :: Ukranian"}), "classifier",
            "has been deprecated, use one of ['Natural Language :: Ukrainian'] instead")


@pytest.mark.parametrize(("head", "why"), [
    ({"Requires-Dist": "starlette @ https://example.com/starlette.whl"}, "Can't have direct dependency"),
    ({"Summary": "x" * 513}, "'summary' field must be 512 characters or less"),
    ({"License": "MIT"}, "License is deprecated when License-Expression is present"),
    ({"Project-URL": "Homepage, ftp://noetl.io"}, "'ftp://noetl.io' is not a valid url"),
    ({"Project-URL": f"{'L' * 33}, https://noetl.io"}, "must be 32 characters or less"),
    ({"Dynamic": "Name"}, "'name' is not allowed as a dynamic field"),
    ({"Name": "no etl"}, "'no etl' is invalid for 'name'"),
])
def test_metadata_pypi_refuses(tmp_path: Path, head: dict[str, str], why: str) -> None:
    refused(good_wheel(tmp_path, head=head), "metadata", why)


def test_an_unrecognised_metadata_field(tmp_path: Path) -> None:
    refused(good_wheel(tmp_path, head={"Colour": "blue"}), "metadata", "unrecognized or malformed field 'colour'")


@pytest.mark.parametrize(("content_type", "why"), [
    ("text/x-rst", "The description failed to render for 'text/x-rst'"),
    (None, "The description failed to render in the default format of reStructuredText"),
])
def test_a_description_that_does_not_render(tmp_path: Path, content_type: str | None, why: str) -> None:
    broken_rst = "Title\n=====\n\nAn `unclosed reference\n"
    head = {"Description-Content-Type": content_type} if content_type else {}
    wheel = good_wheel(tmp_path, head=head, drop=() if content_type else ("Description-Content-Type",), body=broken_rst)
    refused(wheel, "description", why)


def test_markdown_renders_with_comrak(tmp_path: Path) -> None:
    """Without comrak (readme-renderer's [md] extra) every Markdown description 'fails to render'."""
    import readme_renderer.markdown

    assert readme_renderer.markdown.variants, "readme-renderer[md] is not installed: pip install -r requirements/verify.txt"
    assert refusals(good_wheel(tmp_path, body=(ROOT / "README.md").read_text())) == []


# ---- the sdist


def test_an_sdist_name_not_normalised(tmp_path: Path) -> None:
    """PEP 625: name normalised with '_', the version as METADATA spells it."""
    refused(good_sdist(tmp_path, f"Noetl-{VERSION}.tar.gz"), "sdist-filename",
            f"Filename 'Noetl-{VERSION}.tar.gz' is invalid, should be 'noetl-{VERSION}.tar.gz'")


def test_an_sdist_of_another_project(tmp_path: Path) -> None:
    """PyPI answers with the first; the PEP 625 name cannot be right either."""
    found = rules(good_sdist(tmp_path, name="noetlctl"))
    assert found == ["name", "sdist-filename"]
    assert "Start filename for 'noetlctl' with 'noetlctl'" in refusals(good_sdist(tmp_path, name="noetlctl"))[0].reason


def test_an_sdist_without_pkg_info(tmp_path: Path) -> None:
    members = sdist_members()
    del members["PKG-INFO"]
    refused(write_tar(tmp_path / SDIST_NAME, members), "pkg-info", f"PKG-INFO not found at noetl-{VERSION}/PKG-INFO")


def test_an_sdist_without_a_top_directory(tmp_path: Path) -> None:
    refused(write_tar(tmp_path / SDIST_NAME, sdist_members(), top=""), "sdist-top-level",
            "Incorrect number of top-level directories in sdist")


def test_an_sdist_with_a_sparse_member(tmp_path: Path) -> None:
    sdist = tmp_path / SDIST_NAME
    with tarfile.open(sdist, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sdist_members().items():
            info = tarfile.TarInfo(f"noetl-{VERSION}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        sparse = tarfile.TarInfo(f"noetl-{VERSION}/sparse")
        sparse.type = tarfile.GNUTYPE_SPARSE
        tar.addfile(sparse)
    refused(sdist, "tar-sparse", "Sparse members are not allowed")


def test_an_sdist_that_is_not_a_tar(tmp_path: Path) -> None:
    sdist = tmp_path / SDIST_NAME
    sdist.write_bytes(b"\x1f\x8b not really gzip")
    refused(sdist, "not-tar", "File is not a tarfile")


def test_an_sdist_missing_its_license_file(tmp_path: Path) -> None:
    members = sdist_members()
    del members["LICENSE"]
    refused(write_tar(tmp_path / SDIST_NAME, members), "license-file",
            f"License-File LICENSE does not exist in distribution file {SDIST_NAME} at noetl-{VERSION}/LICENSE")


# ---- a release


def test_check_release_names_the_first_refusal_and_counts_the_others(tmp_path: Path) -> None:
    bad = good_wheel(tmp_path, head={"Classifier": "Programming Language :: Klingon"})
    other = good_sdist(tmp_path, name="noetlctl")
    with pytest.raises(ReleaseError) as caught:
        check_release([bad, other])
    message = str(caught.value)
    assert message.startswith(f"{WHEEL_NAME}: PyPI would refuse it (classifier): 'Programming Language :: Klingon'")
    assert message.endswith("(and 2 more refusals): fix it and build the release again")
    assert "\n" not in message


def test_check_release_refuses_two_sdists(tmp_path: Path) -> None:
    one = good_sdist(tmp_path)
    (tmp_path / "b").mkdir()
    two = good_sdist(tmp_path / "b")
    with pytest.raises(ReleaseError, match=r"\(one-sdist\): Only one sdist may be uploaded per release"):
        check_release([good_wheel(tmp_path), one, two])


def test_check_release_refuses_a_release_over_the_project_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel, sdist = good_wheel(tmp_path), good_sdist(tmp_path)
    monkeypatch.setattr(pypi_rules, "MAX_PROJECT_SIZE", wheel.stat().st_size + sdist.stat().st_size - 1)
    with pytest.raises(ReleaseError, match=r"\(project-size\): Project size too large"):
        check_release([wheel, sdist])
    monkeypatch.undo()
    check_release([wheel, sdist])


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"noetl-1.2.0.tar.gz: no such file to check against PyPI's upload rules$"):
        check_release([tmp_path / SDIST_NAME])


def test_a_refusal_is_one_line() -> None:
    refusal = Refusal("noetl\n-1.whl", "x", "reason\x1b[31m")
    assert str(refusal) == "noetl\\n-1.whl: PyPI would refuse it (x): reason\\x1b[31m"
