"""The Starlette application: the HTTP contract of docs/api.md plus the web UI at ``/``.

Plain Starlette (no FastAPI, no pydantic): every dependency of the server is pure Python, so
``pip install noetl`` needs no compiler on any platform. Request bodies and query parameters
are checked here by hand, each refusal a 400 in the JSON error shape.
"""

from __future__ import annotations

import html
import json
import logging
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from noetl import __version__
from noetl.server.db import Database
from noetl.server.errors import EXCEPTION_HANDLERS, NOT_INITIALIZED, ApiError, error_response
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


_JSON_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json\s*(?:;.*)?", re.IGNORECASE | re.DOTALL)
_INTEGER = re.compile(r"[+-]?[0-9]{1,25}")


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid request: " + detail)


def _json_object(request: Request, body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, else a 400 saying what is wrong with it."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _JSON_TYPE.fullmatch(content_type.strip()):
        raise _invalid("body: must be JSON (Content-Type: application/json)")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a bad encoding, 4300+ digits
        raise _invalid("body: not valid JSON: %s" % (exc if not isinstance(exc, RecursionError) else "nested too deeply")) from None
    if not isinstance(value, dict):
        raise _invalid("body: must be a JSON object, got %s" % _json_type(value))
    return value


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _string_field(payload: dict[str, Any], name: str) -> str:
    if name not in payload:
        raise _invalid("%s: field required" % name)
    value = payload[name]
    if not isinstance(value, str):
        raise _invalid("%s: must be a string, got %s" % (name, _json_type(value)))
    return value


def _version_query(request: Request) -> int | None:
    """``?version=N``: None when absent; an integer in SQLite's range, else a 400."""
    text = request.query_params.get("version")
    if text is None:
        return None
    if not _INTEGER.fullmatch(text) or not MIN_VERSION <= int(text) <= MAX_VERSION:
        raise _invalid("query.version: must be an integer from %d to %d" % (MIN_VERSION, MAX_VERSION))
    return int(text)


def _is_api_path(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
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
) -> Starlette:
    """Build the app for the SQLite database at ``db_path`` (default per docs/api.md).

    ``limits`` default: :func:`noetl.server.limits.server_limits` for the default
    host (127.0.0.1) and the environment.
    """
    if limits is None:
        limits = server_limits(host="127.0.0.1")
    database = Database(db_path if db_path is not None else default_db_path())
    ui = UIFiles(Path(ui_dir) if ui_dir is not None else default_ui_dir())

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "database": str(database.path)})

    def db_init(request: Request) -> JSONResponse:
        tables = database.init()
        log.info("database initialized at %s: tables %s", database.path, ", ".join(tables))
        return JSONResponse({"status": "initialized", "tables": tables})

    def db_validate(request: Request) -> JSONResponse:
        return JSONResponse(database.validate())

    def register(content_base64: str) -> dict[str, Any]:
        try:
            playbook = parse_playbook(content_base64)
        except PlaybookError as exc:
            raise ApiError(400, str(exc)) from None
        entry = database.register(playbook.path, playbook.name, playbook.kind, playbook.content)
        log.info("registered %s version %d", entry["path"], entry["version"])
        return entry

    async def catalog_register(request: Request) -> JSONResponse:
        content = _string_field(_json_object(request, await request.body()), "content_base64")
        return JSONResponse(await run_in_threadpool(register, content), status_code=201)

    def catalog_list(request: Request) -> JSONResponse:
        return JSONResponse({"items": database.list_latest()})

    def catalog_get(request: Request) -> JSONResponse:
        path = request.path_params["path"]
        entry = database.get(path, _version_query(request))
        if entry is None:
            raise ApiError(404, "playbook '%s' not found" % path)
        return JSONResponse(entry)

    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(docs_page(openapi_document()))

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/api/db/init", db_init, methods=["POST"]),
            Route("/api/db/validate", db_validate, methods=["GET"]),
            Route("/api/catalog/register", catalog_register, methods=["POST"]),
            Route("/api/catalog", catalog_list, methods=["GET"]),
            Route("/api/catalog/{path:path}", catalog_get, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            # Last, so that it never shadows an API route.
            Mount("/", app=ui, name="ui"),
        ],
        # Outermost first: the Host check, then the body limit, then the app.
        middleware=[
            Middleware(HostCheckMiddleware, limits=limits),
            Middleware(BodyLimitMiddleware, limits=limits),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    app.state.database = database
    app.state.ui = ui
    app.state.limits = limits
    return app


@cache
def _openapi_template() -> str:
    return resources.files("noetl.server").joinpath("openapi.json").read_text(encoding="utf-8")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI description of docs/api.md's contract (noetl/server/openapi.json), this version."""
    document: dict[str, Any] = json.loads(_openapi_template())
    document["info"]["version"] = __version__
    return document


def docs_page(document: dict[str, Any]) -> str:
    """``/docs``: the operations of ``document`` as one self-contained page (no scripts, no CDN)."""
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = ", ".join(sorted(operation.get("responses", {})))
            rows.append("<tr><td><code>%s</code></td><td><code>%s</code></td><td>%s</td><td>%s</td></tr>" % (
                html.escape(method.upper()), html.escape(path), html.escape(operation.get("summary", "")),
                html.escape(responses)))
    title = html.escape("%s %s" % (document["info"]["title"], document["info"]["version"]))
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s: HTTP API</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>"
        "<h1>%s: HTTP API</h1><p>Errors are <code>{\"detail\": \"&lt;one line&gt;\"}</code> JSON. "
        "The machine-readable description: <a href=\"openapi.json\">openapi.json</a>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>answers</th></tr>%s</table></body></html>"
        % (title, title, "".join(rows))
    )
