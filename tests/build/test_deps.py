"""The dependency check (issue 18): noetl's install closure per platform, markers evaluated for it.

A made-up index on 127.0.0.1 (a directory listing per project, as PEP 503 pages are; PEP 503 pages
and PEP 691 JSON written here where a test needs their attributes) holds small wheels and sdists
written here. The last test runs the real check over the real targets.toml against the real
wheelhouse (pypiserver on 127.0.0.1), when the tests session has filled it."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from noetl_build import deps, rehearsal
from noetl_build.errors import ReleaseError
from noetl_build.layout import Layout
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
           requires_python: str | None = None) -> Path:
    metadata = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Python: {requires_python}"] if requires_python else []
    metadata += [f"Requires-Dist: {r}" for r in requires]
    project = directory / name
    project.mkdir(parents=True, exist_ok=True)
    path = project / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(metadata) + "\n")
    return path


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


class _Handler(http.server.SimpleHTTPRequestHandler):
    """A directory listing per project, an index.html where written; index.json (PEP 691) for a
    client that asks for JSON."""

    def do_GET(self) -> None:
        page = Path(self.translate_path(self.path)) / "index.json"
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") and page.is_file():
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    handler = functools.partial(_Handler, directory=str(tmp_path / "www"))
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
        assert build.needs == "Rust (maturin)", build.needs
    assert deps.resolve(index, env("armv7-unknown-linux-gnueabihf"), [Requirement("app")]).ok


def test_what_a_source_build_needs_is_read_from_the_sdist(index: deps.Index) -> None:
    linux = env("x86_64-unknown-linux-gnu")
    (cext,) = deps.resolve(index, linux, [Requirement("cext")]).source_builds
    assert cext.needs == "a C compiler (setup.py builds an extension module)"
    (pure,) = deps.resolve(index, linux, [Requirement("puresdist")]).source_builds
    assert pure.needs.startswith("no compiler (flit_core.buildapi")


def test_a_requirement_nothing_satisfies_is_reported(index: deps.Index) -> None:
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu"), [Requirement("pure>=3"), Requirement("ghost")])
    assert not resolution.ok
    assert "pure>=3: nothing on the index satisfies it for manylinux_2_17_x86_64, Python 3.11 (wanted by asked for: pure>=3)" in resolution.problems
    assert "ghost: the index has no such project (wanted by asked for: ghost)" in resolution.problems


def test_a_later_requirement_makes_an_earlier_pick_again(index: deps.Index, tmp_path: Path) -> None:
    # top wants pure (any: 2.0 on 3.12), then capped wants pure<2: the closure settles on 1.0
    _wheel(tmp_path / "www" / "simple", "top", "1.0", "py3-none-any", ["pure", "capped"])
    _wheel(tmp_path / "www" / "simple", "capped", "1.0", "py3-none-any", ["pure<2"])
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 12)), [Requirement("top")])
    assert resolution.ok and closure(resolution)["pure"] == ("1.0", True)


def test_the_report_and_its_one_line_failures(index: deps.Index) -> None:
    report = deps.ClosureReport(index.url, "1.0", tuple(
        deps.resolve(index, e, [Requirement("app")])
        for e in deps.environments(MATRIX.select(["x86_64-unknown-linux-gnu", "arm-unknown-linux-gnueabihf"]), [(3, 11)])))
    assert not report.ok
    (line,) = deps.failures(report)
    assert line == "arm-unknown-linux-gnueabihf (linux_armv6l, Python 3.11): native 1.0 builds from source: needs Rust (maturin)"
    text = deps.render(report)
    assert "1 of 2 environments install from wheels alone" in text
    assert "native==1.0 (sdist)" in text and "native==1.0 pure==1.0" in text
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


def test_conflicting_requirements_are_named_with_who_asked(index: deps.Index, tmp_path: Path) -> None:
    _wheel(tmp_path / "www" / "simple", "left", "1.0", "py3-none-any", ["pure>=2"])
    _wheel(tmp_path / "www" / "simple", "right", "1.0", "py3-none-any", ["pure<2"])
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 12)), [Requirement("left"), Requirement("right")])
    assert not resolution.ok
    assert resolution.problems == ("pure: conflicting requirements, no version is <2,>=2 "
                                   "(left 1.0: pure>=2; right 1.0: pure<2)",), resolution.problems


def test_yanked_files_and_the_pages_requires_python_are_obeyed(index: deps.Index, tmp_path: Path) -> None:
    """A PEP 503 page's data-yanked and data-requires-python (pypiserver's and PyPI's HTML)."""
    project = tmp_path / "www" / "simple" / "paged"
    links = []
    for version, attributes in (("3.0", ' data-yanked=""'), ("2.0", ' data-requires-python="&gt;=3.13"'), ("1.0", "")):
        wheel = _wheel(tmp_path / "www" / "simple", "paged", version, "py3-none-any", [])
        links.append(f'<a href="{wheel.name}#sha256={_sha(wheel)}"{attributes}>{wheel.name}</a><br/>')
    (project / "index.html").write_text("<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>")
    assert closure(deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 11)), [Requirement("paged")])) == {
        "paged": ("1.0", True)}
    assert closure(deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 13)), [Requirement("paged")])) == {
        "paged": ("2.0", True)}


def test_pep_691_json_and_pep_658_metadata(index: deps.Index, tmp_path: Path) -> None:
    """JSON where the index offers it; the metadata file, not the wheel's, when the index serves one."""
    simple = tmp_path / "www" / "simple"
    old = _wheel(simple, "jsoned", "1.0", "py3-none-any", [])  # its METADATA requires nothing...
    (old.parent / (old.name + ".metadata")).write_text(  # ...the served metadata says pure
        "Metadata-Version: 2.1\nName: jsoned\nVersion: 1.0\nRequires-Dist: pure\n")
    new = _wheel(simple, "jsoned", "2.0", "py3-none-any", [])
    (old.parent / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": "jsoned", "files": [
        {"filename": old.name, "url": old.name, "hashes": {"sha256": _sha(old)}, "core-metadata": {"sha256": "x"}},
        {"filename": new.name, "url": new.name, "hashes": {"sha256": _sha(new)}, "yanked": "broken"},
    ]}))
    resolution = deps.resolve(index, env("x86_64-unknown-linux-gnu", (3, 11)), [Requirement("jsoned")])
    assert closure(resolution) == {"jsoned": ("1.0", True), "pure": ("1.0", True)}


def _noetl(directory: Path, *targets: str) -> None:
    for name in targets:
        (target,) = MATRIX.select([name])
        _wheel(directory, "noetl", "1.0", f"py3-none-{target.platform_tag}", ["pure", 'winonly; os_name == "nt"'])


def test_the_check_takes_each_targets_own_noetl_wheel(index: deps.Index, tmp_path: Path) -> None:
    mac = ["x86_64-apple-darwin", "aarch64-apple-darwin", "universal2-apple-darwin"]
    _noetl(tmp_path / "www" / "simple", "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu", *mac)
    report = deps.check(index, MATRIX.select(["x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu", *mac]), "1.0",
                        pythons=[(3, 11)])
    assert report.ok, deps.failures(report)
    assert report.note == ""
    taken = {(r.env.target, r.env.platform): next(p.file.filename for p in r.picks if p.name == "noetl")
             for r in report.resolutions}
    assert taken[("universal2-apple-darwin", "macosx_11_0_arm64")] == "noetl-1.0-py3-none-macosx_10_12_universal2.whl"
    assert taken[("aarch64-apple-darwin", "macosx_11_0_arm64")] == "noetl-1.0-py3-none-macosx_11_0_arm64.whl"
    windows = next(r for r in report.resolutions if r.env.target == "x86_64-pc-windows-gnu")
    assert "winonly" in closure(windows)


def test_a_machine_that_takes_another_targets_wheel_fails(index: deps.Index, tmp_path: Path) -> None:
    # no thin arm64 wheel on the index: an Apple-silicon Mac takes the universal2 one instead
    _noetl(tmp_path / "www" / "simple", "universal2-apple-darwin")
    report = deps.check(index, MATRIX.select(["aarch64-apple-darwin"]), "1.0", pythons=[(3, 11)])
    (line,) = deps.failures(report)
    assert line.endswith("noetl 1.0: a macosx_11_0_arm64 machine takes noetl-1.0-py3-none-macosx_10_12_universal2.whl, "
                         "not the target's own macosx_11_0_arm64 wheel"), line


def test_before_the_release_noetls_requirements_come_from_dist_or_pyproject(index: deps.Index, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _noetl(dist, "x86_64-unknown-linux-gnu")
    targets = MATRIX.select(["x86_64-unknown-linux-gnu"])
    report = deps.check(index, targets, "1.0", pythons=[(3, 11)], local_wheels=dist / "noetl")
    assert report.ok and closure(report.resolutions[0]) == {"pure": ("1.0", True)}
    assert report.note.startswith(f"noetl 1.0 is not on {index.url}: its Requires-Dist was read from its wheels in ")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "noetl"\ndependencies = ["app"]\n')
    report = deps.check(index, targets, "1.0", pythons=[(3, 11)], local_wheels=tmp_path / "empty", project=pyproject)
    assert set(closure(report.resolutions[0])) == {"app", "pure", "native"}
    assert f"{pyproject}'s [project] dependencies" in report.note
    with pytest.raises(ReleaseError, match=r"^noetl 1.0 is neither on http://127.0.0.1:\d+/simple/ nor in "):
        deps.check(index, targets, "1.0", pythons=[(3, 11)], local_wheels=tmp_path / "empty")


def test_the_wheelhouse_holds_exactly_the_closures_files_checked(index: deps.Index, tmp_path: Path) -> None:
    """deps.fill: every environment's files, the sdist of what has no wheel, each sha256-checked."""
    dest = tmp_path / "wheelhouse"
    page = tmp_path / "www" / "simple" / "app" / "index.html"
    links = [f'<a href="{w.name}#sha256={_sha(w)}">{w.name}</a>' for w in sorted(page.parent.glob("*.whl"))]
    page.write_text("".join(links))
    for project in ("pure", "winonly", "native"):
        files = sorted((tmp_path / "www" / "simple" / project).glob("*-*"))
        (files[0].parent / "index.html").write_text("".join(f'<a href="{f.name}#sha256={_sha(f)}">{f.name}</a>'
                                                            for f in files))
    targets = MATRIX.select(["x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu"])
    names = deps.fill(index, targets, [Requirement("app")], dest, pythons=[(3, 11)])
    assert names == ["app-1.0-py3-none-any.whl", "native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                     "native-1.0.tar.gz", "pure-1.0-py3-none-any.whl", "winonly-1.0-py3-none-any.whl"]
    assert sorted(p.name for p in dest.iterdir()) == names
    # a file that is not what the index lists is refused, in one line
    (tmp_path / "www" / "simple" / "pure" / "pure-1.0-py3-none-any.whl").write_bytes(b"changed")
    (dest / "pure-1.0-py3-none-any.whl").unlink()
    with pytest.raises(ReleaseError, match=r"^pure-1.0-py3-none-any.whl from .* does not match the sha256"):
        deps.fill(deps.Index(index.url), targets, [Requirement("app")], dest, pythons=[(3, 11)])
    # an index that gives no hash for a file is refused too
    (tmp_path / "www" / "simple" / "old").mkdir(exist_ok=True)
    _wheel(tmp_path / "www" / "simple", "old", "1.0", "py3-none-any", [])
    with pytest.raises(ReleaseError, match=r"lists no sha256 for old-1.0-py3-none-any.whl"):
        deps.fill(deps.Index(index.url), targets, [Requirement("old")], dest, pythons=[(3, 11)])


WHEELHOUSE = Layout.at(ROOT).wheelhouse


@pytest.mark.skipif(not (WHEELHOUSE / ".filled").is_file(),
                    reason="no filled build/wheelhouse (nox -s tests fills it first: python -m noetl_build wheelhouse)")
def test_every_real_target_installs_from_wheels_alone(tmp_path: Path) -> None:
    """The real check, the real targets.toml, the real wheelhouse served by pypiserver on 127.0.0.1:
    pyproject's dependencies resolve to wheels on all 20 targets, every Python, no source build."""
    with rehearsal.running_index(tmp_path / "packages", WHEELHOUSE, tmp_path / "index.log") as served:
        report = deps.check(deps.Index(served.simple), MATRIX.targets, "0+absent", project=ROOT / "pyproject.toml")
    assert {r.env.target for r in report.resolutions} == set(MATRIX.names()) and len(MATRIX.names()) == 20
    assert report.ok, "\n".join(deps.failures(report))
