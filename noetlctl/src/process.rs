//! Per-OS process handling for the local server: finding a program on PATH, spawning it
//! detached, checking that a pid is alive, and stopping it.
//!
//! The functions here are the whole API; each delegates to the `imp` module of the running
//! OS (`#[cfg(unix)]` with libc, `#[cfg(windows)]` with windows-sys), so callers hold no
//! `cfg` of their own.

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Result;

/// How often `wait_for_exit` looks at the process again.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The first file named `name` (on Windows also `name.exe`) in a directory of PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| {
            imp::EXECUTABLE_SUFFIXES
                .iter()
                .map(move |suffix| dir.join(format!("{name}{suffix}")))
        })
        .find(|candidate| candidate.is_file())
}

/// Makes `command` spawn a process that outlives the CLI and its terminal or console.
pub fn detach(command: &mut Command) {
    imp::detach(command);
}

/// Whether a process with this pid exists and has not exited (a zombie counts as exited).
pub fn is_alive(pid: u32) -> bool {
    imp::is_alive(pid)
}

/// False when the pid surely belongs to something other than a NoETL server (a recycled
/// pid); true when it may be one, including when the OS cannot tell.
pub fn may_be_noetl(pid: u32) -> bool {
    imp::may_be_noetl(pid)
}

/// Asks the process (and what it started) to end; `force` kills it where the OS tells the
/// two apart. A process that is already gone is not an error.
pub fn terminate(pid: u32, force: bool) -> Result<()> {
    imp::terminate(pid, force)
}

/// Waits until the process is gone; false when it still runs after `timeout`.
pub fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        sleep(EXIT_POLL_INTERVAL);
    }
    true
}

#[cfg(unix)]
mod imp {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use anyhow::{bail, Result};

    /// What `find_on_path` tries after a program's name: the name alone.
    pub const EXECUTABLE_SUFFIXES: &[&str] = &[""];

    /// Own session and process group: the server survives the CLI and its terminal.
    pub fn detach(command: &mut Command) {
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    pub fn is_alive(pid: u32) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        exists && !is_zombie(pid)
    }

    #[cfg(target_os = "linux")]
    fn is_zombie(pid: libc::pid_t) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Format: "pid (comm) STATE ..."; comm may contain spaces or parentheses.
        stat.rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    }

    #[cfg(not(target_os = "linux"))]
    fn is_zombie(_pid: libc::pid_t) -> bool {
        false
    }

    /// Guards against a recycled pid: on Linux the command line must mention noetl.
    #[cfg(target_os = "linux")]
    pub fn may_be_noetl(pid: u32) -> bool {
        match std::fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(cmdline) => String::from_utf8_lossy(&cmdline)
                .to_lowercase()
                .contains("noetl"),
            Err(_) => true,
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn may_be_noetl(_pid: u32) -> bool {
        true
    }

    /// SIGTERM (SIGKILL with `force`) to the server's process group, else to the process.
    pub fn terminate(pid: u32, force: bool) -> Result<()> {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            bail!("invalid pid {pid}");
        };
        if pid <= 1 {
            bail!("refusing to signal pid {pid}");
        }
        let signal = if force { libc::SIGKILL } else { libc::SIGTERM };
        // SAFETY: plain kill(2) calls.
        unsafe {
            if libc::kill(-pid, signal) == 0 || libc::kill(pid, signal) == 0 {
                return Ok(());
            }
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        bail!("cannot signal process {pid}: {err}")
    }
}

#[cfg(windows)]
mod imp {
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};

    use anyhow::{anyhow, bail, Result};
    use windows_sys::Win32::Foundation::{
        CloseHandle, GetLastError, ERROR_ACCESS_DENIED, STILL_ACTIVE,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
        PROCESS_QUERY_LIMITED_INFORMATION,
    };

    /// What `find_on_path` tries after a program's name: `.exe` first, then the name alone.
    pub const EXECUTABLE_SUFFIXES: &[&str] = &[".exe", ""];

    /// No console and its own process group: the server survives the CLI's console.
    pub fn detach(command: &mut Command) {
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }

    pub fn is_alive(pid: u32) -> bool {
        if pid == 0 {
            return false;
        }
        // SAFETY: the handle is checked for null and closed after use.
        unsafe {
            let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
            if handle.is_null() {
                return GetLastError() == ERROR_ACCESS_DENIED;
            }
            let mut code = 0u32;
            let ok = GetExitCodeProcess(handle, &mut code);
            CloseHandle(handle);
            ok != 0 && code == STILL_ACTIVE as u32
        }
    }

    pub fn may_be_noetl(_pid: u32) -> bool {
        true
    }

    /// Windows has no SIGTERM for a detached console process: end the process tree
    /// (a venv's python.exe is a launcher with the real interpreter as its child).
    pub fn terminate(pid: u32, _force: bool) -> Result<()> {
        let output = Command::new("taskkill")
            .args(["/PID", &pid.to_string(), "/T", "/F"])
            .stdin(Stdio::null())
            .output()
            .map_err(|err| anyhow!("cannot run taskkill: {err}"))?;
        if output.status.success() || !is_alive(pid) {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        bail!("cannot stop process {pid}: {message}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Stdio;

    /// The pid of a process that has exited and been reaped.
    pub(crate) fn reaped_pid() -> u32 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_one_is_not() {
        assert!(is_alive(std::process::id()));
        let dead_pid = reaped_pid();
        assert!(!is_alive(dead_pid));
        assert!(wait_for_exit(dead_pid, Duration::ZERO));
    }

    #[test]
    fn this_test_process_may_be_noetl() {
        // Its name (noetl-<hash>) mentions noetl.
        assert!(may_be_noetl(std::process::id()));
    }

    #[test]
    fn a_program_on_path_is_found() {
        let name = if cfg!(windows) { "cmd" } else { "sh" };
        assert!(find_on_path(name).is_some_and(|path| path.is_file()));
        assert_eq!(find_on_path("noetl-no-such-program"), None);
    }

    /// An exited child that nobody reaped yet is a zombie: gone, though its pid still exists.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unreaped_child_counts_as_exited() {
        let mut child = Command::new("true").spawn().unwrap();
        assert!(wait_for_exit(child.id(), Duration::from_secs(10)));
        child.wait().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn terminate_signals_a_detached_process_group() {
        use std::os::unix::process::ExitStatusExt;

        let mut command = Command::new("sleep");
        command.arg("30");
        detach(&mut command);
        let mut child = command.spawn().unwrap();
        terminate(child.id(), false).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    }
}
