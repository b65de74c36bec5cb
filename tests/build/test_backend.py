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
        backend.compile_host_binary(ROOT, version="1.0.0")
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


# ---------------------------------------------------------------- the minimum Rust

# What each toolchain's `-vV` says, as measured in a Debian 12 amd64 root (apt-get install cargo;
# cargo-web from bookworm main) and on this host.
DEBIAN12_RUSTC_VV = ("rustc 1.63.0\nbinary: rustc\ncommit-hash: unknown\ncommit-date: unknown\n"
                     "host: x86_64-unknown-linux-gnu\nrelease: 1.63.0\nLLVM version: 14.0.6\n")
DEBIAN12_CARGO_VV = ("cargo 1.65.0\nrelease: 1.65.0\nhost: x86_64-unknown-linux-gnu\n"
                     "libgit2: 1.5.1 (sys:0.16.0 system)\nos: Linux [64-bit]\n")
RUSTC_WEB_185_VV = ("rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)\nbinary: rustc\n"
                    "host: x86_64-unknown-linux-gnu\nrelease: 1.85.0\nLLVM version: 19.1.7\n")


def needed() -> str:
    return tomllib.loads((ROOT / "noetlctl" / "Cargo.toml").read_text())["package"]["rust-version"]


@pytest.mark.parametrize(("said", "release"), [
    (DEBIAN12_RUSTC_VV, (1, 63, 0)),
    (DEBIAN12_CARGO_VV, (1, 65, 0)),
    (RUSTC_WEB_185_VV, (1, 85, 0)),
    ("rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)", (1, 96, 0)),
    ("cargo 1.95.0 (f2d3ce0bd 2026-03-21)\nrelease: 1.95.0\nhost: x86_64-unknown-linux-gnu", (1, 95, 0)),
    ("rustc 1.90.0-nightly (abc123 2025-07-01)\nrelease: 1.90.0-nightly", (1, 90, 0)),
    ("cargo 0.66.0", (0, 66, 0)),  # a cargo version that is not Rust's: older than any 1.x
    ("1.88", (1, 88, 0)),
    ("release: 1.88.1\n", (1, 88, 1)),
    ("", None),
    ("no version here", None),
])
def test_a_rust_release_is_read_from_what_the_tool_says(said: str, release: tuple[int, int, int] | None) -> None:
    assert backend.parse_rust_release(said) == release


def test_the_crate_declares_its_minimum_rust() -> None:
    assert backend.needed_rust(ROOT / "noetlctl" / "Cargo.toml") == needed()
    assert re.fullmatch(r"1\.\d+", needed())


@pytest.mark.parametrize(("said", "found"), [
    (DEBIAN12_RUSTC_VV, "1.63.0"),
    (RUSTC_WEB_185_VV, "1.85.0"),
    ("cargo 0.66.0", "0.66.0"),
])
def test_an_older_rust_is_one_line_naming_needed_and_found(said: str, found: str) -> None:
    refusal = backend.rust_too_old("1.88", {"the rustc at /usr/bin/rustc": said})
    assert refusal == (
        f"building noetl from source needs Rust 1.88 or newer (rust-version in noetlctl/Cargo.toml), "
        f"and the rustc at /usr/bin/rustc is {found}: {backend.RUST_REMEDY}")


def test_a_new_enough_rust_passes_nightly_and_patch_releases_too() -> None:
    for said in ("release: 1.88.0", "release: 1.88.0-nightly", "release: 2.0.0", "rustc 1.96.0 (x)"):
        assert backend.rust_too_old("1.88", {"rustc": said}) is None, said
    assert backend.rust_too_old("1.88.1", {"rustc": "release: 1.88.0"}) is not None
    assert backend.rust_too_old("1.88", {"rustc": None, "cargo": "release: 1.90.0"}) is None  # no answer: not judged


def test_the_first_tool_too_old_is_named() -> None:
    refusal = backend.rust_too_old("1.88", {"the rustc at r": "release: 1.96.0", "the cargo at c": DEBIAN12_CARGO_VV})
    assert refusal is not None and "and the cargo at c is 1.65.0:" in refusal


def test_an_unreadable_answer_is_refused_with_control_characters_escaped() -> None:
    refusal = backend.rust_too_old("1.88", {"the rustc at /x\x1b[31m": "\x1b[2Jwhat\nsecond line"})
    assert refusal is not None
    assert "is of no known version (it says '\\x1b[2Jwhat')" in refusal
    assert "the rustc at /x\\x1b[31m" in refusal
    assert refusal.isprintable()


@pytest.mark.parametrize("manifest", [
    '[package]\nname = "noetl"\n',
    '[package]\nrust-version = "1.88.x"\n',
    '[package]\nrust-version = 1.88\n',
    '[package]\nrust-version = "1.88\\nrm"\n',
    'package = 1\n',
])
def test_a_crate_without_a_valid_rust_version_is_one_line(manifest: str, tmp_path: Path) -> None:
    path = tmp_path / "Cargo.toml"
    path.write_text(manifest)
    with pytest.raises(backend.BuildError) as exc:
        backend.needed_rust(path)
    assert str(exc.value) == f"{path} has no valid rust-version in [package] (such as \"1.85\"): it is broken"


def fake_tool(bin_dir: Path, name: str, said: str, called: Path) -> None:
    """A stand-in `name` that answers -vV with ``said`` and records any other call in ``called``."""
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\nif [ \"$1\" = -vV ]; then printf '%s' '{said}'; exit 0; fi\n"
                      f"echo \"{name} $*\" >> '{called}'\nexit 101\n")
    script.chmod(0o755)


def test_debian12_cargo_stops_before_compiling_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Debian 12's cargo and rustc as found on PATH: refused before cargo build runs."""
    called = tmp_path / "called"
    fake_tool(tmp_path, "cargo", DEBIAN12_CARGO_VV, called)
    fake_tool(tmp_path, "rustc", DEBIAN12_RUSTC_VV, called)
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.delenv("RUSTC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(backend.ToolchainError) as exc:
        backend.compile_host_binary(ROOT, version="1.0.0")
    assert str(exc.value) == (
        f"building noetl from source needs Rust {needed()} or newer (rust-version in noetlctl/Cargo.toml), "
        f"and the rustc at {tmp_path / 'rustc'} is 1.63.0: {backend.RUST_REMEDY}")
    assert not called.exists()


def test_rustc_is_the_one_cargo_uses_rustc_env_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """RUSTC names the compiler cargo runs: a new rustc on PATH does not hide an old RUSTC."""
    called = tmp_path / "called"
    (tmp_path / "old").mkdir()
    fake_tool(tmp_path, "cargo", "release: 1.96.0\nhost: x86_64-unknown-linux-gnu\n", called)
    fake_tool(tmp_path, "rustc", "release: 1.96.0\n", called)
    fake_tool(tmp_path / "old", "rustc", RUSTC_WEB_185_VV, called)
    monkeypatch.setenv("CARGO", str(tmp_path / "cargo"))
    monkeypatch.setenv("RUSTC", str(tmp_path / "old" / "rustc"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(backend.ToolchainError) as exc:
        backend.compile_host_binary(ROOT, version="1.0.0")
    assert f"and the rustc at {tmp_path / 'old' / 'rustc'} is 1.85.0: " in str(exc.value)
    assert not called.exists()


def test_a_new_enough_toolchain_goes_on_to_cargo_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    called = tmp_path / "called"
    fake_tool(tmp_path, "cargo", "release: 1.96.0\nhost: x86_64-unknown-linux-gnu\n", called)
    fake_tool(tmp_path, "rustc", "release: 1.96.0\n", called)
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.delenv("RUSTC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "target"))
    with pytest.raises(backend.BuildError) as exc:
        backend.compile_host_binary(ROOT, version="1.0.0")
    assert str(exc.value) == "cargo build --release --locked failed (exit 101); its output is above"
    assert called.read_text().startswith("cargo build --release --locked ")
