"""elfpatch: a weak symbol loses its version, and the version need only it used is dropped (the
ppc64le manylinux_2_17 wheel). Checked on a real program zig links against glibc 2.18, run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from noetl_build.elfpatch import unversion_weak
from noetl_build.errors import ElfPatchError
from noetl_build.verify.binary import ElfFacts, inspect

PROGRAM = r"""
#include <stdio.h>
extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *) __attribute__((weak));
int main(void) { printf("weak symbol %s\n", __cxa_thread_atexit_impl ? "found" : "absent"); return 0; }
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("elfpatch")
    (out / "weak.c").write_text(PROGRAM)
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-gnu.2.18", "-O2",
                    "-o", out / "weak", out / "weak.c"], check=True)
    return out / "weak"


def facts(path: Path) -> ElfFacts:
    found = inspect(path)
    assert isinstance(found, ElfFacts)
    return found


def test_the_weak_symbol_loses_its_version_and_the_need_goes(program: Path, tmp_path: Path) -> None:
    assert facts(program).glibc == (2, 18)
    patched, dropped = unversion_weak(program.read_bytes(), ["__cxa_thread_atexit_impl"])
    assert dropped == ["libc.so.6 GLIBC_2.18"]
    assert len(patched) == program.stat().st_size
    out = tmp_path / "weak"
    out.write_bytes(patched)
    out.chmod(0o755)
    assert facts(out).glibc == (2, 2, 5)  # x86_64's baseline: what a glibc-2.17 loader checks now
    # and on this host's glibc (>= 2.18) the unversioned reference still binds to the symbol
    run = subprocess.run([out], capture_output=True, text=True, check=True)
    assert run.stdout == "weak symbol found\n"
    again, none = unversion_weak(patched, ["__cxa_thread_atexit_impl"])
    assert again == patched and none == []


@pytest.mark.parametrize(
    ("symbol", "message"),
    [("printf", "is not a weak undefined symbol"), ("no_such_symbol", "no dynamic symbol 'no_such_symbol'")],
)
def test_refuses_what_it_must_not_touch(program: Path, symbol: str, message: str) -> None:
    with pytest.raises(ElfPatchError, match=message):
        unversion_weak(program.read_bytes(), [symbol])


def test_refuses_a_static_binary(tmp_path: Path) -> None:
    source = tmp_path / "plain.c"
    source.write_text("int main(void) { return 0; }\n")
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-musl", "-static",
                    "-o", tmp_path / "plain", source], check=True)
    with pytest.raises(ElfPatchError, match="no dynamic symbol versions"):
        unversion_weak((tmp_path / "plain").read_bytes(), ["__cxa_thread_atexit_impl"])
