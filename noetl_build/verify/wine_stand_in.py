"""A DLL wine lacks, for running our Windows binary under wine 8 (see stand_ins/*.c, docs/verify.md)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..platforms import arches
from ..procs import capture
from .context import Context


# Rust's std (1.78+) imports ProcessPrng from this Windows 10 DLL; wine 8.0 lacks it.
WINE_STAND_IN = "bcryptprimitives.dll"


def place_stand_in(ctx: Context) -> str:
    """Put the bcryptprimitives.dll stand-in (stand_ins/bcryptprimitives.c) next to the .exe;
    it is built once per source and architecture with zig, under build/verify/. A problem, or ""."""
    assert ctx.target is not None and ctx.binary is not None
    source = Path(__file__).with_name("stand_ins") / "bcryptprimitives.c"
    zig_target = f"{arches()[ctx.target.triple.arch].zig_arch}-windows-gnu"
    digest = hashlib.sha256(source.read_bytes() + zig_target.encode()).hexdigest()[:12]
    built = ctx.layout.verify_tools / f"bcryptprimitives-{zig_target}-{digest}.dll"
    if not built.is_file():
        built.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=built.parent) as scratch:  # zig leaves an import .lib too
            dll = Path(scratch) / WINE_STAND_IN
            out = capture([sys.executable, "-m", "ziglang", "cc", "-target", zig_target, "-shared", "-O2", "-s",
                           "-o", dll, source, "-ladvapi32"], cwd=Path(scratch), timeout=900)
            if not out.ok:
                return f"could not build the {WINE_STAND_IN} stand-in wine needs: {out.failure()}"
            os.replace(dll, built)
    shutil.copyfile(built, ctx.binary.parent / WINE_STAND_IN)
    return ""
