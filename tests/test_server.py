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
from starlette.testclient import TestClient

import noetl
from noetl.server import paths
from noetl.server.app import NOT_INITIALIZED, create_app
from noetl.server.db import Database
from noetl.server.errors import INTERNAL_ERROR
from noetl.server.limits import DEFAULT_MAX_BODY_BYTES, Limits, SettingError, server_limits

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
    # 127.0.0.1: the server answers only for the Host names it was started for.
    with TestClient(create_app(db_path=db_path, ui_dir=ui_dir), base_url="http://127.0.0.1") as client:
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
    for option in ("--host", "--port", "--db", "--init-db", "--max-body-size", "--allow-host"):
        assert option in proc.stdout


# -- hostile input: every error is 4xx JSON, limits, Host check -------------------------------


def assert_json_error(response, status: int | None = None) -> str:
    """A 4xx answer in the documented shape; returns its detail."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str), body
    assert "\n" not in body["detail"] and "Traceback" not in body["detail"]
    return body["detail"]


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_map(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


def block_map(depth: int) -> str:
    return "".join("  " * i + "k%d:\n" % i for i in range(depth)) + "  " * depth + "leaf: 1\n"


# Each answered 500 with a plain-text body before.
FORMER_500S = {
    "version-over-sqlite-integer": ("GET", "/api/catalog/examples/hello?version=99999999999999999999", None),
    "version-under-sqlite-integer": ("GET", "/api/catalog/examples/hello?version=-99999999999999999999", None),
    "version-2-to-63": ("GET", "/api/catalog/examples/hello?version=9223372036854775808", None),
    "surrogate-in-name": ("POST", None, playbook(name='"\\ud800"')),
    "surrogate-in-path": ("POST", None, playbook(path='"a/\\udfff"')),
    "surrogate-in-other-string": ("POST", None, playbook(extra='note: "x\\ud800y"\n')),
    "surrogate-in-key": ("POST", None, playbook(extra='"\\ud83d": 1\n')),
    "deep-flow-list": ("POST", None, playbook(extra="x: " + nested_list(10000) + "\n")),
    "deep-flow-map": ("POST", None, playbook(extra="x: " + nested_map(10000) + "\n")),
    "deep-block-map": ("POST", None, playbook(extra="x:\n" + "\n".join(
        "  " * (i + 1) + "k:" for i in range(600)) + " 1\n")),
}


@pytest.mark.parametrize("case", sorted(FORMER_500S))
def test_former_500s_are_4xx_json(client: TestClient, case: str) -> None:
    method, url, text = FORMER_500S[case]
    register(client, playbook())
    if method == "GET":
        response = client.get(url)
    else:
        response = register(client, text)
    detail = assert_json_error(response, 400)
    if "surrogate" in case:
        assert "surrogate" in detail
    if "deep" in case:
        assert "nested deeper than 100 levels" in detail
    if "version" in case:
        assert "version" in detail
    # nothing new was stored
    assert [(i["path"], i["version"]) for i in client.get("/api/catalog").json()["items"]] == [
        ("examples/hello", 1)
    ]


def test_nesting_up_to_the_limit_is_accepted(client: TestClient) -> None:
    # the mapping at the top, `x`, then 98 lists: 100 levels with the innermost scalar
    response = register(client, playbook(extra="x: " + nested_list(97) + "\n"))
    assert response.status_code == 201, response.text
    response = register(client, playbook(extra="x: " + nested_list(200) + "\n"))
    assert "nested deeper" in assert_json_error(response, 400)


def test_valid_unicode_escapes_are_still_accepted(client: TestClient) -> None:
    # a surrogate pair escape is one valid character (U+1F600)
    response = register(client, playbook(name='"smile \\U0001F600 \\u00e9"'))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "smile \U0001F600 \u00e9"


def test_yaml_merge_bomb_is_refused_quickly(client: TestClient) -> None:
    # each level merges the previous one 10 times: 10**9 entries if expanded
    lines = ["l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for n in range(1, 10):
        refs = ", ".join(["*l%d" % (n - 1)] * 10)
        lines.append("l%d: &l%d {<<: [%s], k%d: 0}" % (n, n, refs, n))
    started = time.monotonic()
    response = register(client, playbook(extra="\n".join(lines) + "\n"))
    assert time.monotonic() - started < 10
    assert "merge keys" in assert_json_error(response, 400)
    # ordinary merges still work
    response = register(client, playbook(extra="base: &b {x: 1}\nuse: {<<: *b, y: 2}\n"))
    assert response.status_code == 201, response.text


def _deep_json(depth: int) -> bytes:
    return b'{"content_base64": ' + b"[" * depth + b"]" * depth + b"}"


# (method, url, request kwargs): none may answer 500 or a non-JSON body.
JSON = {"Content-Type": "application/json"}
HOSTILE = {
    "json-truncated": ("POST", "/api/catalog/register", {"content": b'{"content_base64": "', "headers": JSON}),
    "json-trailing-garbage": ("POST", "/api/catalog/register", {"content": b'{"content_base64": "eA=="} x', "headers": JSON}),
    "json-nan": ("POST", "/api/catalog/register", {"content": b'{"content_base64": NaN}', "headers": JSON}),
    "json-huge-number": ("POST", "/api/catalog/register", {"content": b'{"content_base64": 1e999999}', "headers": JSON}),
    "json-5000-digit-int": ("POST", "/api/catalog/register", {"content": b'{"content_base64": ' + b"9" * 5000 + b"}", "headers": JSON}),
    "json-deep-nesting": ("POST", "/api/catalog/register", {"content": _deep_json(100000), "headers": JSON}),
    "json-null": ("POST", "/api/catalog/register", {"json": None}),
    "json-content-null": ("POST", "/api/catalog/register", {"json": {"content_base64": None}}),
    "json-content-list": ("POST", "/api/catalog/register", {"json": {"content_base64": ["eA=="]}}),
    "json-content-object": ("POST", "/api/catalog/register", {"json": {"content_base64": {"a": 1}}}),
    "json-content-bool": ("POST", "/api/catalog/register", {"json": {"content_base64": True}}),
    "json-lone-surrogate": ("POST", "/api/catalog/register", {"content": b'{"content_base64": "\\ud800"}', "headers": JSON}),
    "json-surrogate-key": ("POST", "/api/catalog/register", {"content": b'{"\\udc00": 1}', "headers": JSON}),
    "body-not-utf8": ("POST", "/api/catalog/register", {"content": b'{"content_base64": "\xff\xfe"}', "headers": JSON}),
    "body-utf16": ("POST", "/api/catalog/register", {"content": '{"content_base64": "eA=="}'.encode("utf-16"), "headers": JSON}),
    "body-form": ("POST", "/api/catalog/register", {"data": {"content_base64": "eA=="}}),
    "body-text-plain": ("POST", "/api/catalog/register", {"content": b"eA==", "headers": {"Content-Type": "text/plain"}}),
    "body-oversize": ("POST", "/api/catalog/register", {"content": b"x" * (DEFAULT_MAX_BODY_BYTES + 1), "headers": JSON}),
    "yaml-nul-byte": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook() + "x: \x00\n")}}),
    "yaml-control-char-name": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(name='"\\e[31mred"'))}}),
    "yaml-c1-control-path": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(path='"a/\\x9bb"'))}}),
    "yaml-bad-timestamp": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="when: 2024-02-30\n"))}}),
    "yaml-bad-int-tag": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="n: !!int abc\n"))}}),
    "yaml-5000-digit-int": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="n: " + "9" * 5000 + "\n"))}}),
    "yaml-python-tag": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="x: !!python/object/apply:os.system ['true']\n"))}}),
    "yaml-unhashable-key": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="? [a, b]\n: 1\n"))}}),
    "yaml-undefined-alias": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(extra="x: *nope\n"))}}),
    "yaml-path-dotdot": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(path="../../etc/passwd"))}}),
    "yaml-path-backslash-dotdot": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(path="a/..\\..\\b/.."))}}),
    "yaml-path-newline": ("POST", "/api/catalog/register", {"json": {"content_base64": b64(playbook(path='"a\\nb"'))}}),
    "url-dotdot-encoded": ("GET", "/api/catalog/%2e%2e/%2e%2e/etc/passwd", {}),
    "url-nul": ("GET", "/api/catalog/a%00b", {}),
    "url-bad-utf8": ("GET", "/api/catalog/a%ff%fe", {}),
    "url-surrogate-utf8": ("GET", "/api/catalog/a%ed%a0%80", {}),
    "url-very-long": ("GET", "/api/catalog/" + "a/" * 3000 + "b", {}),
    "query-version-text": ("GET", "/api/catalog/examples/hello?version=%00", {}),
    "query-version-float": ("GET", "/api/catalog/examples/hello?version=1e400", {}),
    "query-version-repeated": ("GET", "/api/catalog/examples/hello?version=1&version=99999999999999999999", {}),
    "unknown-route": ("GET", "/api/nope", {}),
    "wrong-method": ("DELETE", "/api/catalog/examples/hello", {}),
    "wrong-method-init": ("GET", "/api/db/init", {}),
    "bad-content-length": ("POST", "/api/catalog/register", {"content": b"{}", "headers": {**JSON, "Content-Length": "abc"}}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_never_gets_a_500_or_non_json(client: TestClient, case: str) -> None:
    assert len(HOSTILE) >= 20
    method, url, kwargs = HOSTILE[case]
    try:
        response = client.request(method, url, **kwargs)
    except Exception as exc:  # the test client refusing to send it is no server answer
        pytest.skip("the test client cannot send this request: %s" % exc)
    assert_json_error(response)
    # nothing was stored
    assert client.get("/api/catalog").json() == {"items": []}


def test_unexpected_exception_is_a_json_500_logged_not_echoed(
    db_path: Path, ui_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.routing import Route

    app = create_app(db_path=db_path, ui_dir=ui_dir)

    def boom(request) -> None:
        raise RuntimeError("secret internals /etc/shadow")

    # routes are matched in order: put /boom before the UI mount at /
    app.router.routes.insert(0, Route("/boom", boom, methods=["GET"]))
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        with caplog.at_level("ERROR", logger="noetl.server"):
            response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": INTERNAL_ERROR}
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.name == "noetl.server" and r.exc_info]
    assert logged and "GET /boom" in logged[0].getMessage()
    assert "secret internals" in caplog.text and "Traceback" in caplog.text


# -- body size limit ----------------------------------------------------------------------------


def _small_limit_client(db_path: Path, ui_dir: Path, size: str = "1KiB") -> TestClient:
    limits = server_limits(host="127.0.0.1", max_body=size, environ={})
    return TestClient(create_app(db_path=db_path, ui_dir=ui_dir, limits=limits), base_url="http://127.0.0.1")


def test_default_body_limit_refuses_50_mb_and_stores_nothing(client: TestClient) -> None:
    big = playbook(extra="blob: " + "x" * (50 * 1024 * 1024) + "\n")
    response = register(client, big)
    detail = assert_json_error(response, 413)
    assert str(DEFAULT_MAX_BODY_BYTES) in detail and "--max-body-size" in detail
    assert response.headers.get("connection") == "close"
    assert client.get("/api/catalog").json() == {"items": []}


def test_body_limit_is_exact_and_configurable(db_path: Path, ui_dir: Path) -> None:
    with _small_limit_client(db_path, ui_dir) as client:
        assert client.post("/api/db/init").status_code == 200
        body = json.dumps({"content_base64": b64(playbook())}).encode()
        pad = 1024 - len(body)
        at_limit = body[:-1] + b" " * pad + b"}"
        assert len(at_limit) == 1024
        response = client.post("/api/catalog/register", content=at_limit, headers=JSON)
        assert response.status_code == 201, response.text
        over = body[:-1] + b" " * (pad + 1) + b"}"
        assert_json_error(client.post("/api/catalog/register", content=over, headers=JSON), 413)
        assert [i["version"] for i in client.get("/api/catalog").json()["items"]] == [1]


def test_body_limit_counts_chunked_bodies_and_stops_reading(db_path: Path, ui_dir: Path) -> None:
    """No Content-Length: the limit holds while reading, and the rest is never read."""
    import asyncio

    limits = server_limits(host="127.0.0.1", max_body="64KiB", environ={})
    app = create_app(db_path=db_path, ui_dir=ui_dir, limits=limits)
    Database(db_path).init()
    chunk = b"x" * 16384
    reads = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        assert reads <= 1000, "the server kept reading"
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/catalog/register", "raw_path": b"/api/catalog/register",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8082), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:8082"), (b"content-type", b"application/json"),
                    (b"transfer-encoding", b"chunked")],
    }
    asyncio.run(app(scope, receive, send))
    assert reads == 5  # 4 chunks fill 64 KiB exactly; the 5th passes the limit
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert "too large" in json.loads(body)["detail"]
    assert Database(db_path).list_latest() == []


def test_limits_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert server_limits(environ={}) == Limits()
    assert server_limits(environ={}).max_body_bytes == 2 * 1024 * 1024
    assert server_limits(max_body="512KiB", environ={}).max_body_bytes == 512 * 1024
    assert server_limits(environ={"NOETL_MAX_BODY_SIZE": "3M"}).max_body_bytes == 3 * 1024 * 1024
    # the option wins over the environment
    assert server_limits(max_body="100", environ={"NOETL_MAX_BODY_SIZE": "3M"}).max_body_bytes == 100
    for bad in ("0", "-1", "1x", "1.5MiB", ""):
        if bad:
            with pytest.raises(SettingError):
                server_limits(max_body=bad, environ={})
    hosts = server_limits(host="Example.COM", allow_hosts=["[0:0::1]", "noetl.internal."], environ={})
    assert hosts.allowed_hosts == {"localhost", "127.0.0.1", "::1", "example.com", "noetl.internal"}
    from_env = server_limits(environ={"NOETL_ALLOWED_HOSTS": "a.example, b.example"})
    assert {"a.example", "b.example"} <= from_env.allowed_hosts
    # wildcard bind addresses are not names: not added
    assert server_limits(host="0.0.0.0", environ={}).allowed_hosts == {"localhost", "127.0.0.1", "::1"}
    assert server_limits(allow_hosts=["*"], environ={}).allowed_hosts is None
    with pytest.raises(SettingError):
        server_limits(allow_hosts=["evil.example/x"], environ={})
    monkeypatch.setenv("NOETL_MAX_BODY_SIZE", "nonsense")
    with pytest.raises(SettingError):
        server_limits()


# -- Host header check (DNS rebinding) -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8082", "localhost.evil.example", "127.0.0.1.nip.io",
     "127.0.0.2", "0.0.0.0", "::1", "[::1", "[::2]:8082", "localhost:http", "localhost:123456",
     "local host", "localhost\x00", "[::1]x", "user@localhost", ""],
)
def test_foreign_host_is_refused_and_changes_nothing(raw_client: TestClient, host: str) -> None:
    response = raw_client.post("/api/db/init", headers={"Host": host})
    detail = assert_json_error(response, 400)
    assert "Host" in detail or "host" in detail
    for url in ("/health", "/api/catalog", "/"):
        assert_json_error(raw_client.get(url, headers={"Host": host}), 400)
    # the database was not initialized
    assert raw_client.get("/api/db/validate").json()["valid"] is False


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8082", "LOCALHOST:1", "localhost.:8082", "127.0.0.1", "127.0.0.1:65535",
     "[::1]", "[::1]:8082", "[0:0:0:0:0:0:0:1]:80"],
)
def test_loopback_hosts_are_allowed(raw_client: TestClient, host: str) -> None:
    response = raw_client.post("/api/db/init", headers={"Host": host})
    assert response.status_code == 200, response.text
    assert raw_client.get("/health", headers={"Host": host}).status_code == 200


def test_configured_hosts_are_allowed(db_path: Path, ui_dir: Path) -> None:
    limits = server_limits(host="10.1.2.3", allow_hosts=["noetl.example"], environ={})
    with TestClient(create_app(db_path=db_path, ui_dir=ui_dir, limits=limits)) as client:
        for host in ("10.1.2.3:8082", "noetl.example", "noetl.example:80", "localhost:8082"):
            assert client.get("/health", headers={"Host": host}).status_code == 200, host
        assert_json_error(client.get("/health", headers={"Host": "other.example"}), 400)
        # the test client's own made-up name is foreign too
        assert_json_error(client.get("/health"), 400)
    any_host = server_limits(allow_hosts=["*"], environ={})
    with TestClient(create_app(db_path=db_path, ui_dir=ui_dir, limits=any_host)) as client:
        assert client.get("/health", headers={"Host": "anything.example"}).status_code == 200


def test_missing_or_repeated_host_is_refused(db_path: Path, ui_dir: Path) -> None:
    import asyncio

    app = create_app(db_path=db_path, ui_dir=ui_dir)
    for headers in ([], [(b"host", b"localhost"), (b"host", b"localhost")]):
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/api/db/init", "raw_path": b"/api/db/init", "query_string": b"",
            "root_path": "", "server": ("127.0.0.1", 8082), "client": ("127.0.0.1", 5000), "headers": headers,
        }
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 400
        assert "Host" in json.loads(sent[1]["body"])["detail"]
    assert not db_path.exists() or not Database(db_path).is_initialized()


# -- the real process: limits and Host check over a socket -----------------------------------------


def _raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a raw HTTP/1.1 request to 127.0.0.1:port; return the status and JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    assert b"content-type: application/json" in header.lower(), header
    return status, json.loads(payload[: _content_length(data)])


def _content_length(data: bytes) -> int:
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data.split(b"\r\n\r\n", 1)[0])
    return int(match.group(1)) if match else 1 << 30


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_server_process_enforces_host_and_body_limit(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("NOETL_ALLOWED_HOSTS", None)
    proc, url = _start_server(
        ["--init-db", "--db", str(tmp_path / "h.db"), "--max-body-size", "1KiB"], env, tmp_path
    )
    port = int(url.rsplit(":", 1)[1])
    try:
        status, body = _raw_request(port, f"POST /api/db/init HTTP/1.1\r\nHost: evil.example:{port}\r\nContent-Length: 0\r\n")
        assert status == 400 and "not allowed" in body["detail"]
        for host in (f"[::1]:{port}", f"localhost:{port}", f"127.0.0.1:{port}"):
            status, body = _raw_request(port, f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n")
            assert status == 200 and body["status"] == "ok", host
        # a 50 MB Content-Length is refused on the headers alone
        status, body = _raw_request(
            port,
            f"POST /api/catalog/register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 52428800\r\n",
            b'{"content_base64": "',
        )
        assert status == 413 and "too large" in body["detail"]
        # chunked, no Content-Length: refused once past the limit
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
        status, body = _raw_request(
            port,
            f"POST /api/catalog/register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            chunk * 4,
        )
        assert status == 413
        # the server is still up, and nothing was stored
        status, listing = _http("GET", url + "/api/catalog")
        assert status == 200 and listing == {"items": []}
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "limits: request body 1024 bytes" in out



def _send_all_then_read(port: int, request: bytes) -> tuple[bytes, dict]:
    """The noetl CLI's way: write the whole request (headers and body), only then read, until the
    server closes. Writing fails (broken pipe, reset) if the server stopped reading the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    return header, json.loads(payload)


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_server_process_drains_a_body_over_the_limit_so_the_client_reads_the_413(tmp_path: Path) -> None:
    """Issue 18: a 3 MiB body against the default 2 MiB limit, sent whole before reading. The
    server answers 413 on the Content-Length, reads and drops the body, then closes: the client's
    writes succeed and it reads the reason instead of a broken pipe."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOETL_MAX_BODY_SIZE", "NOETL_ALLOWED_HOSTS")}
    proc, url = _start_server(["--init-db", "--db", str(tmp_path / "d.db")], env, tmp_path)
    port = int(url.rsplit(":", 1)[1])
    size = 3 * 1024 * 1024
    body = b'{"content_base64": "' + b"A" * (size - 22) + b'"}'
    assert len(body) == size
    head = (
        f"POST /api/catalog/register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode("ascii")
    try:
        for _ in range(2):  # and again: the drain leaves the server as it was
            header, answer = _send_all_then_read(port, head + body)
            assert header.startswith(b"HTTP/1.1 413 "), header
            assert b"\r\nconnection: close" in header.lower(), header
            assert b"content-type: application/json" in header.lower(), header
            assert answer == {"detail": "request body too large: the limit is %d bytes (--max-body-size)"
                              % DEFAULT_MAX_BODY_BYTES}
        status, listing = _http("GET", url + "/api/catalog")
        assert status == 200 and listing == {"items": []}
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "Traceback" not in out + err


def _over_the_limit_scope() -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/catalog/register", "raw_path": b"/api/catalog/register",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8082), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:8082"), (b"content-type", b"application/json"),
                    (b"content-length", b"104857600")],
    }


def test_drain_after_a_413_is_bounded_in_bytes(db_path: Path, ui_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 100 MB Content-Length: the 413 goes out before anything is read, then at most the drain
    cap is read (and dropped), then the response ends (which closes the connection)."""
    import asyncio

    from noetl.server import guard

    monkeypatch.setattr(guard, "DRAIN_MAX_BYTES", 256 * 1024)
    limits = server_limits(host="127.0.0.1", max_body="64KiB", environ={})
    app = create_app(db_path=db_path, ui_dir=ui_dir, limits=limits)
    events: list[dict] = []

    async def receive() -> dict:
        events.append({"type": "read"})
        assert len(events) <= 1000, "the drain kept reading"
        return {"type": "http.request", "body": b"x" * 16384, "more_body": True}

    async def send(message: dict) -> None:
        events.append(message)

    asyncio.run(app(_over_the_limit_scope(), receive, send))
    kinds = [e["type"] for e in events]
    assert kinds == ["http.response.start", "http.response.body"] + ["read"] * 16 + ["http.response.body"]
    assert events[0]["status"] == 413 and (b"connection", b"close") in events[0]["headers"]
    assert "too large" in json.loads(events[1]["body"])["detail"] and events[1]["more_body"] is True
    assert events[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_drain_after_a_413_is_bounded_in_time(db_path: Path, ui_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that announces a large body and sends nothing more does not hold the server: the
    drain gives up after DRAIN_MAX_SECONDS and the response ends."""
    import asyncio

    from noetl.server import guard

    monkeypatch.setattr(guard, "DRAIN_MAX_SECONDS", 0.2)
    limits = server_limits(host="127.0.0.1", max_body="64KiB", environ={})
    app = create_app(db_path=db_path, ui_dir=ui_dir, limits=limits)
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(_over_the_limit_scope(), receive, send), timeout=20))
    assert sent[0]["status"] == 413
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


# -- the API's own description ------------------------------------------------------------------------


def test_openapi_and_docs_describe_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    spec = document.json()
    assert spec["openapi"].startswith("3.1") and spec["info"]["version"] == noetl.__version__
    routes = {"/health", "/api/db/init", "/api/db/validate", "/api/catalog/register", "/api/catalog",
              "/api/catalog/{path}"}
    assert set(spec["paths"]) == routes
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "<script" not in docs.text and "http" not in docs.text.replace('href="openapi.json"', "")
    for route in routes:
        assert f"<code>{route}</code>" in docs.text
