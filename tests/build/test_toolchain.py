"""Toolchain choice: prebuilt std first, then std from source, else both remedies."""

from __future__ import annotations

from pathlib import Path

import pytest

from noetl_build.errors import ToolchainError
from noetl_build.targets import load_matrix
from noetl_build.toolchain import Toolchain, choose, plan

ROOT = Path(__file__).resolve().parents[2]


def fake_toolchain(root: Path, name: str, *, std: tuple[str, ...] = (), source: bool = False,
                   release: str = "1.96.0", commit: str = "ac68faa20c58cbccd01ee7208bf3b6e93a7d7f96") -> Toolchain:
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
        sysroot=sysroot, version=f"rustc {release} ({name})",
        verbose_version=f"rustc {release}\nrelease: {release}\ncommit-hash: {commit}\nhost: x86_64-unknown-linux-gnu",
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


# --- one compiler per run -------------------------------------------------------------------

HOST = "x86_64-unknown-linux-gnu"


def test_one_toolchain_builds_the_whole_matrix_even_the_host(tmp_path: Path, targets: dict) -> None:
    """rustup's stable has the host's std only; Debian's rustc-web has it too, and std's source:
    every target, the host's included, gets Debian's (prebuilt std for the host, build-std elsewhere)."""
    rustup = fake_toolchain(tmp_path, "stable", std=(HOST,), release="1.95.0", commit="59807616e" + "0" * 31)
    debian = fake_toolchain(tmp_path, "debian", std=(HOST,), source=True)
    everything = list(targets.values())
    chosen = plan(everything, matrix=everything, toolchains=(rustup, debian))
    assert chosen.shared == debian and not chosen.errors
    assert {c.toolchain for c in chosen.choices.values()} == {debian}
    assert chosen.choices[HOST].strategy == "prebuilt-std"
    assert {c.strategy for name, c in chosen.choices.items() if name != HOST} == {"build-std"}
    assert chosen.compilers == [{"rustc": "1.96.0", "commit-hash": debian.compiler["commit-hash"],
                                 "host": HOST}]
    # building the host alone later still gets the matrix's compiler, not rustup's
    alone = plan([targets[HOST]], matrix=everything, toolchains=(rustup, debian))
    assert alone.choice(targets[HOST]).toolchain == debian
    # without the matrix, the host alone is rustup's (the first that can build what was asked)
    assert plan([targets[HOST]], toolchains=(rustup, debian)).choice(targets[HOST]).toolchain == rustup


def test_a_prebuilt_std_naming_its_source_path_is_built_instead(tmp_path: Path, targets: dict) -> None:
    """Debian's rustc-web: its host std was built in place and names /usr/src/rustc-X/library/...
    (our remaps cannot reach an rlib's paths), so even the host target gets build-std."""
    debian = fake_toolchain(tmp_path, "debian", std=(HOST,), source=True)
    (rlib,) = (debian.sysroot / "lib" / "rustlib" / HOST / "lib").glob("libstd-*.rlib")
    rlib.write_bytes(b"\0panicked at " + str(debian.std_source.resolve()).encode() + b"/library/alloc/src/slice.rs\0")
    assert not debian.clean_std(HOST) and debian.has_std(HOST)
    everything = list(targets.values())
    assert plan(everything, matrix=everything, toolchains=(debian,)).choice(targets[HOST]).strategy == "build-std"
    assert choose(targets[HOST], (debian,)).strategy == "build-std"
    # without std's source to build from, the prebuilt one is still better than nothing
    bare = fake_toolchain(tmp_path, "bare", std=(HOST,))
    (rlib,) = (bare.sysroot / "lib" / "rustlib" / HOST / "lib").glob("libstd-*.rlib")
    rlib.write_bytes(str(bare.std_source.resolve()).encode() + b"/library/core/src/lib.rs")
    assert choose(targets[HOST], (bare,)).strategy == "prebuilt-std"


def test_a_released_compiler_is_preferred_to_nightly(tmp_path: Path, targets: dict) -> None:
    nightly = fake_toolchain(tmp_path, "nightly", std=(HOST,), source=True, release="1.97.0-nightly")
    debian = fake_toolchain(tmp_path, "debian", std=(HOST,), source=True)
    everything = list(targets.values())
    assert plan(everything, matrix=everything, toolchains=(nightly, debian)).shared == debian


def test_without_one_toolchain_for_all_each_target_gets_its_own(tmp_path: Path, targets: dict) -> None:
    rustup = fake_toolchain(tmp_path, "stable", std=(HOST,), release="1.95.0", commit="5" * 40)
    macos = fake_toolchain(tmp_path, "macos", std=("x86_64-apple-darwin",))
    chosen = plan([targets[HOST], targets["x86_64-apple-darwin"], targets["aarch64-apple-darwin"]],
                  toolchains=(rustup, macos))
    assert chosen.shared is None
    assert chosen.choice(targets[HOST]).toolchain == rustup
    assert chosen.choice(targets["x86_64-apple-darwin"]).toolchain == macos
    assert len(chosen.compilers) == 2
    with pytest.raises(ToolchainError, match="rustup target add aarch64-apple-darwin"):
        chosen.choice(targets["aarch64-apple-darwin"])  # fails that target alone


def test_targets_toml_can_pin_a_targets_rustc(tmp_path: Path, targets: dict) -> None:
    from dataclasses import replace

    rustup = fake_toolchain(tmp_path, "stable", std=(HOST,), release="1.95.0", commit="5" * 40)
    debian = fake_toolchain(tmp_path, "debian", std=(HOST,), source=True)
    pinned = replace(targets[HOST], rustc="1.95")
    other = targets["aarch64-unknown-linux-gnu"]
    chosen = plan([pinned, other], matrix=[pinned, other], toolchains=(rustup, debian))
    assert chosen.choice(pinned).toolchain == rustup and chosen.choice(other).toolchain == debian
    assert len(chosen.compilers) == 2
    missing = plan([replace(targets[HOST], rustc="1.80.0"), other], toolchains=(rustup, debian))
    assert missing.choice(other).toolchain == debian
    with pytest.raises(ToolchainError) as info:
        missing.choice(replace(targets[HOST], rustc="1.80.0"))
    message = str(info.value)
    assert message.startswith(f"{HOST}: targets.toml asks for rustc 1.80.0 and no toolchain here is that release")
    assert "1.95.0 [rustup:stable], 1.96.0 [rustup:debian]" in message and "\n" not in message


def test_a_release_is_matched_by_its_prefix(tmp_path: Path) -> None:
    toolchain = fake_toolchain(tmp_path, "stable", release="1.95.0")
    assert toolchain.matches("1.95") and toolchain.matches("1.95.0")
    assert not toolchain.matches("1.9") and not toolchain.matches("1.95.1")



def test_the_plan_describes_its_compilers(tmp_path: Path, targets: dict) -> None:
    rustup = fake_toolchain(tmp_path, "stable", std=(HOST,), release="1.95.0", commit="5" * 40)
    debian = fake_toolchain(tmp_path, "debian", std=(HOST,), source=True)
    everything = list(targets.values())
    one = plan(everything, matrix=everything, toolchains=(rustup, debian))
    assert not one.mixed and one.describe() == "rustc 1.96.0 (ac68faa20c58) [rustup:debian]"
    macos = fake_toolchain(tmp_path, "macos", std=("x86_64-apple-darwin",))
    two = plan([targets[HOST], targets["x86_64-apple-darwin"]], toolchains=(rustup, macos))
    assert two.mixed
    assert two.describe() == "2 compilers (rustc 1.95.0 (555555555555), rustc 1.96.0 (ac68faa20c58))"
    assert plan([targets["aarch64-apple-darwin"]], toolchains=(rustup,)).describe() == ""


def test_a_triple_no_toolchain_knows_fails_alone_naming_the_nearest(tmp_path: Path, targets: dict) -> None:
    """A typo in targets.toml's triple (still a well-formed one) fails that target at the plan, in
    one line, not as cargo-zigbuild's exit status; the others keep the matrix's toolchain."""
    from dataclasses import replace

    from noetl_build.platforms import Triple

    known = frozenset(targets) | {"aarch64-apple-darwin", "x86_64-unknown-linux-gnux32"}
    debian = replace(fake_toolchain(tmp_path, "debian", std=(HOST,), source=True), targets=known)
    typo = replace(targets[HOST], triple=Triple.parse("x86_64-unknown-linux-gnux"))
    everything = [*targets.values(), typo]
    chosen = plan(everything, matrix=everything, toolchains=(debian,))
    assert chosen.shared == debian
    assert set(chosen.errors) == {typo.name}
    with pytest.raises(ToolchainError) as caught:
        chosen.choice(typo)
    message = str(caught.value)
    assert message == ("x86_64-unknown-linux-gnux: no Rust toolchain here knows the target 'x86_64-unknown-linux-gnux' "
                       "(rustc --print target-list) (did you mean 'x86_64-unknown-linux-gnu'?): correct the triple "
                       "in targets.toml")
    assert plan([targets[HOST]], toolchains=(replace(debian, targets=None),)).errors == {}, "no list: not checked"


def test_a_real_toolchain_lists_its_targets() -> None:
    from noetl_build.toolchain import discover

    found = discover()
    if not found:
        pytest.skip("no Rust toolchain on this machine")
    assert all(tc.targets and HOST in tc.targets and "aarch64-pc-windows-gnullvm" in tc.targets for tc in found)
