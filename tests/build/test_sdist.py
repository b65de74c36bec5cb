"""The sdist and builds from source (issue 7): what the sdist holds, that it is reproducible and
twine-clean, and that a fresh venv's `pip install --no-binary noetl` of it compiles a working
binary, while a machine without cargo gets one line saying what to install."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from noetl_build import backend
from tests.conftest import ROOT, build_version
from tests.test_e2e import Venv, clean_env, describe, free_port, port_accepts, process_alive

pytestmark = pytest.mark.slow

REQUIRED = (
    "PKG-INFO", "pyproject.toml", "README.md", "LICENSE",
    "noetlctl/Cargo.toml", "noetlctl/Cargo.lock", "noetlctl/src/main.rs",
    "noetl/__init__.py", "noetl/cli_wrapper.py", "noetl/core/ui/index.html",
    "noetl/database/ddl/sqlite/001_catalog.sql", "noetl_build/backend.py",
    "ui-src/package-lock.json", "docs/packaging.md", "sboms/noetl.cdx.json",
)
FORBIDDEN_PARTS = {"node_modules", "target", "__pycache__", ".git", "build", "dist"}


def run(*cmd: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kwargs)


def make_sdist(dist: Path) -> Path:
    proc = run(sys.executable, "-m", "noetl_build", "--dist", dist, "sdist", cwd=ROOT, timeout=900)
    assert proc.returncode == 0, describe(proc)
    found = list(dist.glob("*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sdist(tmp_path_factory.mktemp("sdist-dist"))


@pytest.fixture(scope="module")
def cargo_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cargo target dir for every source build in this module: compile once, reuse."""
    return tmp_path_factory.mktemp("cargo-target")


def members(sdist: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(sdist) as tar:
        return {info.name: info for info in tar.getmembers()}


def test_sdist_is_named_for_the_build_version(sdist: Path) -> None:
    assert sdist.name == f"noetl-{build_version()}.tar.gz"


def test_sdist_holds_the_crate_the_built_ui_and_the_package(sdist: Path) -> None:
    prefix = f"noetl-{build_version()}/"
    names = members(sdist)
    assert all(name.startswith(prefix) for name in names), sorted(names)[:5]
    inner = {name[len(prefix):] for name in names}
    missing = [name for name in REQUIRED if name not in inner]
    assert missing == [], missing
    assert not [n for n in inner if n.startswith("noetl/bin/")], "a binary in the sdist"
    assert not [n for n in inner if FORBIDDEN_PARTS.intersection(Path(n).parts)]
    assert "tests/conftest.py" not in inner


def test_sdist_carries_its_version_and_fixed_metadata(sdist: Path) -> None:
    version = build_version()
    with tarfile.open(sdist) as tar:
        init = tar.extractfile(f"noetl-{version}/noetl/__init__.py").read().decode()  # type: ignore[union-attr]
        pkg_info = tar.extractfile(f"noetl-{version}/PKG-INFO").read()  # type: ignore[union-attr]
        infos = tar.getmembers()
    assert f'__version__ = "{version}"' in init
    metadata = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(pkg_info)
    assert metadata["Name"] == "noetl" and metadata["Version"] == version
    assert {(i.uid, i.gid, i.uname, i.gname, i.mode) for i in infos} == {(0, 0, "", "", 0o644)}
    assert len({i.mtime for i in infos}) == 1


def test_sdist_is_reproducible(sdist: Path, tmp_path: Path) -> None:
    again = make_sdist(tmp_path / "dist")
    assert again.read_bytes() == sdist.read_bytes()


def test_sdist_passes_twine_check_strict(sdist: Path) -> None:
    proc = run(sys.executable, "-m", "twine", "check", "--strict", sdist, timeout=120)
    assert proc.returncode == 0, describe(proc)
    assert "PASSED" in proc.stdout


def test_sdist_sbom_lists_crates_of_every_platform(sdist: Path) -> None:
    version = build_version()
    with tarfile.open(sdist) as tar:
        sbom = json.load(tar.extractfile(f"noetl-{version}/sboms/noetl.cdx.json"))  # type: ignore[arg-type]
    names = {c["name"] for c in sbom["components"]}
    assert {"libc", "windows-sys", "clap", "react"} <= names
    assert sbom["metadata"]["component"]["version"] == version


# ---------------------------------------------------------------- installing it


def fresh_venv(tmp: Path, python: str = sys.executable) -> Path:
    root = tmp / "venv"
    proc = run(python, "-m", "venv", root, timeout=120)
    assert proc.returncode == 0, describe(proc)
    return root


@pytest.fixture(scope="module")
def source_install(sdist: Path, cargo_target: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """`pip install --no-binary noetl <sdist>` into a fresh venv, as a user without a wheel would."""
    tmp = tmp_path_factory.mktemp("source-install")
    root = fresh_venv(tmp)
    env = {**os.environ, "CARGO_TARGET_DIR": str(cargo_target), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = run(root / "bin" / "python", "-m", "pip", "install", "--no-input", "--no-binary", "noetl",
               sdist, env=env, timeout=1800)
    assert proc.returncode == 0, describe(proc)
    home, config = tmp / "noetl-home", tmp / "noetl-config"
    workdir = tmp / "work"
    workdir.mkdir()
    return Venv(root=root, home=home, config=config, workdir=workdir, tmp=tmp, version=build_version(),
                env=clean_env(tmp, home, config))


def installed_wheel_tags(venv: Venv) -> list[str]:
    proc = run(venv.python, "-c", "import importlib.metadata as m; print(m.distribution('noetl').read_text('WHEEL'))")
    assert proc.returncode == 0, describe(proc)
    return [line.split(":", 1)[1].strip() for line in proc.stdout.splitlines() if line.startswith("Tag:")]


def test_source_install_runs_the_version(source_install: Venv) -> None:
    proc = source_install.run("--version")
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip() == f"noetl {build_version()}"


def test_source_install_is_tagged_for_this_host(source_install: Venv) -> None:
    assert installed_wheel_tags(source_install) == [f"py3-none-{backend.host_platform_tag()}"]
    assert backend.host_platform_tag() != "any"


def test_source_install_serves_and_stops(source_install: Venv) -> None:
    port = free_port()
    start = source_install.run("--port", str(port), "server", "start", "--init-db")
    try:
        assert start.returncode == 0, f"{describe(start)}\n{source_install.server_log()}"
        health = source_install.run("--port", str(port), "--json", "server", "status")
        assert health.returncode == 0, describe(health)
        pid = json.loads(source_install.pid_file.read_text())["pid"]
    finally:
        stop = source_install.run("server", "stop", timeout=60)
    assert stop.returncode == 0, describe(stop)
    assert not process_alive(pid)
    assert not port_accepts(port)


def test_without_cargo_the_build_fails_with_one_line(sdist: Path, tmp_path: Path) -> None:
    root = fresh_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "CARGO_HOME", "RUSTUP_HOME")}
    env.update(PATH=str(root / "bin"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = tmp_path / "out"
    proc = run(root / "bin" / "python", "-m", "pip", "wheel", "--no-deps", "--no-binary", "noetl",
               "-w", out, sdist, env=env, timeout=600)
    assert proc.returncode != 0, describe(proc)
    output = proc.stdout + proc.stderr
    assert any(line.strip() == f"error: {backend.NO_CARGO}" for line in output.splitlines()), describe(proc)
    assert "Traceback" not in output, describe(proc)
    assert not out.exists() or not list(out.glob("*.whl"))


def test_pip_wheel_of_the_checkout_is_a_host_wheel_with_the_binary(cargo_target: Path, tmp_path: Path) -> None:
    """`pip install .` / `pip wheel .` in a checkout: the host's binary, the build version everywhere."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(cargo_target), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    init_before = (ROOT / "noetl" / "__init__.py").read_bytes()
    proc = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path, ROOT, env=env, timeout=1800)
    assert proc.returncode == 0, describe(proc)
    version = build_version()
    wheel = tmp_path / f"noetl-{version}-py3-none-{backend.host_platform_tag()}.whl"
    assert wheel.is_file(), sorted(p.name for p in tmp_path.iterdir())
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("noetl/bin/noetl")
        assert info.external_attr >> 16 == 0o100755
        binary = tmp_path / "noetl"
        binary.write_bytes(zf.read(info))
        wheel_file = zf.read(f"noetl-{version}.dist-info/WHEEL").decode()
        assert f"noetl-{version}.dist-info/sboms/noetl.cdx.json" in zf.namelist()
    assert "Root-Is-Purelib: false" in wheel_file
    binary.chmod(0o755)
    proc = run(binary, "--version")
    assert proc.stdout.strip() == f"noetl {version}", describe(proc)
    # the backend stages a copy: the checkout's files keep the release version
    assert (ROOT / "noetl" / "__init__.py").read_bytes() == init_before
