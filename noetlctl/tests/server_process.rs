//! `noetl server start|status|stop` with a stand-in for `python -m noetl.server`.

mod common;

use common::{closed_port, Env, FakeServer};
use serde_json::{json, Value};

fn read_pid_file(env: &Env) -> Option<Value> {
    let text = std::fs::read_to_string(env.home().join("server.pid")).ok()?;
    Some(serde_json::from_str(&text).expect("pid file is JSON"))
}

#[test]
fn stop_without_pid_file_fails() {
    let run = Env::new().run(&["server", "stop"]);
    let line = run.assert_one_line_error();
    assert!(
        line.contains("no pid file") && line.contains("server.pid"),
        "{line}"
    );
}

#[test]
fn stop_with_stale_pid_file_removes_it() {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    // A pid that cannot be a live process on any supported system.
    let stale = json!({"pid": 2_000_000_000u32, "host": "127.0.0.1", "port": 1, "url": "http://127.0.0.1:1"});
    std::fs::write(env.home().join("server.pid"), stale.to_string()).unwrap();
    let run = env.run(&["server", "stop"]);
    run.assert_ok();
    assert!(run.stdout.contains("stale pid file"), "{run:#?}");
    assert!(read_pid_file(&env).is_none());
}

#[test]
fn start_refuses_a_port_in_use() {
    let server = FakeServer::start(|_| (200, json!({"status": "ok"})));
    let env = Env::new();
    let run = env
        .command(&[
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &server.port.to_string(),
        ])
        .env("NOETL_PYTHON", "/nonexistent/python")
        .output()
        .unwrap();
    let line = common::Run::from(run).assert_one_line_error();
    assert!(line.contains("already in use"), "{line}");
    assert!(read_pid_file(&env).is_none());
}

#[test]
fn status_without_server_reports_stopped() {
    let env = Env::new();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = env.run(&["--server-url", &url, "--json", "server", "status"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let status = run.json();
    assert_eq!(status["status"], json!("stopped"));
    assert_eq!(status["healthy"], json!(false));
    assert_eq!(status["url"], json!(url));
}

#[test]
fn status_reports_a_healthy_server_without_pid_file() {
    let server = FakeServer::start(|_| {
        (
            200,
            json!({"status": "ok", "version": "0.1.0", "database": "/x/noetl.db"}),
        )
    });
    let run = Env::new().run(&["--server-url", &server.url, "server", "status"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("running") && run.stdout.contains("/x/noetl.db"),
        "{run:#?}"
    );
    assert_eq!(server.requests()[0].path(), "/health");
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// Serves GET /health like the real server; records its argv and NOETL_HOME in <script>.args.json.
    const FAKE_SERVER_PY: &str = r#"
import http.server, json, os, sys
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
host = args[args.index("--host") + 1]
with open(sys.argv[0] + ".args.json", "w") as out:
    json.dump({"args": args, "noetl_home": os.environ.get("NOETL_HOME")}, out)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "version": "0.1.0", "database": "fake.db"}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("fake server listening", flush=True)
http.server.HTTPServer((host, port), Handler).serve_forever()
"#;

    fn which_python() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("python3"))
            .find(|p| p.is_file())
    }

    fn write_executable(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A stand-in interpreter: `<it> -m noetl.server ...` runs the fake server.
    fn fake_python(env: &Env, python: &Path) -> PathBuf {
        let script = env.dir.path().join("fake_noetl_server.py");
        std::fs::write(&script, FAKE_SERVER_PY).unwrap();
        let wrapper = env.dir.path().join("fake-python");
        write_executable(
            &wrapper,
            &format!(
                "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
                python.display(),
                script.display()
            ),
        );
        wrapper
    }

    fn alive(pid: i32) -> bool {
        // Also treat a zombie as gone (no init reaping in some containers).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'));
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        exists && !zombie
    }

    #[test]
    fn start_status_stop_round_trip() {
        let Some(python) = which_python() else {
            eprintln!("skipped: python3 not on PATH");
            return;
        };
        let env = Env::new();
        let wrapper = fake_python(&env, &python);
        let port = closed_port().to_string();
        let db = env.dir.path().join("my.db");

        let start = env
            .command(&[
                "server",
                "start",
                "--port",
                &port,
                "--init-db",
                "--db",
                db.to_str().unwrap(),
            ])
            .env("NOETL_PYTHON", &wrapper)
            .output()
            .unwrap();
        let start = common::Run::from(start);
        start.assert_ok();
        let url = format!("http://127.0.0.1:{port}");
        assert!(start.stdout.contains(&url), "{start:#?}");

        let info = read_pid_file(&env).expect("pid file written");
        let pid = info["pid"].as_i64().unwrap() as i32;
        assert_eq!(info["url"], json!(url));
        assert_eq!(info["host"], json!("127.0.0.1"));
        assert_eq!(info["port"].to_string(), port);
        assert!(alive(pid));
        assert!(start.stdout.contains(&pid.to_string()));

        let recorded: Value = serde_json::from_str(
            &std::fs::read_to_string(env.dir.path().join("fake_noetl_server.py.args.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(recorded["noetl_home"], json!(env.home().to_str().unwrap()));
        assert_eq!(
            recorded["args"],
            json!([
                "-m",
                "noetl.server",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--init-db",
                "--db",
                db.to_str().unwrap()
            ])
        );
        let log = std::fs::read_to_string(env.home().join("server.log")).unwrap();
        assert!(log.contains("fake server listening"), "{log}");

        // A second start refuses: the pid file names a live server.
        let again = env
            .command(&["server", "start", "--port", &port])
            .env("NOETL_PYTHON", &wrapper)
            .output()
            .unwrap();
        let line = common::Run::from(again).assert_one_line_error();
        assert!(line.contains("already running"), "{line}");

        let status = env.run(&["--json", "server", "status"]);
        status.assert_ok();
        let status = status.json();
        assert_eq!(
            (status["status"].clone(), status["pid"].clone()),
            (json!("running"), json!(pid))
        );
        assert_eq!(status["database"], json!("fake.db"));

        env.run(&["server", "stop"]).assert_ok();
        assert!(read_pid_file(&env).is_none());
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(pid), "server process {pid} still alive after stop");
    }

    #[test]
    fn start_failure_shows_log_and_cleans_up() {
        let env = Env::new();
        let wrapper = env.dir.path().join("broken-python");
        write_executable(
            &wrapper,
            "#!/bin/sh\necho 'ModuleNotFoundError: No module named noetl' >&2\nexit 3\n",
        );
        let run = env
            .command(&["server", "start", "--port", &closed_port().to_string()])
            .env("NOETL_PYTHON", &wrapper)
            .output()
            .unwrap();
        let run = common::Run::from(run);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            run.stderr
                .contains("ModuleNotFoundError: No module named noetl"),
            "{run:#?}"
        );
        let last = run.stderr.lines().last().unwrap();
        assert!(
            last.starts_with("error: the NoETL server exited early"),
            "{run:#?}"
        );
        assert!(read_pid_file(&env).is_none(), "pid file must be removed");
    }

    #[test]
    fn start_timeout_kills_the_child() {
        let env = Env::new();
        let marker = env.dir.path().join("child.pid");
        let wrapper = env.dir.path().join("silent-python");
        write_executable(
            &wrapper,
            &format!(
                "#!/bin/sh\necho $$ > '{}'\nexec sleep 60\n",
                marker.display()
            ),
        );
        let run = env
            .command(&["server", "start", "--port", &closed_port().to_string()])
            .env("NOETL_PYTHON", &wrapper)
            .env("NOETL_SERVER_START_TIMEOUT", "1.5")
            .output()
            .unwrap();
        let run = common::Run::from(run);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(run.stderr.contains("did not answer"), "{run:#?}");
        assert!(read_pid_file(&env).is_none());
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(pid), "child {pid} must be killed after the timeout");
    }

    #[test]
    fn python_falls_back_to_path_with_a_warning() {
        let env = Env::new();
        let bin = env.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        write_executable(
            &bin.join("python3"),
            "#!/bin/sh\necho \"fake python3 $*\" >&2\nexit 1\n",
        );
        let run = env
            .command(&["server", "start", "--port", &closed_port().to_string()])
            .env("PATH", &bin)
            .output()
            .unwrap();
        let run = common::Run::from(run);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            run.stderr.starts_with("warning: NOETL_PYTHON is not set"),
            "{run:#?}"
        );
        assert!(
            run.stderr
                .contains("fake python3 -m noetl.server --host 127.0.0.1"),
            "{run:#?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn start_uses_the_default_home_and_passes_it_to_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let user_home = env.dir.path().join("user");
    let recorded = env.dir.path().join("noetl_home.txt");
    let wrapper = env.dir.path().join("env-python");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s' \"$NOETL_HOME\" > '{}'\nexit 1\n",
            recorded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = env
        .command(&["server", "start", "--port", &closed_port().to_string()])
        .env_remove("NOETL_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &user_home)
        .env("NOETL_PYTHON", &wrapper)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let expected = if cfg!(target_os = "macos") {
        user_home.join("Library/Application Support/noetl")
    } else {
        user_home.join(".local/share/noetl")
    };
    assert_eq!(
        std::fs::read_to_string(&recorded).unwrap(),
        expected.to_str().unwrap()
    );
    assert!(expected.join("server.log").is_file());
}

#[cfg(unix)]
#[test]
fn start_runs_the_server_in_noetl_home_with_absolute_paths() {
    // `python -m noetl.server` imports from its working directory first: started from a
    // directory holding a `noetl/` package, it would run that instead of the installed one.
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let workdir = env.dir.path().join("work");
    std::fs::create_dir_all(workdir.join("noetl")).unwrap();
    let recorded = env.dir.path().join("recorded.txt");
    let wrapper = workdir.join("env-python");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n%s\\n%s\\n' \"$(pwd -P)\" \"$NOETL_HOME\" \"$NOETL_DB\" > '{}'\nexit 1\n",
            recorded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = env
        .command(&["server", "start", "--port", &closed_port().to_string()])
        .current_dir(&workdir)
        .env("NOETL_HOME", "relative-home")
        .env("NOETL_DB", "data/my.db")
        .env("NOETL_PYTHON", "./env-python")
        .output()
        .unwrap();
    let run = common::Run::from(run);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let workdir = std::fs::canonicalize(&workdir).unwrap();
    let home = workdir.join("relative-home");
    let text = std::fs::read_to_string(&recorded).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            home.to_str().unwrap(),
            home.to_str().unwrap(),
            workdir.join("data/my.db").to_str().unwrap()
        ],
        "{run:#?}"
    );
    assert!(home.join("server.log").is_file());
}
