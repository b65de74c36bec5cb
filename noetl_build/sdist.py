"""The sdist: `python -m build --sdist` through the project's backend, into dist/."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import dist
from .errors import BuildError
from .files import sha256_file
from .layout import Layout
from .procs import run
from .report import say
from .source import source_date_epoch
from .ui import build_ui
from .version import build_version


def build_sdist(layout: Layout) -> Path:
    """Build the UI if needed, then dist/noetl-<version>.tar.gz; the index records it."""
    version = build_version(layout.root)
    epoch = source_date_epoch(layout.root)
    say(f"==> noetl {version}, SOURCE_DATE_EPOCH={epoch}")
    say("==> ui: " + ("built" if build_ui(layout) else "up to date"))
    staging = layout.sdist_staging
    shutil.rmtree(staging, ignore_errors=True)
    run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", staging,
         "-C", f"version={version}", layout.root],
        what="sdist: python -m build",
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
        log=layout.log("sdist"),
    )
    built = list(staging.glob("*.tar.gz"))
    if len(built) != 1:
        raise BuildError(f"sdist: expected one .tar.gz in {staging}, found {len(built)}")
    previous = dist.load_sdist(layout.dist)
    final = dist.publish(built[0], layout.dist)
    if previous and previous.file != final.name:
        layout.dist_file(previous.file).unlink(missing_ok=True)
    entries = dist.load_entries(layout.dist)
    meta = {**dist.load_meta(layout.dist), "version": version, "source_date_epoch": epoch}
    record = dist.SdistRecord(file=final.name, sha256=sha256_file(final), size=final.stat().st_size)
    dist.write_index(layout.dist, entries, meta=meta, sdist=record)
    return final

