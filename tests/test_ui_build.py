"""The web UI sources (ui-src/) and the built UI the server ships (noetl/core/ui/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from noetl.server import paths
from noetl.server.app import create_app

ROOT = Path(__file__).resolve().parents[1]
UI_SRC = ROOT / "ui-src"
BUILT = paths.default_ui_dir()
TEST_IDS = ("health-status", "health-version", "catalog-table", "catalog-row", "playbook-content")

needs_sources = pytest.mark.skipif(not UI_SRC.is_dir(), reason="no ui-src/ (installed package)")


def _package_json() -> dict:
    return json.loads((UI_SRC / "package.json").read_text())


@needs_sources
def test_dependencies_are_pinned_exactly() -> None:
    package = _package_json()
    for section in ("dependencies", "devDependencies"):
        for name, spec in package[section].items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name}@{spec} is not an exact version"


@needs_sources
def test_lockfile_matches_package_json() -> None:
    package = _package_json()
    lock = json.loads((UI_SRC / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert root.get("dependencies", {}) == package["dependencies"]
    assert root.get("devDependencies", {}) == package["devDependencies"]
    for section in ("dependencies", "devDependencies"):
        for name, spec in package[section].items():
            assert lock["packages"]["node_modules/" + name]["version"] == spec


@needs_sources
def test_build_writes_into_the_package() -> None:
    config = (UI_SRC / "vite.config.ts").read_text()
    assert "outDir: '../noetl/core/ui'" in config
    assert "emptyOutDir: true" in config
    assert (UI_SRC / "../noetl/core/ui").resolve() == BUILT


@needs_sources
def test_sources_carry_the_test_ids() -> None:
    source = (UI_SRC / "src" / "App.tsx").read_text()
    for test_id in TEST_IDS:
        assert f'data-testid="{test_id}"' in source


def _check_built_ui_is_served() -> None:
    index = (BUILT / "index.html").read_text()
    with TestClient(create_app(db_path=":memory:"), base_url="http://127.0.0.1") as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.text == index
        assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', index)
        assert any(a.endswith(".js") for a in assets), index
        bundle = ""
        for asset in assets:
            got = client.get("/" + asset)
            assert got.status_code == 200, asset
            bundle += got.text
        for test_id in TEST_IDS:
            assert test_id in bundle
        # relative API URLs: the UI works wherever it is mounted
        assert re.search(r"[\"'`]health[\"'`]", bundle)
        assert not re.search(r"[\"'`]/(health|api/)", bundle)


@pytest.mark.skipif(not (BUILT / "index.html").is_file(), reason="UI not built")
def test_built_ui_is_served() -> None:
    _check_built_ui_is_served()


@pytest.mark.slow
@needs_sources
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_npm_ci_and_build() -> None:
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        proc = subprocess.run(
            command, cwd=UI_SRC, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (BUILT / "index.html").is_file()
    assert not (UI_SRC / "dist").exists()
    _check_built_ui_is_served()
