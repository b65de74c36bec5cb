"""Reuse if unchanged: one stamp format, and every way an output or its inputs change means rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from noetl_build import reuse
from noetl_build.files import sha256_file


@pytest.fixture()
def made(tmp_path: Path) -> tuple[Path, Path]:
    """An output and its stamp, recorded under the key "k1"."""
    output = tmp_path / "noetl"
    output.write_bytes(b"binary")
    stamp = tmp_path / "binary.json"
    reuse.record(stamp, "k1", [output], seconds=1.5)
    return stamp, output


def test_same_key_and_output_is_reused(made: tuple[Path, Path]) -> None:
    stamp, output = made
    found = reuse.reused(stamp, "k1", [output])
    assert found is not None
    assert found.sha256(output) == sha256_file(output)
    assert found.facts == {"seconds": 1.5}


def test_the_stamp_format(made: tuple[Path, Path]) -> None:
    stamp, output = made
    assert json.loads(stamp.read_text()) == {
        "stamp": 1, "key": "k1", "outputs": {"noetl": sha256_file(output)}, "facts": {"seconds": 1.5},
    }


def test_a_changed_input_rebuilds(made: tuple[Path, Path]) -> None:
    stamp, output = made
    assert reuse.reused(stamp, "k2", [output]) is None


def test_an_edited_output_rebuilds(made: tuple[Path, Path]) -> None:
    stamp, output = made
    output.write_bytes(b"binarY")
    assert reuse.reused(stamp, "k1", [output]) is None


def test_a_deleted_output_rebuilds(made: tuple[Path, Path]) -> None:
    stamp, output = made
    output.unlink()
    assert reuse.reused(stamp, "k1", [output]) is None


def test_other_outputs_than_recorded_rebuild(made: tuple[Path, Path], tmp_path: Path) -> None:
    stamp, output = made
    other = tmp_path / "noetl.exe"
    other.write_bytes(b"binary")
    assert reuse.reused(stamp, "k1", [other]) is None, "same bytes under another name"
    assert reuse.reused(stamp, "k1", [output, other]) is None, "one output more than recorded"
    assert reuse.reused(stamp, "k1", []) is None


@pytest.mark.parametrize("text", [
    "", "{", "[]", "null", '{"stamp": 1}',
    '{"stamp": 2, "key": "k1", "outputs": {}, "facts": {}}',  # a later format
    '{"fingerprint": "k1", "sha256": "0"}',  # the format before this one
    '{"stamp": 1, "key": "k1", "outputs": {"noetl": 3}}',
    '{"stamp": 1, "key": "k1", "outputs": {"../noetl": "0"}}',
    '{"stamp": 1, "key": "k1", "outputs": {"noetl": "0"}, "facts": []}',
])
def test_a_corrupt_or_other_stamp_rebuilds(made: tuple[Path, Path], text: str) -> None:
    stamp, output = made
    stamp.write_text(text)
    assert reuse.read(stamp) is None
    assert reuse.reused(stamp, "k1", [output]) is None


def test_an_unreadable_stamp_rebuilds(made: tuple[Path, Path]) -> None:
    stamp, output = made
    stamp.write_bytes(b"\xff\xfe not utf-8")
    assert reuse.reused(stamp, "k1", [output]) is None
    stamp.unlink()
    assert reuse.reused(stamp, "k1", [output]) is None


def test_a_directory_output_is_hashed_over_its_files(tmp_path: Path) -> None:
    ui = tmp_path / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<html>")
    (ui / "assets" / "app.js").write_text("1")
    stamp = tmp_path / "ui.json"
    reuse.record(stamp, "src", [ui])
    assert reuse.reused(stamp, "src", [ui])
    (ui / "assets" / "app.js").write_text("2")
    assert reuse.reused(stamp, "src", [ui]) is None, "an edited file"
    reuse.record(stamp, "src", [ui])
    (ui / "assets" / "app.js").rename(ui / "assets" / "main.js")
    assert reuse.reused(stamp, "src", [ui]) is None, "a renamed file"
    reuse.record(stamp, "src", [ui])
    (ui / "extra.css").write_text("")
    assert reuse.reused(stamp, "src", [ui]) is None, "a file more"


def test_paths_name_the_recorded_outputs_in_a_directory(made: tuple[Path, Path], tmp_path: Path) -> None:
    stamp, output = made
    found = reuse.read(stamp)
    assert found is not None and found.paths(tmp_path) == [output]


def test_recording_needs_outputs_that_exist_with_distinct_names(tmp_path: Path) -> None:
    stamp = tmp_path / "s.json"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reuse.record(stamp, "k", [tmp_path / "missing"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("1")
    (tmp_path / "x").write_text("1")
    with pytest.raises(ValueError, match="distinct"):
        reuse.record(stamp, "k", [tmp_path / "x", tmp_path / "a" / "x"])
    with pytest.raises(ValueError, match="distinct"):
        reuse.record(stamp, "k", [])
    assert not stamp.exists()

