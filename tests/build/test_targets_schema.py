"""targets._KEYS, the schema of a [[target]] table: it covers what targets.toml documents and what a
Target holds, and when a table has several mistakes, the one reported is the first in its order."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from noetl_build import targets
from noetl_build.errors import ConfigError
from noetl_build.targets import Target, parse_matrix

ROOT = Path(__file__).resolve().parents[2]

# Every key there is, each with a good value: a qemu-run glibc target linked against a newer glibc.
PPC64LE: dict[str, Any] = {
    "triple": "powerpc64le-unknown-linux-gnu", "tags": ["manylinux_2_17_ppc64le", "manylinux2014_ppc64le"],
    "glibc": "2.17", "link-glibc": "2.24", "unversion": ["__cxa_thread_atexit_impl"], "run": "qemu",
    "qemu": {"program": "qemu-ppc64le", "sysroot": "/usr/powerpc64le-linux-gnu"}, "rustflags": ["-Copt-level=3"],
    "cflags": ["-O2"], "link-stubs": ["gcc_s"], "link-shims": ["ppc64le-ieee128-printf"], "env": {"B": "2", "A": "1"},
    "apt": ["qemu-user", "libc6:ppc64el"], "rustc": "1.95",
}
WHERE = "targets.toml: target 'powerpc64le-unknown-linux-gnu': "


def documented_keys() -> set[str]:
    """The keys targets.toml's header comment explains: '#   key   what it means'."""
    header = (ROOT / "targets.toml").read_text().split("[[target]]")[0]
    return set(re.findall(r"^#   ([a-z][a-z-]*) {2,}\S", header, flags=re.MULTILINE))


def error_of(table: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_matrix({"target": [table]}, Path("targets.toml"))
    return str(info.value)


def test_the_schema_has_every_key_targets_toml_documents_and_no_other() -> None:
    assert len(documented_keys()) > 10  # the header was found and read
    assert set(targets._KEYS) == documented_keys()


def test_every_field_of_a_target_is_filled_by_one_key() -> None:
    filled = [field for spec in targets._KEYS.values()
              for field in (spec.fills if isinstance(spec.fills, tuple) else (spec.fills,))]
    fields = {f.name for f in dataclasses.fields(Target)} - {"raw"}
    assert sorted(filled) == sorted(fields)


def test_a_table_with_every_key_fills_every_field() -> None:
    (target,) = parse_matrix({"target": [PPC64LE]}, Path("targets.toml")).targets
    assert target == Target(
        triple=target.triple, tags=("manylinux_2_17_ppc64le", "manylinux2014_ppc64le"), run=targets.RunMethod.QEMU,
        glibc=(2, 17), link_glibc=(2, 24), unversion=("__cxa_thread_atexit_impl",), qemu_program="qemu-ppc64le",
        qemu_sysroot="/usr/powerpc64le-linux-gnu", rustflags=("-Copt-level=3",), cflags=("-O2",),
        link_stubs=("gcc_s",), link_shims=("ppc64le-ieee128-printf",), env=(("A", "1"), ("B", "2")),
        apt=("qemu-user", "libc6:ppc64el"), rustc="1.95",
    )
    assert target.triple.text == "powerpc64le-unknown-linux-gnu" and target.raw == PPC64LE


@pytest.mark.parametrize("key", sorted(targets._KEYS))
def test_a_value_of_the_wrong_type_names_its_key(key: str) -> None:
    wrong = 7 if key != "triple" else ["x86_64-unknown-linux-gnu"]
    where = WHERE if key != "triple" else "targets.toml: target #1: "
    names: dict[type, str] = {str: "string", list: "list", dict: "table"}
    expected = names[targets._KEYS[key].kind]
    message = error_of({**PPC64LE, key: wrong})
    assert message == f"{where}key '{key}': expected a {expected}, got {type(wrong).__name__}"


# Two mistakes in one table: which one is reported (as before the schema was a table).
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # the table's own order for unknown keys and wrong types, before any missing key
        ({"tags": "x", "zzz": 1}, "key 'tags': expected a list, got str"),
        ({"zzz": 1, "tag": "x"}, "key 'zzz': unknown key"),
        ({"run": ["qemu"], "tag": []}, "key 'run': expected a string, got list"),
        ({"tags": None, "apt": 1}, "key 'apt': expected a list, got int"),
        # missing keys in the schema's order
        ({"tags": None, "run": None}, "key 'tags': missing (required)"),
        # what the target is before how it runs, links and builds
        ({"glibc": None, "run": "qemuu"}, "key 'glibc': missing: powerpc64le-unknown-linux-gnu needs its minimum"
                                          " glibc version"),
        ({"tags": ["foo"], "run": "qemuu"}, "key 'tags': 'foo' is not a platform tag this project knows"),
        ({"run": "native", "link-glibc": "2.16"}, "key 'qemu': only applies with run = \"qemu\" (run is \"native\")"),
        ({"qemu": {"program": "qemu ppc"}, "link-glibc": "x"}, "key 'qemu': needs program = \"qemu-<arch>\""
                                                               " (a program's name)"),
        ({"link-glibc": "2.16", "rustflags": [1]}, "key 'link-glibc': is older than glibc: link against the promised"
                                                   " glibc itself"),
        # every list's items are strings before any item's spelling is read
        ({"link-stubs": ["gcc s"], "apt": [1]}, "key 'apt': expected a list of strings"),
        ({"env": {"A": 1}, "unversion": [1]}, "key 'unversion': expected a list of strings"),
        ({"env": {"1A": "x"}, "link-stubs": ["gcc s"]}, "key 'env': '1A' is not an environment variable's name"
                                                        " (letters, digits, '_')"),
        ({"link-glibc": None, "apt": ["Qemu"]}, "key 'unversion': only with link-glibc (a binary linked against a"
                                                " newer glibc than it promises)"),
        ({"apt": ["Qemu"], "rustc": "x"}, "key 'apt': 'Qemu' is not a Debian package name"),
    ],
)
def test_of_two_mistakes_the_first_in_the_schema_order_is_reported(change: dict[str, Any], expected: str) -> None:
    table = {key: value for key, value in PPC64LE.items() if change.get(key, value) is not None}
    table.update({key: value for key, value in change.items() if value is not None})  # a new key goes last
    assert error_of(table) == WHERE + expected
