"""The run's jobserver: its tokens bound what runs at once, and cargo takes it as its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from noetl_build.jobserver import Jobserver


def test_tokens_bound_the_clients_running_at_once(tmp_path: Path) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def client(jobs: Jobserver) -> None:
        nonlocal running, most
        with jobs.slot():
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1

    with Jobserver.open(tmp_path, 2) as jobs:
        threads = [threading.Thread(target=client, args=(jobs,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert jobs.available() == 2  # every token came back
    assert most == 2


def test_a_slot_gives_its_token_back_when_the_client_fails(tmp_path: Path) -> None:
    with Jobserver.open(tmp_path, 1) as jobs:
        with pytest.raises(RuntimeError), jobs.slot():
            assert jobs.available() == 0
            raise RuntimeError("cargo failed")
        assert jobs.available() == 1


def test_the_pipe_is_private_and_gone_after_the_run(tmp_path: Path) -> None:
    with Jobserver.open(tmp_path, 3) as jobs:
        assert jobs.path.is_fifo()
        assert jobs.path.stat().st_mode & 0o777 == 0o600
        assert jobs.environment["CARGO_MAKEFLAGS"] == f"-j --jobserver-auth=fifo:{jobs.path}"
    assert not jobs.path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_jobserver_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one token"), Jobserver.open(tmp_path, 0):
        pass


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")
def test_cargo_uses_the_run_s_jobserver_not_its_own(tmp_path: Path) -> None:
    """A build script sees the jobserver cargo hands down: ours, not one cargo made itself."""
    crate = tmp_path / "probe"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "probe"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "main.rs").write_text("fn main() {}\n")
    (crate / "build.rs").write_text(
        'fn main() { println!("cargo::warning=jobserver {}", std::env::var("CARGO_MAKEFLAGS").unwrap_or_default()); }\n')

    def build(extra: dict[str, str]) -> str:
        env = {k: v for k, v in os.environ.items() if "MAKEFLAGS" not in k and k != "MFLAGS"}
        out = subprocess.run(["cargo", "build", "--offline", "--manifest-path", str(crate / "Cargo.toml"),
                              "--target-dir", str(tmp_path / "target")], env={**env, **extra},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return next(line for line in out.stderr.splitlines() if "jobserver " in line)

    with Jobserver.open(tmp_path / "run", 2) as jobs, jobs.slot():
        assert f"fifo:{jobs.path}" in build(jobs.environment)
        shutil.rmtree(tmp_path / "target")
        assert "fifo:" not in build({})  # the control: alone, cargo makes its own
