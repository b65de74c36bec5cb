"""dist/: atomic publishing and the index (SHA256SUMS, manifest.json)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from noetl_build import dist


def entry(target: str, wheel: Path) -> dist.Entry:
    return dist.Entry(
        target=target, wheel=wheel.name, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        size=wheel.stat().st_size, build_seconds=1.0, built_at="2026-01-01T00:00:00+00:00", tags=["py3-none-x"],
    )


def test_publish_leaves_only_the_complete_file(tmp_path: Path) -> None:
    source = tmp_path / "a-1.0-py3-none-x.whl"
    source.write_bytes(b"wheel bytes")
    final = dist.publish(source, tmp_path / "dist")
    assert final.read_bytes() == b"wheel bytes"
    assert [p.name for p in (tmp_path / "dist").iterdir()] == [source.name]
    assert final.stat().st_mode & 0o777 == 0o644


def test_index_round_trip_and_sums(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    wheels = []
    for name in ("b-1.0-py3-none-y.whl", "a-1.0-py3-none-x.whl"):
        (out / name).write_bytes(name.encode())
        wheels.append(out / name)
    entries = {"t2": entry("t2", wheels[0]), "t1": entry("t1", wheels[1])}
    dist.write_index(out, entries, meta={"version": "1.0"})
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(wheels)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "1.0" and [w["target"] for w in manifest["wheels"]] == ["t1", "t2"]
    assert dist.load_entries(out) == entries
    wheels[0].unlink()
    assert set(dist.load_entries(out)) == {"t1"}  # entries whose wheel is gone are dropped


def test_a_broken_manifest_reads_as_empty(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    assert dist.load_entries(tmp_path) == {}


DEBIAN = {"rustc": "1.96.0", "commit-hash": "ac68faa20c58cbccd01ee7208bf3b6e93a7d7f96", "host": "x86_64-unknown-linux-gnu"}
RUSTUP = {"rustc": "1.95.0", "commit-hash": "59807616e1fa1234123412341234123412341234", "host": "x86_64-unknown-linux-gnu"}


def compiled(target: str, compiler: dict[str, str]) -> dist.Entry:
    return dist.Entry(target=target, wheel=f"{target}.whl", sha256="0" * 64, size=1, build_seconds=1.0,
                      built_at="2026-01-01T00:00:00+00:00", tags=[], compiler=compiler)


def test_the_compiler_round_trips_and_old_manifests_still_load(tmp_path: Path) -> None:
    (tmp_path / "t1.whl").write_bytes(b"w")
    dist.write_index(tmp_path, {"t1": compiled("t1", DEBIAN)}, meta={})
    assert dist.load_entries(tmp_path)["t1"].compiler == DEBIAN
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["wheels"][0]["compiler"]  # written before compilers were recorded
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert dist.load_entries(tmp_path)["t1"].compiler == {}


def test_one_compiler_for_a_release() -> None:
    entries = [compiled(f"t{i}", DEBIAN) for i in range(5)]
    assert dist.one_compiler(entries, rebuild="nox -s build_all") == DEBIAN


def test_mixed_compilers_are_refused_in_one_line() -> None:
    import pytest

    from noetl_build.errors import ReleaseError

    entries = [compiled("x86_64-unknown-linux-gnu", RUSTUP), *(compiled(f"t{i}", DEBIAN) for i in range(19))]
    with pytest.raises(ReleaseError) as info:
        dist.one_compiler(entries, rebuild="nox -s build_all")
    message = str(info.value)
    assert message.startswith("the wheels were compiled by 2 compilers (rustc 1.96.0 (ac68faa20c58) built 19 targets; "
                              "rustc 1.95.0 (59807616e1fa) built x86_64-unknown-linux-gnu): a release is built by one")
    assert "\n" not in message and "nox -s doctor" in message
    with pytest.raises(ReleaseError, match="does not record the compiler of t1 .*: rebuild"):
        dist.one_compiler([compiled("t0", DEBIAN), compiled("t1", {})], rebuild="nox -s build_all")

