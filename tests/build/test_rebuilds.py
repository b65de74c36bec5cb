"""What a one-line change, another nox session or a moved checkout makes cargo rebuild (issue 21).

Cargo fingerprints RUSTFLAGS and the linker of every unit, std and the dependencies included,
and `cargo rustc -- FLAGS` of the root unit alone. So RUSTFLAGS must not name the checkout or
build/, everything that does goes to noetl's own unit, and cargo-zigbuild (whose linker
wrappers are named after its path) must run from one path for every venv.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from noetl_build import compile as compile_module
from noetl_build.compile import ZigTools, build_environment, cargo_command, install_zigbuild, root_flags
from noetl_build.layout import Layout
from noetl_build.source import COMPILE_EPOCH
from noetl_build.targets import Target, load_matrix
from noetl_build.toolchain import Strategy, ToolchainChoice

from .test_toolchain import fake_toolchain

ROOT = Path(__file__).resolve().parents[2]
MATRIX = load_matrix(ROOT / "targets.toml").targets
ZIGBUILD = b"#!/bin/sh\necho cargo-zigbuild 0.24.0\n"


def tools_in(venv: Path, content: bytes = ZIGBUILD) -> ZigTools:
    """ZigTools of a fake venv whose bin/ holds a cargo-zigbuild with ``content``."""
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "cargo-zigbuild").write_bytes(content)
    (bin_dir / "cargo-zigbuild").chmod(0o755)
    return ZigTools(bin_dir / "python", bin_dir / "cargo-zigbuild", "0.17.1", "cargo-zigbuild 0.24.0",
                    Path("/cargo/bin/cargo-auditable"), "cargo-auditable 0.7.7")


@pytest.fixture()
def choice(tmp_path: Path) -> ToolchainChoice:
    """A toolchain that builds std (the strategy with the most remaps)."""
    return ToolchainChoice(toolchain=fake_toolchain(tmp_path, "debian", source=True), strategy=Strategy.BUILD_STD)


def checkout(tmp_path: Path, name: str) -> Layout:
    """A checkout at tmp_path/name with its own build dir, sharing one user cache."""
    root = tmp_path / name
    (root / "noetlctl").mkdir(parents=True)
    return Layout.at(root, build=root / "build", targets=ROOT / "targets.toml", cache=tmp_path / "cache")


def unit_wide(env: dict[str, str]) -> str:
    """What cargo gives every unit: RUSTFLAGS and the C flags of the crates' build scripts."""
    return " ".join([env["RUSTFLAGS"], *(v for k, v in sorted(env.items()) if k.startswith("CFLAGS_"))])


@pytest.mark.parametrize("target", MATRIX, ids=lambda t: t.name)
def test_rustflags_name_no_checkout_path_and_no_link_input(
    target: Target, tmp_path: Path, choice: ToolchainChoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUSTFLAGS", raising=False)
    layout = checkout(tmp_path, "noetl")
    lane = layout.cargo_lane(choice.key, 1)
    env = build_environment(target, choice, layout, tools_in(tmp_path / "venv"), version="1.0.0", target_dir=lane)
    flags = unit_wide(env)
    assert str(layout.root) not in flags and "link-arg" not in flags and "native=" not in flags, flags
    assert f"--remap-path-prefix={lane}=/target" in env["RUSTFLAGS"], "OUT_DIRs must be remapped"

    own = root_flags(target, layout)
    assert f"--remap-path-prefix={layout.root}=/noetl" in own
    for arg in target.triple.system.link_args:
        assert f"link-arg={arg}" in own
    if target.link_stubs:
        assert f"native={layout.link_stubs(target.name)}" in own
    for name in target.link_shims:
        assert f"link-arg={layout.link_shims(target.name) / name}.o" in own
    command = cargo_command(target, layout, tools_in(tmp_path / "venv"), lane)
    assert command[command.index("--") + 1:] == own, "the root flags reach noetl's unit through `cargo rustc --`"


def test_a_moved_checkout_gives_every_unit_the_same_flags(
    tmp_path: Path, choice: ToolchainChoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUSTFLAGS", raising=False)
    target = next(t for t in MATRIX if t.link_stubs)
    here, there = checkout(tmp_path, "here"), checkout(tmp_path, "a/moved/copy")
    tools = tools_in(tmp_path / "venv")
    env_here = build_environment(target, choice, here, tools, version="1.0.0", target_dir=here.cargo_lane(choice.key, 0))
    env_there = build_environment(target, choice, there, tools, version="1.0.0",
                                  target_dir=there.cargo_lane(choice.key, 0))
    assert unit_wide(env_here) == unit_wide(env_there)
    assert here.cargo_dir(choice.key) == there.cargo_dir(choice.key), "a moved checkout finds cargo's target dir warm"
    # noetl's own unit does see the move: cargo never takes the other checkout's noetl as fresh
    assert root_flags(target, here) != root_flags(target, there)


def test_a_new_commit_gives_cargo_the_same_environment_but_noetls_version(
    tmp_path: Path, choice: ToolchainChoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit moves SOURCE_DATE_EPOCH (the commit's time, which ring's build script tracks) and
    the version (read by noetl's crate alone): cargo sees the version change, not the epoch."""
    layout = checkout(tmp_path, "noetl")
    tools = tools_in(tmp_path / "venv")
    target = next(t for t in MATRIX if t.triple.os == "windows")  # the one whose linker reads the epoch
    envs = []
    for epoch, version in (("1700000000", "1.0.1.dev1+gaaaaaaa"), ("1800000000", "1.0.1.dev2+gbbbbbbb")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)  # what a build of that commit would inherit
        envs.append(build_environment(target, choice, layout, tools, version=version,
                                      target_dir=layout.cargo_lane(choice.key, 0)))
    first, second = envs
    assert first["SOURCE_DATE_EPOCH"] == second["SOURCE_DATE_EPOCH"] == str(COMPILE_EPOCH)
    assert {k for k in first if first[k] != second.get(k)} == {"NOETL_BUILD_VERSION"}


def test_cargo_zigbuild_runs_from_one_path_for_every_venv(tmp_path: Path, choice: ToolchainChoice) -> None:
    layout = checkout(tmp_path, "noetl")
    target = MATRIX[0]
    session_a, session_b = tools_in(tmp_path / ".nox" / "wheel"), tools_in(tmp_path / ".nox" / "build_all")
    lane = layout.cargo_lane(choice.key, 0)
    program_a = cargo_command(target, layout, session_a, lane)[0]
    assert program_a == cargo_command(target, layout, session_b, lane)[0]
    assert Path(program_a).is_relative_to(layout.cache), program_a

    installed = install_zigbuild(layout, session_a)
    assert str(installed) == program_a and installed.read_bytes() == ZIGBUILD
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    inode = installed.stat().st_ino
    assert install_zigbuild(layout, session_b) == installed and installed.stat().st_ino == inode, "same bytes: kept"

    rebuilt = tools_in(tmp_path / ".nox" / "other", ZIGBUILD + b"# another build of 0.24.0\n")
    assert install_zigbuild(layout, rebuilt) == installed
    assert installed.read_bytes() == rebuilt.cargo_zigbuild.read_bytes(), "other bytes: replaced"
    assert os.access(installed, os.X_OK)


def test_cargo_zigbuild_of_another_version_gets_another_path(tmp_path: Path, choice: ToolchainChoice) -> None:
    layout = checkout(tmp_path, "noetl")
    old = tools_in(tmp_path / "old")
    new = ZigTools(old.python, old.cargo_zigbuild, old.zig_version, "cargo-zigbuild 0.25.0", old.auditable,
                   old.auditable_version)
    lane = layout.cargo_lane(choice.key, 0)
    assert cargo_command(MATRIX[0], layout, old, lane)[0] != cargo_command(MATRIX[0], layout, new, lane)[0]


def test_a_build_waits_for_another_using_the_same_cargo_dir(
    tmp_path: Path, choice: ToolchainChoice, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two checkouts share cargo's target dir: the second waits until the first has its binary."""
    here, there = checkout(tmp_path, "here"), checkout(tmp_path, "there")
    target = MATRIX[0]
    entered = threading.Event()

    lane = here.cargo_lane(choice.key, 1)
    assert there.cargo_lane(choice.key, 1) == lane

    def second() -> None:
        with compile_module._cargo_lock(there.cargo_lane(choice.key, 1), target):
            entered.set()

    with compile_module._cargo_lock(lane, target):
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not entered.wait(0.5), "the second build went in while the first held the target dir"
    waiting.join(10)
    assert entered.is_set()
    assert f"{target.name}: waiting for another build using {lane}" in capsys.readouterr().err
