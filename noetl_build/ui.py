"""The web UI: `npm ci && npm run build` in ui-src/, into noetl/core/ui/ (skipped when unchanged)."""

from __future__ import annotations

import shutil

from .errors import ToolchainError
from .fingerprint import Stamp, digest, files_under
from .layout import Layout
from .procs import run


def build_ui(layout: Layout) -> bool:
    """Build the UI if its sources changed; return True if it was built now."""
    stamp = Stamp(layout.ui_stamp)
    source = digest(files=files_under(layout.ui_source), base=layout.root)
    index = layout.ui_output / "index.html"
    recorded = stamp.read()
    if index.is_file() and recorded.get("source") == source and recorded.get("output") == _output_digest(layout):
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm not found: the UI needs Node.js and npm (apt-get install nodejs npm)")
    log = layout.log("ui")
    run([npm, "ci", "--no-audit", "--no-fund"], what="ui: npm ci", cwd=layout.ui_source, log=log)
    run([npm, "run", "build"], what="ui: npm run build", cwd=layout.ui_source, log=layout.log("ui-build"))
    if not index.is_file():
        raise ToolchainError(f"ui: 'npm run build' left no {index}: check ui-src/vite.config.ts outDir")
    stamp.write({"source": source, "output": _output_digest(layout)})
    return True


def _output_digest(layout: Layout) -> str:
    return digest(files=files_under(layout.ui_output), base=layout.root)
