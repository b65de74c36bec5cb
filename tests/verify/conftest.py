"""Fixtures for verify's tests: good wheels (tests/conftest.py builds them), tiny C programs
compiled with zig to stand in for broken binaries, and verify run on a wheel."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from noetl_build.verify import Report, WheelReport, verify
from tests.conftest import ROOT, build_version

# A program that prints a version, calling clock_gettime (GLIBC_2.17 on x86_64, so that
# a 2.17 build needs exactly the manylinux_2_17 policy) and, with NEW_GLIBC, a function
# glibc 2.34 moved into libc (pthread_create: GLIBC_2.34).
PROGRAM = r"""
#include <stdio.h>
#include <time.h>
#ifdef NEW_GLIBC
#include <pthread.h>
static void *work(void *arg) { return arg; }
#endif
int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
#ifdef NEW_GLIBC
    pthread_t thread;
    pthread_create(&thread, 0, work, 0);
    pthread_join(thread, 0);
#endif
    printf("noetl %s\n", VERSION);
    return 0;
}
"""

Compile = Callable[..., Path]


@pytest.fixture(scope="session")
def compile_c(tmp_path_factory: pytest.TempPathFactory) -> Compile:
    """compile_c(zig_target, version=<the build version>, *flags) -> a binary built by `python -m ziglang cc`."""
    out_dir = tmp_path_factory.mktemp("programs")
    source = out_dir / "program.c"
    source.write_text(PROGRAM)
    built: dict[tuple[str, ...], Path] = {}

    def compile_(zig_target: str, version: str = "", *flags: str) -> Path:
        version = version or build_version()
        key = (zig_target, version, *flags)
        if key not in built:
            out = out_dir / f"program-{len(built)}"
            cmd = [sys.executable, "-m", "ziglang", "cc", "-target", zig_target, "-O2", "-s",
                   f'-DVERSION="{version}"', *flags, "-o", str(out), str(source)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            built[key] = out
        return built[key]

    return compile_


def run_verify(selectors: Sequence[str | Path], dist: Path, **options: object) -> Report:
    layout = Layout.at(ROOT, dist=dist)
    options.setdefault("fresh", True)  # the checks themselves, not an earlier run's memory of them
    return verify([str(s) for s in selectors], layout, load_matrix(layout.targets_file), **options)  # type: ignore[arg-type]


@pytest.fixture
def verify_one(tmp_path: Path) -> Callable[[Path], WheelReport]:
    """Verify one wheel file (every check); the report of that wheel."""

    def run(wheel: Path) -> WheelReport:
        report = run_verify([wheel], tmp_path / "no-dist")
        assert len(report.wheels) == 1
        return report.wheels[0]

    return run


def failures(report: WheelReport) -> dict[str, str]:
    """check -> reason, for the checks that failed."""
    return {r.check: r.detail for r in report.results if r.failed}
