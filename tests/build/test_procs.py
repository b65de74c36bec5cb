"""procs: the one way the build package runs programs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from noetl_build.errors import CommandError
from noetl_build.procs import background, capture, output, run

PY = sys.executable


def test_capture_keeps_streams_apart_and_never_raises() -> None:
    out = capture([PY, "-c", "import sys; print('out'); print('why', file=sys.stderr); sys.exit(3)"])
    assert (out.code, out.stdout, out.stderr) == (3, "out\n", "why\n")
    assert not out.ok and out.failure() == "exit 3: why"


def test_capture_reports_a_missing_program_and_a_timeout_as_no_exit_code(tmp_path: Path) -> None:
    missing = capture([tmp_path / "nothing-here"])
    assert missing.code is None and "not found" in missing.failure()
    slow = capture([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.code is None and slow.failure().startswith("timed out after")


def test_programs_never_read_our_stdin() -> None:
    assert capture([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], timeout=20).stdout == "''\n"


def test_run_streams_into_its_log_and_raises_naming_what(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "step.log"
    assert run([PY, "-c", "print('fine')"], what="step", log=log) == log.read_text()
    assert log.read_text().splitlines()[1] == "fine"
    with pytest.raises(CommandError, match=r"^step failed \(exit 2\); full log: .*step\.log$") as raised:
        run([PY, "-c", "import sys; print('a'); print('b', file=sys.stderr); sys.exit(2)"], what="step", log=log)
    assert raised.value.log == log and raised.value.tail.splitlines()[-2:] == ["a", "b"]
    with pytest.raises(CommandError, match=r"^step: '.*nothing-here' not found \(run 'nox -s doctor'\)$"):
        run([tmp_path / "nothing-here"], what="step")


def test_output_is_a_quick_query() -> None:
    assert output([PY, "-c", "print(' 1.2 ')"]) == "1.2"
    assert output([PY, "-c", "raise SystemExit(1)"]) is None


def test_background_stops_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # a server that starts a child of its own: leaving the block must stop both
    script = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
              f" open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)")
    with background([PY, "-c", script], log=tmp_path / "server.log") as process:
        deadline = time.monotonic() + 20
        while not pid_file.is_file() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        child = int(pid_file.read_text())
    assert process.poll() is not None
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
        assert time.monotonic() < deadline, "the child outlived the block"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
