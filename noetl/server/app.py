"""The FastAPI application: the HTTP contract of docs/api.md plus the web UI at ``/``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from noetl import __version__
from noetl.server.db import Database
from noetl.server.errors import NOT_INITIALIZED, ApiError, error_response, install_error_handlers
from noetl.server.guard import BodyLimitMiddleware, HostCheckMiddleware
from noetl.server.limits import MAX_VERSION, MIN_VERSION, Limits, server_limits
from noetl.server.paths import default_db_path, default_ui_dir
from noetl.server.playbook import PlaybookError, parse_playbook

log = logging.getLogger("noetl.server")

__all__ = ["ApiError", "NOT_INITIALIZED", "UIFiles", "create_app"]

UI_NOT_BUILT = (
    "The NoETL web UI was not built, so there is nothing to show at /.\n"
    "Build it from a source checkout with:\n"
    "    cd ui-src && npm ci && npm run build\n"
    "(it writes noetl/core/ui/), then restart the server.\n"
    "The HTTP API works without it: see /health and /docs.\n"
)


class RegisterRequest(BaseModel):
    content_base64: str


def _is_api_path(scope: Scope) -> bool:
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path == "/api" or path.startswith("/api/")


class UIFiles:
    """Serve the built UI from ``directory``, or a 503 at ``/`` when it was not built.

    Whether the UI exists is checked on each request, so building it while the
    server runs needs no restart.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._static = StaticFiles(directory=str(self.directory), html=True, check_dir=False)

    def built(self) -> bool:
        return (self.directory / "index.html").is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_api_path(scope):
            # An unknown API route: the JSON error shape, not a UI page.
            await error_response(404, "Not Found")(scope, receive, send)
            return
        if scope["type"] == "http" and not self.built():
            path = scope.get("path", "/")
            root = scope.get("root_path", "")
            if path in ("", "/", root, root + "/") or path.endswith("/index.html"):
                response = PlainTextResponse(UI_NOT_BUILT, status_code=503)
            else:
                response = PlainTextResponse("Not Found", status_code=404)
            await response(scope, receive, send)
            return
        await self._static(scope, receive, send)


def create_app(
    db_path: str | Path | None = None,
    ui_dir: str | Path | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """Build the app for the SQLite database at ``db_path`` (default per docs/api.md).

    ``limits`` default: :func:`noetl.server.limits.server_limits` for the default
    host (127.0.0.1) and the environment.
    """
    if limits is None:
        limits = server_limits(host="127.0.0.1")
    database = Database(db_path if db_path is not None else default_db_path())
    ui = UIFiles(Path(ui_dir) if ui_dir is not None else default_ui_dir())

    app = FastAPI(title="NoETL", version=__version__)
    app.state.database = database
    app.state.ui = ui
    app.state.limits = limits

    install_error_handlers(app)
    # Added last = runs first: the Host check, then the body limit, then the app.
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    app.add_middleware(HostCheckMiddleware, limits=limits)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "database": str(database.path)}

    @app.post("/api/db/init")
    def db_init() -> dict[str, Any]:
        tables = database.init()
        log.info("database initialized at %s: tables %s", database.path, ", ".join(tables))
        return {"status": "initialized", "tables": tables}

    @app.get("/api/db/validate")
    def db_validate() -> dict[str, Any]:
        return database.validate()

    @app.post("/api/catalog/register", status_code=201)
    def catalog_register(body: RegisterRequest) -> dict[str, Any]:
        try:
            playbook = parse_playbook(body.content_base64)
        except PlaybookError as exc:
            raise ApiError(400, str(exc)) from None
        entry = database.register(
            playbook.path, playbook.name, playbook.kind, playbook.content
        )
        log.info("registered %s version %d", entry["path"], entry["version"])
        return entry

    @app.get("/api/catalog")
    def catalog_list() -> dict[str, Any]:
        return {"items": database.list_latest()}

    @app.get("/api/catalog/{path:path}")
    def catalog_get(
        path: str,
        # Bounded to SQLite's INTEGER: a larger number cannot be a version.
        version: Optional[int] = Query(default=None, ge=MIN_VERSION, le=MAX_VERSION),
    ) -> dict[str, Any]:
        entry = database.get(path, version)
        if entry is None:
            raise ApiError(404, "playbook '%s' not found" % path)
        return entry

    # Last, so that it never shadows an API route.
    app.mount("/", ui, name="ui")
    return app
