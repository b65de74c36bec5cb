"""The PEP 517 backend's own pieces, without compiling: pins, tags, settings, the tar writer."""

from __future__ import annotations

import gzip
import io
import platform
import re
import sysconfig
import tarfile
import tomllib
from pathlib import Path

import pytest

from noetl_build import backend
from noetl_build.source import sdist_sources, wheel_sources
from tests.conftest import ROOT


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(3)
    return found


def test_backend_pins_equal_the_build_requirements() -> None:
    build = pins(ROOT / "requirements" / "build.txt")
    asked = [backend.COMMITIZEN, *backend.SBOM_REQUIRES]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in [*asked, *pyproject]:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$", requirement)
        if match is None:
            continue  # a marker-only fallback such as tomli on old Pythons
        assert build.get(match.group(1).lower()) == match.group(3), requirement


def test_pyproject_names_the_in_tree_backend() -> None:
    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert system["build-backend"] == "noetl_build.backend"
    assert system["backend-path"] == ["."]


def test_host_platform_tag_is_this_machines() -> None:
    tag = backend.host_platform_tag()
    if sysconfig.get_platform().startswith("linux"):
        assert tag == f"linux_{platform.machine()}"
    assert tag != "any" and "-" not in tag and "." not in tag


def test_macos_tag_names_the_binarys_minimum_and_one_arch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysconfig, "get_platform", lambda: "macosx-10.9-universal2")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    monkeypatch.delenv("MACOSX_DEPLOYMENT_TARGET", raising=False)
    assert backend.host_platform_tag() == "macosx_11_0_arm64"
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert backend.host_platform_tag() == "macosx_10_12_x86_64"
    monkeypatch.setenv("MACOSX_DEPLOYMENT_TARGET", "13.4")
    assert backend.host_platform_tag() == "macosx_13_4_x86_64"


def test_settings() -> None:
    assert backend.Settings.parse(None) == backend.Settings(binary=True, version=None)
    assert backend.Settings.parse({"binary": "none", "version": "1.2.3"}) == backend.Settings(False, "1.2.3")


@pytest.mark.parametrize(("setting", "message"), [
    ({"binary": "static"}, "error: config setting binary='static'"),
    ({"version": "v1.0"}, "error: config setting version='v1.0' is not a PEP 440 version in normal form"),
    ({"version": "1.0\n../x"}, "error: config setting version='1.0\\\\n../x' is not a PEP 440"),
])
def test_a_bad_setting_is_one_line_for_pip(setting: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        backend.get_requires_for_build_wheel(setting)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_no_cargo_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(backend.ToolchainError) as exc:
        backend.compile_host_binary(ROOT, version="1.0.0", epoch=0)
    assert str(exc.value) == backend.NO_CARGO


def test_commitizen_is_asked_for_only_in_a_checkout_without_a_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert backend.COMMITIZEN in backend.get_requires_for_build_wheel(None)
    assert backend.COMMITIZEN not in backend.get_requires_for_build_wheel({"version": "1.0.0"})
    (tmp_path / "PKG-INFO").write_text("Metadata-Version: 2.4\n")
    monkeypatch.chdir(tmp_path)
    assert backend.COMMITIZEN not in backend.get_requires_for_build_sdist(None)


def test_sdist_writer_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    backend.write_sdist(a, "noetl-1.0", {"x/y.txt": b"y", "PKG-INFO": b"p"}, epoch=1_700_000_000)
    backend.write_sdist(b, "noetl-1.0", {"PKG-INFO": b"p", "x/y.txt": b"y"}, epoch=1_700_000_000)
    assert a.read_bytes() == b.read_bytes()
    with gzip.open(a) as gz:
        data = gz.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == ["noetl-1.0/PKG-INFO", "noetl-1.0/x/y.txt"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) for i in infos} == {
        (1_700_000_000, 0, 0, "", "", 0o644)}


def test_sources_leave_out_binaries_and_build_outputs() -> None:
    for files in (wheel_sources(ROOT), sdist_sources(ROOT)):
        relative = [p.relative_to(ROOT).as_posix() for p in files]
        assert not [r for r in relative if r.startswith(("noetl/bin/", "ui-src/node_modules/", "ui-src/dist/"))]
        assert not [r for r in relative if "__pycache__" in r or "/target/" in r]
    sdist = {p.relative_to(ROOT).as_posix() for p in sdist_sources(ROOT)}
    assert {"noetlctl/Cargo.lock", "noetl_build/backend.py", "LICENSE"} <= sdist
