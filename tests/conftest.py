"""Shared fixtures: real wheels built by the pipeline, once per test session.

The build reuses the repository's build/ cache (so after `nox -s build_all` it is quick)
but writes to a temporary dist/, leaving the user's dist/ alone.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# One target per OS family: what the integration tests build for real.
CI_TARGETS = ("x86_64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-pc-windows-gnu")
HOST_TARGET = "x86_64-unknown-linux-gnu"


@functools.cache
def build_version() -> str:
    """The version a build of this checkout gets (what every built artifact must carry)."""
    from noetl_build.version import build_version as derive

    return derive(ROOT)


@dataclass(frozen=True)
class BuiltDist:
    path: Path
    manifest: dict
    output: str  # what the build printed (table included)

    def wheel_for(self, target: str) -> Path:
        for row in self.manifest["wheels"]:
            if row["target"] == target:
                return self.path / row["wheel"]
        raise KeyError(f"{target} was not built; built: {[r['target'] for r in self.manifest['wheels']]}")


def build_wheels(dist: Path, targets: tuple[str, ...], *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real build CLI, as `nox -s wheel` does."""
    return subprocess.run(
        [sys.executable, "-m", "noetl_build", "--dist", str(dist), *extra, "build", *targets],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )


@pytest.fixture(scope="session")
def built_dist(tmp_path_factory: pytest.TempPathFactory) -> BuiltDist:
    dist = tmp_path_factory.mktemp("dist")
    proc = build_wheels(dist, ("--jobs", "2", *CI_TARGETS))  # in lanes at once, on one core too
    assert proc.returncode == 0, f"build failed:\n{proc.stdout}\n{proc.stderr}"
    manifest = json.loads((dist / "manifest.json").read_text())
    return BuiltDist(dist, manifest, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def host_wheel(built_dist: BuiltDist) -> Path:
    """The wheel built for this host (x86_64 Linux, manylinux)."""
    return built_dist.wheel_for(HOST_TARGET)


def write_targets_file(path: Path, names: tuple[str, ...]) -> Path:
    """A targets.toml holding just the named targets of the real one, as they are written there."""
    import re

    head, *tables = (ROOT / "targets.toml").read_text().split("[[target]]")
    kept = [t for t in tables if (m := re.search(r'^triple = "([^"]+)"', t, re.M)) and m.group(1) in names]
    assert len(kept) == len(names), f"not all of {names} are in targets.toml"
    path.write_text(head + "".join("[[target]]" + t for t in kept))
    return path
