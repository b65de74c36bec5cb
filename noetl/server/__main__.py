"""``python -m noetl.server``: run the NoETL server with uvicorn.

This is what ``noetl server start`` runs (docs/api.md, "Process contract").
Logs go to stdout. SIGTERM and Ctrl+C shut the server down gracefully (uvicorn
handles both) with exit status 0.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import signal
import sys
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m noetl.server",
        description="Run the NoETL server (HTTP API and web UI).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to bind (default %(default)s)")
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="SQLite database file (default: $NOETL_DB, else <NOETL_HOME>/noetl.db)",
    )
    parser.add_argument(
        "--init-db",
        action="store_true",
        help="create the database tables (idempotent) before serving",
    )
    parser.add_argument(
        "--max-body-size",
        metavar="SIZE",
        default=None,
        help="largest request body accepted, in bytes or with KiB/MiB "
        "(default: $NOETL_MAX_BODY_SIZE, else 2MiB); larger ones get 413",
    )
    parser.add_argument(
        "--allow-host",
        metavar="NAME",
        action="append",
        default=None,
        help="also answer requests whose Host header names NAME (repeatable; "
        "default: $NOETL_ALLOWED_HOSTS, comma-separated); localhost, 127.0.0.1, "
        "[::1] and --host are always allowed; '*' allows any Host",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default %(default)s)",
    )
    return parser


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the ``noetl`` logger, all to stdout."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
            },
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["stdout"], "level": upper, "propagate": False},
            "noetl": {"handlers": ["stdout"], "level": upper, "propagate": False},
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print("python -m noetl.server: --port must be 0-65535", file=sys.stderr)
        return 2

    # Light (stdlib only): the limits are checked before the heavy imports.
    from noetl.server.limits import SettingError, server_limits

    try:
        limits = server_limits(
            host=args.host, max_body=args.max_body_size, allow_hosts=args.allow_host
        )
    except SettingError as exc:
        print("python -m noetl.server: %s" % exc, file=sys.stderr)
        return 2

    logging.config.dictConfig(log_config(args.log_level))
    log = logging.getLogger("noetl.server")

    # Heavy imports only once the arguments are known to be good.
    import uvicorn

    from noetl import __version__
    from noetl.server.app import create_app
    from noetl.server.db import Database
    from noetl.server.paths import default_db_path

    db_path = Path(args.db).expanduser() if args.db else default_db_path()
    db_path = db_path.absolute()
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.error("cannot create the database directory %s: %s", db_path.parent, exc)
        return 1

    if args.init_db:
        try:
            tables = Database(db_path).init()
        except Exception as exc:
            log.error("database init failed for %s: %s", db_path, exc)
            return 1
        log.info("database initialized at %s: tables %s", db_path, ", ".join(tables))

    app = create_app(db_path=db_path, limits=limits)
    ui = app.state.ui
    log.info("NoETL server %s, database %s", __version__, db_path)
    log.info(
        "limits: request body %d bytes; Host %s",
        limits.max_body_bytes,
        "any (no check)" if limits.allowed_hosts is None else ", ".join(sorted(limits.allowed_hosts)),
    )
    if ui.built():
        log.info("serving the web UI from %s", ui.directory)
    else:
        log.warning(
            "web UI not built (%s has no index.html): / answers 503; "
            "build it with 'npm ci && npm run build' in ui-src/",
            ui.directory,
        )

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(args.log_level),
        log_level=args.log_level,
    )
    server = uvicorn.Server(config)

    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then re-raises the
    # signal to the handler that was in place before it started. These
    # handlers take it, so that a requested stop ends with exit status 0.
    stop_signals: list[int] = []

    def _stopped(signum: int, frame: Any) -> None:
        stop_signals.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped)

    server.run()
    if stop_signals:
        log.info("stopped by %s", signal.Signals(stop_signals[0]).name)
    # uvicorn sets `started` once it has bound and served; a failed bind
    # (port in use) exits before this with status 1 or 3.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
