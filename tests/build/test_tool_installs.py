"""pipx install, uv tool install and uvx against an index (issue 18): what a failure reports.

Their success is proven by the release rehearsal (tests/build/test_publish.py), which runs all
three against its index of the built release."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from noetl_build.tool_installs import tool_installs
from noetl_build.verify.execution import clean_environment


@pytest.fixture
def empty_index(tmp_path: Path):
    """A simple index on 127.0.0.1 that knows no project at all."""
    (tmp_path / "www" / "simple").mkdir(parents=True)
    (tmp_path / "www" / "simple" / "index.html").write_text("<!DOCTYPE html><html><body></body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_each_installer_that_finds_nothing_fails_with_its_reason(empty_index: str, tmp_path: Path) -> None:
    env = clean_environment()
    env.update(HOME=str(tmp_path / "home"), PIP_CONFIG_FILE="/dev/null", PIP_RETRIES="0")
    results = tool_installs(empty_index, "9.9.9", tmp_path / "tools", env)
    assert [r.name for r in results] == ["pipx", "uv tool", "uvx"]
    for result in results:
        assert not result.ok, result
        assert "\n" not in result.detail
    assert results[0].detail.startswith("pipx install: exit ")
    assert results[1].detail.startswith("uv tool install: exit ")
    assert results[2].detail.startswith("uvx --from noetl==X noetl --version (uv tool run): exit ")
    assert not (tmp_path / "tools" / "pipx" / "bin" / "noetl").exists()
