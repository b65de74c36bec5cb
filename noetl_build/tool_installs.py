"""How people install a command-line tool, against the rehearsal's index on 127.0.0.1:
``pipx install``, ``uv tool install`` and ``uvx`` (``uv tool run``), each in directories of its own.

    tool_installs(index, version, where, env) -> list[ToolInstall]

Each gives a working ``noetl`` when ``noetl --version`` through what the tool put on the user's
PATH says the release's version; for the two that keep an environment, the noetl wheel in it is
named (its WHEEL tags). pipx runs from this interpreter (requirements/release.txt pins it), uv
is the verify session's pinned binary; neither reads any configuration of this host's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .procs import Captured, capture

TIMEOUT = 600  # one tool's install from the local index


@dataclass(frozen=True)
class ToolInstall:
    name: str
    ok: bool
    detail: str


def tool_installs(index: str, version: str, where: Path, env: dict[str, str]) -> list[ToolInstall]:
    """pipx, uv tool install, uvx: ``index`` is the simple index URL; ``env`` a clean user's environment."""
    runs: list[tuple[str, Callable[[str, str, Path, dict[str, str]], ToolInstall]]] = [
        ("pipx", _pipx), ("uv tool", _uv_tool), ("uvx", _uvx)]
    return [run(index, version, where / name.replace(" ", "-"), dict(env)) for name, run in runs]


def _pipx(index: str, version: str, where: Path, env: dict[str, str]) -> ToolInstall:
    bin_dir = where / "bin"
    env.update(PIPX_HOME=str(where / "home"), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(where / "man"),
               USE_EMOJI="0")
    installed = capture([sys.executable, "-m", "pipx", "install", "--index-url", index, f"noetl=={version}"],
                        env=env, timeout=TIMEOUT, log=where / "install.log")
    if not installed.ok:
        return ToolInstall("pipx", False, f"pipx install: {installed.failure()}")
    return _judge("pipx", bin_dir / "noetl", version, env, where / "home" / "venvs" / "noetl", how="pipx install")


def _uv_tool(index: str, version: str, where: Path, env: dict[str, str]) -> ToolInstall:
    from .verify.execution import uv_binary

    bin_dir = where / "bin"
    env.update(UV_TOOL_DIR=str(where / "tools"), UV_TOOL_BIN_DIR=str(bin_dir), UV_CACHE_DIR=str(where / "cache"),
               UV_PYTHON_DOWNLOADS="never")
    installed = capture([uv_binary(), "tool", "install", "--no-config", "--index-url", index, "--python", sys.executable,
                         f"noetl=={version}"], env=env, timeout=TIMEOUT, log=where / "install.log")
    if not installed.ok:
        return ToolInstall("uv tool", False, f"uv tool install: {installed.failure()}")
    return _judge("uv tool", bin_dir / "noetl", version, env, where / "tools" / "noetl", how="uv tool install")


def _uvx(index: str, version: str, where: Path, env: dict[str, str]) -> ToolInstall:
    from .verify.execution import uv_binary

    env.update(UV_TOOL_DIR=str(where / "tools"), UV_CACHE_DIR=str(where / "cache"), UV_PYTHON_DOWNLOADS="never")
    where.mkdir(parents=True, exist_ok=True)
    said = capture([uv_binary(), "tool", "run", "--no-config", "--index-url", index, "--python", sys.executable,
                    "--from", f"noetl=={version}", "noetl", "--version"], env=env, timeout=TIMEOUT)
    return _said("uvx", said, version, how="uvx --from noetl==X noetl --version (uv tool run)")


def _judge(name: str, noetl: Path, version: str, env: dict[str, str], venv: Path, *, how: str) -> ToolInstall:
    said = capture([noetl, "--version"], env=env, timeout=60)
    verdict = _said(name, said, version, how=f"{how}, then {noetl.name} --version")
    if not verdict.ok:
        return verdict
    return ToolInstall(name, True, f"{verdict.detail}; {_installed_wheel(venv)}")


def _said(name: str, said: Captured, version: str, *, how: str) -> ToolInstall:
    expected = f"noetl {version}"
    if not said.ok:
        return ToolInstall(name, False, f"{how}: {said.failure()}")
    if said.stdout.strip() != expected:
        shown = " ".join(said.stdout.split())[:120]
        return ToolInstall(name, False, f"{how}: printed {shown!r}, expected {expected!r}")
    return ToolInstall(name, True, f"{how}: {expected}")


def _installed_wheel(venv: Path) -> str:
    """'installed the <tags> wheel', read from the noetl dist-info in ``venv``."""
    from .wheelfile import installed_tags

    found = sorted(venv.glob("lib/python*/site-packages/noetl-*.dist-info"))
    if len(found) != 1:
        return f"no single noetl dist-info in {venv}"
    tags = installed_tags(found[0].parent, found[0].name)
    return f"installed the {' '.join(sorted(tags)) or '?'} wheel"
