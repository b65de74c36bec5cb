"""Every error answer of the server: ``{"detail": "<one line>"}`` JSON (docs/api.md).

:func:`error_response` is the one place such a body is made; the exception
handlers in :data:`EXCEPTION_HANDLERS` and the guard middlewares
(:mod:`noetl.server.guard`) all answer through it.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, Callable, Mapping, Optional

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from noetl.server.db import NotInitializedError
from noetl.server.limits import MAX_DETAIL_CHARS

log = logging.getLogger("noetl.server")

NOT_INITIALIZED = "database not initialized: run 'noetl db init'"
INTERNAL_ERROR = "internal server error (the server log has the details)"


class ApiError(Exception):
    """An error answer: raise it from an endpoint to reply ``status_code`` with ``detail``."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def one_line(text: object) -> str:
    """``text`` on one line, at most MAX_DETAIL_CHARS, always encodable as UTF-8."""
    line = " ".join(str(text).split())
    if len(line) > MAX_DETAIL_CHARS:
        line = line[: MAX_DETAIL_CHARS - 3] + "..."
    # A lone surrogate (from a client's \\ud800 escape) cannot be UTF-8: show it escaped.
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(
    status_code: int, detail: object, headers: Optional[Mapping[str, str]] = None
) -> JSONResponse:
    """The error answer: ``status_code`` with ``{"detail": "<one line>"}``."""
    return JSONResponse(
        status_code=status_code,
        content={"detail": one_line(detail)},
        headers=dict(headers) if headers else None,
    )


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.detail)


def _not_initialized(request: Request, exc: Exception) -> JSONResponse:
    return error_response(503, NOT_INITIALIZED)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # Routing's 404/405 (with its Allow header), the UI's missing files.
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


def _db_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(500, "database error: %s" % exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The last resort (Starlette's ServerErrorMiddleware calls it for any other exception,
    # then re-raises it to the ASGI server): a bug, never the client's input. The traceback
    # goes to the log, not to the client.
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR)


# Every error the app answers, expected or not, in the JSON error shape: Starlette(exception_handlers=...).
EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], JSONResponse]] = {
    ApiError: _api_error,
    NotInitializedError: _not_initialized,
    HTTPException: _http_error,
    sqlite3.Error: _db_error,
    Exception: _unexpected,
}
