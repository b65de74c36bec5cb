"""The zip checks (checks_common.py) on hand-made wheels: RECORD, WHEEL, modes, tags, paths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build.verify.checks_common import (
    check_build_paths, check_modes, check_record, check_tags, check_wheel_metadata,
)
from noetl_build.verify.results import FAIL, PASS
from noetl_build.wheelfile import Member, RecordRow, record_hash

from .fakes import DIST_INFO, context

RECORD = f"{DIST_INFO}/RECORD"
WHEEL = f"{DIST_INFO}/WHEEL"
FILES = {"noetl/__init__.py": b"x = 1\n", "noetl/bin/noetl": b"\x7fELF...", WHEEL: b"Wheel-Version: 1.0\n"}
GOOD_HEADERS = (("Wheel-Version", "1.0"), ("Root-Is-Purelib", "false"), ("Tag", "py3-none-manylinux_2_17_x86_64"))


def members(modes: dict[str, int] | None = None) -> tuple[Member, ...]:
    modes = modes or {}
    made = [
        Member(name, modes.get(name, 0o100755 if name.endswith("/noetl") else 0o100644), len(data), record_hash(data))
        for name, data in FILES.items()
    ]
    return (*made, Member(RECORD, 0o100644, 100, "sha256=whatever"))


def rows(**changes: RecordRow | None) -> tuple[RecordRow, ...]:
    made = {name: RecordRow(name, record_hash(data), str(len(data))) for name, data in FILES.items()}
    for name, row in changes.items():
        key = name.replace("__", "/")
        made.pop(key, None) if row is None else made.__setitem__(key, row)
    return (*made.values(), RecordRow(RECORD, "", ""))


def test_record_good() -> None:
    result = check_record(context(members=members(), record=rows()))
    assert result.status == PASS and result.detail == "3 files, sha256 and size match"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (rows(noetl__bin__noetl=None), "noetl/bin/noetl is not listed"),
        (rows(noetl__bin__noetl=RecordRow("noetl/bin/noetl", "sha256=AAAA", "7")), "noetl/bin/noetl: sha256 does not match the file"),
        (rows(noetl__bin__noetl=RecordRow("noetl/bin/noetl", "md5=AAAA", "7")), "has no sha256 ('md5=AAAA')"),
        (rows(noetl__bin__noetl=RecordRow("noetl/bin/noetl", record_hash(FILES["noetl/bin/noetl"]), "99")), "size 99 in RECORD, 7 in the zip"),
        ((*rows(), RecordRow("noetl/gone.py", "sha256=AAAA", "1")), "noetl/gone.py is listed but not in the zip"),
        ((*rows(), rows()[0]), "noetl/__init__.py is listed 2 times"),
    ],
)
def test_record_problems(record: tuple[RecordRow, ...], message: str) -> None:
    result = check_record(context(members=members(), record=record))
    assert result.status == FAIL and message in result.detail, result


def test_record_missing() -> None:
    result = check_record(context(members=members()[:-1]))
    assert result.status == FAIL and "no noetl-0.1.0.dist-info/RECORD" in result.detail


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (GOOD_HEADERS, ""),
        ((*GOOD_HEADERS[:1], ("Root-Is-Purelib", "true"), *GOOD_HEADERS[2:]), "Root-Is-Purelib is true, expected false"),
        (GOOD_HEADERS[::2], "Root-Is-Purelib is missing"),
        ((("Wheel-Version", "2.0"), *GOOD_HEADERS[1:]), "Wheel-Version is 2.0"),
        ((*GOOD_HEADERS[:2], ("Tag", "py3-none-manylinux_2_17_aarch64")),
         "not in the filename: py3-none-manylinux_2_17_aarch64; missing: py3-none-manylinux_2_17_x86_64"),
        ((*GOOD_HEADERS, GOOD_HEADERS[2]), "a Tag line is repeated"),
    ],
)
def test_wheel_metadata(headers: tuple[tuple[str, str], ...], message: str) -> None:
    result = check_wheel_metadata(context(members=members(), headers=headers))
    if message:
        assert result.status == FAIL and message in result.detail, result
    else:
        assert result.status == PASS, result


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ({}, ""),
        ({"noetl/bin/noetl": 0o100644}, "noetl/bin/noetl is 0644, expected 0755 (not executable)"),
        ({"noetl/__init__.py": 0o100664}, "noetl/__init__.py is 0664, expected 0644"),
        ({"noetl/__init__.py": 0o100755}, "noetl/__init__.py is 0755, expected 0644"),
        ({"noetl/bin/noetl": 0o120755}, "noetl/bin/noetl is not a regular file (lrwxr-xr-x)"),
        ({"noetl/__init__.py": 0}, "noetl/__init__.py carries no Unix mode"),
    ],
)
def test_modes(modes: dict[str, int], message: str) -> None:
    result = check_modes(context(members=members(modes)))
    if message:
        assert result.status == FAIL and message in result.detail, result
    else:
        assert result.status == PASS and result.detail == "noetl/bin/noetl 0755, 3 others 0644", result


def test_tags_against_targets_toml() -> None:
    good = check_tags(context(("manylinux2014_x86_64", "manylinux_2_17_x86_64"), target_name="x86_64-unknown-linux-gnu"))
    assert good.status == PASS
    old = check_tags(context(("macosx_10_9_x86_64",), target_name="x86_64-apple-darwin"))
    assert old.status == FAIL and "tagged macosx_10_9_x86_64, but targets.toml gives x86_64-apple-darwin macosx_10_12_x86_64" in old.detail
    nobody = check_tags(context(("manylinux_2_17_riscv64",)))
    assert nobody.status == FAIL and "no target in targets.toml is tagged manylinux_2_17_riscv64" in nobody.detail


def test_build_paths(tmp_path: Path) -> None:
    binary = tmp_path / "noetl"
    ctx = replace(context(), binary=binary, build_paths=("/home/builder", "/srv/repo"))
    binary.write_bytes(b"\0/rustc/abc/library/std/src/lib.rs\0/cargo/registry/x.rs\0/home/builderish\0")
    assert check_build_paths(ctx).status == PASS
    binary.write_bytes(b"\0panicked at /srv/repo/noetlctl/src/main.rs:3\0\xff")
    result = check_build_paths(ctx)
    assert result.status == FAIL and "/srv/repo/noetlctl/src/main.rs:3" in result.detail
