"""Cache keys come from what runs: the cargo command, its environment and the code deciding them."""

from __future__ import annotations

from pathlib import Path

import pytest

from noetl_build.compile import ZigTools, binary_fingerprint, build_environment, cargo_command
from noetl_build.fingerprint import code_digest
from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from noetl_build.toolchain import Strategy, ToolchainChoice

from .test_toolchain import fake_toolchain

ROOT = Path(__file__).resolve().parents[2]


def write_package(root: Path, **modules: str) -> Path:
    package = root / "pkg"
    package.mkdir(exist_ok=True)
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text)
    return package


def test_code_digest_follows_imports_and_nothing_else(tmp_path: Path) -> None:
    package = write_package(tmp_path, step="from .helper import x\n", helper="x = 1\n", other="y = 1\n")
    step = package / "step.py"
    key = code_digest.__wrapped__(step, package)

    (package / "other.py").write_text("y = 2\n")
    assert code_digest.__wrapped__(step, package) == key, "a module the step does not import counts"

    (package / "helper.py").write_text("x = 2\n")
    changed = code_digest.__wrapped__(step, package)
    assert changed != key, "an imported module's edit must change the key"

    (package / "table.toml").write_text("a = 1\n")
    assert code_digest.__wrapped__(step, package) != changed, "the package's data files count"


def test_code_digest_follows_from_dot_import_module(tmp_path: Path) -> None:
    package = write_package(tmp_path, step="from . import helper\n", helper="x = 1\n")
    key = code_digest.__wrapped__(package / "step.py", package)
    (package / "helper.py").write_text("x = 2\n")
    assert code_digest.__wrapped__(package / "step.py", package) != key


@pytest.fixture()
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """binary_fingerprint for a real target with a fake toolchain, for a venv at ``venv``."""
    target = next(t for t in load_matrix(ROOT / "targets.toml").targets if t.name == "x86_64-unknown-linux-gnu")
    choice = ToolchainChoice(toolchain=fake_toolchain(tmp_path, "stable", std=(target.name,)), strategy=Strategy.PREBUILT_STD)
    layout = Layout.at(ROOT, build=tmp_path / "build", cache=tmp_path / "cache")
    monkeypatch.delenv("RUSTFLAGS", raising=False)

    def key(venv: str = "/venvs/a/bin", lane: int = 0, **env: str) -> str:
        tools = ZigTools(Path(venv) / "python", Path(venv) / "cargo-zigbuild", "0.14.1", "cargo-zigbuild 0.20.1",
                         Path("/cargo/bin/cargo-auditable"), "cargo-auditable 0.7.7")
        target_dir = layout.cargo_lane(choice.key, lane)
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            environment = build_environment(target, choice, layout, tools, version="1.0.0", target_dir=target_dir)
            return binary_fingerprint(target, choice, layout, tools, cargo_command(target, layout, tools, target_dir),
                                      environment, target_dir)

    return key


def test_binary_key_ignores_what_does_not_reach_the_compiler(keyed) -> None:
    base = keyed()
    assert keyed(TERM="dumb", VIRTUAL_ENV="/elsewhere", NOX_CURRENT_SESSION="wheel") == base
    assert keyed(venv="/venvs/other-session/bin") == base, "each nox session's venv must share the cache"
    assert keyed(lane=1) == base, "a triple that moves lanes (its cache removed) keeps its binary"


@pytest.mark.parametrize("name", ["CARGO_PROFILE_RELEASE_LTO", "RUSTC_WRAPPER", "CFLAGS", "CC", "ZIG_GLOBAL_CACHE_DIR"])
def test_binary_key_follows_what_the_compiler_gets(keyed, name: str) -> None:
    assert keyed(**{name: "-something"}) != keyed()



def test_an_inherited_rustflags_is_replaced_so_it_is_not_keyed(keyed) -> None:
    """build_environment sets RUSTFLAGS itself: the caller's never reaches cargo."""
    assert keyed(RUSTFLAGS="-C opt-level=0") == keyed()
    # cargo would prefer this one to RUSTFLAGS: it is dropped, so it neither reaches cargo nor the key
    assert keyed(CARGO_ENCODED_RUSTFLAGS="-Copt-level=0") == keyed()
