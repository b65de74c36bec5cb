"""Publishing (issue 8): what `publish` refuses, each with one line and dist/ untouched; the
index refusing a file it has; and the release rehearsal against a real index on 127.0.0.1.

The release here is the test session's wheels of one target per OS family, their sdist and a
passing verify.json, judged against a targets.toml of just those targets (a release of the
real targets.toml would need all of them built)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from noetl_build import rehearsal
from noetl_build.layout import Layout
from tests.conftest import CI_TARGETS, ROOT, BuiltDist, build_version, write_targets_file

pytestmark = pytest.mark.slow


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


def test_a_development_version_is_refused(release_dist: Path, targets_file: Path) -> None:
    before = snapshot(release_dist)
    assert_one_line_refusal(check(release_dist, targets_file), build_version(), "development build", "--bump")
    assert snapshot(release_dist) == before


def test_allow_dev_does_not_open_pypi(release_dist: Path, targets_file: Path) -> None:
    for url in ("https://upload.pypi.org/legacy/", "https://test.pypi.org/legacy/"):
        assert_one_line_refusal(check(release_dist, targets_file, "--allow-dev", "--repository-url", url),
                                "--allow-dev is for test indexes", url)


def test_attestations_go_only_to_pypi(release_dist: Path, targets_file: Path) -> None:
    proc = run_cli(release_dist, targets_file, "publish", *TEST_INDEX, "--attestations")
    assert_one_line_refusal(proc, "only PyPI and TestPyPI accept attestations")


def test_a_missing_wheel_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    manifest = json.loads((dist / "manifest.json").read_text())
    windows = next(r["wheel"] for r in manifest["wheels"] if r["target"] == "x86_64-pc-windows-gnu")
    (dist / windows).unlink()
    before = snapshot(dist)
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "incomplete", "x86_64-pc-windows-gnu",
                            "nox -s wheel -- x86_64-pc-windows-gnu")
    assert snapshot(dist) == before


def test_a_missing_sdist_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    next(dist.glob("*.tar.gz")).unlink()
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "no sdist", "nox -s sdist")


def test_a_stray_wheel_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    wheel = next(dist.glob("*win_amd64.whl"))
    stray = dist / wheel.name.replace(build_version(), "0.0.1")
    shutil.copyfile(wheel, stray)
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), stray.name, "does not list")


def test_a_file_changed_since_its_build_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    wheel = next(dist.glob("*win_amd64.whl"))
    with wheel.open("ab") as stream:
        stream.write(b"\0")
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), wheel.name, "changed since it was built")


def test_mixed_versions_are_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    manifest = json.loads((dist / "manifest.json").read_text())
    row = next(r for r in manifest["wheels"] if r["target"] == "x86_64-pc-windows-gnu")
    renamed = row["wheel"].replace(build_version(), "0.0.1")
    (dist / row["wheel"]).rename(dist / renamed)
    row["wheel"] = renamed
    (dist / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "mixes versions", "0.0.1 (1 file)")


def test_an_unverified_file_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    report = json.loads((dist / "verify.json").read_text())
    sdist = next(dist.glob("*.tar.gz"))
    report["wheels"] = [w for w in report["wheels"] if w["wheel"] != sdist.name]
    (dist / "verify.json").write_text(json.dumps(report))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), sdist.name, "was not verified", "nox -s verify")
    (dist / "verify.json").unlink()
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), "no ", "verify.json", "nox -s verify")


def test_a_file_that_failed_verify_is_refused(copy_of, targets_file: Path) -> None:
    dist = copy_of()
    report = json.loads((dist / "verify.json").read_text())
    row = next(w for w in report["wheels"] if w["target"] == "x86_64-unknown-linux-gnu")
    row["ok"] = False
    row["results"][0]["status"] = "fail"
    (dist / "verify.json").write_text(json.dumps(report))
    assert_one_line_refusal(check(dist, targets_file, *TEST_INDEX), row["wheel"], "failed verify",
                            row["results"][0]["check"])


def test_no_credentials_is_one_line_saying_how_to_give_them(release_dist: Path, targets_file: Path) -> None:
    proc = run_cli(release_dist, targets_file, "publish", *TEST_INDEX)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for phrase in ("Credential not found", "TWINE_USERNAME", "TWINE_PASSWORD", "trusted publishing"):
        assert phrase in errors[0]


# ---------------------------------------------------------------- a real index


def test_the_index_refusing_a_file_it_has_fails_with_one_line(
    release_dist: Path, targets_file: Path, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "empty-wheelhouse"
    wheelhouse.mkdir()
    credentials = {"TWINE_USERNAME": "rehearsal", "TWINE_PASSWORD": "rehearsal"}
    before = snapshot(release_dist)
    with rehearsal.running_index(tmp_path / "packages", wheelhouse, tmp_path / "index.log") as index:
        assert index.url.startswith("http://127.0.0.1:")
        first = run_cli(release_dist, targets_file, "publish", "--allow-dev", "--repository-url", index.url,
                        env=credentials)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert f"published 4 files of noetl {build_version()} to {index.url}" in first.stderr
        assert set(rehearsal.listed_files(index)) == {n for n in before if n.endswith((".whl", ".tar.gz"))}
        again = run_cli(release_dist, targets_file, "publish", "--allow-dev", "--repository-url", index.url,
                        env=credentials)
        errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
        assert again.returncode == 1 and len(errors) == 1, again.stderr[-2000:]
        assert "already has" in errors[0] and "dist/ is unchanged" in errors[0]
        assert "(HTTP 400 " in errors[0] or "(HTTP 409 " in errors[0]  # pypiserver says 400, as PyPI does
        assert "Traceback" not in again.stderr
    assert snapshot(release_dist) == before
    assert list((tmp_path / "packages").iterdir()), "the index kept what was uploaded"


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


def test_rehearsal_passes_every_step(rehearsed: dict) -> None:
    report, proc = rehearsed["report"], rehearsed["proc"]
    assert proc.returncode == 0 and report["ok"], proc.stdout[-4000:] + proc.stderr[-2000:]
    assert [s["name"] for s in report["steps"]] == [
        "upload", "index lists", "dependencies", "sdist", "install wheel", "install sdist", "pipx", "uv tool", "uvx",
        "userlands", "verify"]
    assert all(s["ok"] for s in report["steps"])
    assert report["version"] == build_version()
    assert report["index"].startswith("http://127.0.0.1:")


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


def test_rehearsal_installs_the_release_from_the_index(rehearsed: dict) -> None:
    steps = {s["name"]: s["detail"] for s in rehearsed["report"]["steps"]}
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


def test_rehearse_refuses_to_clear_a_directory_it_did_not_make(release_dist: Path, targets_file: Path,
                                                                tmp_path: Path) -> None:
    keep = tmp_path / "precious.txt"
    keep.write_text("mine")
    proc = run_cli(release_dist, targets_file, "rehearse", "--work", str(tmp_path))
    assert_one_line_refusal(proc, "not empty", "--work")
    assert keep.read_text() == "mine"


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
