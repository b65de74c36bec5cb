"""The `noetl` console script (noetl/cli_wrapper.py) and the retired noetl.main.

The real wrapper file is copied into a temporary `noetl` package beside a FAKE
binary at `noetl/bin/noetl` (a shell script that execs a Python program, so the
PID survives), then run in a subprocess exactly as the console script runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import platform
import textwrap
import time
from pathlib import Path

import pytest

import noetl

POSIX = os.name == "posix"
posix_only = pytest.mark.skipif(not POSIX, reason="exec and shell scripts are POSIX")

SOURCE_DIR = Path(noetl.__file__).resolve().parent
RUN_WRAPPER = "from noetl.cli_wrapper import main; main()"
FAKE_TAG = "cp311-cp311-manylinux_2_99_fakearch"

FAKE_PROGRAM = r'''
import json, os, signal, sys, time

record = {
    "argv": sys.argv[1:],
    "pid": os.getpid(),
    "noetl_python": os.environ.get("NOETL_PYTHON"),
}
mode = os.environ.get("FAKE_MODE", "echo")
out = os.environ.get("FAKE_OUT")

if mode == "echo":
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))

if mode == "wait-term":
    def on_term(signum, frame):
        with open(out + ".term", "w") as fh:
            fh.write(str(signum))
        os._exit(int(os.environ.get("FAKE_TERM_EXIT", "143")))
    signal.signal(signal.SIGTERM, on_term)
    with open(out + ".tmp", "w") as fh:
        json.dump(record, fh)
    os.replace(out + ".tmp", out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(99)

if mode == "self-signal":
    os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(5)
    sys.exit(98)

if mode == "interrupt":
    # For the Windows path: the parent's wait is interrupted like Ctrl+C.
    os.kill(os.getppid(), signal.SIGINT)
    time.sleep(2)
    sys.exit(0)
'''


def _make_package(root: Path, binary: str | bytes | None = "fake", mode: int = 0o755) -> Path:
    """A copy of the real noetl/__init__.py + cli_wrapper.py under ``root``.

    ``binary``: "fake" for the echoing fake binary, None for no binary, or the
    raw text/bytes to write at noetl/bin/noetl.
    """
    pkg = root / "noetl"
    pkg.mkdir(parents=True)
    shutil.copy2(SOURCE_DIR / "__init__.py", pkg / "__init__.py")
    shutil.copy2(SOURCE_DIR / "cli_wrapper.py", pkg / "cli_wrapper.py")
    # A dist-info that importlib.metadata finds first (PYTHONPATH comes before
    # site-packages), so the error message's wheel tag is known.
    dist = root / ("noetl-%s.dist-info" % noetl.__version__)
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: noetl\nVersion: %s\n" % noetl.__version__
    )
    (dist / "WHEEL").write_text(
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: %s\n" % FAKE_TAG
    )
    if binary is None:
        return pkg
    bindir = pkg / "bin"
    bindir.mkdir()
    target = bindir / "noetl"
    if binary == "fake":
        program = root / "fake_noetl.py"
        program.write_text(FAKE_PROGRAM)
        target.write_text(
            '#!/bin/sh\nexec "$FAKE_PYTHON" "$FAKE_PROGRAM" "$@"\n'
        )
    elif isinstance(binary, bytes):
        target.write_bytes(binary)
    else:
        target.write_text(binary)
    os.chmod(target, mode)
    return pkg


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)
    env["FAKE_PYTHON"] = sys.executable
    env["FAKE_PROGRAM"] = str(root / "fake_noetl.py")
    env.pop("NOETL_PYTHON", None)
    env.update(extra)
    return env


def _run(root: Path, args: list[str], code: str = RUN_WRAPPER, **extra: str):
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=_env(root, **extra),
        cwd=root,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def pkg_root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root)
    return root


# Every subprocess runs with cwd=<temp root>: `python -c` puts the current
# directory first on sys.path, and a checkout's own noetl/ must not win.


# -- start-up cost ------------------------------------------------------------


def test_importing_the_wrapper_loads_nothing_heavy(tmp_path: Path) -> None:
    """Only noetl and noetl.cli_wrapper are new in sys.modules: no server, no Starlette."""
    code = textwrap.dedent(
        """
        import json, sys
        before = set(sys.modules)
        import noetl.cli_wrapper
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary=None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    new = set(json.loads(out))
    assert new == {"noetl", "noetl.cli_wrapper"}, new
    for heavy in ("fastapi", "uvicorn", "starlette", "pydantic", "yaml", "ruamel", "ruamel.yaml", "noetl.server"):
        assert heavy not in new


def test_the_package_init_imports_nothing() -> None:
    source = (SOURCE_DIR / "__init__.py").read_text()
    lines = [line.strip() for line in source.splitlines()]
    assert not [l for l in lines if l.startswith(("import ", "from "))]


def test_binary_path_is_next_to_the_module() -> None:
    from noetl import cli_wrapper

    expected = SOURCE_DIR / "bin" / ("noetl.exe" if os.name == "nt" else "noetl")
    assert Path(cli_wrapper.binary_path()) == expected


# -- exec: arguments, environment, PID, exit status, signals --------------------

ODD_ARGS = [
    "catalog",
    "register",
    "with space",
    'double"quote',
    "single'quote",
    "",
    "ünïcødé ☃ 日本",
    "--flag=a b",
    "$HOME",
    "*",
    "back\\slash",
    "new\nline",
    "-c",
]


@posix_only
def test_arguments_pass_through_unchanged(pkg_root: Path) -> None:
    proc = _run(pkg_root, ODD_ARGS)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["argv"] == ODD_ARGS


@posix_only
def test_the_copied_wrapper_is_the_one_running(pkg_root: Path) -> None:
    code = "import noetl.cli_wrapper as w, sys; sys.stderr.write(w.__file__ + '\\n'); w.main()"
    proc = _run(pkg_root, [], code=code)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stderr.decode().strip()).parent == pkg_root / "noetl"


@posix_only
def test_noetl_python_is_the_interpreter(pkg_root: Path) -> None:
    proc = _run(pkg_root, ["x"], NOETL_PYTHON="/nonexistent/python-from-before")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["noetl_python"] == sys.executable


@posix_only
def test_exec_keeps_the_pid(pkg_root: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_WRAPPER, "pid"],
        env=_env(pkg_root),
        cwd=pkg_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["pid"] == proc.pid


@posix_only
@pytest.mark.parametrize("code", [0, 1, 2, 3, 42, 126, 127, 128, 200, 255])
def test_exit_status_passes_through(pkg_root: Path, code: int) -> None:
    proc = _run(pkg_root, ["status"], FAKE_EXIT=str(code))
    assert proc.returncode == code, proc.stderr


@posix_only
def test_death_by_signal_passes_through(pkg_root: Path) -> None:
    """Only an exec'd binary makes the wrapper's own process die of the signal."""
    proc = _run(pkg_root, [], FAKE_MODE="self-signal")
    assert proc.returncode == -signal.SIGUSR1, proc.stderr


@posix_only
@pytest.mark.parametrize("term_exit", [143, 7])
def test_sigterm_reaches_the_binary(pkg_root: Path, tmp_path: Path, term_exit: int) -> None:
    marker = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_WRAPPER, "server", "start"],
        env=_env(
            pkg_root,
            FAKE_MODE="wait-term",
            FAKE_OUT=str(marker),
            FAKE_TERM_EXIT=str(term_exit),
        ),
        cwd=pkg_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "fake binary never started"
            time.sleep(0.02)
        assert json.loads(marker.read_text())["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == term_exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "ready.json.term").read_text() == str(int(signal.SIGTERM))


def test_exec_call_shape(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """os.execv gets the bundled binary, argv[0] 'noetl' and the arguments as given."""
    from noetl import cli_wrapper

    fake = tmp_path / "noetl"
    fake.write_text("")
    calls = []

    def fake_execv(path, argv):
        calls.append((path, list(argv), os.environ.get("NOETL_PYTHON")))
        raise SystemExit(0)

    monkeypatch.setattr(cli_wrapper, "binary_path", lambda: str(fake))
    monkeypatch.setattr(cli_wrapper, "_IS_WINDOWS", False)
    monkeypatch.setattr(cli_wrapper.os, "execv", fake_execv)
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/noetl", "a b", "--x"])
    monkeypatch.delenv("NOETL_PYTHON", raising=False)
    with pytest.raises(SystemExit):
        cli_wrapper.main()
    assert calls == [(str(fake), ["noetl", "a b", "--x"], sys.executable)]


# -- the Windows code path (subprocess + sys.exit), run here on POSIX ----------

WINDOWS_PATH = "import noetl.cli_wrapper as w; w._IS_WINDOWS = True; w.main()"


@posix_only
@pytest.mark.parametrize("code", [0, 1, 127, 255])
def test_child_process_path_passes_args_and_status(pkg_root: Path, code: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WINDOWS_PATH, *ODD_ARGS],
        env=_env(pkg_root, FAKE_EXIT=str(code)),
        cwd=pkg_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    record = json.loads(out)
    assert record["argv"] == ODD_ARGS
    assert record["pid"] != proc.pid
    assert record["noetl_python"] == sys.executable


@posix_only
def test_child_process_path_handles_keyboard_interrupt(pkg_root: Path) -> None:
    proc = _run(pkg_root, [], code=WINDOWS_PATH, FAKE_MODE="interrupt")
    assert proc.returncode == 130, proc.stderr
    assert b"Traceback" not in proc.stderr


# -- failures: missing binary, wrong format, not executable ---------------------


def _assert_one_clear_message(stderr: bytes, *needles: str) -> str:
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text
    assert text.count("noetl: cannot run") == 1, text
    assert sysconfig.get_platform() in text
    assert platform.machine() in text
    assert FAKE_TAG in text, text
    assert "nox -s wheel -- " in text
    assert "built for this platform" in text
    for needle in needles:
        assert needle in text, text
    return text


@posix_only
def test_missing_binary_never_looks_on_path(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary=None)
    # A `noetl` on PATH that would recurse into the wrapper, leaving a trail.
    pathdir = tmp_path / "pathbin"
    pathdir.mkdir()
    trail = tmp_path / "path-noetl-was-run"
    decoy = pathdir / "noetl"
    # Recursion is bounded (3 rounds) so that a broken wrapper fails fast.
    decoy.write_text(
        '#!/bin/sh\necho run >> "%s"\n'
        '[ "$(wc -l < "%s")" -ge 3 ] && exit 3\n'
        'exec "%s" -c "%s" "$@"\n' % (trail, trail, sys.executable, RUN_WRAPPER)
    )
    decoy.chmod(0o755)
    proc = _run(root, ["--version"], PATH="%s%s%s" % (pathdir, os.pathsep, os.environ["PATH"]))
    assert proc.returncode == 127
    text = _assert_one_clear_message(proc.stderr, "missing")
    assert str(root / "noetl" / "bin" / "noetl") in text
    assert not trail.exists()
    assert proc.stdout == b""


def _foreign_elf() -> bytes:
    header = bytearray(64)
    header[0:4] = b"\x7fELF"
    header[4] = 2  # 64-bit
    header[5] = 1  # little-endian
    header[6] = 1  # ELF version
    header[16:18] = (2).to_bytes(2, "little")  # ET_EXEC
    header[18:20] = (0xBEEF).to_bytes(2, "little")  # a machine nobody runs
    header[20:24] = (1).to_bytes(4, "little")
    return bytes(header) + b"\0" * 64


@posix_only
@pytest.mark.parametrize(
    "content",
    [b"this is not a program\n", _foreign_elf()],
    ids=["no-shebang-text", "foreign-elf"],
)
def test_foreign_format_gives_exec_format_message(tmp_path: Path, content: bytes) -> None:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary=content)
    proc = _run(root, ["--help"])
    assert proc.returncode == 126
    _assert_one_clear_message(proc.stderr, "Exec format error")


@posix_only
def test_not_executable_gives_permission_message(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary="#!/bin/sh\nexit 0\n", mode=0o644)
    proc = _run(root, [])
    assert proc.returncode == 126
    _assert_one_clear_message(proc.stderr, "permission denied")
    _assert_one_clear_message(proc.stderr, "not executable (mode 0644)", "chmod +x ")


# -- the ELF program loader (PT_INTERP) is missing: musl vs glibc -----------------

# uname machine -> ELF e_machine, for a fake ELF that this kernel accepts.
_HOST_E_MACHINE = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "riscv64": 243,
                   "s390x": 22, "ppc64le": 21, "i686": 3, "i386": 3}.get(platform.machine().lower())
linux_elf_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _HOST_E_MACHINE is None,
    reason="needs a Linux kernel that loads ELF for a known machine",
)
MUSL_LOADER = "/lib/ld-musl-nonexistent-x86_64.so.1"
GLIBC_LOADER = "/lib64/ld-linux-nonexistent-x86-64.so.2"


def _elf_with_interp(
    interp: bytes,
    machine: int | None = None,
    bits: int = 64,
    big_endian: bool = False,
    interp_offset: int | None = None,
) -> bytes:
    """A minimal ELF executable: the header, one PT_INTERP program header, the path."""
    import struct

    end = ">" if big_endian else "<"
    machine = _HOST_E_MACHINE if machine is None else machine
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    phoff = ehsize
    path = interp + b"\0"
    offset = phoff + phentsize if interp_offset is None else interp_offset
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big_endian else 1, 1]) + b"\0" * 9
    if bits == 64:
        header = ident + struct.pack(
            end + "HHIQQQIHHHHHH",
            2, machine, 1, 0x400000, phoff, 0, 0, ehsize, phentsize, 1, 64, 0, 0,
        )
        phdr = struct.pack(end + "IIQQQQQQ", 3, 4, offset, offset, offset, len(path), len(path), 1)
    else:
        header = ident + struct.pack(
            end + "HHIIIIIHHHHHH",
            2, machine, 1, 0x8048000, phoff, 0, 0, ehsize, phentsize, 1, 40, 0, 0,
        )
        phdr = struct.pack(end + "IIIIIIII", 3, offset, offset, offset, len(path), len(path), 4, 1)
    body = header + phdr
    body += b"\0" * (offset - len(body))
    return body + path + b"\0" * 16


def _run_loader_case(tmp_path: Path, interp: bytes, system_libc: tuple[str, str] | None = None):
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary=_elf_with_interp(interp))
    code = RUN_WRAPPER
    if system_libc is not None:
        code = "import noetl.cli_wrapper as w; w._system_libc = lambda: %r; w.main()" % (
            system_libc,
        )
    return _run(root, ["--version"], code=code)


@linux_elf_only
@pytest.mark.parametrize(
    "system_libc", [None, ("glibc", "2.99"), ("", "")], ids=["host", "glibc", "unknown"]
)
def test_musl_binary_without_its_loader_points_to_manylinux(tmp_path: Path, system_libc) -> None:
    if system_libc is None and not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        pytest.skip("the host is not glibc")
    proc = _run_loader_case(tmp_path, MUSL_LOADER.encode(), system_libc)
    assert proc.returncode == 127
    text = _assert_one_clear_message(
        proc.stderr,
        "program loader",
        MUSL_LOADER,
        "is not on this system",
        "musl (musllinux) build",
        "install the manylinux wheel instead",
        "manylinux_*_" if _HOST_E_MACHINE != 62 else "manylinux_*_x86_64",
    )
    assert "missing from this installation" not in text
    first = text.splitlines()[0]
    assert MUSL_LOADER in first and "manylinux wheel" in first
    assert proc.stdout == b""


@linux_elf_only
@pytest.mark.parametrize("system_libc", [("musl", ""), ("", "")], ids=["musl", "unknown"])
def test_glibc_binary_without_its_loader_points_to_musllinux(tmp_path: Path, system_libc) -> None:
    proc = _run_loader_case(tmp_path, GLIBC_LOADER.encode(), system_libc)
    assert proc.returncode == 127
    text = _assert_one_clear_message(
        proc.stderr,
        GLIBC_LOADER,
        "glibc (manylinux) build",
        "install the musllinux wheel instead (platform tag musllinux_*_",
    )
    assert "missing from this installation" not in text
    assert "install the manylinux wheel" not in text


@linux_elf_only
def test_glibc_binary_on_glibc_without_the_standard_loader(tmp_path: Path) -> None:
    """As on NixOS: the right libc, but not at the standard path; no wrong wheel advice."""
    proc = _run_loader_case(tmp_path, GLIBC_LOADER.encode(), ("glibc", "2.99"))
    assert proc.returncode == 127
    text = _assert_one_clear_message(
        proc.stderr, GLIBC_LOADER, "glibc 2.99", "not at the standard path"
    )
    assert "musllinux wheel" not in text


@linux_elf_only
def test_hostile_loader_path_is_escaped(tmp_path: Path) -> None:
    interp = b"/lib/ld-musl-\x1b[2J\x1b]0;owned\x07\nnoetl: fine\r\xff-x86_64.so.1"
    proc = _run_loader_case(tmp_path, interp)
    assert proc.returncode == 127
    text = _assert_one_clear_message(
        proc.stderr, "\\x1b[2J\\x1b]0;owned\\x07\\nnoetl: fine\\r\\xff-x86_64.so.1"
    )
    for raw in ("\x1b", "\x07", "\r", "\xff"):
        assert raw not in text
    assert "\nnoetl: fine" not in text


@posix_only
def test_missing_script_interpreter_is_named(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary="#!/nonexistent/interp -x\nexit 0\n")
    proc = _run(root, [])
    assert proc.returncode == 127
    text = _assert_one_clear_message(
        proc.stderr, "interpreter, /nonexistent/interp, is not on this system"
    )
    assert "missing from this installation" not in text


@posix_only
def test_control_characters_in_the_binary_path_are_escaped(tmp_path: Path) -> None:
    root = tmp_path / "site\x1b[31m\nnoetl: ok\t"
    root.mkdir()
    _make_package(root, binary=None)
    proc = _run(root, [])
    assert proc.returncode == 127
    text = _assert_one_clear_message(proc.stderr, "missing", "site\\x1b[31m\\nnoetl: ok\\t")
    assert "\x1b" not in text and "\t" not in text


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("interp_offset", [None, 9000], ids=["in-head", "past-head"])
def test_elf_interp_is_parsed(tmp_path: Path, bits: int, big_endian: bool, interp_offset) -> None:
    from noetl import cli_wrapper

    f = tmp_path / "elf"
    f.write_bytes(_elf_with_interp(b"/lib/ld-musl-armhf.so.1", 40, bits, big_endian, interp_offset))
    info = cli_wrapper._elf_info(str(f))
    assert info == {
        "bits": bits,
        "big_endian": big_endian,
        "machine": 40,
        "interp": b"/lib/ld-musl-armhf.so.1",
    }
    assert cli_wrapper._describe_elf(info).endswith("armv7l")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x7fELF", b"\x7fELF\x02\x01\x01" + b"\xff" * 100, b"MZ" + b"\0" * 100],
    ids=["empty", "truncated", "garbage-header", "pe"],
)
def test_elf_parser_survives_odd_files(tmp_path: Path, content: bytes) -> None:
    from noetl import cli_wrapper

    f = tmp_path / "odd"
    f.write_bytes(content)
    info = cli_wrapper._elf_info(str(f))
    assert info is None or info["interp"] is None


@pytest.mark.parametrize(
    "interp, libc",
    [
        ("/lib/ld-musl-x86_64.so.1", "musl"),
        ("/lib/ld-musl-aarch64.so.1", "musl"),
        ("/lib64/ld-linux-x86-64.so.2", "glibc"),
        ("/lib/ld-linux-aarch64.so.1", "glibc"),
        ("/lib/ld-linux.so.2", "glibc"),
        ("/lib64/ld64.so.2", "glibc"),
        ("/system/bin/linker64", ""),
    ],
)
def test_loader_libc(interp: str, libc: str) -> None:
    from noetl import cli_wrapper

    assert cli_wrapper._loader_libc(interp) == libc


@posix_only
def test_foreign_elf_names_both_machines(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    _make_package(root, binary=_foreign_elf())
    proc = _run(root, [])
    assert proc.returncode == 126
    _assert_one_clear_message(
        proc.stderr,
        "the binary: ELF 64-bit little-endian, machine 0xbeef",
        "this machine: %s" % platform.machine(),
    )


def test_wheel_tags_are_read_from_the_installed_dist(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from noetl import cli_wrapper

    class FakeDist:
        def read_text(self, name):
            assert name == "WHEEL"
            return "Wheel-Version: 1.0\nTag: cp311-cp311-a\nTag: cp311-cp311-b\n"

    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDist())
    assert cli_wrapper._wheel_tags() == "cp311-cp311-a, cp311-cp311-b"


# -- the retired Python CLI -----------------------------------------------------


def test_noetl_main_says_the_cli_moved() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from noetl.main import main; main()", "catalog", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Rust" in proc.stderr
    assert "`noetl`" in proc.stderr
