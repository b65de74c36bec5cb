//! `noetl server start|stop|status`: the pid file, the log file, start-up and health checks.
//! What differs per OS (spawning detached, pid checks, stopping) is in `crate::process`.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::Client;
use crate::config::{non_empty_env, url_from_host_port};
use crate::process;

pub const PID_FILE_NAME: &str = "server.pid";
pub const LOG_FILE_NAME: &str = "server.log";
pub const DEFAULT_BIND_HOST: &str = "127.0.0.1";
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(200);
const LOG_TAIL_LINES: usize = 20;

/// `$NOETL_HOME` (made absolute) if set, else `<user data dir>/noetl`.
pub fn noetl_home() -> Result<PathBuf> {
    if let Some(home) = non_empty_env("NOETL_HOME") {
        return std::path::absolute(&home).with_context(|| format!("invalid NOETL_HOME {home}"));
    }
    dirs::data_dir()
        .map(|dir| dir.join("noetl"))
        .ok_or_else(|| anyhow!("cannot determine the user data directory; set NOETL_HOME"))
}

/// Contents of `<NOETL_HOME>/server.pid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidFile {
    pub pid: u32,
    pub host: String,
    pub port: u16,
    pub url: String,
}

impl PidFile {
    /// Reads the pid file; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|err| {
            anyhow!(
                "corrupt pid file {}: {} (remove it if no NoETL server is running)",
                path.display(),
                err
            )
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot serialize the pid file")?;
        fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn to_json(&self) -> Value {
        json!({ "pid": self.pid, "host": self.host, "port": self.port, "url": self.url })
    }
}

pub fn remove_pid_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// What the pid file says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidState {
    Missing,
    /// The pid file names a process that is gone (or is not a NoETL server).
    Stale(PidFile),
    Running(PidFile),
}

pub fn pid_state(path: &Path) -> Result<PidState> {
    Ok(match PidFile::read(path)? {
        None => PidState::Missing,
        Some(info) if process::is_alive(info.pid) && process::may_be_noetl(info.pid) => {
            PidState::Running(info)
        }
        Some(info) => PidState::Stale(info),
    })
}

// ---------------------------------------------------------------- start

pub struct StartOptions {
    pub host: String,
    pub port: u16,
    pub init_db: bool,
    pub db: Option<PathBuf>,
}

/// Starts the server in the background and waits until `/health` answers.
pub fn start(home: &Path, options: &StartOptions) -> Result<PidFile> {
    fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let pid_path = home.join(PID_FILE_NAME);
    let log_path = home.join(LOG_FILE_NAME);

    match pid_state(&pid_path)? {
        PidState::Running(info) => bail!(
            "a NoETL server is already running (pid {}, {}); stop it with 'noetl server stop'",
            info.pid,
            info.url
        ),
        PidState::Stale(info) => {
            remove_pid_file(&pid_path)?;
            eprintln!(
                "note: removed stale pid file {} (process {} is not running)",
                pid_path.display(),
                info.pid
            );
        }
        PidState::Missing => {}
    }
    ensure_port_free(&options.host, options.port)?;

    let python = find_python()?;
    let mut child = spawn_server(&python, options, home, &log_path)?;
    let info = PidFile {
        pid: child.id(),
        host: options.host.clone(),
        port: options.port,
        url: url_from_host_port(&connect_host(&options.host), options.port),
    };
    if let Err(err) = info.write(&pid_path) {
        abandon(&mut child, &pid_path);
        return Err(err);
    }
    if let Err(problem) = wait_until_healthy(&mut child, &info.url, start_timeout()) {
        abandon(&mut child, &pid_path);
        print_log_tail(&log_path);
        bail!("{problem} (log: {})", log_path.display());
    }
    Ok(info)
}

fn start_timeout() -> Duration {
    non_empty_env("NOETL_SERVER_START_TIMEOUT")
        .and_then(|secs| secs.trim().parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map_or(DEFAULT_START_TIMEOUT, Duration::from_secs_f64)
}

/// The address a client uses to reach a server bound to `host`.
pub fn connect_host(host: &str) -> String {
    match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "::1".to_string(),
        other => other.to_string(),
    }
}

/// Fails when something already listens on the port (or it cannot be bound).
pub fn ensure_port_free(host: &str, port: u16) -> Result<()> {
    let in_use = || {
        anyhow!("port {port} on {host} is already in use: stop whatever listens there or choose another --port")
    };
    let bind_host = host.trim_start_matches('[').trim_end_matches(']');
    let probe = (connect_host(host).as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next());
    if let Some(addr) = probe {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Err(in_use());
        }
    }
    match TcpListener::bind((bind_host, port)) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(err) if err.kind() == ErrorKind::AddrInUse => Err(in_use()),
        Err(err) => Err(anyhow!("cannot listen on {host}:{port}: {err}")),
    }
}

/// `$NOETL_PYTHON`, else `python3` or `python` from PATH (with a warning).
pub fn find_python() -> Result<PathBuf> {
    if let Some(python) = non_empty_env("NOETL_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    for name in ["python3", "python"] {
        if let Some(path) = process::find_on_path(name) {
            eprintln!("warning: NOETL_PYTHON is not set; using {}", path.display());
            return Ok(path);
        }
    }
    bail!("cannot find Python: set NOETL_PYTHON or put python3 on PATH")
}

fn server_args(options: &StartOptions) -> Result<Vec<String>> {
    let mut args = vec![
        "-m".to_string(),
        "noetl.server".to_string(),
        "--host".to_string(),
        options.host.clone(),
        "--port".to_string(),
        options.port.to_string(),
    ];
    if options.init_db {
        args.push("--init-db".to_string());
    }
    if let Some(db) = &options.db {
        let db = std::path::absolute(db)
            .with_context(|| format!("invalid --db path {}", db.display()))?;
        args.push("--db".to_string());
        args.push(db.to_string_lossy().into_owned());
    }
    Ok(args)
}

fn spawn_server(
    python: &Path,
    options: &StartOptions,
    home: &Path,
    log_path: &Path,
) -> Result<Child> {
    let log =
        File::create(log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    // The server runs in NOETL_HOME (below): a relative interpreter path would be ambiguous.
    let python = if python.is_relative() && python.components().count() > 1 {
        std::path::absolute(python)
            .with_context(|| format!("invalid Python path {}", python.display()))?
    } else {
        python.to_path_buf()
    };
    let mut command = Command::new(&python);
    command
        .args(server_args(options)?)
        // The server then keeps its default database next to our pid and log files.
        .env("NOETL_HOME", home)
        // `python -m` puts the working directory first on sys.path: run from the user's
        // directory, a `noetl/` package there (a source checkout, say) would be imported
        // instead of the installed one. NOETL_HOME is ours and holds no such package.
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    if let Some(db) = non_empty_env("NOETL_DB").filter(|db| !db.starts_with('~')) {
        // Relative to where the user ran the CLI, not to the server's working directory.
        let db = std::path::absolute(&db).with_context(|| format!("invalid NOETL_DB {db}"))?;
        command.env("NOETL_DB", db);
    }
    process::detach(&mut command);
    command
        .spawn()
        .map_err(|err| anyhow!("cannot run {}: {}", python.display(), err))
}

fn wait_until_healthy(
    child: &mut Child,
    url: &str,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let client =
        Client::with_timeout(url, Duration::from_secs(2)).map_err(|err| format!("{err:#}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Err(format!("the NoETL server exited early ({status})")),
            Ok(None) => {}
            Err(err) => return Err(format!("cannot watch the NoETL server process: {err}")),
        }
        if client.health().is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the NoETL server did not answer {url}/health within {}s",
                timeout.as_secs_f64()
            ));
        }
        sleep(POLL_INTERVAL);
    }
}

/// Kills a server that failed to start and forgets it.
fn abandon(child: &mut Child, pid_path: &Path) {
    let _ = process::terminate(child.id(), true);
    let _ = child.kill();
    let _ = child.wait();
    let _ = remove_pid_file(pid_path);
}

fn print_log_tail(log_path: &Path) {
    let text = fs::read_to_string(log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        eprintln!("(the server log {} is empty)", log_path.display());
        return;
    }
    eprintln!("--- last lines of {} ---", log_path.display());
    for line in &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..] {
        eprintln!("{line}");
    }
    eprintln!("---");
}

// ---------------------------------------------------------------- stop

#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    Stopped(u32),
    StaleRemoved(u32),
}

pub fn stop(home: &Path, force: bool) -> Result<StopOutcome> {
    let pid_path = home.join(PID_FILE_NAME);
    let info = match pid_state(&pid_path)? {
        PidState::Missing => bail!(
            "no pid file at {}: no NoETL server started with 'noetl server start' is running",
            pid_path.display()
        ),
        PidState::Stale(info) => {
            remove_pid_file(&pid_path)?;
            return Ok(StopOutcome::StaleRemoved(info.pid));
        }
        PidState::Running(info) => info,
    };
    process::terminate(info.pid, force)?;
    if !process::wait_for_exit(info.pid, STOP_TIMEOUT) {
        let hint = if force {
            ""
        } else {
            "; retry with 'noetl server stop --force'"
        };
        bail!(
            "the NoETL server (pid {}) is still running after {}s{hint}",
            info.pid,
            STOP_TIMEOUT.as_secs()
        );
    }
    remove_pid_file(&pid_path)?;
    Ok(StopOutcome::Stopped(info.pid))
}

// ---------------------------------------------------------------- status

#[derive(Debug)]
pub struct ServerStatus {
    pub pid_file: PathBuf,
    pub state: PidState,
    pub url: String,
    pub health: std::result::Result<Value, String>,
}

impl ServerStatus {
    pub fn healthy(&self) -> bool {
        self.health.is_ok()
    }

    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            PidState::Running(info) => Some(info.pid),
            _ => None,
        }
    }

    pub fn state_label(&self) -> &'static str {
        match (&self.state, self.healthy()) {
            (PidState::Running(_), true) | (PidState::Missing, true) => "running",
            (PidState::Running(_), false) => "starting or unhealthy",
            (PidState::Stale(_), true) => "running (stale pid file)",
            (_, false) => "stopped",
        }
    }

    pub fn to_json(&self) -> Value {
        let health = self.health.as_ref().ok();
        json!({
            "status": self.state_label(),
            "healthy": self.healthy(),
            "pid": self.pid(),
            "url": self.url,
            "pid_file": self.pid_file.display().to_string(),
            "stale_pid_file": matches!(self.state, PidState::Stale(_)),
            "version": health.and_then(|h| h.get("version")).cloned(),
            "database": health.and_then(|h| h.get("database")).cloned(),
            "error": self.health.as_ref().err(),
        })
    }
}

/// Pid file plus a health check of its URL (or of `fallback_url` without a pid file).
pub fn status(home: &Path, fallback_url: &str) -> Result<ServerStatus> {
    let pid_file = home.join(PID_FILE_NAME);
    let state = pid_state(&pid_file)?;
    let url = match &state {
        PidState::Running(info) => info.url.clone(),
        _ => fallback_url.to_string(),
    };
    let health = Client::with_timeout(&url, Duration::from_secs(5))
        .and_then(|client| client.health())
        .map_err(|err| format!("{err:#}"));
    Ok(ServerStatus {
        pid_file,
        state,
        url,
        health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::tests::reaped_pid;

    fn sample(pid: u32) -> PidFile {
        PidFile {
            pid,
            host: "127.0.0.1".into(),
            port: 8082,
            url: "http://127.0.0.1:8082".into(),
        }
    }

    #[test]
    fn pid_file_round_trip_uses_contract_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE_NAME);
        sample(42).write(&path).unwrap();
        let raw: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            raw,
            json!({"pid": 42, "host": "127.0.0.1", "port": 8082, "url": "http://127.0.0.1:8082"})
        );
        assert_eq!(PidFile::read(&path).unwrap(), Some(sample(42)));
        remove_pid_file(&path).unwrap();
        assert_eq!(PidFile::read(&path).unwrap(), None);
        remove_pid_file(&path).unwrap();
    }

    #[test]
    fn corrupt_pid_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE_NAME);
        fs::write(&path, "not json").unwrap();
        let err = PidFile::read(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("corrupt pid file") && err.contains(PID_FILE_NAME),
            "{err}"
        );
    }

    #[test]
    fn pid_state_distinguishes_missing_stale_and_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE_NAME);
        assert_eq!(pid_state(&path).unwrap(), PidState::Missing);

        // A process that has exited and been reaped.
        let dead_pid = reaped_pid();
        sample(dead_pid).write(&path).unwrap();
        assert_eq!(pid_state(&path).unwrap(), PidState::Stale(sample(dead_pid)));

        // This test process is alive, and its name (noetl-<hash>) mentions noetl.
        sample(std::process::id()).write(&path).unwrap();
        assert_eq!(
            pid_state(&path).unwrap(),
            PidState::Running(sample(std::process::id()))
        );
    }

    #[test]
    fn stop_without_pid_file_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = stop(dir.path(), false).unwrap_err().to_string();
        assert!(err.starts_with("no pid file at"), "{err}");
    }

    #[test]
    fn stop_with_stale_pid_file_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE_NAME);
        let dead_pid = reaped_pid();
        sample(dead_pid).write(&path).unwrap();
        assert_eq!(
            stop(dir.path(), false).unwrap(),
            StopOutcome::StaleRemoved(dead_pid)
        );
        assert!(!path.exists());
    }

    #[test]
    fn connect_host_maps_wildcards_to_loopback() {
        assert_eq!(connect_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(connect_host("::"), "::1");
        assert_eq!(connect_host("example.org"), "example.org");
    }

    #[test]
    fn port_in_use_is_detected() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = ensure_port_free("127.0.0.1", port).unwrap_err().to_string();
        assert!(err.contains("already in use"), "{err}");
        drop(listener);
        // A port just released can be taken at once by a test running in parallel, so ask for
        // fresh free ports: one of them must be reported free.
        let free = (0..5).find_map(|_| {
            let port = TcpListener::bind(("127.0.0.1", 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            ensure_port_free("127.0.0.1", port).ok()
        });
        assert!(free.is_some(), "free ports were reported in use");
    }

    #[test]
    fn server_args_follow_the_process_contract() {
        let options = StartOptions {
            host: "0.0.0.0".into(),
            port: 9000,
            init_db: true,
            db: None,
        };
        assert_eq!(
            server_args(&options).unwrap(),
            [
                "-m",
                "noetl.server",
                "--host",
                "0.0.0.0",
                "--port",
                "9000",
                "--init-db"
            ]
        );
        let options = StartOptions {
            host: "h".into(),
            port: 1,
            init_db: false,
            db: Some("x.db".into()),
        };
        let args = server_args(&options).unwrap();
        assert_eq!(
            args[..6],
            ["-m", "noetl.server", "--host", "h", "--port", "1"]
        );
        assert_eq!(args[6], "--db");
        assert!(
            Path::new(&args[7]).is_absolute() && args[7].ends_with("x.db"),
            "{args:?}"
        );
    }
}
