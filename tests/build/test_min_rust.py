"""The stated minimum Rust (issue 19): noetlctl's rust-version is at least the rust-version of
every package in Cargo.lock, and `pip install --no-binary noetl` of the sdist with Debian 12's own
cargo package (cargo 1.65, rustc 1.63) stops before compiling with the backend's one line naming
the Rust needed and the one found, not cargo's wall of errors.

Slow, and the Debian part needs root (debootstrap, chroot, mount), as CI has: the Debian 12
amd64 root of the userland session (build/userlands/, made by debootstrap when missing) is copied
and `apt-get install cargo` run in the copy, which is kept under build/min-rust/ for the next run.
pip there installs only from the wheelhouse (build/wheelhouse, filled by `nox -s tests`), with
no index. The positive case, a new enough cargo building the sdist's binary, is
tests/build/test_sdist.py's source install with the host's cargo.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from noetl_build import backend, userland
from noetl_build.fingerprint import Stamp, digest
from noetl_build.layout import Layout
from tests.build.test_sdist import make_sdist
from tests.conftest import ROOT
from tests.test_e2e import describe

pytestmark = pytest.mark.slow

CRATE = ROOT / "noetlctl"
ROOT_FORMAT = 1  # bump when how the cargo root is made changes in a way its recipe does not say
PACKAGES = ("cargo",)  # Debian 12's own: cargo 0.66.0+ds1 (says 1.65.0) and rustc 1.63.0
RUN = "noetl-min-rust"  # inside the root: what one run makes; removed before and after
PATH_IN_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SECONDS = 900


def release(text: str) -> tuple[int, ...]:
    """The numbers of a `-vV` answer's `release:` line, or of a rust-version."""
    said = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("release:")), text)
    found = re.search(r"\d+\.\d+(\.\d+)?", said)
    assert found, text
    numbers = tuple(int(n) for n in found.group(0).split("."))
    return numbers + (0,) * (3 - len(numbers))


def declared() -> str:
    return str(tomllib.loads((CRATE / "Cargo.toml").read_text())["package"]["rust-version"])


# ---------------------------------------------------------------- the locked dependencies


def test_rust_version_is_at_least_every_locked_packages_own() -> None:
    """A Cargo.lock update that raises a dependency's rust-version above ours fails here."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("no cargo on PATH")
    proc = subprocess.run([cargo, "metadata", "--locked", "--format-version", "1", "--manifest-path",
                           str(CRATE / "Cargo.toml")], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, describe(proc)
    packages = json.loads(proc.stdout)["packages"]
    assert len(packages) > 50  # every locked package, of every platform
    floors = {f"{p['name']} {p['version']}": release(p["rust_version"]) for p in packages if p.get("rust_version")}
    # edition 2024 came with Rust 1.85, whether or not the package says a rust-version
    floors |= {f"{p['name']} {p['version']} (edition 2024)": (1, 85, 0) for p in packages if p["edition"] == "2024"}
    highest = max(floors, key=floors.__getitem__)
    assert release(declared()) >= floors[highest], f"{highest} needs Rust {floors[highest]}: raise rust-version"


# ---------------------------------------------------------------- Debian 12's cargo


def cargo_root(layout: Layout) -> Path:
    """The userland's Debian 12 amd64 root, copied, with PACKAGES installed by apt-get from Debian's
    registry; kept under build/min-rust/ and made again when the userland root's recipe changes."""
    base = userland.load_recipes(layout.userlands_file).userlands["x86_64"]
    debootstrap = userland._host_check([base])  # the version the userland's cache key holds
    base_root, _ = userland.ensure_root(layout, base, debootstrap=debootstrap, progress=print)
    home = layout.build / "min-rust" / f"{base.name}-{'-'.join(PACKAGES)}"
    key = digest(extra={"format": ROOT_FORMAT, "base": base.key(debootstrap), "packages": list(PACKAGES)})
    if Stamp(home / "recipe.json").read().get("key") == key and (home / "root" / "usr" / "bin" / "cargo").exists():
        return home / "root"
    partial = home.parent / f".partial-{os.getpid()}"
    userland._remove_tree(partial)
    partial.mkdir(parents=True)
    try:
        copied = subprocess.run(["cp", "-a", str(base_root), str(partial / "root")], capture_output=True, text=True,
                                check=False, timeout=SECONDS)
        assert copied.returncode == 0, describe(copied)
        resolv = partial / "root" / "etc" / "resolv.conf"  # so apt-get reaches Debian's registry
        resolv.unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", resolv)
        env = {"PATH": PATH_IN_ROOT, "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        with userland.chroot_session(partial / "root"):
            for cmd in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-q", "-y", "--no-install-recommends", *PACKAGES],
                        ["apt-get", "clean"]):
                done = subprocess.run(["chroot", str(partial / "root"), *cmd], env=env, capture_output=True,
                                      text=True, check=False, timeout=SECONDS)
                assert done.returncode == 0, describe(done)
        Stamp(partial / "recipe.json").write({"key": key, "base": str(base_root), "packages": list(PACKAGES)})
        userland._remove_tree(home)
        partial.rename(home)
    finally:
        userland._remove_tree(partial)
    return home / "root"


@pytest.fixture(scope="module")
def debian12_cargo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the root, the sdist copied into its run dir), /proc and the devices mounted for the module."""
    problem = userland.host_problem([])  # root, debootstrap, chroot, mount
    if problem:
        pytest.skip(problem)
    layout = Layout.at(ROOT)
    if not (layout.wheelhouse / ".filled").is_file():
        pytest.fail("no build/wheelhouse: run the tests with nox -s tests (it fetches the wheelhouse first)")
    sdist = make_sdist(tmp_path_factory.mktemp("min-rust-sdist"))
    root = cargo_root(layout)
    run = root / RUN
    userland._remove_tree(run)
    (run / "wheels").mkdir(parents=True)
    (run / "home").mkdir()
    for wheel in layout.wheelhouse.glob("*.whl"):
        shutil.copyfile(wheel, run / "wheels" / wheel.name)
    shutil.copyfile(sdist, run / sdist.name)
    try:
        with userland.chroot_session(root):
            yield root, Path("/") / RUN / sdist.name
    finally:
        userland._remove_tree(run)
    assert not userland.mounts_under(root), "a mount was left under the root"


def in_root(root: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    """``cmd`` chrooted in ``root`` with nothing of this host's environment: no index, no proxy."""
    env = {"PATH": PATH_IN_ROOT, "HOME": f"/{RUN}/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return subprocess.run(["chroot", str(root), *cmd], env=env, capture_output=True, text=True, check=False,
                          timeout=SECONDS)


def test_debian12_cargo_is_older_than_the_stated_minimum(debian12_cargo: tuple[Path, Path]) -> None:
    """What the next test proves against: Debian 12's own cargo and rustc, both below rust-version."""
    root, _ = debian12_cargo
    rustc, cargo = in_root(root, "rustc", "-vV"), in_root(root, "cargo", "-vV")
    assert rustc.returncode == 0 and cargo.returncode == 0, describe(rustc) + describe(cargo)
    assert release(rustc.stdout) == (1, 63, 0) and release(cargo.stdout) == (1, 65, 0)
    assert release(cargo.stdout) < release(declared())


def test_a_source_install_with_debian12_cargo_is_one_line_naming_needed_and_found(
        debian12_cargo: tuple[Path, Path]) -> None:
    root, sdist = debian12_cargo
    made = in_root(root, "python3", "-m", "venv", f"/{RUN}/venv")
    assert made.returncode == 0, describe(made)
    proc = in_root(root, f"/{RUN}/venv/bin/python", "-m", "pip", "install", "--no-index", "--find-links",
                   f"/{RUN}/wheels", "--no-binary", "noetl", str(sdist))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, describe(proc)
    expected = (f"error: building noetl from source needs Rust {declared()} or newer (rust-version in "
                f"noetlctl/Cargo.toml), and the rustc at /usr/bin/rustc is 1.63.0: {backend.RUST_REMEDY}")
    assert [line.strip() for line in output.splitlines() if "needs Rust" in line] == [expected], describe(proc)
    assert "[1 lines of output]" in proc.stderr, describe(proc)  # pip's count of what the backend printed
    # stopped before cargo compiled or even read the crate: none of cargo's own errors
    for wall in ("Compiling ", "error[E", "could not compile", "failed to parse", "lock file version",
                 "noetl: compiling the noetl binary", "Traceback"):
        assert wall not in output, f"{wall!r} in the output\n{describe(proc)}"
    assert not list((root / RUN / "venv").glob("lib/python3*/site-packages/noetl"))
