"""CI shards: the strategy matrix from targets.toml, and gather merging the shards' dist/ parts.

The matrix tests and the synthetic-part tests are quick. The gather tests marked slow build two
real shard outputs (x86_64 Linux, x86_64 Windows; quick on a warm build/ cache), gather them
through the CLI, and refuse damaged or disagreeing copies of them, leaving dist/ untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from noetl_build import dist
from noetl_build.errors import ConfigError
from noetl_build.shards import gather, shard_name, shards, strategy_matrix
from noetl_build.targets import load_matrix
from tests.conftest import ROOT, build_version, build_wheels

MATRIX = load_matrix(ROOT / "targets.toml")
LINUX, WINDOWS = "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu"
DARWIN = ("x86_64-apple-darwin", "aarch64-apple-darwin", "universal2-apple-darwin")
ARTIFACT_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
NEW_TARGETS = """
[[target]]
triple = "s390x-unknown-linux-musl"
tags = ["musllinux_1_2_s390x"]
musl = "1.2"
run = "none"

[[target]]
triple = "x86_64-pc-windows-msvc"
tags = ["win_amd64"]
run = "none"

[[target]]
triple = "armv7-unknown-linux-gnueabi"
tags = ["linux_armv7l"]
glibc = "2.17"
run = "none"
"""


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "noetl_build", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, check=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``directory`` (hidden ones too): its bytes, mtime and mode."""
    return {
        str(p.relative_to(directory)): (sha256(p), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------- the matrix


def test_every_target_in_exactly_one_shard_in_targets_toml_order() -> None:
    include = strategy_matrix(MATRIX)["include"]
    listed = [t for row in include for t in row["targets"].split(" ")]
    assert sorted(listed) == sorted(MATRIX.names()) and len(listed) == len(set(listed))
    for row in include:
        names = row["targets"].split(" ")
        assert names == [n for n in MATRIX.names() if n in names]
    firsts = [MATRIX.names().index(row["targets"].split(" ")[0]) for row in include]
    assert firsts == sorted(firsts)


def test_shards_group_by_os_and_c_library() -> None:
    got = {row["shard"]: row["targets"].split(" ") for row in strategy_matrix(MATRIX)["include"]}
    assert list(got) == ["linux-gnu", "linux-musl", "macos", "windows-gnu", "windows-gnullvm"]
    assert all(ARTIFACT_NAME.fullmatch(name) for name in got)
    assert got["macos"] == list(DARWIN)  # universal2 beside both slices it is made of
    assert got["windows-gnu"] == [WINDOWS, "i686-pc-windows-gnu"]
    assert got["windows-gnullvm"] == ["aarch64-pc-windows-gnullvm"]  # another toolchain, another shard
    assert all("-linux-musl" in t for t in got["linux-musl"])
    assert all("-linux-gnu" in t for t in got["linux-gnu"])


def test_a_new_triple_lands_in_a_shard_with_no_code_change(tmp_path: Path) -> None:
    toml = tmp_path / "targets.toml"
    toml.write_text((ROOT / "targets.toml").read_text() + NEW_TARGETS)
    matrix = load_matrix(toml)
    got = {s.name: [t.name for t in s.targets] for s in shards(matrix)}
    assert got["linux-musl"][-1] == "s390x-unknown-linux-musl"
    assert got["linux-gnu"][-1] == "armv7-unknown-linux-gnueabi"
    assert got["windows-msvc"] == ["x86_64-pc-windows-msvc"]  # another toolchain, another shard
    assert sorted(t for ts in got.values() for t in ts) == sorted(matrix.names())
    assert all(ARTIFACT_NAME.fullmatch(shard_name(t)) for t in matrix.targets)


def test_the_cli_prints_the_strategy_matrix_as_json() -> None:
    proc = cli("shards")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == strategy_matrix(MATRIX)


# ---------------------------------------------------------------- gather, synthetic parts


def fake_part(where: Path, targets: tuple[str, ...], *, version: str = "1.0.0", sdist: bytes | None = None,
              epoch: int = 1700000000) -> Path:
    """A shard's dist/ with stand-in wheel bytes (gather reads manifests and hashes, not zips)."""
    where.mkdir(parents=True, exist_ok=True)
    entries = {}
    for target in targets:
        wheel = where / f"noetl-{version}-py3-none-{target.replace('-', '_')}.whl"
        wheel.write_bytes(f"{target} {version}".encode())
        entries[target] = dist.Entry(target=target, wheel=wheel.name, sha256=sha256(wheel), size=wheel.stat().st_size,
                                     build_seconds=1.0, built_at="2026-01-01T00:00:00+00:00", tags=["py3-none-any"])
    record = None
    if sdist is not None:
        file = where / f"noetl-{version}.tar.gz"
        file.write_bytes(sdist)
        record = dist.SdistRecord(file=file.name, sha256=sha256(file), size=len(sdist))
    dist.write_index(where, entries, meta={"version": version, "source_date_epoch": epoch}, sdist=record)
    return where


def test_gather_lists_exactly_the_parts_and_leaves_other_files_alone(tmp_path: Path) -> None:
    a = fake_part(tmp_path / "a", (LINUX,), sdist=b"source")
    b = fake_part(tmp_path / "b", (WINDOWS, *DARWIN))
    again = fake_part(tmp_path / "again", (LINUX,), sdist=b"source")  # a re-run shard: the same bytes
    out = fake_part(tmp_path / "out", ("aarch64-unknown-linux-gnu",), version="0.9.0", sdist=b"old")
    (out / "notes.txt").write_text("mine")
    summary = gather([a, b, again], out, MATRIX)
    assert summary == f"gathered 5 wheels and the sdist from 3 parts into {out}: version 1.0.0"
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(r["target"] for r in manifest["wheels"]) == sorted([LINUX, WINDOWS, *DARWIN])
    assert manifest["version"] == "1.0.0" and manifest["source_date_epoch"] == 1700000000
    assert manifest["sdist"]["file"] == "noetl-1.0.0.tar.gz"
    assert len((out / "SHA256SUMS").read_text().splitlines()) == 6
    assert (out / "notes.txt").read_text() == "mine" and (out / "noetl-0.9.0.tar.gz").is_file()


def test_gather_without_an_sdist_does_not_list_the_one_already_in_dist(tmp_path: Path) -> None:
    part = fake_part(tmp_path / "part", (LINUX,))
    out = fake_part(tmp_path / "out", (), version="0.9.0", sdist=b"old")
    assert gather([part], out, MATRIX).startswith("gathered 1 wheel from 1 part")
    assert "sdist" not in json.loads((out / "manifest.json").read_text())
    assert "tar.gz" not in (out / "SHA256SUMS").read_text()


@pytest.mark.parametrize("spoil, expected", [
    (lambda a, b: fake_part(b, ("s390x-unknown-linux-musl",)), "not in targets.toml"),
    (lambda a, b: fake_part(b, (WINDOWS,), sdist=b"other"), "two different sdists"),
    (lambda a, b: fake_part(b, (WINDOWS,), epoch=1), "disagree on source_date_epoch"),
    (lambda a, b: (fake_part(b, (WINDOWS,)) / "manifest.json").write_text("{not json"), "not a manifest"),
    (lambda a, b: (fake_part(b, (WINDOWS,)) / "manifest.json").write_text(
        json.dumps({"schema": 1, "version": "1.0.0", "wheels": [{**json.loads(
            (a / "manifest.json").read_text())["wheels"][0], "wheel": "../escape.whl"}]})), "not a file name"),
    (lambda a, b: next(fake_part(b, (WINDOWS,)).glob("*.whl")).unlink(), "missing, though"),
])
def test_gather_refuses_before_writing(tmp_path: Path, spoil: Callable[[Path, Path], object], expected: str) -> None:
    a = fake_part(tmp_path / "a", (LINUX,), sdist=b"source")
    spoil(a, tmp_path / "b")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=re.escape(expected)) as caught:
        gather([a, tmp_path / "b"], out, MATRIX)
    assert "\n" not in str(caught.value)
    assert not out.exists()


# ---------------------------------------------------------------- gather, real shard outputs


@pytest.fixture(scope="module")
def real_parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two shards' dist/ as CI uploads them: x86_64 Linux in one, x86_64 Windows in the other."""
    parts = []
    for target in (LINUX, WINDOWS):
        where = tmp_path_factory.mktemp(f"part-{target}")
        proc = build_wheels(where, (target,))
        assert proc.returncode == 0, f"build {target} failed:\n{proc.stdout}\n{proc.stderr}"
        parts.append(where)
    return parts[0], parts[1]


@pytest.mark.slow
def test_gather_merges_two_real_shard_outputs(real_parts: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = real_parts
    before = snapshot(a), snapshot(b)
    out = tmp_path / "dist"
    proc = cli("--dist", out, "gather", a, b)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"gathered 2 wheels from 2 parts into {out}: version {build_version()}"
    rows = {part: json.loads((part / "manifest.json").read_text())["wheels"] for part in (a, b)}
    wheels = {r["wheel"]: part for part, rs in rows.items() for r in rs}
    assert len(wheels) == 2
    for name, part in wheels.items():
        assert (out / name).read_bytes() == (part / name).read_bytes()
    sums = dict(reversed(line.split("  ")) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert sums == {name: sha256(out / name) for name in wheels}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == build_version() and manifest["schema"] == 1
    assert manifest["wheels"] == sorted(rows[a] + rows[b], key=lambda r: r["target"])  # as the shards recorded them
    assert {r["target"] for r in manifest["wheels"]} == {LINUX, WINDOWS}
    assert (snapshot(a), snapshot(b)) == before


def tamper(a: Path, b: Path) -> list[Path]:
    """A wheel whose bytes changed after its manifest was written."""
    with next(a.glob("*.whl")).open("ab") as f:
        f.write(b"\0")
    return [a, b]


def same_target_twice(a: Path, b: Path) -> list[Path]:
    """A second part that also gives the Linux target, with other bytes (its manifest agreeing)."""
    twin = a.with_name(a.name + "-twin")
    shutil.copytree(a, twin)
    entries = dist.load_entries(twin)
    wheel = twin / entries[LINUX].wheel
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    entries[LINUX] = replace(entries[LINUX], sha256=sha256(wheel), size=wheel.stat().st_size)
    dist.write_index(twin, entries, meta=dist.load_meta(twin))
    return [a, b, twin]


def other_version(a: Path, b: Path) -> list[Path]:
    manifest = json.loads((b / "manifest.json").read_text())
    (b / "manifest.json").write_text(json.dumps({**manifest, "version": "9.9.9"}))
    return [a, b]


def no_manifest(a: Path, b: Path) -> list[Path]:
    (b / "manifest.json").unlink()
    return [a, b]


@pytest.mark.slow
@pytest.mark.parametrize("spoil, expected", [
    (tamper, "is not its manifest's"),
    (same_target_twice, f"target {LINUX} comes from two parts with different wheels"),
    (other_version, "the parts disagree on version"),
    (no_manifest, "no manifest.json"),
])
def test_gather_refuses_and_leaves_dist_untouched(
    real_parts: tuple[Path, Path], tmp_path: Path, spoil: Callable[[Path, Path], list[Path]], expected: str
) -> None:
    a, b = (shutil.copytree(p, tmp_path / name) for p, name in zip(real_parts, ("a", "b")))
    parts = spoil(a, b)
    out = tmp_path / "dist"
    out.mkdir()
    assert cli("--dist", out, "gather", real_parts[0]).returncode == 0  # an earlier gather's dist/
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    proc = cli("--dist", out, "gather", *parts)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert snapshot(out) == before
