"""What a wheel's platform tags promise (claim.py)."""

from __future__ import annotations

import pytest

from noetl_build.platforms import canonical
from noetl_build.verify.claim import ClaimError, claim_of


@pytest.mark.parametrize(
    ("tags", "family", "arch", "version"),
    [
        (["manylinux2014_x86_64", "manylinux_2_17_x86_64"], "manylinux", "x86_64", (2, 17)),
        (["manylinux_2_24_ppc64le"], "manylinux", "powerpc64le", (2, 24)),
        (["manylinux_2_17_armv7l"], "manylinux", "armv7", (2, 17)),
        (["musllinux_1_2_aarch64"], "musllinux", "aarch64", (1, 2)),
        (["macosx_11_0_arm64"], "macosx", "aarch64", (11, 0)),
        (["macosx_10_12_universal2"], "macosx", "universal2", (10, 12)),
        (["win_amd64"], "win", "x86_64", None),
        (["win32"], "win", "i686", None),
        (["win_arm64"], "win", "aarch64", None),
        (["linux_armv6l"], "linux", "arm", None),
        (["manylinux_2_31_riscv64"], "manylinux", "riscv64gc", (2, 31)),
        (["musllinux_1_2_ppc64le"], "musllinux", "powerpc64le", (1, 2)),
    ],
)
def test_claim_of_known_tags(tags: list[str], family: str, arch: str, version: tuple[int, int] | None) -> None:
    claim = claim_of(tags)
    assert (claim.family.name, claim.arch.name, claim.version) == (family, arch, version)


def test_the_lowest_version_is_the_claim() -> None:
    assert claim_of(["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"]).version == (2, 17)


def test_universal2_claims_both_slices() -> None:
    assert [a.name for a in claim_of(["macosx_10_12_universal2"]).slices] == ["x86_64", "aarch64"]
    assert [a.name for a in claim_of(["macosx_11_0_arm64"]).slices] == ["aarch64"]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["manylinux_2_17_x86_64", "manylinux_2_17_aarch64"], "disagree"),
        (["manylinux_2_17_x86_64", "musllinux_1_2_x86_64"], "disagree"),
        (["linux_x86_64"], "not a platform tag"),  # PyPI takes bare linux tags for armv6l/armv7l only
        (["manylinux_2_17_mips64"], "no architecture in platforms.toml"),
        (["linux_armv6l", "manylinux_2_17_armv7l"], "disagree"),
        ([], "no platform tag"),
    ],
)
def test_claim_of_bad_tags(tags: list[str], message: str) -> None:
    with pytest.raises(ClaimError, match=message):
        claim_of(tags)


def test_canonical_spells_legacy_aliases_the_pep600_way() -> None:
    assert canonical("manylinux2014_aarch64") == "manylinux_2_17_aarch64"
    assert canonical("manylinux1_x86_64") == "manylinux_2_5_x86_64"
    assert canonical("musllinux_1_2_x86_64") == "musllinux_1_2_x86_64"
