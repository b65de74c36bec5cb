"""Real Debian userlands (issue 18): userlands.toml's validation, the roots' cache key, binfmt_misc
left as it was found, the refusals, and one end-to-end run of the arm64 userland (slow: it
builds the aarch64 wheel and, on a fresh clone, the Debian root)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from noetl_build import binfmt, userland
from noetl_build.errors import ConfigError, ToolchainError
from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from tests.conftest import ROOT, build_version, build_wheels

RECIPES = ROOT / "userlands.toml"
ARM64 = "aarch64-unknown-linux-gnu"


def data() -> dict:
    return tomllib.loads(RECIPES.read_text())


def recipes(changed: dict | None = None) -> userland.Recipes:
    return userland.parse_recipes(changed if changed is not None else data(), RECIPES)


# ---------------------------------------------------------------- userlands.toml


def test_every_glibc_target_has_its_debian_userland_and_every_other_target_a_stated_proof() -> None:
    matrix = load_matrix(ROOT / "targets.toml")
    found = recipes()
    chosen = {t.name: found.for_target(t) for t in matrix.targets}
    labels = {name: u.label for name, u in chosen.items() if u}
    assert labels == {
        "x86_64-unknown-linux-gnu": "Debian 12 bookworm amd64",
        "aarch64-unknown-linux-gnu": "Debian 12 bookworm arm64",
        "armv7-unknown-linux-gnueabihf": "Debian 12 bookworm armhf",
        "i686-unknown-linux-gnu": "Debian 12 bookworm i386",
        "s390x-unknown-linux-gnu": "Debian 12 bookworm s390x",
        "powerpc64le-unknown-linux-gnu": "Debian 12 bookworm ppc64el",
        "riscv64gc-unknown-linux-gnu": "Debian 13 trixie riscv64",
    }
    assert chosen["riscv64gc-unknown-linux-gnu"].python == "3.13"  # type: ignore[union-attr]
    assert [n for n, u in chosen.items() if u and u.uv] == ["x86_64-unknown-linux-gnu"]
    assert [n for n, u in chosen.items() if u and not u.qemu] == ["x86_64-unknown-linux-gnu", "i686-unknown-linux-gnu"]
    for target in matrix.targets:
        if chosen[target.name] is None:
            assert "no [instead] entry" not in found.proof_instead(target), target.name
    arm = next(t for t in matrix.targets if t.name == "arm-unknown-linux-gnueabihf")
    assert "ARMv7" in found.proof_instead(arm)
    musl = next(t for t in matrix.targets if t.name == "aarch64-unknown-linux-musl")
    assert "musl" in found.proof_instead(musl)


def _set(path: str, value: object) -> dict:
    changed = copy.deepcopy(data())
    *parents, last = path.split("/")
    node = changed
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize("path, value, phrase", [
    ("debootstrap/mirorr", "http://x/", "key 'mirorr': unknown key (did you mean 'mirror'?)"),
    ("debootstrap/mirror", "ftp://deb.debian.org/debian", "is not an http(s) URL"),
    ("debootstrap/mirror", "http://deb.debian.org/debian\n[x]", "is not an http(s) URL"),
    ("debootstrap/include", ["python3", "gcc; rm -rf /"], "Debian package names"),
    ("debootstrap/include", ["ca-certificates"], "must include python3"),
    ("debootstrap/variant", None, "missing or not a string"),
    ("release/bookworm/python", "three", "is not a Python version"),
    ("release/bookworm/version", 12, "missing or not a string"),
    ("release/trixie/arches", ["arm64"], "taken from bookworm already"),
    ("release/Bookworm", {"version": "12", "python": "3.11", "arches": []}, "lowercase letters"),
    ("arch/aarch64/debian-arch", "arm46", "is in no [release.*] arches (did you mean 'arm64'?)"),
    ("arch/aarch64/qemu", "qemu-aarch64 -L /", "not a qemu-user program name"),
    ("arch/aarch64/uv", "yes", "expected a boolean"),
    ("arch/aarch64/binfmt", "qemu-aarch64", "[arch.aarch64] key 'binfmt': unknown key"),
    ("arch/aarch46", {"debian-arch": "arm64"}, "not an architecture of platforms.toml (did you mean 'aarch64'?)"),
    ("arch/armv7/debian-arch", "arm64", "is [arch.aarch64]'s already"),
    ("instead/os.macos", "two\nlines", "one printable line"),
    ("instead/cpu.arm", "x", "expected os.<os>, arch.<triple arch> or libc.<libc>"),
    ("release", None, "[release]: missing (required)"),
    ("extra", 1, "key 'extra': unknown top-level key"),
])
def test_a_wrong_recipe_is_one_line_naming_the_table_and_key(path: str, value: object, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        recipes(_set(path, value))
    message = str(caught.value)
    assert message.startswith("userlands.toml: ") and "\n" not in message
    assert phrase in message, message


def test_an_unreadable_recipes_file_is_one_line(tmp_path: Path) -> None:
    for content, phrase in ((b"[debootstrap\n", "not valid TOML"), (b"\xff\xfe", "not UTF-8")):
        path = tmp_path / "userlands.toml"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=phrase):
            userland.load_recipes(path)
    with pytest.raises(ConfigError, match="no such file"):
        userland.load_recipes(tmp_path / "missing.toml")


# ---------------------------------------------------------------- the roots' cache


def test_the_cache_key_changes_with_every_part_of_the_recipe() -> None:
    arm64 = recipes().userlands["aarch64"]
    base = arm64.key("1.0.128")
    assert base == recipes().userlands["aarch64"].key("1.0.128")
    changes = [
        _set("debootstrap/mirror", "http://ftp.de.debian.org/debian"),
        _set("debootstrap/variant", "buildd"),
        _set("debootstrap/include", ["python3", "python3-venv"]),
        _set("release/bookworm/version", "13"),
    ]
    keys = {recipes(c).userlands["aarch64"].key("1.0.128") for c in changes}
    moved = copy.deepcopy(data())
    moved["release"]["bookworm"]["arches"].remove("arm64")
    moved["release"]["trixie"]["arches"].append("arm64")
    keys.add(recipes(moved).userlands["aarch64"].key("1.0.128"))
    keys.add(arm64.key("1.0.129"))  # another debootstrap
    keys.add(recipes().userlands["s390x"].key("1.0.128"))  # another architecture
    assert base not in keys and len(keys) == 7


def test_a_root_is_cached_only_when_whole_and_made_from_the_same_recipe(tmp_path: Path) -> None:
    home = tmp_path / "debian12-arm64"
    (home / "root" / "usr" / "bin").mkdir(parents=True)
    assert not userland.root_is_cached(home, "k1")  # no recipe.json: a half root
    (home / "recipe.json").write_text(json.dumps({"key": "k1"}))
    assert not userland.root_is_cached(home, "k1")  # no python3 in it
    (home / "root" / "usr" / "bin" / "python3").write_text("")
    assert userland.root_is_cached(home, "k1")
    assert not userland.root_is_cached(home, "k2")


def test_mounts_under_a_root_are_found_deepest_first(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(textwrap.dedent("""\
        22 1 0:21 / /proc rw - proc proc rw
        90 1 0:50 / /w/build/userlands/a\\040b/root/proc rw - proc proc rw
        91 1 0:5 /null /w/build/userlands/a\\040b/root/dev/null rw - devtmpfs udev rw
        92 1 0:5 / /w/build/userlands-other rw - tmpfs t rw
    """))
    found = userland.mounts_under(Path("/w/build/userlands"), info)
    assert found == [Path("/w/build/userlands/a b/root/dev/null"), Path("/w/build/userlands/a b/root/proc")]


# ---------------------------------------------------------------- what pip's report says


def _report(tmp_path: Path, urls: list[str]) -> Path:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"version": "1", "install": [{"download_info": {"url": u}} for u in urls]}))
    return report


def test_an_install_is_judged_by_the_wheel_taken_the_source_builds_and_where_files_came_from(tmp_path: Path) -> None:
    wheel = tmp_path / "noetl-1.0-py3-none-manylinux_2_17_aarch64.whl"
    index = "http://127.0.0.1:8000/simple/"
    good = _report(tmp_path, [f"http://127.0.0.1:8000/packages/{wheel.name}",
                              "http://127.0.0.1:8000/packages/starlette-1.0-py3-none-any.whl"])
    verdict, builds = userland.judge_install(good, wheel, index, tmp_path / "no-venv")
    assert builds == 0 and "installed WHEEL tags none" in verdict  # no venv here: nothing installed
    bad = _report(tmp_path, ["http://127.0.0.1:8000/packages/noetl-1.0-py3-none-manylinux_2_17_x86_64.whl",
                             "http://127.0.0.1:8000/packages/ruamel.yaml.clib-0.2.tar.gz",
                             "https://files.pythonhosted.org/packages/uvicorn-0.1-py3-none-any.whl"])
    verdict, builds = userland.judge_install(bad, wheel, index, tmp_path)
    assert builds == 1
    assert "took noetl-1.0-py3-none-manylinux_2_17_x86_64.whl, not" in verdict
    assert "1 source builds (ruamel.yaml.clib-0.2.tar.gz)" in verdict and "1 files not from the index" in verdict


# ---------------------------------------------------------------- the host: refusals


def test_what_the_host_lacks_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    wanted = list(recipes().userlands.values())
    assert "need root" in (userland.host_problem(wanted, euid=1000) or "")
    missing = userland.host_problem(wanted, euid=0, which=lambda name: None if name == "debootstrap" else "/bin/x")
    assert missing == "debootstrap is not installed: apt-get install debootstrap (requirements/apt.txt; bash .ci/setup)"
    no_qemu = userland.host_problem(wanted, euid=0, which=lambda name: "/bin/x", conf_dir=tmp_path)
    assert no_qemu and no_qemu.startswith("qemu-user-static is not installed") and "apt-get install qemu-user-static" in no_qemu
    native = [u for u in wanted if not u.qemu]
    assert userland.host_problem(native, euid=0, which=lambda name: "/bin/x", conf_dir=tmp_path) is None


def run_cli(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "noetl_build", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=timeout, stdin=subprocess.DEVNULL)


def test_a_dist_without_the_targets_wheel_is_refused_naming_how_to_build_it(tmp_path: Path) -> None:
    proc = run_cli("--dist", str(tmp_path / "dist"), "userland", ARM64)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f"no wheel for {ARM64}" in lines[0]
    assert f"nox -s wheel -- {ARM64}" in lines[0]


def test_targets_without_a_userland_get_rows_saying_what_proves_them(tmp_path: Path) -> None:
    proc = run_cli("--dist", str(tmp_path / "dist"), "--build-dir", str(tmp_path / "build"), "userland",
                   "x86_64-apple-darwin", "arm-unknown-linux-gnueabihf", "aarch64-unknown-linux-musl")
    assert proc.returncode == 0, proc.stderr
    assert "arm-unknown-linux-gnueabihf: no userland here; proven by Debian's armhf is ARMv7" in proc.stdout
    assert "x86_64-apple-darwin: no userland here; proven by no macOS here" in proc.stdout
    report = json.loads((tmp_path / "build" / "userlands" / userland.REPORT).read_text())
    assert [r["userland"] for r in report["targets"]] == ["none"] * 3 and report["ok"]


# ---------------------------------------------------------------- binfmt_misc


def _fake_binfmt(tmp_path: Path) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """An unmounted directory, and mount/umount commands that make and remove its control files."""
    directory = tmp_path / "binfmt_misc"
    directory.mkdir()
    mount = ("sh", "-c", ': > "$1/register"; printf enabled > "$1/status"', "sh")
    unmount = ("sh", "-c", 'rm -f "$1/register" "$1/status"', "sh")
    return directory, mount, unmount


def _made_up(name: str, interpreter: Path) -> binfmt.Handler:
    """A handler for a file format nothing else has (magic NOETLUT)."""
    return binfmt.Handler(name, "", "\\x4e\\x4f\\x45\\x54\\x4c\\x55\\x54", "", interpreter, "F")


def test_a_fake_binfmt_misc_is_mounted_used_and_left_as_found(tmp_path: Path) -> None:
    directory, mount, unmount = _fake_binfmt(tmp_path)
    handler = _made_up(binfmt.run_name("qemu-test"), Path("/bin/true"))
    with binfmt.registered([handler], directory=directory, mount=mount, unmount=unmount) as names:
        assert names == [handler.name]
        assert (directory / "register").read_text() == handler.line()
        assert handler.line().endswith(":/bin/true:F")
    assert list(directory.iterdir()) == []  # unmounted again: as found
    # mounted already, someone else's handler there: used as it is, left as it is
    (directory / "register").write_text("")
    (directory / "noetl-d-other").write_text("enabled\ninterpreter /x\n")
    with pytest.raises(RuntimeError):
        with binfmt.registered([handler], directory=directory, mount=("false",), unmount=("false",)):
            raise RuntimeError("a failure inside")
    assert sorted(p.name for p in directory.iterdir()) == ["noetl-d-other", "register"]
    assert (directory / "noetl-d-other").read_text() == "enabled\ninterpreter /x\n"


def test_a_binfmt_misc_that_cannot_be_mounted_is_one_line(tmp_path: Path) -> None:
    directory, _, _ = _fake_binfmt(tmp_path)
    with pytest.raises(ToolchainError) as caught:
        with binfmt.registered([_made_up("n", Path("/bin/true"))], directory=directory, mount=("false",)):
            pass
    assert "binfmt_misc cannot be mounted" in str(caught.value) and "\n" not in str(caught.value)
    assert list(directory.iterdir()) == []


def test_debian_handlers_are_read_from_debians_file_with_the_f_flag(tmp_path: Path) -> None:
    conf = tmp_path / "qemu-aarch64.conf"
    conf.write_text(":qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01:\\xff\\xff\\xff\\xff\\xff\\xff\\xff:"
                    "/bin/true:OP\n")
    handler = binfmt.debian_handler("qemu-aarch64", "noetl-userland-1-aarch64", conf_dir=tmp_path)
    assert handler.line() == (":noetl-userland-1-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01:"
                              "\\xff\\xff\\xff\\xff\\xff\\xff\\xff:/bin/true:OPF")
    conf.write_text(":qemu-aarch64:E::x::/bin/true:OP\n")
    with pytest.raises(ToolchainError, match="not one binfmt_misc register line"):
        binfmt.debian_handler("qemu-aarch64", "n", conf_dir=tmp_path)


def _real_binfmt() -> bool:
    return os.geteuid() == 0 and binfmt.mounted()


real_binfmt = pytest.mark.skipif(not _real_binfmt(), reason="needs root and a mounted binfmt_misc")


@real_binfmt
def test_a_real_handler_runs_programs_while_registered_and_is_gone_after(tmp_path: Path) -> None:
    interpreter = tmp_path / "interpreter"
    interpreter.write_text("#!/bin/sh\necho ran-by-the-handler\n")
    interpreter.chmod(0o755)
    program = tmp_path / "program"
    program.write_bytes(b"NOETLUT\n")
    program.chmod(0o755)
    before = binfmt.names()
    handler = _made_up(binfmt.run_name("qemu-noetltest"), interpreter)
    with binfmt.registered([handler]) as names:
        assert binfmt.names() == before | set(names)
        ran = subprocess.run([str(program)], capture_output=True, text=True, timeout=30, check=False)
        assert ran.stdout.strip() == "ran-by-the-handler"
    assert binfmt.names() == before


@real_binfmt
def test_a_terminated_run_still_removes_its_handler(tmp_path: Path) -> None:
    before = binfmt.names()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import sys, time
        from pathlib import Path
        from noetl_build import binfmt
        handler = binfmt.Handler(binfmt.run_name("qemu-noetltest"), "", "\\\\x4e\\\\x4f\\\\x45\\\\x54\\\\x4c\\\\x55\\\\x54",
                                 "", Path("/bin/true"), "F")
        with binfmt.terminate_as_interrupt():
            try:
                with binfmt.registered([handler]):
                    print("registered", flush=True)
                    time.sleep(60)
            except KeyboardInterrupt:
                sys.exit(130)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "registered"
        assert f"noetl-userland-{child.pid}-noetltest" in binfmt.names()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert binfmt.names() == before


# ---------------------------------------------------------------- the arm64 userland, end to end


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("debootstrap") is None,
                    reason="needs root and debootstrap (CI runs as root after .ci/setup)")
def test_the_arm64_userland_installs_and_runs_the_aarch64_wheel(tmp_path: Path) -> None:
    layout = Layout.at(ROOT)
    if not (layout.wheelhouse / ".filled").is_file():
        pytest.fail("no build/wheelhouse: run the tests with nox -s tests (it fetches the wheelhouse first)")
    dist = tmp_path / "dist"
    built = build_wheels(dist, (ARM64,))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    proc = run_cli("--dist", str(dist), "userland", ARM64, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    report = json.loads((layout.userlands / userland.REPORT).read_text())
    assert report["ok"] and report["version"] == build_version()
    (row,) = report["targets"]
    steps = {s["name"]: s for s in row["steps"]}
    assert list(steps) == list(userland.STEPS)
    assert all(s["status"] == "ok" for n, s in steps.items() if n != "uv"), steps
    assert steps["uv"]["status"] == "-"
    assert row["userland"] == "Debian 12 bookworm arm64" and row["python"].startswith("3.11.")
    assert row["source_builds"] == 0 and row["wheel"].endswith("manylinux_2_17_aarch64.whl")
    assert "WHEEL tags = the file's" in steps["pip"]["detail"]
    assert "request body too large" in steps["413"]["detail"]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("target "))
    assert header.split()[:6] == ["target", "userland", "python", "wheel", "install-s", "src-builds"]
    line = next(line for line in proc.stdout.splitlines() if line.startswith(ARM64))
    assert "Debian 12 bookworm arm64" in line and "manylinux_2_17_aarch64" in line and "FAIL" not in line
    assert not userland.mounts_under(layout.userlands), "a mount was left under build/userlands"
    assert not any(n.startswith(binfmt.PREFIX) for n in binfmt.names()), "a handler of ours was left"
