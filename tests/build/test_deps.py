"""The dependency check (issue 18): noetl's install closure per platform, markers evaluated for it.

A made-up index on 127.0.0.1 (a directory listing per project, as PEP 503 pages are) holds small
wheels and sdists written here; the real index is tested by the rehearsal and publish --check."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from noetl_build import deps
from noetl_build.errors import ReleaseError
from noetl_build.targets import load_matrix
from tests.conftest import ROOT

MATRIX = load_matrix(ROOT / "targets.toml")


def env(target: str, python: tuple[int, int] = (3, 11), slice_: int = 0) -> deps.Environment:
    found = [e for e in deps.environments(MATRIX.select([target]), [python])]
    return found[slice_]


# ---------------------------------------------------------------- environments


def test_markers_are_the_platforms_own() -> None:
    windows = env("x86_64-pc-windows-gnu").markers
    assert (windows["sys_platform"], windows["platform_system"], windows["os_name"], windows["platform_machine"]) == (
        "win32", "Windows", "nt", "AMD64")
    assert env("i686-pc-windows-gnu").markers["platform_machine"] == "x86"
    assert env("aarch64-apple-darwin").markers["platform_machine"] == "arm64"
    assert env("aarch64-apple-darwin").markers["sys_platform"] == "darwin"
    armv6 = env("arm-unknown-linux-gnueabihf").markers
    assert (armv6["sys_platform"], armv6["platform_machine"]) == ("linux", "armv6l")
    assert env("x86_64-unknown-linux-gnu", (3, 13)).markers["python_version"] == "3.13"


def test_a_universal2_target_is_both_of_its_machines() -> None:
    machines = deps.environments(MATRIX.select(["universal2-apple-darwin"]), [(3, 12)])
    assert [(e.platform, e.markers["platform_machine"]) for e in machines] == [
        ("macosx_10_12_x86_64", "x86_64"), ("macosx_11_0_arm64", "arm64")]


def test_every_target_and_python_is_an_environment() -> None:
    found = deps.environments(MATRIX.targets)
    assert len(found) == (len(MATRIX.targets) + 1) * 5  # universal2 is two machines; Pythons 3.10-3.14
    assert {e.python for e in found} == {(3, 10), (3, 11), (3, 12), (3, 13), (3, 14)}


def test_platform_tags_expand_as_an_installer_there_would() -> None:
    glibc = list(deps.expand_platform("manylinux_2_17_x86_64"))
    assert glibc[0] == "manylinux_2_17_x86_64" and "manylinux2014_x86_64" in glibc
    assert "manylinux_2_5_x86_64" in glibc and "manylinux1_x86_64" in glibc and glibc[-1] == "linux_x86_64"
    assert "manylinux_2_28_x86_64" not in glibc, "the oldest machine cannot take a newer glibc's wheel"
    assert list(deps.expand_platform("musllinux_1_2_aarch64")) == [
        "musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64", "linux_aarch64"]
    assert list(deps.expand_platform("linux_armv6l")) == ["linux_armv6l"]
    assert list(deps.expand_platform("win_amd64")) == ["win_amd64"]
    mac = list(deps.expand_platform("macosx_11_0_arm64"))
    assert "macosx_11_0_universal2" in mac and "macosx_10_12_x86_64" not in mac


# ---------------------------------------------------------------- a made-up index


def _wheel(directory: Path, name: str, version: str, tag: str, requires: list[str],
           requires_python: str | None = None) -> None:
    metadata = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Python: {requires_python}"] if requires_python else []
    metadata += [f"Requires-Dist: {r}" for r in requires]
    project = directory / name
    project.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(project / f"{name}-{version}-{tag}.whl", "w") as wheel:
        wheel.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(metadata) + "\n")


def _sdist(directory: Path, name: str, version: str, files: dict[str, str]) -> None:
    project = directory / name
    project.mkdir(parents=True, exist_ok=True)
    files = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **files}
    with tarfile.open(project / f"{name}-{version}.tar.gz", "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def index(tmp_path: Path):
    simple = tmp_path / "www" / "simple"
    _wheel(simple, "app", "1.0", "py3-none-any", [
        "pure>=1", 'winonly; sys_platform == "win32"', 'old; python_version < "3.11"', "native"])
    _wheel(simple, "pure", "1.0", "py3-none-any", [])
    _wheel(simple, "pure", "2.0", "py3-none-any", [], requires_python=">=3.12")
    _wheel(simple, "winonly", "1.0", "py3-none-any", [])
    _wheel(simple, "old", "1.0", "py3-none-any", [])
    # native: a wheel for glibc x86_64 and armv7l only, else its sdist, built with maturin
    _wheel(simple, "native", "1.0", "cp311-cp311-manylinux_2_17_x86_64", [])
    _wheel(simple, "native", "1.0", "cp311-cp311-manylinux_2_17_armv7l", [])
    _wheel(simple, "native", "1.0", "cp311-cp311-manylinux_2_28_aarch64", [])
    _sdist(simple, "native", "1.0", {"pyproject.toml": '[build-system]\nrequires = ["maturin>=1"]\n'
                                                       'build-backend = "maturin"\n'})
    _sdist(simple, "cext", "1.0", {"setup.py": "from setuptools import Extension, setup\n"
                                               "setup(ext_modules=[Extension('c', ['c.c'])])\n"})
    _sdist(simple, "puresdist", "1.0", {"pyproject.toml": '[build-system]\nrequires = ["flit_core"]\n'
                                                          'build-backend = "flit_core.buildapi"\n'})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield deps.Index(f"http://127.0.0.1:{server.server_address[1]}/simple/")
    finally:
        server.shutdown()
        thread.join(timeout=10)


def closure(resolution: deps.Resolution) -> dict[str, tuple[str, bool]]:
    return {p.name: (p.version, p.wheel) for p in resolution.picks}


def test_markers_decide_the_closure_per_platform(index: deps.Index) -> None:
    linux = deps.resolve(index, env("x86_64-unknown-linux-gnu"), [Requirement("app")])
    assert closure(linux) == {"app": ("1.0", True), "pure": ("1.0", True), "native": ("1.0", True)}
    assert linux.ok
    windows = deps.resolve(index, env("x86_64-pc-windows-gnu"), [Requirement("app")])
    assert "winonly" in closure(windows)
    older = deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 10)), [Requirement("app")])
    assert "old" in closure(older) and "old" not in closure(linux)


def test_requires_python_picks_the_version_that_python_can_have(index: deps.Index) -> None:
    assert closure(deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 12)), [Requirement("pure")])) == {
        "pure": ("2.0", True)}
    assert closure(deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 11)), [Requirement("pure")])) == {
        "pure": ("1.0", True)}


def test_a_dependency_without_a_fitting_wheel_is_named_with_what_it_needs(index: deps.Index) -> None:
    # armv6l cannot take the armv7l wheel; the aarch64 wheel needs glibc 2.28, the target promises 2.17
    for target in ("arm-unknown-linux-gnueabihf", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl"):
        resolution = deps.resolve(index, env(target), [Requirement("app")])
        assert not resolution.ok, target
        (build,) = resolution.source_builds
        assert (build.name, build.wheel) == ("native", False)
        assert build.needs.startswith("Rust and a C compiler (maturin)"), build.needs
    assert deps.resolve(index, env("armv7-unknown-linux-gnueabihf"), [Requirement("app")]).ok


def test_what_a_source_build_needs_is_read_from_the_sdist(index: deps.Index) -> None:
    linux = env("x86_64-unknown-linux-gnu")
    (cext,) = deps.resolve(index, linux, [Requirement("cext")]).source_builds
    assert cext.needs.startswith("a C compiler")
    (pure,) = deps.resolve(index, linux, [Requirement("puresdist")]).source_builds
    assert pure.needs.startswith("no compiler (flit_core.buildapi")


def test_a_requirement_nothing_satisfies_is_reported(index: deps.Index) -> None:
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu"), [Requirement("pure>=3"), Requirement("ghost")])
    assert not resolution.ok
    assert any(p.startswith("pure>=3 : nothing on the index satisfies it") for p in resolution.problems)
    assert any(p.startswith("ghost : nothing on the index") for p in resolution.problems)


def test_a_later_requirement_makes_an_earlier_pick_again(index: deps.Index, tmp_path: Path) -> None:
    # top wants pure (any: 2.0 on 3.12), then capped wants pure<2: the closure settles on 1.0
    _wheel(tmp_path / "www" / "simple", "top", "1.0", "py3-none-any", ["pure", "capped"])
    _wheel(tmp_path / "www" / "simple", "capped", "1.0", "py3-none-any", ["pure<2"])
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 12)), [Requirement("top")])
    assert resolution.ok and closure(resolution)["pure"] == ("1.0", True)


def test_the_report_and_its_one_line_failures(index: deps.Index) -> None:
    report = deps.Report(index.url, "1.0", tuple(
        deps.resolve(index, e, [Requirement("app")])
        for e in deps.environments(MATRIX.select(["x86_64-unknown-linux-gnu", "arm-unknown-linux-gnueabihf"]), [(3, 11)])))
    assert not report.ok
    (line,) = deps.failures(report)
    assert line.startswith("arm-unknown-linux-gnueabihf (linux_armv6l, Python 3.11): native 1.0 builds from source "
                           "(needs Rust and a C compiler (maturin))")
    text = deps.render(report)
    assert "1 of 2 environments install from wheels alone" in text
    assert deps.to_json(report)["environments"][1]["closure"][1]["needs"].startswith("Rust")


def test_an_unreachable_index_is_one_line() -> None:
    with pytest.raises(ReleaseError, match=r"cannot reach the index http://127.0.0.1:9/simple/"):
        deps.Index("http://127.0.0.1:9/simple/").files("anything")


def test_the_cli_refuses_an_unknown_triple_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "noetl_build", "--build-dir", str(tmp_path), "deps",
                           "--index-url", "http://127.0.0.1:9/simple/", "x86_64-unknown-linux-gnux"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "x86_64-unknown-linux-gnu" in proc.stderr  # the suggestion
