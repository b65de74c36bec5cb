"""Publishing (issues 8, 19): what `publish` refuses, each with one line and dist/ untouched; the
upload order (every wheel, the sdist last); a rerun after a publish stopped midway (the same
bytes skipped, other bytes refused before any upload, an unreadable index refused); the index
refusing a file; and the release rehearsal against a real index on 127.0.0.1, its
interrupted-publish drill included.

The slow tests' release is the test session's wheels of one target per OS family, their sdist
and a passing verify.json, judged against a targets.toml of just those targets (a release of
the real targets.toml would need all of them built). The upload tests and the drill's own test
use a small release of hand-made files instead (valid wheels and an sdist, a manifest and a
passing verify.json), so they run in seconds against pypiserver on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from noetl_build import publish, rehearsal
from noetl_build.errors import ReleaseError
from noetl_build.layout import Layout
from noetl_build.targets import Matrix, load_matrix
from tests.conftest import CI_TARGETS, ROOT, BuiltDist, build_version, write_targets_file


def run_cli(dist: Path, targets: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_build", "--dist", str(dist), "--targets-file", str(targets), *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}, **(env or {})},
    )


def snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def assert_one_line_refusal(proc: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def targets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_targets_file(tmp_path_factory.mktemp("targets") / "targets.toml", CI_TARGETS)


@pytest.fixture(scope="module")
def release_dist(built_dist: BuiltDist, targets_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's wheels plus their sdist and a passing verify.json, in a dist/ of its own."""
    dist = tmp_path_factory.mktemp("release") / "dist"
    shutil.copytree(built_dist.path, dist)
    proc = run_cli(dist, targets_file, "sdist")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(dist, targets_file, "verify")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 wheels and 1 sdist" in proc.stdout
    return dist


@pytest.fixture
def copy_of(release_dist: Path, tmp_path: Path):
    def make() -> Path:
        dist = tmp_path / "dist"
        shutil.copytree(release_dist, dist)
        return dist
    return make


def check(dist: Path, targets: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(dist, targets, "publish", "--check", *extra)


TEST_INDEX = ("--allow-dev", "--repository-url", "http://127.0.0.1:9/")


# ---------------------------------------------------------------- what publish refuses


@pytest.mark.slow
def test_a_complete_verified_set_is_ready(release_dist: Path, targets_file: Path, tmp_path: Path) -> None:
    """--check also proves every target's dependencies are wheels on the index users install from;
    here an index of just the dependencies (noetl not uploaded yet, as on PyPI before a release)."""
    wheelhouse = Layout.at(ROOT).wheelhouse
    assert (wheelhouse / ".filled").is_file(), "run the tests with nox -s tests (it fetches the wheelhouse first)"
    with rehearsal.running_index(tmp_path / "packages", wheelhouse, tmp_path / "index.log") as index:
        proc = check(release_dist, targets_file, *TEST_INDEX, "--index-url", index.simple)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ready to publish 4 files of noetl {build_version()}" in proc.stderr
    assert "every dependency a wheel" in proc.stderr
    report = json.loads((ROOT / "build" / "deps.json").read_text())
    assert report["ok"] and report["index"] == index.simple
    assert "is not on" in report["note"], "noetl's Requires-Dist came from dist/'s wheels"
    environments = {(e["target"], e["python"]) for e in report["environments"]}
    assert ("x86_64-pc-windows-gnu", "3.11") in environments and len(environments) == 3 * 5


@pytest.mark.slow
def test_check_refuses_an_index_without_the_dependencies(release_dist: Path, targets_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(release_dist)
    with rehearsal.running_index(tmp_path / "packages", empty, tmp_path / "index.log") as index:
        proc = check(release_dist, targets_file, *TEST_INDEX, "--index-url", index.simple)
    assert_one_line_refusal(proc, "would need a compiler or fail to install from", index.simple,
                            "the index has no such project")
    assert snapshot(release_dist) == before


def test_the_check_asks_the_index_users_install_from() -> None:
    """--check's default --index-url: PyPI's /simple/ for its upload URL, else a pypiserver's URL + simple/."""
    from noetl_build.publish import PYPI_UPLOAD_URL, simple_index

    assert simple_index(PYPI_UPLOAD_URL) == "https://pypi.org/simple/"
    assert simple_index("https://test.pypi.org/legacy/") == "https://test.pypi.org/simple/"
    assert simple_index("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/simple/"
    assert simple_index("http://127.0.0.1:8080") == "http://127.0.0.1:8080/simple/"


@pytest.mark.slow
def test_a_development_version_is_refused(release_dist: Path, targets_file: Path) -> None:
    before = snapshot(release_dist)
    assert_one_line_refusal(check(release_dist, targets_file), build_version(), "development build", "--bump")
    assert snapshot(release_dist) == before


@pytest.mark.slow
def test_allow_dev_does_not_open_pypi(release_dist: Path, targets_file: Path) -> None:
    for url in ("https://upload.pypi.org/legacy/", "https://test.pypi.org/legacy/"):
        assert_one_line_refusal(check(release_dist, targets_file, "--allow-dev", "--repository-url", url),
                                "--allow-dev is for test indexes", url)


@pytest.mark.slow
def test_attestations_go_only_to_pypi(release_dist: Path, targets_file: Path) -> None:
    proc = run_cli(release_dist, targets_file, "publish", *TEST_INDEX, "--attestations")
    assert_one_line_refusal(proc, "only PyPI and TestPyPI accept attestations")


@pytest.mark.slow
def test_a_missing_wheel_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    manifest = json.loads((dist / "manifest.json").read_text())
    windows = next(r["wheel"] for r in manifest["wheels"] if r["target"] == "x86_64-pc-windows-gnu")
    (dist / windows).unlink()
    before = snapshot(dist)
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "incomplete", "x86_64-pc-windows-gnu",
                            "nox -s wheel -- x86_64-pc-windows-gnu")
    assert snapshot(dist) == before


@pytest.mark.slow
def test_a_missing_sdist_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    next(dist.glob("*.tar.gz")).unlink()
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "no sdist", "nox -s sdist")


@pytest.mark.slow
def test_a_stray_wheel_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    wheel = next(dist.glob("*win_amd64.whl"))
    stray = dist / wheel.name.replace(build_version(), "0.0.1")
    shutil.copyfile(wheel, stray)
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), stray.name, "does not list")


@pytest.mark.slow
def test_a_file_changed_since_its_build_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    wheel = next(dist.glob("*win_amd64.whl"))
    with wheel.open("ab") as stream:
        stream.write(b"\0")
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), wheel.name, "changed since it was built")


@pytest.mark.slow
def test_mixed_versions_are_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    manifest = json.loads((dist / "manifest.json").read_text())
    row = next(r for r in manifest["wheels"] if r["target"] == "x86_64-pc-windows-gnu")
    renamed = row["wheel"].replace(build_version(), "0.0.1")
    (dist / row["wheel"]).rename(dist / renamed)
    row["wheel"] = renamed
    (dist / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "mixes versions", "0.0.1 (1 file)")


@pytest.mark.slow
def test_an_unverified_file_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    report = json.loads((dist / "verify.json").read_text())
    sdist = next(dist.glob("*.tar.gz"))
    report["wheels"] = [w for w in report["wheels"] if w["wheel"] != sdist.name]
    (dist / "verify.json").write_text(json.dumps(report))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), sdist.name, "was not verified", "nox -s verify")
    (dist / "verify.json").unlink()
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "no ", "verify.json", "nox -s verify")


@pytest.mark.slow
def test_a_file_that_failed_verify_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    report = json.loads((dist / "verify.json").read_text())
    row = next(w for w in report["wheels"] if w["target"] == "x86_64-unknown-linux-gnu")
    row["ok"] = False
    row["results"][0]["status"] = "fail"
    (dist / "verify.json").write_text(json.dumps(report))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), row["wheel"], "failed verify",
                            row["results"][0]["check"])


def test_verify_json_is_read_in_verifys_vocabulary(tmp_path: Path) -> None:
    """publish names the checks verify.json says failed (verdicts.CheckStatus), not those that passed or
    were skipped; it reads the report without verify's package (see the next test)."""
    report = tmp_path / "verify.json"
    results = [{"check": "tags", "status": "pass"}, {"check": "run", "status": "fail"},
               {"check": "glibc", "status": "skip"}, {"check": "modes", "status": "fail"}]
    report.write_text(json.dumps({"wheels": [{"sha256": "a" * 64, "ok": False, "results": results},
                                             {"sha256": "b" * 64, "ok": True, "results": results[:1]}]}))
    publish._verified(report, {"good.whl": "b" * 64})
    with pytest.raises(ReleaseError) as refused:
        publish._verified(report, {"good.whl": "b" * 64, "bad.whl": "a" * 64})
    assert str(refused.value) == "bad.whl failed verify (run, modes): fix it and rebuild"


def test_the_rehearsals_row_reads_verifys_report_of_the_wheel() -> None:
    """The "ran" column is the run check's verdict on the target's wheel; any failed check fails the row."""
    from noetl_build.verify import WheelReport
    from noetl_build.verify.results import failed, passed, skipped

    target = load_matrix(ROOT / "targets.toml").targets[0]
    choice = rehearsal.InstallerChoice(target, Path("noetl-1.0-py3-none-x.whl"), "x", "x", ok=True)

    def row(*results: object) -> rehearsal.RehearsalRow:
        return rehearsal._row(choice, WheelReport(choice.wheel.name, "", target.name, "0" * 64, results))  # type: ignore[arg-type]

    assert (row(passed("run", "noetl 1.0, natively")).ran, row(passed("run", "")).ok) == ("yes (noetl 1.0, natively)", True)
    assert (row(skipped("run", "no qemu")).ran, row(skipped("run", "no qemu")).ok) == ("- (no qemu)", True)
    assert (row(failed("run", "exit 1")).ran, row(failed("run", "exit 1")).ok) == ("FAILED (exit 1)", False)
    assert not row(passed("run", "ok"), failed("modes", "0644")).ok, "another check failed"
    assert (row(passed("tags", "ok")).ran, row(passed("tags", "ok")).ok) == ("not verified", False)
    assert rehearsal._row(choice, None).ran == "not verified" and not rehearsal._row(choice, None).ok
    unchosen = rehearsal.InstallerChoice(target, choice.wheel, "pip took another", "x", ok=False)
    assert not rehearsal._row(unchosen, WheelReport(choice.wheel.name, "", None, "", (passed("run", ""),))).ok


def empty_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.slow
def test_no_credentials_is_one_line_saying_how_to_give_them(release_dist: Path, targets_file: Path,
                                                            tmp_path: Path) -> None:
    # a real, empty index: publish reads what it already has before twine asks for credentials
    with rehearsal.running_index(tmp_path / "packages", empty_dir(tmp_path / "none"), tmp_path / "index.log") as index:
        proc = run_cli(release_dist, targets_file, "publish", "--allow-dev", "--repository-url", index.url)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for phrase in ("Credential not found", "TWINE_USERNAME", "TWINE_PASSWORD", "trusted publishing"):
        assert phrase in errors[0]
    assert not list((tmp_path / "packages").iterdir())


# ---------------------------------------------------------------- a real index, the real release


@pytest.mark.slow
def test_publishing_again_skips_the_same_bytes_and_refuses_other_bytes(
    release_dist: Path, targets_file: Path, tmp_path: Path
) -> None:
    """Through the CLI with the session's release: a second publish skips every file (same
    sha256) and succeeds; with one file on the index replaced by other bytes, a third stops
    before uploading anything, in one line naming it and both sha256s."""
    credentials = {"TWINE_USERNAME": "rehearsal", "TWINE_PASSWORD": "rehearsal"}
    before = snapshot(release_dist)
    files = [n for n in before if n.endswith((".whl", ".tar.gz"))]
    packages = tmp_path / "packages"
    with rehearsal.running_index(packages, empty_dir(tmp_path / "none"), tmp_path / "index.log") as index:
        assert index.url.startswith("http://127.0.0.1:")
        publish_cli = ("publish", "--allow-dev", "--repository-url", index.url)
        first = run_cli(release_dist, targets_file, *publish_cli, env=credentials)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert f"published 4 files of noetl {build_version()} to {index.url}" in first.stderr
        said = [line.removeprefix(publish.UPLOADING) for line in first.stderr.splitlines()
                if line.startswith(publish.UPLOADING)]
        assert said[-1].endswith(".tar.gz") and len(said) == 4, "every wheel first, the sdist last"
        assert rehearsal.listed_files(index) == {n: before[n] for n in files}
        again = run_cli(release_dist, targets_file, *publish_cli, env=credentials)
        assert again.returncode == 0, again.stderr[-2000:]
        for name in files:
            assert f"==> skipping {name}: the index already has it, same sha256" in again.stderr
        assert publish.UPLOADING not in again.stderr
        assert "(4 of them were there already)" in again.stderr
        sdist = next(n for n in files if n.endswith(".tar.gz"))
        (packages / sdist).write_bytes(b"not the sdist")
        theirs = hashlib.sha256(b"not the sdist").hexdigest()
        third = run_cli(release_dist, targets_file, *publish_cli, env=credentials)
        line = assert_one_line_refusal(third, f"already has {sdist} with other bytes", theirs, before[sdist],
                                       "nothing was uploaded", "post-release")
        assert publish.UPLOADING not in third.stderr, line
    assert snapshot(release_dist) == before


# ---------------------------------------------------------------- a real index, a small release


VERSION = "0.0.1.dev1"
CREDENTIALS = ("rehearsal", "rehearsal")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(dist: Path, platform: str, payload: bytes) -> Path:
    """A small valid wheel of noetl VERSION for ``platform``: a module, METADATA, WHEEL, RECORD."""
    info = f"noetl-{VERSION}.dist-info"
    tags = "".join(f"Tag: py3-none-{p}\n" for p in platform.split("."))
    entries = {
        "noetl/__init__.py": b"# " + payload + b"\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: noetl\nVersion: {VERSION}\nSummary: a test\n".encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n{tags}".encode(),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries.items())
    entries[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = dist / f"noetl-{VERSION}-py3-none-{platform}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return wheel


def make_sdist(dist: Path) -> Path:
    base = f"noetl-{VERSION}"
    sdist = dist / f"{base}.tar.gz"
    members = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: noetl\nVersion: {VERSION}\nSummary: a test\n".encode(),
        "pyproject.toml": b"[project]\nname = 'noetl'\n",
    }
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size, info.mtime = len(data), 1577836800
            tar.addfile(info, io.BytesIO(data))
    return sdist


@dataclass(frozen=True)
class SmallRelease:
    layout: Layout
    matrix: Matrix
    release: publish.ReleaseSet

    def sha256(self, file: Path) -> str:
        return hashlib.sha256(file.read_bytes()).hexdigest()


@pytest.fixture
def small(tmp_path: Path) -> SmallRelease:
    """A release of CI_TARGETS' wheels and an sdist that publish's refusals all pass: manifest.json
    lists each file with its sha256 and the compiler that made it, and verify.json passes them."""
    matrix = load_matrix(write_targets_file(tmp_path / "targets.toml", CI_TARGETS))
    dist = empty_dir(tmp_path / "dist")
    wheels = [make_wheel(dist, t.platform_tag, t.name.encode()) for t in matrix.targets]
    sdist = make_sdist(dist)
    digest = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in [*wheels, sdist]}
    rows = [{"target": t.name, "wheel": w.name, "sha256": digest[w.name], "size": w.stat().st_size,
             "build_seconds": 1.0, "built_at": "2026-01-01T00:00:00+00:00", "tags": list(t.tags),
             "compiler": {"rustc": "1.96.0", "commit-hash": "0" * 40, "host": "x86_64-unknown-linux-gnu"}}
            for t, w in zip(matrix.targets, wheels, strict=True)]
    manifest = {"schema": 1, "version": VERSION, "wheels": rows,
                "sdist": {"file": sdist.name, "sha256": digest[sdist.name], "size": sdist.stat().st_size}}
    (dist / "manifest.json").write_text(json.dumps(manifest))
    (dist / "SHA256SUMS").write_text("".join(f"{sha}  {name}\n" for name, sha in sorted(digest.items())))
    verified = [{"wheel": name, "sha256": sha, "ok": True, "results": []} for name, sha in digest.items()]
    (dist / "verify.json").write_text(json.dumps({"wheels": verified}))
    layout = Layout.at(ROOT, dist=dist, build=tmp_path / "build", targets=matrix.path)
    release = publish.release_set(layout, matrix, allow_dev=True, repository_url="http://127.0.0.1:9/")
    return SmallRelease(layout, matrix, release)


def edit_manifest(small: SmallRelease, edit: Callable[[dict], None]) -> None:
    """Change manifest.json (and, for changed files, SHA256SUMS and verify.json) as a build would have."""
    dist = small.layout.dist
    manifest = json.loads((dist / "manifest.json").read_text())
    edit(manifest)
    (dist / "manifest.json").write_text(json.dumps(manifest))
    digest = {row["wheel"]: row["sha256"] for row in manifest["wheels"]} | {manifest["sdist"]["file"]: manifest["sdist"]["sha256"]}
    verified = [{"wheel": name, "sha256": sha, "ok": True, "results": []} for name, sha in digest.items()]
    (dist / "verify.json").write_text(json.dumps({"wheels": verified}))


def test_wheels_of_two_compilers_are_refused(small: SmallRelease) -> None:
    def rustup_for_the_first(manifest: dict) -> None:
        manifest["wheels"][0]["compiler"] = {"rustc": "1.95.0", "commit-hash": "5" * 40, "host": "x86_64-unknown-linux-gnu"}

    edit_manifest(small, rustup_for_the_first)
    with pytest.raises(ReleaseError) as info:
        publish.release_set(small.layout, small.matrix, allow_dev=True, repository_url="http://127.0.0.1:9/")
    message = str(info.value)
    first = small.matrix.targets[0].name
    assert message.startswith("the wheels were compiled by 2 compilers (")
    assert f"rustc 1.95.0 (555555555555) built {first}" in message and "\n" not in message


def test_a_wheel_pypi_would_refuse_is_refused_before_any_upload(small: SmallRelease) -> None:
    """Bytes after the zip's end record: the file is what manifest.json and verify.json say, and
    PyPI's rules still refuse it."""
    wheel = small.release.wheels[1]
    with wheel.open("ab") as stream:
        stream.write(b"appended")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()

    def new_bytes(manifest: dict) -> None:
        row = next(r for r in manifest["wheels"] if r["wheel"] == wheel.name)
        row["sha256"], row["size"] = sha, wheel.stat().st_size

    edit_manifest(small, new_bytes)
    with pytest.raises(ReleaseError) as info:
        publish.release_set(small.layout, small.matrix, allow_dev=True, repository_url="http://127.0.0.1:9/")
    message = str(info.value)
    assert message.startswith(f"{wheel.name}: PyPI would refuse it (")
    assert "(zip-trailing-data): ZIP archive not accepted: Trailing data" in message and "\n" not in message


@pytest.fixture
def index(tmp_path: Path) -> Iterator[rehearsal.LocalIndex]:
    """pypiserver on 127.0.0.1 serving tmp_path/packages (and nothing else)."""
    with rehearsal.running_index(tmp_path / "packages", empty_dir(tmp_path / "none"), tmp_path / "index.log") as running:
        yield running


def upload(small: SmallRelease, index: rehearsal.LocalIndex, *, index_url: str | None = None) -> list[str]:
    said: list[str] = []
    publish.upload(small.release, index.url, index_url=index_url, credentials=CREDENTIALS, progress=said.append)
    return said


def uploaded(said: list[str]) -> list[str]:
    return [line.removeprefix(publish.UPLOADING) for line in said if line.startswith(publish.UPLOADING)]


def test_a_release_goes_up_every_wheel_first_in_targets_order_and_the_sdist_last(small: SmallRelease,
                                                                                 index: rehearsal.LocalIndex) -> None:
    release = small.release
    assert [f.name for f in release.files] == [*(w.name for w in release.wheels), release.sdist.name]
    assert [w.name.rsplit("-", 1)[1] for w in release.wheels] == [f"{t.platform_tag}.whl" for t in small.matrix.targets]
    said = upload(small, index)
    assert uploaded(said) == [f.name for f in release.files]
    assert rehearsal.listed_files(index) == {f.name: small.sha256(f) for f in release.files}
    packages = index.log.parent / "packages"
    written = {p.name: p.stat().st_mtime_ns for p in packages.iterdir()}
    assert written[release.sdist.name] == max(written.values()), "the index got the sdist last"


def test_a_rerun_skips_the_files_the_index_has_with_the_same_sha256(small: SmallRelease, index: rehearsal.LocalIndex) -> None:
    """As after a publish stopped midway: the first wheel is on the index already."""
    release = small.release
    first = release.wheels[0]
    shutil.copyfile(first, index.log.parent / "packages" / first.name)
    said = upload(small, index)
    assert said[0] == f"==> skipping {first.name}: the index already has it, same sha256"
    assert uploaded(said) == [f.name for f in release.files[1:]]
    listed = rehearsal.listed_files(index)
    assert listed == {f.name: small.sha256(f) for f in release.files}, "each file once, dist/'s bytes"
    assert publish.already_published(release, index.simple) == release.files
    assert upload(small, index) == [f"==> skipping {f.name}: the index already has it, same sha256"
                                    for f in release.files], "a third run has nothing to do"


def test_a_file_the_index_has_with_other_bytes_stops_it_before_any_upload(small: SmallRelease,
                                                                          index: rehearsal.LocalIndex) -> None:
    release = small.release
    second = release.wheels[1]
    packages = index.log.parent / "packages"
    (packages / second.name).write_bytes(b"other bytes")
    with pytest.raises(ReleaseError) as refused:
        upload(small, index)
    line = str(refused.value)
    assert "\n" not in line
    for phrase in (f"{index.simple} already has {second.name} with other bytes",
                   hashlib.sha256(b"other bytes").hexdigest(), small.sha256(second), "nothing was uploaded",
                   "nox -s version -- --bump", "post-release"):
        assert phrase in line, line
    assert sorted(p.name for p in packages.iterdir()) == [second.name], "nothing was uploaded"


def test_an_index_that_cannot_be_read_stops_it_in_one_line(small: SmallRelease, index: rehearsal.LocalIndex,
                                                           tmp_path: Path) -> None:
    """Uploading blind could half-publish: nothing goes up when the simple index does not answer."""
    with rehearsal.running_index(tmp_path / "gone", empty_dir(tmp_path / "gone-too"), tmp_path / "gone.log") as gone:
        closed = gone.simple
    with pytest.raises(ReleaseError) as refused:
        upload(small, index, index_url=closed)
    line = str(refused.value)
    assert "\n" not in line and line.isprintable()
    for phrase in (f"cannot tell which files of noetl {VERSION} {closed} already has", "cannot reach the index",
                   "nothing was uploaded", "publish again when the index answers"):
        assert phrase in line, line
    assert not list((index.log.parent / "packages").iterdir())


def test_the_index_refusing_an_upload_is_one_line(small: SmallRelease, index: rehearsal.LocalIndex, tmp_path: Path) -> None:
    """Its simple page did not list the file (read here from another, empty index, as a stale
    cache would answer), but it has it: twine's upload is refused, and that is one line."""
    release = small.release
    first = release.wheels[0]
    packages = index.log.parent / "packages"
    shutil.copyfile(first, packages / first.name)
    with rehearsal.running_index(tmp_path / "stale", empty_dir(tmp_path / "stale-none"), tmp_path / "stale.log") as stale:
        with pytest.raises(ReleaseError) as refused:
            upload(small, index, index_url=stale.simple)
    line = str(refused.value)
    assert "\n" not in line
    assert f"{index.url} already has {first.name} (HTTP 409 " in line or f"{index.url} already has {first.name} (HTTP 400 " in line
    assert "publish again to compare the bytes" in line and "dist/ is unchanged" in line
    assert sorted(p.name for p in packages.iterdir()) == [first.name], "it stopped at its first file"


def test_publish_check_after_a_publish_stopped_midway(small: SmallRelease, index: rehearsal.LocalIndex) -> None:
    """The index has the first target's wheel of the release (and an older release): --check's
    dependency check must not take that for the release, where the other targets would find no
    file of theirs, so it reads noetl's requirements from dist/ and only its dependencies from
    the index; it passes and says how many files are there already."""
    release = small.release
    packages = index.log.parent / "packages"
    shutil.copyfile(release.wheels[0], packages / release.wheels[0].name)
    older = make_wheel(empty_dir(packages.parent / "older"), "win_amd64", b"older")
    shutil.copyfile(older, packages / older.name.replace(VERSION, "0.0.0"))
    said: list[str] = []
    publish.publish(small.layout, small.matrix, repository_url=index.url, allow_dev=True, check_only=True,
                    progress=said.append)
    assert said == [f"ready to publish 4 files of noetl {VERSION} to {index.url}: complete, verified, one version, "
                    f"one compiler (rustc 1.96.0 (000000000000)), PyPI's upload rules, "
                    f"every dependency a wheel; 1 of them already on {index.simple} with the same sha256"]
    report = json.loads(small.layout.deps_json.read_text())
    assert report["ok"] and f"noetl {VERSION} is not on {index.simple}" in report["note"]
    assert sorted(p.name for p in packages.iterdir()) == sorted([release.wheels[0].name, older.name.replace(VERSION, "0.0.0")])


# ---------------------------------------------------------------- the interrupted-publish drill


def test_the_drill_kills_a_publish_midway_and_the_rerun_completes_the_release(small: SmallRelease,
                                                                              index: rehearsal.LocalIndex,
                                                                              tmp_path: Path) -> None:
    said: list[str] = []
    packages = index.log.parent / "packages"
    release, step = rehearsal.interrupted_upload(small.layout, small.matrix, index, packages, tmp_path / "logs",
                                                 progress=said.append)
    assert release == small.release
    assert step.name == "interrupted upload"
    assert step.ok, step.detail
    assert step.detail == (
        "killed the first publish during its second upload (1 of 3 wheels up, no sdist); the rerun skipped it "
        "(same sha256) and uploaded 3, the sdist last; the index holds each of the 4 files once, byte-identical "
        "to dist/")
    killed = (tmp_path / "logs" / "publish-killed.log").read_text()
    assert [line for line in killed.splitlines() if line.startswith(publish.UPLOADING)] == [
        f"{publish.UPLOADING}{release.wheels[0].name}", f"{publish.UPLOADING}{release.wheels[1].name}"]
    assert "published" not in killed, "the first run was killed, it did not end"
    assert [line for line in said if line.startswith(publish.SKIPPING)] == [
        f"{publish.SKIPPING}{release.wheels[0].name}{publish.SAME_BYTES}"]
    assert uploaded(said) == [f.name for f in release.files[1:]]
    assert rehearsal.listed_files(index) == {f.name: small.sha256(f) for f in release.files}


def test_the_drill_names_what_went_wrong(small: SmallRelease) -> None:
    """Each of its checks fails on the state it guards against."""
    release = small.release
    names = [f.name for f in release.files]
    ours = {f.name: small.sha256(f) for f in release.files}
    started = names[:2]
    assert rehearsal._stopped_midway(release, {release.sdist.name: ours[release.sdist.name]}, started) == [
        f"the first publish was killed too late: the sdist {release.sdist.name} was already up"]
    assert rehearsal._stopped_midway(release, {}, started) == ["the first publish was killed before any wheel was up"]
    assert "not dist/'s bytes" in rehearsal._stopped_midway(release, {names[0]: "0" * 64}, started)[0]
    assert "not the release's wheels in order" in rehearsal._stopped_midway(release, {}, [names[-1], names[0]])[0]
    assert rehearsal._stopped_midway(release, {names[0]: ours[names[0]]}, started) == []
    skip = [f"{publish.SKIPPING}{names[0]}{publish.SAME_BYTES}"]
    up = [f"{publish.UPLOADING}{n}" for n in names[1:]]
    assert rehearsal._rerun_completed(release, [names[0]], [*skip, *up]) == []
    assert "the rerun skipped nothing" in rehearsal._rerun_completed(release, [names[0]], up)[0]
    swapped = [*up[:-2], up[-1], up[-2]]  # the sdist before the last wheel
    assert "not [" in rehearsal._rerun_completed(release, [names[0]], [*skip, *swapped])[0]


# ---------------------------------------------------------------- the rehearsal


LOOPBACK_ONLY = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def loopback_only_available() -> bool:
    """A network namespace holding only 127.0.0.1 (root, or unprivileged user namespaces)."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run([*LOOPBACK_ONLY, "true"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def rehearsed(release_dist: Path, targets_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`python -m noetl_build rehearse`, in a network namespace with only loopback where this host
    allows one (so reaching any host but 127.0.0.1 would fail it): its report, and what it printed."""
    layout = Layout.at(ROOT, dist=release_dist)
    if not (layout.wheelhouse / ".filled").is_file():
        pytest.fail("no build/wheelhouse: run the tests with nox -s tests (it fetches the wheelhouse first)")
    isolated = loopback_only_available()
    if os.environ.get("CI") == "true":
        assert isolated, "CI runs as root: unshare --net and ip (iproute2, .ci/setup) must work there"
    work = tmp_path_factory.mktemp("rehearsal") / "work"
    before = snapshot(release_dist)
    # The Debian userlands need root; the amd64 root is made here, where Debian's registry is
    # reachable (the rehearsal's namespace has only loopback), by the userland session itself.
    userlands = os.geteuid() == 0 and shutil.which("debootstrap") is not None
    if os.environ.get("CI") == "true":
        assert userlands, "CI runs as root with debootstrap (.ci/setup): the rehearsal's userlands must run there"
    if userlands:
        made = run_cli(release_dist, targets_file, "userland", "x86_64-unknown-linux-gnu", timeout=1800)
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    cmd = [sys.executable, "-m", "noetl_build", "--dist", str(release_dist), "--targets-file", str(targets_file),
           "rehearse", "--work", str(work), *([] if userlands else ["--no-userlands"])]
    # cargo compiles the sdist's binary from the crates the builds already fetched
    proc = subprocess.run([*(LOOPBACK_ONLY if isolated else []), *cmd], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=2400, env={**os.environ, "CARGO_NET_OFFLINE": "true"})
    assert snapshot(release_dist) == before, "the rehearsal changed dist/"
    report_file = work / rehearsal.REPORT
    assert report_file.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"report": json.loads(report_file.read_text()), "proc": proc, "isolated": isolated, "userlands": userlands}


@pytest.mark.slow
def test_rehearsal_passes_every_step(rehearsed: dict) -> None:
    report, proc = rehearsed["report"], rehearsed["proc"]
    assert proc.returncode == 0 and report["ok"], proc.stdout[-4000:] + proc.stderr[-2000:]
    assert [s["name"] for s in report["steps"]] == [
        "interrupted upload", "index lists", "dependencies", "sdist", "install wheel", "install sdist", "pipx", "uv tool", "uvx",
        "userlands", "verify"]
    assert all(s["ok"] for s in report["steps"])
    assert report["version"] == build_version()
    assert report["index"].startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_rehearsal_prints_one_table_of_every_target(rehearsed: dict) -> None:
    rows = {r["target"]: r for r in rehearsed["report"]["targets"]}
    assert list(rows) == list(CI_TARGETS)
    assert all(r["pip"].startswith("yes: ") and r["ok"] for r in rows.values())
    assert rows["x86_64-unknown-linux-gnu"]["uv"] == "x86_64-manylinux_2_17"
    assert rows["x86_64-pc-windows-gnu"]["uv"] == "x86_64-pc-windows-msvc"
    assert rows["x86_64-unknown-linux-gnu"]["ran"].startswith("yes (ran natively")
    assert rows["x86_64-pc-windows-gnu"]["ran"].startswith("yes (ran under wine")
    assert rows["x86_64-apple-darwin"]["ran"].startswith("-")
    out = rehearsed["proc"].stdout
    header = next(line for line in out.splitlines() if line.startswith("target "))
    assert header.split() == ["target", "wheel", "selected-by-pip", "selected-by-uv", "ran"]
    for target, row in rows.items():
        assert any(line.startswith(target) and row["wheel"] in line for line in out.splitlines()), target
    assert f"rehearsal of noetl {build_version()} on http://127.0.0.1:" in out and ": passed" in out


@pytest.mark.slow
def test_rehearsal_installs_the_release_from_the_index(rehearsed: dict) -> None:
    steps = {s["name"]: s["detail"] for s in rehearsed["report"]["steps"]}
    assert steps["interrupted upload"].startswith("killed the first publish during its second upload (")
    assert "the sdist last; the index holds each of the 4 files once, byte-identical to dist/" in steps["interrupted upload"]
    assert f"noetl --version = {build_version()}" in steps["install wheel"]
    assert "manylinux_2_17_x86_64" in steps["install wheel"]
    assert "server started, answered, stopped" in steps["install wheel"]
    assert steps["install sdist"].startswith("compiled from the sdist: installed the py3-none-linux_x86_64 wheel")
    assert "server started, answered, stopped" in steps["install sdist"]
    assert "4 downloaded files; all passed" in steps["verify"]
    # every target's platform x every Python: noetl's closure is wheels alone
    assert steps["dependencies"].startswith("15 target/Python environments install noetl and ")
    assert "starlette" in steps["dependencies"] and "no compiler" in steps["dependencies"]
    for tool in ("pipx", "uv tool"):
        assert f"noetl --version: noetl {build_version()}" in steps[tool], steps[tool]
        assert "manylinux_2_17_x86_64 wheel" in steps[tool]
    assert steps["uvx"].endswith(f"noetl {build_version()}")
    if rehearsed["userlands"]:
        assert steps["userlands"].startswith("1 Debian userlands installed and ran their own wheel "
                                             "(Debian 12 bookworm amd64); 2 targets have none here"), steps["userlands"]
        assert "x86_64-unknown-linux-gnu" in rehearsed["proc"].stderr and "Debian 12 bookworm amd64" in rehearsed["proc"].stderr


@pytest.mark.slow
def test_rehearse_refuses_to_clear_a_directory_it_did_not_make(release_dist: Path, targets_file: Path,
                                                                tmp_path: Path) -> None:
    keep = tmp_path / "precious.txt"
    keep.write_text("mine")
    proc = run_cli(release_dist, targets_file, "rehearse", "--work", str(tmp_path))
    assert_one_line_refusal(proc, "not empty", "--work")
    assert keep.read_text() == "mine"


@pytest.mark.slow
def test_release_assets_are_the_files_sums_manifest_and_sboms(release_dist: Path, targets_file: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "assets"
    proc = run_cli(release_dist, targets_file, "release-assets", str(out))
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    files = sorted(n for n in snapshot(release_dist) if n.endswith((".whl", ".tar.gz")))
    sboms = sorted(n.removesuffix(".whl").removesuffix(".tar.gz") + ".cdx.json" for n in files)
    assert names == sorted([*files, "SHA256SUMS", "manifest.json", *sboms])
    for name in files:
        assert (out / name).read_bytes() == (release_dist / name).read_bytes()
    for sbom in sboms:
        document = json.loads((out / sbom).read_text())
        assert document["bomFormat"] == "CycloneDX"
        assert document["metadata"]["component"]["version"] == build_version()


def test_publish_needs_only_its_own_requirements() -> None:
    """`nox -s publish` installs requirements/release.txt alone: what publish --check runs (the
    release set, PyPI's rules, the dependency check's environments) must not import verify's
    checkers or the build's tools. It once did (deps took its probes from verify, whose package
    imports cyclonedx): `publish --check`, release.yml's gate before PyPI, crashed."""
    absent = ["cyclonedx", "elftools", "macholib", "pefile", "auditwheel", "delocate", "ziglang", "wheel",
              "commitizen", "check_wheel_contents", "uv", "pypiserver"]
    program = (
        "import sys\n"
        f"for name in {absent!r}:\n"
        "    sys.modules[name] = None  # importing it raises ImportError\n"
        "from pathlib import Path\n"
        "from noetl_build import deps, publish, pypi_rules\n"
        "from noetl_build.targets import load_matrix\n"
        f"targets = load_matrix(Path({str(ROOT / 'targets.toml')!r})).targets\n"
        "print(len(deps.environments(targets)), 'environments')\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("environments")
