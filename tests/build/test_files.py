"""files.py: the atomic write and the sweep of what a killed writer left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from noetl_build.files import atomic_output, atomic_symlink, sweep_temporaries


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        assert tmp.name.startswith(f".manifest.json.{os.getpid()}.") and tmp.name.endswith(".tmp")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_sweep_removes_only_temporaries_whose_writer_is_gone(tmp_path: Path) -> None:
    gone = tmp_path / f".noetl-1.0-py3-none-any.whl.{dead_pid()}.k2j4x9.tmp"
    live = tmp_path / f".SHA256SUMS.{os.getpid()}.a8b7c6.tmp"
    parent = tmp_path / f".manifest.json.{os.getppid()}.zzzz.tmp"
    others = [tmp_path / ".hidden.tmp", tmp_path / "notes.tmp", tmp_path / ".x.abc.def.tmp",
              tmp_path / "noetl-1.0-py3-none-any.whl"]
    for path in (gone, live, parent, *others):
        path.write_text("x")
    (tmp_path / f".dir.{dead_pid()}.q.tmp").mkdir()  # only files are swept
    assert sweep_temporaries(tmp_path) == [gone]
    assert not gone.exists() and live.exists() and parent.exists()
    assert all(p.exists() for p in others)
    assert sweep_temporaries(tmp_path / "missing") == []



def test_many_writers_of_one_symlink_all_succeed(tmp_path: Path) -> None:
    """Two lanes of a build make the toolchain's links at once (issue 21: a check-then-create
    failed with FileExistsError); each writer's link lands whole, no temporary is left."""
    import threading

    link = tmp_path / "bin" / "rust-objcopy"
    first, second = tmp_path / "a", tmp_path / "b"
    errors: list[BaseException] = []

    def writer(target: Path) -> None:
        try:
            for _ in range(200):
                atomic_symlink(link, target)
        except BaseException as error:  # noqa: BLE001 - the test reports any
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert os.readlink(link) in (str(first), str(second))
    assert sorted(p.name for p in link.parent.iterdir()) == ["rust-objcopy"]
    atomic_symlink(link, first)
    assert os.readlink(link) == str(first)
