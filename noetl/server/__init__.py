"""The NoETL server: ``python -m noetl.server`` (Starlette + uvicorn, SQLite catalog).

The HTTP contract is docs/api.md. This package module stays import-free so that
``python -m noetl.server --help`` answers without loading Starlette; the app
itself is built by :func:`noetl.server.app.create_app`.
"""
