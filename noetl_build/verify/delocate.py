"""delocate on macOS wheels, on Linux: LLVM stands in for otool and install_name_tool.

delocate "fixes" what it finds — copies libraries in, rewrites a tag it thinks too old —
so it runs on a copy and any change it makes is the verdict: a failure, never a fix.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from ..procs import capture
from ..wheelfile import parse_record, parse_wheel
from .context import Context
from .results import Verdict, check, fail, ok
from .tools import python_module


LLVM_OTOOL, LLVM_INSTALL_NAME_TOOL = "llvm-otool-15", "llvm-install-name-tool-15"

# llvm-otool rejects the -m delocate passes (Apple's otool: "print archive member names
# without brackets"), so the stand-in drops it. LLVM 22's llvm-otool hung: use 15.
OTOOL_SCRIPT = """#!/bin/sh
# otool for delocate on Linux: {otool} without the -m it rejects.
for arg do
    shift
    [ "$arg" = "-m" ] || set -- "$@" "$arg"
done
exec {otool} "$@"
"""
INSTALL_NAME_TOOL_SCRIPT = """#!/bin/sh
# install_name_tool for delocate on Linux.
exec {tool} "$@"
"""


def stand_ins(directory: Path) -> Path | str:
    """Write `otool` and `install_name_tool` into ``directory``; or say which LLVM tool is missing."""
    otool, install_name_tool = shutil.which(LLVM_OTOOL), shutil.which(LLVM_INSTALL_NAME_TOOL)
    missing = [name for name, path in ((LLVM_OTOOL, otool), (LLVM_INSTALL_NAME_TOOL, install_name_tool)) if not path]
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install llvm-15; see requirements/apt.txt)"
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("otool", OTOOL_SCRIPT.format(otool=otool)),
        ("install_name_tool", INSTALL_NAME_TOOL_SCRIPT.format(tool=install_name_tool)),
    ):
        script = directory / name
        script.write_text(text)
        script.chmod(0o755)
    return directory


@check("delocate")
def check_delocate(ctx: Context) -> Verdict | None:
    """`delocate-wheel --require-archs` on a copy: it must leave name and contents alone."""
    if ctx.claim is None or ctx.claim.family.policy != "delocate":
        return None
    tools = stand_ins(ctx.work / "delocate-tools")
    if isinstance(tools, str):
        return fail(tools)
    source = ctx.work / "delocate-in" / ctx.wheel.path.name
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.wheel.path, source)
    out_dir = ctx.work / "delocate-out"
    env = {k: v for k, v in os.environ.items() if k != "MACOSX_DEPLOYMENT_TARGET"}
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    archs = ctx.claim.wheel_arch  # x86_64, arm64 or universal2: delocate's own names
    out = capture(
        python_module("delocate.cmd.delocate_wheel", "--require-archs", archs, "-w", out_dir, source),
        env=env, timeout=300,
    )
    if not out.ok:
        return fail(f"delocate-wheel --require-archs {archs}: {out.failure()}")
    changes = compare(ctx.wheel.path, sorted(out_dir.glob("*.whl")))
    if changes:
        return fail("delocate would change the wheel: " + "; ".join(changes))
    return ok(f"--require-archs {archs}: no library to copy, name and contents unchanged")


def compare(original: Path, written: list[Path]) -> list[str]:
    """What delocate changed: the wheel's name, files added or removed, files rewritten.

    delocate always rewrites WHEEL, adding `Generator: delocate <version>`, so WHEEL is
    compared as its set of lines without that one, and RECORD as its set of rows without
    WHEEL's (and its own); every other file byte for byte.
    """
    if not written:
        return []  # delocate wrote nothing: nothing to change
    if len(written) > 1 or written[0].name != original.name:
        return [f"renamed it to {', '.join(w.name for w in written)}"]
    before, after = _contents(original), _contents(written[0])
    changes = [f"adds {name}" for name in sorted(after.keys() - before.keys())]
    changes += [f"removes {name}" for name in sorted(before.keys() - after.keys())]
    changes += [f"rewrites {name}" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return changes


def _contents(wheel: Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as zf:
        result: dict[str, object] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            data = zf.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                result[info.filename] = frozenset(
                    row for row in parse_record(data) if not row.path.endswith((".dist-info/WHEEL", ".dist-info/RECORD"))
                )
            elif info.filename.endswith(".dist-info/WHEEL"):
                result[info.filename] = frozenset(
                    line for line in parse_wheel(data) if line[0] != "Generator" or not line[1].startswith("delocate")
                )
            else:
                result[info.filename] = data
        return result
