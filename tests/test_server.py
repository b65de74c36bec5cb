"""The NoETL server against the HTTP contract (docs/api.md), on a temporary SQLite db."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import noetl
from noetl.server import paths
from noetl.server.app import NOT_INITIALIZED, create_app
from noetl.server.db import Database

FIXTURE = Path(__file__).parent / "fixtures" / "hello_playbook.yaml"


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def playbook(path: str = "examples/hello", name: str = "hello", extra: str = "") -> str:
    return (
        "apiVersion: noetl.io/v1\n"
        "kind: Playbook\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  path: {path}\n" + extra
    )


def register(client: TestClient, text: str | bytes):
    return client.post("/api/catalog/register", json={"content_base64": b64(text)})


@pytest.fixture
def ui_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "ui"
    directory.mkdir()
    return directory


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "noetl.db"


@pytest.fixture
def raw_client(db_path: Path, ui_dir: Path) -> TestClient:
    """A client whose database was never initialized."""
    with TestClient(create_app(db_path=db_path, ui_dir=ui_dir)) as client:
        yield client


@pytest.fixture
def client(raw_client: TestClient) -> TestClient:
    assert raw_client.post("/api/db/init").status_code == 200
    return raw_client


# -- health ---------------------------------------------------------------------


def test_health(raw_client: TestClient, db_path: Path) -> None:
    response = raw_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": noetl.__version__,
        "database": str(db_path),
    }


# -- db init / validate -----------------------------------------------------------


def test_validate_before_init(raw_client: TestClient) -> None:
    response = raw_client.get("/api/db/validate")
    assert response.status_code == 200
    assert response.json() == {"valid": False, "tables": [], "missing": ["catalog"]}


def test_init_creates_tables_and_is_idempotent(raw_client: TestClient, db_path: Path) -> None:
    for _ in range(2):
        response = raw_client.post("/api/db/init")
        assert response.status_code == 200
        assert response.json() == {"status": "initialized", "tables": ["catalog"]}
    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(catalog)")]
    assert {"path", "name", "kind", "version", "content", "registered_at"} <= set(columns)
    response = raw_client.get("/api/db/validate")
    assert response.json() == {"valid": True, "tables": ["catalog"], "missing": []}


def test_init_keeps_existing_rows(client: TestClient) -> None:
    assert register(client, playbook()).status_code == 201
    assert client.post("/api/db/init").status_code == 200
    assert [i["path"] for i in client.get("/api/catalog").json()["items"]] == ["examples/hello"]


def test_ddl_files_are_applied_in_sorted_order(tmp_path: Path) -> None:
    ddl = tmp_path / "ddl"
    ddl.mkdir()
    # 002 depends on 001: only sorted order works.
    (ddl / "002_b.sql").write_text("CREATE TABLE IF NOT EXISTS b (id INTEGER REFERENCES a(id));\n"
                                   "INSERT INTO a (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM a);\n")
    (ddl / "001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (id INTEGER PRIMARY KEY);\n")
    database = Database(tmp_path / "x.db", ddl_directory=ddl)
    assert database.expected_tables() == ["a", "b"]
    assert database.init() == ["a", "b"]
    assert database.init() == ["a", "b"]


def test_shipped_ddl_sqlite_and_postgres_define_the_same_tables() -> None:
    sqlite_dir = paths.ddl_dir("sqlite")
    postgres_dir = paths.ddl_dir("postgres")
    assert sorted(p.name for p in sqlite_dir.glob("*.sql"))
    assert sorted(p.name for p in sqlite_dir.glob("*.sql")) == sorted(
        p.name for p in postgres_dir.glob("*.sql")
    )

    def columns(directory: Path) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for sql in sorted(directory.glob("*.sql")):
            text = re.sub(r"--[^\n]*", "", sql.read_text())
            for table, body in re.findall(
                r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\);", text, re.S
            ):
                cols = [line.split()[0] for line in body.strip().splitlines()]
                found[table] = [c for c in cols if c.isidentifier() and c.upper() != "UNIQUE"]
        return found

    assert columns(sqlite_dir) == columns(postgres_dir)
    assert "catalog" in columns(sqlite_dir)


# -- 503 before init ----------------------------------------------------------------


@pytest.mark.parametrize(
    "method,url",
    [
        ("GET", "/api/catalog"),
        ("GET", "/api/catalog/examples/hello"),
        ("GET", "/api/catalog/examples/hello?version=1"),
        ("POST", "/api/catalog/register"),
    ],
)
def test_catalog_routes_before_init_are_503(raw_client: TestClient, method: str, url: str) -> None:
    kwargs = {"json": {"content_base64": b64(playbook())}} if method == "POST" else {}
    response = raw_client.request(method, url, **kwargs)
    assert response.status_code == 503
    assert response.json() == {"detail": NOT_INITIALIZED}
    assert NOT_INITIALIZED == "database not initialized: run 'noetl db init'"


# -- register -------------------------------------------------------------------------


def test_register_returns_entry(client: TestClient) -> None:
    before = datetime.now(timezone.utc)
    response = register(client, playbook())
    after = datetime.now(timezone.utc)
    assert response.status_code == 201
    entry = response.json()
    assert set(entry) == {"path", "name", "kind", "version", "registered_at"}
    assert entry["path"] == "examples/hello"
    assert entry["name"] == "hello"
    assert entry["kind"] == "Playbook"
    assert entry["version"] == 1
    stamp = datetime.fromisoformat(entry["registered_at"].replace("Z", "+00:00"))
    assert stamp.utcoffset().total_seconds() == 0
    assert before.replace(microsecond=0) <= stamp <= after


def test_register_the_fixture(client: TestClient) -> None:
    response = register(client, FIXTURE.read_bytes())
    assert response.status_code == 201, response.text
    assert response.json()["path"] == "examples/hello"
    got = client.get("/api/catalog/examples/hello").json()
    assert got["content"] == FIXTURE.read_text(encoding="utf-8")


def test_versions_increment_per_path(client: TestClient) -> None:
    versions = [register(client, playbook()).json()["version"] for _ in range(3)]
    assert versions == [1, 2, 3]
    assert register(client, playbook("other/one", "one")).json()["version"] == 1
    assert register(client, playbook()).json()["version"] == 4


def test_register_accepts_line_wrapped_base64(client: TestClient) -> None:
    encoded = b64(playbook(extra="description: " + "x" * 200 + "\n"))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"
    response = client.post("/api/catalog/register", json={"content_base64": wrapped})
    assert response.status_code == 201, response.text


BAD_CASES = {
    "not-base64": ("!!! not base64 !!!", "base64"),
    "truncated-base64": ("YWJjZA=", "base64"),
    "not-utf8": (base64.b64encode(b"\xff\xfe\xfa kind: x").decode(), "UTF-8"),
    "not-yaml": (b64("apiVersion: v1\nkind: [Playbook\n"), "YAML"),
    "two-documents": (b64(playbook() + "---\n" + playbook()), "YAML"),
    "empty": (b64(""), "mapping"),
    "a-list": (b64("- kind: Playbook\n"), "mapping"),
    "a-scalar": (b64("just a string\n"), "mapping"),
    "kind-missing": (b64(playbook().replace("kind: Playbook\n", "")), "kind"),
    "kind-wrong": (b64(playbook().replace("kind: Playbook", "kind: Dataset")), "kind"),
    "kind-lowercase": (b64(playbook().replace("kind: Playbook", "kind: playbook")), "kind"),
    "apiVersion-missing": (b64(playbook().replace("apiVersion: noetl.io/v1\n", "")), "apiVersion"),
    "metadata-missing": (b64("apiVersion: noetl.io/v1\nkind: Playbook\n"), "metadata"),
    "metadata-not-mapping": (b64("apiVersion: v1\nkind: Playbook\nmetadata: [a]\n"), "metadata"),
    "name-missing": (b64(playbook().replace("  name: hello\n", "")), "metadata.name"),
    "name-empty": (b64(playbook(name='""')), "metadata.name"),
    "path-missing": (b64(playbook().replace("  path: examples/hello\n", "")), "metadata.path"),
    "path-not-string": (b64(playbook(path="[a, b]")), "metadata.path"),
    "path-leading-slash": (b64(playbook(path="/abs/path")), "metadata.path"),
    "path-dotdot": (b64(playbook(path="a/../b")), "metadata.path"),
    "path-double-slash": (b64(playbook(path="a//b")), "metadata.path"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_register_rejects_bad_content(client: TestClient, case: str) -> None:
    content, keyword = BAD_CASES[case]
    response = client.post("/api/catalog/register", json={"content_base64": content})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "\n" not in detail
    assert keyword in detail, detail
    # nothing was stored
    assert client.get("/api/catalog").json() == {"items": []}


@pytest.mark.parametrize(
    "body",
    [{}, {"content": "eA=="}, {"content_base64": 5}, [1, 2]],
    ids=["empty", "wrong-field", "not-a-string", "not-an-object"],
)
def test_register_rejects_bad_request_body(client: TestClient, body) -> None:
    response = client.post("/api/catalog/register", json=body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail


def test_register_rejects_non_json_body(client: TestClient) -> None:
    response = client.post(
        "/api/catalog/register", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


# -- list -------------------------------------------------------------------------------


def test_list_is_latest_version_per_path_sorted(client: TestClient) -> None:
    assert client.get("/api/catalog").json() == {"items": []}
    register(client, playbook("zeta/last", "last"))
    register(client, playbook("alpha/first", "first"))
    register(client, playbook("alpha/first", "first-renamed"))
    register(client, playbook("mid", "mid"))
    response = client.get("/api/catalog")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["path"], i["version"], i["name"]) for i in items] == [
        ("alpha/first", 2, "first-renamed"),
        ("mid", 1, "mid"),
        ("zeta/last", 1, "last"),
    ]
    for item in items:
        assert set(item) == {"path", "name", "kind", "version", "registered_at"}
        assert item["kind"] == "Playbook"


# -- get ----------------------------------------------------------------------------------


def test_get_latest_and_by_version(client: TestClient) -> None:
    v1 = playbook(extra="workload:\n  n: 1\n")
    v2 = playbook(extra="workload:\n  n: 2\n")
    register(client, v1)
    register(client, v2)

    latest = client.get("/api/catalog/examples/hello")
    assert latest.status_code == 200
    body = latest.json()
    assert body["version"] == 2
    assert body["content"] == v2
    assert set(body) == {"path", "name", "kind", "version", "registered_at", "content"}

    first = client.get("/api/catalog/examples/hello", params={"version": 1})
    assert first.status_code == 200
    assert first.json()["version"] == 1
    assert first.json()["content"] == v1


def test_get_keeps_content_byte_for_byte(client: TestClient) -> None:
    text = playbook(extra="# comment kept\nnote: 'ünïcødé ☃'\nlist: [1,   2]\n\n")
    register(client, text)
    assert client.get("/api/catalog/examples/hello").json()["content"] == text


def test_get_deep_path(client: TestClient) -> None:
    register(client, playbook("a/b/c/d", "deep"))
    response = client.get("/api/catalog/a/b/c/d")
    assert response.status_code == 200
    assert response.json()["name"] == "deep"


@pytest.mark.parametrize(
    "url,path",
    [
        ("/api/catalog/nope", "nope"),
        ("/api/catalog/examples/nope", "examples/nope"),
        ("/api/catalog/examples/hello?version=2", "examples/hello"),
        ("/api/catalog/examples/hello?version=0", "examples/hello"),
        ("/api/catalog/examples", "examples"),
    ],
)
def test_get_unknown_is_404(client: TestClient, url: str, path: str) -> None:
    register(client, playbook())
    response = client.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": f"playbook '{path}' not found"}


def test_get_bad_version_is_400(client: TestClient) -> None:
    register(client, playbook())
    response = client.get("/api/catalog/examples/hello", params={"version": "latest"})
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


# -- the web UI ------------------------------------------------------------------------------


def test_ui_not_built_gives_503_with_instructions(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert "not built" in response.text
    assert "npm ci && npm run build" in response.text
    assert "ui-src" in response.text
    # the API still works
    assert client.get("/health").status_code == 200
    assert client.get("/assets/app.js").status_code == 404


def test_ui_is_served_when_built(client: TestClient, ui_dir: Path) -> None:
    (ui_dir / "index.html").write_text("<!doctype html><title>NoETL test UI</title>")
    (ui_dir / "assets").mkdir()
    (ui_dir / "assets" / "app.js").write_text("console.log('noetl');")
    response = client.get("/")
    assert response.status_code == 200
    assert "NoETL test UI" in response.text
    assert response.headers["content-type"].startswith("text/html")
    asset = client.get("/assets/app.js")
    assert asset.status_code == 200
    assert "console.log" in asset.text
    # API routes are not shadowed by the UI mount
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/api/catalog").json() == {"items": []}
    assert client.get("/api/catalog/missing").status_code == 404


def test_default_ui_dir_is_the_package_core_ui() -> None:
    assert paths.default_ui_dir() == Path(noetl.__file__).resolve().parent / "core" / "ui"


# -- NOETL_HOME / NOETL_DB -------------------------------------------------------------------


def test_noetl_home_and_db_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOETL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NOETL_DB", raising=False)
    assert paths.noetl_home() == tmp_path / "home"
    assert paths.default_db_path() == tmp_path / "home" / "noetl.db"
    monkeypatch.setenv("NOETL_DB", str(tmp_path / "elsewhere.db"))
    assert paths.default_db_path() == tmp_path / "elsewhere.db"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux data dir")
def test_noetl_home_default_on_linux(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOETL_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.noetl_home() == tmp_path / ".local" / "share" / "noetl"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.noetl_home() == tmp_path / "xdg" / "noetl"


# -- the real process: python -m noetl.server -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _start_server(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "noetl.server", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"server exited {proc.returncode}: {out!r} {err!r}")
        try:
            _http("GET", url + "/health")
            return proc, url
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("server did not start")
            time.sleep(0.1)


def _stop(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_server_process_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "dir" / "x.db"
    env = dict(os.environ)
    env.pop("NOETL_DB", None)
    proc, url = _start_server(["--init-db", "--db", str(db)], env, tmp_path)
    try:
        status, health = _http("GET", url + "/health")
        assert status == 200 and health["database"] == str(db)
        status, entry = _http(
            "POST", url + "/api/catalog/register", {"content_base64": b64(FIXTURE.read_bytes())}
        )
        assert status == 201 and entry["version"] == 1
        status, listing = _http("GET", url + "/api/catalog")
        assert [i["path"] for i in listing["items"]] == ["examples/hello"]
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "Application shutdown complete" in out
    assert "stopped by SIGTERM" in out
    assert db.is_file()
    # logs go to stdout
    assert "Uvicorn running" in out or "Application startup complete" in out
    assert "POST /api/catalog/register" in out


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_server_process_defaults_to_noetl_home(tmp_path: Path) -> None:
    home = tmp_path / "not-yet" / "home"
    env = dict(os.environ, NOETL_HOME=str(home))
    env.pop("NOETL_DB", None)
    proc, url = _start_server([], env, tmp_path)
    try:
        status, health = _http("GET", url + "/health")
        assert health["database"] == str(home / "noetl.db")
        assert home.is_dir()
        status, body = _http("GET", url + "/api/catalog")
        assert status == 503 and body == {"detail": NOT_INITIALIZED}
        status, body = _http("POST", url + "/api/db/init")
        assert status == 200 and body["tables"] == ["catalog"]
        status, body = _http("GET", url + "/api/catalog")
        assert status == 200 and body == {"items": []}
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_server_process_uses_noetl_db(tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    env = dict(os.environ, NOETL_DB=str(db), NOETL_HOME=str(tmp_path / "unused"))
    proc, url = _start_server(["--init-db"], env, tmp_path)
    try:
        assert _http("GET", url + "/health")[1]["database"] == str(db)
    finally:
        _stop(proc)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM catalog").fetchone() == (0,)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_server_process_ctrl_c_is_a_clean_stop(tmp_path: Path) -> None:
    env = dict(os.environ)
    proc, url = _start_server(["--db", str(tmp_path / "c.db")], env, tmp_path)
    code, out, err = _stop(proc, signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "Application shutdown complete" in out


def test_server_help_does_not_need_a_port(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "noetl.server", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0
    for option in ("--host", "--port", "--db", "--init-db"):
        assert option in proc.stdout
