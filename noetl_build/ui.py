"""The web UI: `npm ci && npm run build` in ui-src/, into noetl/core/ui/ (skipped when unchanged)."""

from __future__ import annotations

import shutil

from .errors import ToolchainError
from .fingerprint import digest, files_under
from .layout import Layout
from .procs import run
from .reuse import record, reused


def build_ui(layout: Layout) -> bool:
    """Build the UI if its sources changed; return True if it was built now."""
    source = digest(files=files_under(layout.ui_source), base=layout.root)
    index = layout.ui_output / "index.html"
    if index.is_file() and reused(layout.ui_stamp, source, [layout.ui_output]):
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm not found: the UI needs Node.js and npm (apt-get install nodejs npm)")
    log = layout.log("ui")
    run([npm, "ci", "--no-audit", "--no-fund"], what="ui: npm ci", cwd=layout.ui_source, log=log)
    run([npm, "run", "build"], what="ui: npm run build", cwd=layout.ui_source, log=layout.log("ui-build"))
    if not index.is_file():
        raise ToolchainError(f"ui: 'npm run build' left no {index}: check ui-src/vite.config.ts outDir")
    record(layout.ui_stamp, source, [layout.ui_output])
    return True
