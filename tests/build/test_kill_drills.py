"""Kill drills: `build` killed with SIGKILL at any moment leaves dist/ with only complete wheels,
and the next run heals it to a dist/ whose SHA256SUMS and manifest agree with its files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from noetl_build.files import sha256_file
from noetl_build.wheelfile import WheelFile

from ..conftest import HOST_TARGET, ROOT


def start(dist: Path, log: Path, drill: str) -> subprocess.Popen[bytes]:
    # NOETL_* reaches cargo's environment, so a new value is a new binary key: the run really
    # goes through the compile step (cargo itself finds nothing to redo, which keeps it quick)
    env = {**os.environ, "NOETL_KILL_DRILL": drill}
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "noetl_build", "--dist", str(dist), "build", HOST_TARGET],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )


def assert_only_complete_wheels(dist: Path) -> None:
    for path in dist.iterdir():
        if path.name.startswith("."):  # an atomic write's temporary: never a wheel's name
            assert path.name.endswith(".tmp"), path
            continue
        assert path.suffix == ".whl" or path.name in {"SHA256SUMS", "manifest.json"}, path
        if path.suffix == ".whl":
            wheel = WheelFile.read(path)  # a whole zip, or WheelError
            recorded = {row.path: row.hash for row in wheel.record}
            assert all(recorded.get(m.name) == m.sha256 for m in wheel.members if not m.name.endswith("RECORD")), path


def assert_consistent(dist: Path) -> None:
    rows = [line.split(maxsplit=1) for line in (dist / "SHA256SUMS").read_text().splitlines()]
    assert rows, "SHA256SUMS lists nothing"
    for sha, name in rows:
        assert sha256_file(dist / name.lstrip("*")) == sha, name
    wheels = sorted(p.name for p in dist.glob("*.whl"))
    assert sorted(name.lstrip("*") for _, name in rows) == wheels


def test_sigkill_at_any_moment_leaves_only_complete_wheels_and_a_rerun_heals(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    first = subprocess.run([sys.executable, "-m", "noetl_build", "--dist", str(dist), "build", HOST_TARGET],
                           cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_consistent(dist)
    # how long one run takes that has a binary step and a wheel to write: the kills are spread
    # over it (start-up, the compile step, the wheel being finished, its copy into dist/, the
    # index being written); bounded: seven kills, each within that run's length
    for wheel in dist.glob("*.whl"):
        wheel.unlink()
    started = time.monotonic()
    reference = start(dist, tmp_path / "reference.log", "reference")
    assert reference.wait(timeout=1800) == 0, (tmp_path / "reference.log").read_text()
    length = time.monotonic() - started
    for number, fraction in enumerate((0.1, 0.3, 0.5, 0.65, 0.8, 0.9, 0.97)):
        for wheel in dist.glob("*.whl"):
            wheel.unlink()  # so the run has a wheel to write again
        process = start(dist, tmp_path / f"drill-{number}.log", f"drill-{number}")
        time.sleep(length * fraction)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert_only_complete_wheels(dist)
    healed = subprocess.run([sys.executable, "-m", "noetl_build", "--dist", str(dist), "build", HOST_TARGET],
                            cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "0 failed" in healed.stdout
    assert_only_complete_wheels(dist)
    assert_consistent(dist)
    # and what the killed runs were writing is gone (their processes are)
    assert not list(dist.glob(".*.tmp")), sorted(p.name for p in dist.iterdir())
