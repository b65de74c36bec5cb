"""Two builds of one commit give the same bytes wherever the checkout lives (issue 10).

The second build runs in a copy of the checkout at another path (a CI runner and a laptop never
share one), with its own build dir and cache (cold cargo, its own UI build), umask 077 and another
time zone, for one target of each binary format: Linux (ELF), macOS thin and universal2 (Mach-O:
the linker's LC_UUID hashes the output, so a path anywhere in it would show), Windows (PE).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from noetl_build.layout import CACHE_ENV

from ..conftest import CI_TARGETS, ROOT, BuiltDist, build_wheels

UNIVERSAL = "universal2-apple-darwin"


def copy_checkout(dest: Path) -> None:
    """What a clone of this checkout holds (tracked and new files, as they are now) and its .git."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet staged is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT / ".git", dest / ".git", symlinks=True)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ of the build in the other checkout."""
    root = tmp_path_factory.mktemp("another-place") / "a" / "longer" / "path" / "noetl"
    copy_checkout(root)
    # its own cargo cache too: the bytes of a build from nothing, not only of a moved checkout's
    env = {**os.environ, "TZ": "Pacific/Chatham", CACHE_ENV: str(root.parent / "cache")}
    env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", sys.executable, "-m", "noetl_build", "build",
         *CI_TARGETS, UNIVERSAL],
        cwd=root, env=env, capture_output=True, text=True, check=False, timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return root / "dist"


@pytest.fixture(scope="module")
def universal_here(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("universal")
    proc = build_wheels(dist, (UNIVERSAL,))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dist


@pytest.mark.parametrize("target", [*CI_TARGETS, UNIVERSAL])
def test_a_build_elsewhere_gives_the_same_bytes(
    target: str, built_dist: BuiltDist, universal_here: Path, elsewhere: Path
) -> None:
    if target == UNIVERSAL:
        (here,) = universal_here.glob("*.whl")
    else:
        here = built_dist.wheel_for(target)
    there = elsewhere / here.name
    assert there.is_file(), sorted(p.name for p in elsewhere.iterdir())
    assert there.read_bytes() == here.read_bytes(), f"{target}: {here.name} differs when built elsewhere"
