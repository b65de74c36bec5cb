"""ASGI middlewares that turn hostile requests away before any endpoint runs.

:class:`HostCheckMiddleware` (outermost) refuses a ``Host`` the server was not
started for (DNS rebinding); :class:`BodyLimitMiddleware` refuses a body larger
than the limit without reading more of it than the limit. Both answer with the
JSON error shape (:func:`noetl.server.errors.error_response`); their settings
are a :class:`noetl.server.limits.Limits`.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from noetl.server.errors import error_response
from noetl.server.limits import DRAIN_MAX_BYTES, DRAIN_MAX_SECONDS, Limits

_CLOSE = {"Connection": "close"}


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]


class HostCheckMiddleware:
    """400 unless the request has exactly one ``Host`` header naming an allowed host."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.limits.allowed_hosts is None:
            await self.app(scope, receive, send)
            return
        hosts = _header_values(scope, b"host")
        if len(hosts) == 1 and self.limits.host_allowed(hosts[0]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if not hosts:
            detail = "missing Host header"
        elif len(hosts) > 1:
            detail = "more than one Host header"
        else:
            detail = (
                "host %r is not allowed: this server answers for %s "
                "(add names with --allow-host or $NOETL_ALLOWED_HOSTS)"
                % (hosts[0], ", ".join(sorted(self.limits.allowed_hosts)))
            )
        await error_response(400, detail, _CLOSE)(scope, receive, send)


class BodyLimitMiddleware:
    """413 for a body over ``limits.max_body_bytes``: by ``Content-Length`` before
    reading, else (chunked) as soon as the bytes read pass the limit.

    The body is read here, up to the limit, and handed on in one message. A body refused by its
    Content-Length is answered at once, then drained (read and dropped, at most DRAIN_MAX_BYTES
    in DRAIN_MAX_SECONDS) before the connection closes, so that a client still writing it gets
    the answer rather than a broken pipe.
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limit = limits.max_body_bytes

    def _too_large(self) -> str:
        return "request body too large: the limit is %d bytes (--max-body-size)" % self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = _header_values(scope, b"content-length")
        if lengths:
            length = lengths[0].strip()
            if len(set(lengths)) != 1 or not (length.isascii() and length.isdigit()):
                await error_response(400, "invalid Content-Length header", _CLOSE)(scope, receive, send)
                return
            if int(length) > self.limit:
                await self._refuse_and_drain(int(length), receive, send)
                return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await error_response(413, self._too_large(), _CLOSE)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body = b"".join(chunks)
        del chunks
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse_and_drain(self, length: int, receive: Receive, send: Send) -> None:
        response = error_response(413, self._too_large(), _CLOSE)
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": response.raw_headers})
        # The whole answer goes out now; the empty last part, which closes the connection, waits
        # for the drain.
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        left = min(length, DRAIN_MAX_BYTES)
        with anyio.move_on_after(DRAIN_MAX_SECONDS):
            while left > 0:
                message = await receive()
                if message["type"] != "http.request":
                    break
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
