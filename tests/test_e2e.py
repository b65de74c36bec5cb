"""End to end (issue 4): the wheel built for this host, installed into a fresh venv.

In that venv, with NOETL_HOME and NOETL_CONFIG_DIR in temporary directories:
`noetl --version`, `noetl server start --port P --init-db`, `noetl catalog register`
of tests/fixtures/hello_playbook.yaml, `noetl catalog list --json`, a real headless
Chromium loading the UI (screenshot in test-artifacts/), `noetl server stop` leaving
no process behind, and the one-line errors for a port in use and a stopped server.

The commands run the console script by absolute path with a PATH that does not
contain the venv (so only the interpreter the wrapper hands over can run the
server) and from a working directory holding a decoy `noetl` package that fails
on import (so a server that imports from the current directory instead of the
installed wheel fails loudly). The venv and the running server are module-scoped:
once the wheel exists the file takes seconds, not minutes.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "hello_playbook.yaml"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
PLAYBOOK = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
PLAYBOOK_NAME = PLAYBOOK["metadata"]["name"]  # "hello"
PLAYBOOK_PATH = PLAYBOOK["metadata"]["path"]  # "examples/hello"
GREETING = PLAYBOOK["workload"]["greeting"]  # "Hello, NoETL"
# What the system has on PATH without the venv: /usr/bin/python3 has no Starlette.
SYSTEM_PATH = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])
DECOY_MESSAGE = "DECOY: imported ./noetl from the working directory instead of the installed wheel"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the host wheel is x86_64 Linux; /proc checks"
)


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert response.status == 200, url
        return json.loads(response.read().decode("utf-8"))


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert a clean failure: non-zero exit, nothing on stdout, one `error:` line on stderr."""
    assert proc.returncode != 0, describe(proc)
    assert proc.stdout == "", describe(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr\n{describe(proc)}"
    assert lines[0].startswith("error: "), describe(proc)
    return lines[0]


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat (R, S, Z, ...), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rfind(")") + 1 :].split()[0]


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (dead, waiting to be reaped)."""
    return proc_state(pid) not in (None, "Z", "X")


def proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def processes_mentioning(*needles: str) -> list[tuple[int, str]]:
    """Live processes (not this one) whose command line or environment contains a needle."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if not process_alive(pid):
            continue
        texts = []
        for name in ("cmdline", "environ"):
            try:
                texts.append((entry / name).read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
        text = " ".join(texts)
        hits = [needle for needle in needles if needle in text]
        if hits:
            found.append((pid, f"{' '.join(proc_cmdline(pid))}  [matches {hits}]"))
    return found


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_colours(path: Path, enough: int) -> int:
    """Distinct pixel colours of an 8-bit RGB/RGBA PNG (a blank page has one), counted up to `enough`."""
    data = path.read_bytes()
    width, height = png_size(path)
    depth, colour_type = data[24], data[25]
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format {depth=} {colour_type=}"
    bpp = 3 if colour_type == 2 else 4
    idat, pos = b"", 8
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    previous, colours = bytearray(stride), set()
    for y in range(height):
        start = y * (stride + 1)
        filter_type, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        colours.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp))
        if len(colours) >= enough:
            break
        previous = line
    return len(colours)


@dataclass
class Venv:
    root: Path
    home: Path  # NOETL_HOME
    config: Path  # NOETL_CONFIG_DIR
    workdir: Path  # cwd of every command, holds the decoy ./noetl package
    tmp: Path
    version: str  # of the installed noetl distribution
    env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def noetl(self) -> Path:
        return self.root / "bin" / "noetl"

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def run(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.noetl), *map(str, args)],
            cwd=self.workdir, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def server_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"


@dataclass
class Server:
    venv: Venv
    port: int
    start: subprocess.CompletedProcess[str]
    pid_info: dict

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.pid_info["pid"]

    def cli(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        return self.venv.run("--port", str(self.port), *args, **kwargs)


def clean_env(tmp: Path, home: Path, config: Path) -> dict[str, str]:
    """The user's environment minus anything that could steer noetl or Python elsewhere."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("NOETL_", "PYTHON", "VIRTUAL_ENV", "CONDA", "PIP_REQUIRE"))
    }
    env.update(
        PATH=SYSTEM_PATH,
        HOME=str(tmp / "user-home"),  # no ~/.config/noetl or ~/.local/share/noetl of the user
        NOETL_HOME=str(home),
        NOETL_CONFIG_DIR=str(config),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
    )
    (tmp / "user-home").mkdir(exist_ok=True)
    return env


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def venv(host_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the host wheel installed (and its dependencies from the registry)."""
    tmp = tmp_path_factory.mktemp("e2e")
    root = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    pip = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "--no-compile", str(host_wheel)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert pip.returncode == 0, f"pip install {host_wheel.name} failed\n{describe(pip)}"

    workdir = tmp / "work"
    decoy = workdir / "noetl"
    (decoy / "server").mkdir(parents=True)
    (decoy / "__init__.py").write_text(f"raise SystemExit({DECOY_MESSAGE!r})\n")
    (decoy / "server" / "__init__.py").write_text("")
    (decoy / "server" / "__main__.py").write_text(f"raise SystemExit({DECOY_MESSAGE!r})\n")

    version = subprocess.run(
        [str(root / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('noetl'))"],
        capture_output=True, text=True, check=True, cwd=tmp,
    ).stdout.strip()
    home, config = tmp / "noetl-home", tmp / "noetl-config"
    return Venv(root=root, home=home, config=config, workdir=workdir, tmp=tmp, version=version,
                env=clean_env(tmp, home, config))


def _kill_leftovers(venv: Venv, pid: int | None) -> None:
    """Last resort in the finalizer: whatever the CLI failed to stop, end it here."""
    pids = {p for p, _ in processes_mentioning(str(venv.home), str(venv.root))}
    if pid is not None and process_alive(pid) and any("noetl" in a for a in proc_cmdline(pid)):
        pids.add(pid)
    for leftover in pids:
        try:
            os.kill(leftover, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server(venv: Venv):
    """`noetl server start --port P --init-db`, stopped (and if need be killed) at the end."""
    port = free_port()
    start = venv.run("--port", str(port), "server", "start", "--init-db")
    pid_info = None
    try:
        if venv.pid_file.exists():
            pid_info = json.loads(venv.pid_file.read_text())
        assert start.returncode == 0, f"{describe(start)}\n--- server log\n{venv.server_log()}"
        assert pid_info is not None, f"no pid file {venv.pid_file} after a successful start"
        yield Server(venv=venv, port=port, start=start, pid_info=pid_info)
    finally:
        if venv.pid_file.exists():
            venv.run("server", "stop", timeout=60)
        _kill_leftovers(venv, pid_info["pid"] if pid_info else None)


@pytest.fixture(scope="module")
def registered(server: Server) -> subprocess.CompletedProcess[str]:
    return server.cli("catalog", "register", FIXTURE)


@pytest.fixture(scope="module")
def stopped(server: Server, registered) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`noetl server stop`, with the pid file as it was just before."""
    before = json.loads(server.venv.pid_file.read_text())
    return server.venv.run("server", "stop", timeout=60), before


def chromium(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile; the whole process group dies after it."""
    profile = Path(tmp) / f"chromium-profile-{time.monotonic_ns()}"
    profile.mkdir()
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--virtual-time-budget=5000", *mode, url,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOETL_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"chromium did not finish loading {url} within 90s\n{stderr[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        shutil.rmtree(profile, ignore_errors=True)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def dump_dom(url: str, tmp: Path) -> str:
    proc = chromium(url, tmp, "--dump-dom")
    assert proc.returncode == 0, f"chromium --dump-dom {url} failed ({proc.returncode})\n{proc.stderr[-3000:]}"
    assert "<html" in proc.stdout, proc.stdout[:2000]
    return proc.stdout


def element(dom: str, testid: str) -> re.Match[str]:
    """The first element with data-testid=<testid>: groups 'attrs' and 'inner' (up to its end tag)."""
    pattern = (r'<(?P<tag>[a-z0-9]+)(?P<attrs>[^>]*\bdata-testid="' + re.escape(testid)
               + r'"[^>]*)>(?P<inner>.*?)</(?P=tag)>')
    match = re.search(pattern, dom, re.S)
    assert match, f"no element with data-testid={testid!r} in the DOM:\n{dom[:4000]}"
    return match


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


# ---------------------------------------------------------------- tests


def test_console_script_prints_the_package_version(venv: Venv, host_wheel: Path) -> None:
    wheel_version = host_wheel.name.split("-")[1]
    assert venv.version == wheel_version, (venv.version, host_wheel.name)
    # The console script, not the binary directly: the wrapper must find bin/noetl next to itself.
    assert "noetl.cli_wrapper" in venv.noetl.read_text(), venv.noetl.read_text()
    proc = venv.run("--version")
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip() == f"noetl {wheel_version}", describe(proc)


def test_server_start_launches_the_venv_interpreter(server: Server) -> None:
    venv = server.venv
    assert f"started at {server.url} (pid {server.pid})" in server.start.stdout, describe(server.start)
    assert server.pid_info == {"pid": server.pid, "host": "127.0.0.1", "port": server.port,
                               "url": server.url}
    assert process_alive(server.pid), f"server pid {server.pid} is not running\n{venv.server_log()}"
    # `<python> -m noetl.server ...` with the interpreter of the venv the wheel went into,
    # although PATH has no venv and NOETL_PYTHON was not set by the caller.
    cmdline = proc_cmdline(server.pid)
    assert cmdline[1:] == ["-m", "noetl.server", "--host", "127.0.0.1", "--port", str(server.port),
                           "--init-db"], cmdline
    assert Path(cmdline[0]) == venv.python, cmdline
    assert Path(os.readlink(f"/proc/{server.pid}/exe")).resolve() == venv.python.resolve()
    # It runs in NOETL_HOME, not in the caller's directory (whose ./noetl would shadow the wheel).
    assert Path(os.readlink(f"/proc/{server.pid}/cwd")) == venv.home
    # The leftover scan used after `server stop` does see the running server.
    assert server.pid in [pid for pid, _ in processes_mentioning(str(venv.home))]

    health = get_json(server.url + "/health")
    assert health["status"] == "ok", health
    assert health["version"] == venv.version, health
    assert Path(health["database"]) == venv.home / "noetl.db", health
    assert (venv.home / "noetl.db").is_file()
    assert DECOY_MESSAGE not in venv.server_log()


def test_server_status_reports_it_running(server: Server) -> None:
    proc = server.cli("--json", "server", "status")
    assert proc.returncode == 0, describe(proc)
    status = json.loads(proc.stdout)
    assert (status["status"], status["healthy"], status["pid"], status["url"]) == (
        "running", True, server.pid, server.url), status


def test_second_start_is_refused_while_running(server: Server) -> None:
    proc = server.cli("server", "start", "--init-db", timeout=60)
    line = one_line_error(proc)
    assert "already running" in line and f"pid {server.pid}" in line, line
    assert json.loads(server.venv.pid_file.read_text()) == server.pid_info


def test_start_on_a_port_in_use_fails_with_one_line(venv: Venv, tmp_path: Path) -> None:
    home = tmp_path / "other-home"  # no pid file: only the port stands in the way
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        started = time.monotonic()
        proc = venv.run("--port", str(port), "server", "start", "--init-db",
                        env={"NOETL_HOME": str(home)}, timeout=60)
        elapsed = time.monotonic() - started
    line = one_line_error(proc)
    assert "already in use" in line and str(port) in line, line
    assert elapsed < 10, f"refusing a busy port took {elapsed:.1f}s"
    assert not (home / "server.pid").exists()
    assert processes_mentioning(str(home)) == []


def test_catalog_register(registered: subprocess.CompletedProcess[str]) -> None:
    assert registered.returncode == 0, describe(registered)
    assert registered.stdout.strip() == (
        f"Registered playbook '{PLAYBOOK_PATH}' (name: {PLAYBOOK_NAME}) as version 1"), describe(registered)


def test_catalog_list_json_shows_the_playbook(server: Server, registered) -> None:
    proc = server.cli("catalog", "list", "--json")
    assert proc.returncode == 0, describe(proc)
    listing = json.loads(proc.stdout)
    assert [(i["name"], i["path"], i["version"], i["kind"]) for i in listing["items"]] == [
        (PLAYBOOK_NAME, PLAYBOOK_PATH, 1, "Playbook")], listing
    registered_at = datetime.fromisoformat(listing["items"][0]["registered_at"].replace("Z", "+00:00"))
    assert registered_at.utcoffset() == timedelta(0), registered_at
    assert abs((datetime.now(timezone.utc) - registered_at).total_seconds()) < 600, registered_at


def test_catalog_get_returns_the_yaml(server: Server, registered) -> None:
    proc = server.cli("catalog", "get", PLAYBOOK_PATH)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == FIXTURE.read_text(encoding="utf-8"), describe(proc)


def test_a_playbook_over_the_body_limit_gets_the_servers_413(server: Server, registered, tmp_path: Path) -> None:
    """The CLI writes its whole body before it reads: the server drains it after the 413, so the
    user reads the server's reason, not 'Broken pipe' (issue 18)."""
    big = tmp_path / "big.yaml"
    big.write_text(FIXTURE.read_text(encoding="utf-8") + 'blob: "' + "x" * (3 * 1024 * 1024) + '"\n')
    proc = server.cli("catalog", "register", big)
    assert proc.returncode != 0, describe(proc)
    line = one_line_error(proc)
    assert "request body too large: the limit is 2097152 bytes (--max-body-size)" in line, line
    assert "Broken pipe" not in proc.stderr
    # nothing was stored, and the server still answers
    listed = server.cli("catalog", "list", "--json")
    assert [item["version"] for item in json.loads(listed.stdout)["items"]] == [1], describe(listed)


def test_ui_in_headless_chromium_shows_the_catalog(server: Server, registered, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the end-to-end test needs a real Chromium")
    dom = dump_dom(server.url + "/", tmp_path)
    assert element(dom, "health-status").group("attrs").count('data-state="ok"') == 1, dom[:4000]
    row = element(dom, "catalog-row")
    assert f'data-path="{PLAYBOOK_PATH}"' in row.group("attrs"), row.group(0)
    cells = [text_of(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group("inner"), re.S)]
    assert cells[:4] == [PLAYBOOK_NAME, PLAYBOOK_PATH, "Playbook", "1"], cells

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "e2e-ui-catalog.png"
    shot.unlink(missing_ok=True)
    proc = chromium(server.url + "/", tmp_path, f"--screenshot={shot}", "--window-size=1280,800",
                    "--hide-scrollbars")
    assert proc.returncode == 0 and shot.is_file(), f"no screenshot ({proc.returncode})\n{proc.stderr[-3000:]}"
    assert png_size(shot) == (1280, 800)
    assert png_colours(shot, enough=64) >= 64, f"{shot} looks blank: fewer than 64 colours"


def test_ui_detail_view_shows_the_playbook(server: Server, registered, tmp_path: Path) -> None:
    url = f"{server.url}/#playbook={urllib.parse.quote(PLAYBOOK_PATH, safe='')}"
    dom = dump_dom(url, tmp_path)
    detail = element(dom, "playbook-detail")
    assert f'data-path="{PLAYBOOK_PATH}"' in detail.group("attrs"), detail.group(0)[:2000]
    assert GREETING in text_of(element(dom, "playbook-content").group("inner")), detail.group(0)[:4000]
    shot = ARTIFACTS / "e2e-ui-detail.png"
    ARTIFACTS.mkdir(exist_ok=True)
    chromium(url, tmp_path, f"--screenshot={shot}", "--window-size=1280,800", "--hide-scrollbars")


def test_server_stop_leaves_no_process_behind(server: Server, stopped) -> None:
    proc, before = stopped
    venv = server.venv
    assert before["pid"] == server.pid
    assert proc.returncode == 0, f"{describe(proc)}\n--- server log\n{venv.server_log()}"
    assert proc.stdout.strip() == f"NoETL server stopped (pid {server.pid})", describe(proc)
    assert not venv.pid_file.exists()
    deadline = time.monotonic() + 5
    while process_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(server.pid), f"server pid {server.pid} still runs: {proc_cmdline(server.pid)}"
    assert not port_accepts(server.port), f"port {server.port} still accepts connections"
    leftovers = processes_mentioning(str(venv.home), str(venv.root), f"--port {server.port}",
                                     f"127.0.0.1:{server.port}")
    assert leftovers == [], leftovers
    assert "stopped by SIGTERM" in venv.server_log(), venv.server_log()


def test_catalog_list_against_a_stopped_server(server: Server, stopped) -> None:
    proc = server.cli("catalog", "list")
    assert proc.returncode == 1, describe(proc)
    line = one_line_error(proc)
    assert "cannot reach" in line and f":{server.port}" in line, line


def test_stop_again_says_nothing_runs(server: Server, stopped) -> None:
    line = one_line_error(server.venv.run("server", "stop"))
    assert "no pid file" in line, line


def test_https_is_spoken_and_an_unknown_certificate_refused(venv: Venv, tmp_path: Path) -> None:
    """The shipped binary's HTTP client has TLS (rustls): against an HTTPS server on 127.0.0.1
    with a self-signed certificate the handshake happens, and the CLI refuses the certificate
    in one line instead of sending anything."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        port = listener.getsockname()[1]

        def serve_one() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(30)
                try:
                    with context.wrap_socket(connection, server_side=True) as tls:
                        seen.append(tls.recv(1024).decode(errors="replace"))  # a request: the client trusted us
                except (ssl.SSLError, OSError) as exc:
                    seen.append(f"handshake refused: {exc}")

        thread = threading.Thread(target=serve_one, daemon=True)
        thread.start()
        proc = venv.run("--server-url", f"https://127.0.0.1:{port}", "catalog", "list", timeout=60)
        thread.join(timeout=30)
    line = one_line_error(proc)
    assert line.startswith(f"error: request to https://127.0.0.1:{port} failed:"), line
    assert "certificate" in line.lower() and "UnknownIssuer" in line, line
    assert len(seen) == 1 and seen[0].startswith("handshake refused"), seen
