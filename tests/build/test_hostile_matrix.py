"""A hostile targets.toml: every variant is one line and exit 2, never a traceback, never a
write outside build/ and dist/, and dist/ untouched. The corpus is ours, by class of mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """[[target]]
triple = "x86_64-unknown-linux-gnu"
tags = ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
glibc = "2.17"
run = "native"
"""
QEMU = """[[target]]
triple = "aarch64-unknown-linux-gnu"
tags = ["manylinux_2_17_aarch64"]
glibc = "2.17"
run = "qemu"
"""


def good_with(line: str) -> str:
    return GOOD + line + "\n"


# (id, bytes of targets.toml, what the one line must say)
CORPUS: list[tuple[str, bytes, str]] = [
    # the file itself
    ("not-utf8", GOOD.encode() + b"# \xff\xfe\n", "not UTF-8 text"),
    ("nul-byte", GOOD.encode() + b"x = \"\x00\"\n", "targets.toml"),
    ("not-toml", b"[[target]\n", "not valid TOML"),
    ("empty", b"", "no [[target]] tables"),
    ("deep-arrays", b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "targets.toml"),
    ("deep-tables", b"x = " + b"{a = " * 2000 + b"1" + b"}" * 2000 + b"\n", "targets.toml"),
    ("top-level-key", GOOD.encode() + b"[other]\n", "unknown top-level key 'other'"),
    # target entries that are not tables
    ("target-ints", b"target = [1, 2]\n", "target #1: expected a [[target]] table, got int"),
    ("target-strings", b"target = ['x86_64-unknown-linux-gnu']\n", "expected a [[target]] table, got str"),
    ("target-table", b"[target]\ntriple = 'x'\n", "no [[target]] tables"),
    ("target-nested-list", b"target = [[{triple = 'x'}]]\n", "expected a [[target]] table, got list"),
    # triples that would leave build/, or are not triples
    ("triple-dotdot", GOOD.replace("x86_64-unknown-linux-gnu", "x86_64-un/../../../x-linux-gnu").encode(),
     "key 'triple'"),
    ("triple-slash", GOOD.replace("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu/x").encode(), "key 'triple'"),
    ("triple-absolute", GOOD.replace("x86_64-unknown-linux-gnu", "/tmp/x-unknown-linux-gnu").encode(),
     "key 'triple'"),
    ("triple-backslash", GOOD.replace("x86_64-unknown-linux-gnu", "x86_64-un\\\\x-linux-gnu").encode(),
     "key 'triple'"),
    ("triple-newline", GOOD.replace('"x86_64-unknown-linux-gnu"', '"x86_64-unknown-linux-gnu\\nerror: fake"').encode(),
     "key 'triple'"),
    ("triple-escape", GOOD.replace('"x86_64-unknown-linux-gnu"', '"x86_64-\\u001b[2J-linux-gnu"').encode(),
     "key 'triple'"),
    ("triple-huge", GOOD.replace("x86_64-unknown-linux-gnu", "x86_64-" + "u" * 1_000_000 + "-linux-gnu").encode(),
     "key 'triple'"),
    ("triple-uppercase", GOOD.replace("x86_64-unknown-linux-gnu", "X86_64-unknown-linux-gnu").encode(), "key 'triple'"),
    ("triple-int", GOOD.replace('"x86_64-unknown-linux-gnu"', "5").encode(), "key 'triple': expected a string"),
    ("triple-empty", GOOD.replace('"x86_64-unknown-linux-gnu"', '""').encode(), "key 'triple'"),
    # link stubs and shims: names that become file names
    ("stub-dotdot", good_with('link-stubs = ["../../escape"]').encode(), "key 'link-stubs'"),
    ("stub-absolute", good_with('link-stubs = ["/tmp/escape"]').encode(), "key 'link-stubs'"),
    ("stub-empty", good_with('link-stubs = [""]').encode(), "key 'link-stubs'"),
    ("stub-int", good_with("link-stubs = [1]").encode(), "key 'link-stubs': expected a list of strings"),
    ("shim-dotdot", good_with('link-shims = ["../../../etc/passwd"]').encode(), "key 'link-shims'"),
    ("shim-absolute", good_with('link-shims = ["/etc/passwd"]').encode(), "key 'link-shims'"),
    ("shim-long", good_with(f'link-shims = ["{"s" * 5000}"]').encode(), "key 'link-shims'"),
    ("shim-missing", good_with('link-shims = ["nope"]').encode(), "no shim named 'nope'"),
    # env: names the build passes to cargo
    ("env-equals", good_with('env = { "A=B" = "1" }').encode(), "key 'env'"),
    ("env-empty-key", good_with('env = { "" = "1" }').encode(), "key 'env'"),
    ("env-int", good_with("env = { A = 1 }").encode(), "key 'env': expected string values"),
    ("env-nested", good_with("env = { A = { B = 'c' } }").encode(), "key 'env': expected string values"),
    ("env-nul", good_with('env = { A = "x\\u0000y" }').encode(), "key 'env'"),
    # apt: names .ci/setup hands to apt-get
    ("apt-option", good_with('apt = ["--allow-unauthenticated"]').encode(), "key 'apt'"),
    ("apt-glob", good_with('apt = ["*"]').encode(), "key 'apt'"),
    ("apt-space", good_with('apt = ["gcc; rm -rf /"]').encode(), "key 'apt'"),
    # qemu
    ("qemu-sysroot-int", (QEMU + 'qemu = { program = "qemu-aarch64", sysroot = 5 }\n').encode(), "key 'qemu'"),
    ("qemu-sysroot-relative", (QEMU + 'qemu = { program = "qemu-aarch64", sysroot = "usr" }\n').encode(),
     "key 'qemu'"),
    ("qemu-program-path", (QEMU + 'qemu = { program = "../../bin/sh" }\n').encode(), "key 'qemu'"),
    ("qemu-program-int", (QEMU + "qemu = { program = 1 }\n").encode(), "key 'qemu'"),
    ("qemu-unknown", (QEMU + 'qemu = { program = "qemu-aarch64", cpu = "max" }\n').encode(), "key 'qemu'"),
    ("qemu-list", (QEMU + 'qemu = ["qemu-aarch64"]\n').encode(), "key 'qemu': expected a table"),
    # wrong types and values elsewhere
    ("tags-int", GOOD.replace('["manylinux_2_17_x86_64", "manylinux2014_x86_64"]', "[1]").encode(), "key 'tags'"),
    ("tag-escape", GOOD.replace('"manylinux2014_x86_64"', '"manylinux\\u001b[2J"').encode(), "key 'tags'"),
    ("glibc-int", GOOD.replace('"2.17"', "2.17").encode(), "key 'glibc': expected a string"),
    ("glibc-huge", GOOD.replace('"2.17"', '"2.' + "9" * 5000 + '"').encode(), "key 'glibc'"),
    ("run-table", GOOD.replace('run = "native"', "run = { a = 1 }").encode(), "key 'run': expected a string"),
    ("rustflags-nested", good_with("rustflags = [[1]]").encode(), "key 'rustflags': expected a list of strings"),
    ("cflags-huge", good_with(f'cflags = ["{"-D" * 3000}"]').encode(), "key 'cflags'"),
    ("duplicate", (GOOD + GOOD).encode(), "duplicate triple"),
]


def outside_entries(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*")}


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_a_hostile_matrix_is_one_line_and_writes_nothing(tmp_path: Path, text: bytes, expected: str) -> None:
    home = tmp_path / "a" / "b" / "c"  # escapes of up to three levels would land in tmp_path
    dist = home / "dist"
    dist.mkdir(parents=True)
    (dist / "kept.whl").write_bytes(b"built before")
    (home / "targets.toml").write_bytes(text)
    before = outside_entries(tmp_path)
    for command in (["build", "--all"], ["doctor"], ["apt-packages"]):
        proc = subprocess.run(
            [sys.executable, "-m", "noetl_build", "--root", str(ROOT), "--targets-file", str(home / "targets.toml"),
             "--build-dir", str(home / "build"), "--dist", str(dist), *command],
            cwd=home, capture_output=True, check=False, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 2, (command, err[:2000])
        assert err.startswith("error: ") and err.count("\n") == 1, err[:2000]
        assert expected in err and "Traceback" not in err
        assert "\x1b" not in err and len(err) < 2500, "a message echoes its input raw or whole"
        assert proc.stdout == b""
    assert outside_entries(tmp_path) == before, "something was written outside build/ and dist/"
    assert (dist / "kept.whl").read_bytes() == b"built before" and sorted(os.listdir(dist)) == ["kept.whl"]


def test_the_corpus_is_big_enough_and_distinct() -> None:
    assert len(CORPUS) >= 40
    assert len({c[0] for c in CORPUS}) == len(CORPUS) and len({c[1] for c in CORPUS}) == len(CORPUS)


def test_a_targets_file_that_is_a_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "--root", str(ROOT), "--targets-file", str(tmp_path),
         "--build-dir", str(tmp_path / "build"), "--dist", str(tmp_path / "dist"), "doctor"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "is a directory" in proc.stderr and "Traceback" not in proc.stderr
