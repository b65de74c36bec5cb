"""Toolchain choice: prebuilt std first, then std from source, else both remedies."""

from __future__ import annotations

from pathlib import Path

import pytest

from noetl_build.errors import ToolchainError
from noetl_build.targets import load_matrix
from noetl_build.toolchain import Toolchain, choose

ROOT = Path(__file__).resolve().parents[2]


def fake_toolchain(root: Path, name: str, *, std: tuple[str, ...] = (), source: bool = False) -> Toolchain:
    sysroot = root / name
    for target in std:
        lib = sysroot / "lib" / "rustlib" / target / "lib"
        lib.mkdir(parents=True)
        (lib / "libstd-0123.rlib").write_bytes(b"")
    if source:
        std_src = sysroot / "lib" / "rustlib" / "src" / "rust" / "library" / "std"
        std_src.mkdir(parents=True)
        (std_src / "Cargo.toml").write_text("[package]\n")
    return Toolchain(
        name=f"rustup:{name}", rustc=sysroot / "bin/rustc", cargo=sysroot / "bin/cargo",
        sysroot=sysroot, version=f"rustc ({name})", verbose_version=name,
    )


@pytest.fixture(scope="module")
def targets() -> dict:
    return {t.name: t for t in load_matrix(ROOT / "targets.toml").targets}


def test_prebuilt_std_wins_over_source(tmp_path: Path, targets: dict) -> None:
    with_source = fake_toolchain(tmp_path, "debian", source=True)
    with_std = fake_toolchain(tmp_path, "stable", std=("x86_64-apple-darwin",))
    choice = choose(targets["x86_64-apple-darwin"], (with_source, with_std))
    assert (choice.toolchain, choice.strategy) == (with_std, "prebuilt-std")


def test_source_is_the_fallback(tmp_path: Path, targets: dict) -> None:
    host_only = fake_toolchain(tmp_path, "stable", std=("x86_64-unknown-linux-gnu",))
    with_source = fake_toolchain(tmp_path, "debian", source=True)
    choice = choose(targets["x86_64-pc-windows-gnu"], (host_only, with_source))
    assert (choice.toolchain, choice.strategy) == (with_source, "build-std")


def test_universal2_needs_both_slices(tmp_path: Path, targets: dict) -> None:
    half = fake_toolchain(tmp_path, "half", std=("x86_64-apple-darwin",))
    both = fake_toolchain(tmp_path, "both", std=("x86_64-apple-darwin", "aarch64-apple-darwin"))
    assert choose(targets["universal2-apple-darwin"], (half, both)).toolchain == both
    with pytest.raises(ToolchainError):
        choose(targets["universal2-apple-darwin"], (half,))


def test_nothing_usable_names_both_remedies(tmp_path: Path, targets: dict) -> None:
    host_only = fake_toolchain(tmp_path, "stable", std=("x86_64-unknown-linux-gnu",))
    with pytest.raises(ToolchainError) as info:
        choose(targets["aarch64-apple-darwin"], (host_only,))
    message = str(info.value)
    assert "rustup target add aarch64-apple-darwin" in message
    assert "rust-web-src" in message and "rust-src" in message
    assert "\n" not in message


def test_universal2_slices_get_their_own_minimum_macos(targets: dict) -> None:
    from noetl_build.compile import slice_targets

    slices = {s.name: s for s in slice_targets(targets["universal2-apple-darwin"])}
    assert set(slices) == {"x86_64-apple-darwin", "aarch64-apple-darwin"}
    assert slices["x86_64-apple-darwin"].macos == (10, 12)
    assert slices["aarch64-apple-darwin"].macos == (11, 0)  # arm64 macOS starts at 11.0
    assert slices["aarch64-apple-darwin"].raw["triple"] == "aarch64-apple-darwin"
