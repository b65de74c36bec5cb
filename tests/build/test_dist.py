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
