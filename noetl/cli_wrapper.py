"""The `noetl` console script: hand over to the Rust binary shipped in this wheel.

The binary lives at ``noetl/bin/noetl`` (``noetl.exe`` on Windows), next to this
file, and nowhere else: the wrapper never searches PATH, because the first
`noetl` on PATH is usually this very console script, which would then start
itself again and again.

On POSIX the wrapper replaces its own process with the binary (``os.execv``):
same PID, so signals reach the binary directly and its exit status is the
command's exit status. On Windows, where exec is emulated with a child process,
it runs the binary as a child and exits with the child's return code.

Only ``os`` and ``sys`` are imported at start: this module runs on every
`noetl` invocation, so nothing heavy (the server, FastAPI, uvicorn) may be
imported here. The rest is imported lazily, on the error path only.
"""

import os
import sys

#: Exit status when the binary is missing (as a shell does for "command not found").
EXIT_NOT_FOUND = 127
#: Exit status when the binary exists but cannot be executed.
EXIT_CANNOT_EXECUTE = 126

_IS_WINDOWS = os.name == "nt"
BINARY_NAME = "noetl.exe" if _IS_WINDOWS else "noetl"


def binary_path():
    """Return the path of the bundled binary: ``<this package>/bin/noetl[.exe]``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", BINARY_NAME)


def _wheel_tags():
    """The ``Tag:`` lines of the installed noetl wheel, or a note saying why none."""
    try:
        from importlib import metadata

        dist = metadata.distribution("noetl")
        text = dist.read_text("WHEEL")
    except Exception as exc:  # not installed from a wheel, metadata unreadable, ...
        return "unknown (%s)" % (exc.__class__.__name__,)
    if not text:
        return "unknown (no WHEEL metadata: installed from source or in editable mode)"
    tags = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.lower().startswith("tag:")
    ]
    return ", ".join(tags) if tags else "unknown (no Tag lines in WHEEL)"


def _platform_description():
    import platform
    import sysconfig

    return "%s (machine %s, %s)" % (
        sysconfig.get_platform(),
        platform.machine() or "unknown",
        platform.system() or sys.platform,
    )


def _target_triple():
    """A best guess at this machine's Rust target triple, for the build hint."""
    import platform

    machine = (platform.machine() or "").lower()
    arch = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if not arch:
        return "<target-triple>"
    if sys.platform == "darwin":
        return "%s-apple-darwin" % arch
    if sys.platform == "win32":
        return "%s-pc-windows-gnu" % arch
    if sys.platform.startswith("linux"):
        libc = platform.libc_ver()[0]
        return "%s-unknown-linux-%s" % (arch, "gnu" if libc == "glibc" else "musl")
    return "<target-triple>"


def _fail(binary, reason, code):
    """Print one clear message to stderr and exit with ``code``."""
    message = (
        "noetl: cannot run the NoETL command-line binary: {reason}\n"
        "  binary:           {binary}\n"
        "  this platform:    {platform}\n"
        "  installed wheel:  {tags}\n"
        "To fix: install a noetl wheel built for this platform "
        "(pip install --force-reinstall noetl), or build one from source with\n"
        "  nox -s wheel -- {triple}\n"
        "and install the wheel it writes to dist/."
    ).format(
        reason=reason,
        binary=binary,
        platform=_platform_description(),
        tags=_wheel_tags(),
        triple=_target_triple(),
    )
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:
        pass
    sys.exit(code)


def _fail_for_oserror(binary, exc):
    import errno

    if exc.errno == errno.ENOENT:
        _fail(binary, "the binary is missing from this installation", EXIT_NOT_FOUND)
    if exc.errno == errno.ENOEXEC or getattr(exc, "winerror", None) == 193:
        _fail(
            binary,
            "Exec format error: the binary was built for another platform or "
            "architecture than this machine",
            EXIT_CANNOT_EXECUTE,
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        _fail(
            binary,
            "permission denied: the file is not executable (or it is on a "
            "filesystem mounted noexec)",
            EXIT_CANNOT_EXECUTE,
        )
    _fail(binary, "%s" % (exc,), EXIT_CANNOT_EXECUTE)


def main():
    """Entry point of the `noetl` console script."""
    binary = binary_path()
    args = sys.argv[1:]
    if sys.executable:
        os.environ["NOETL_PYTHON"] = sys.executable

    if not os.path.isfile(binary):
        _fail(binary, "the binary is missing from this installation", EXIT_NOT_FOUND)

    if _IS_WINDOWS:
        import subprocess

        try:
            completed = subprocess.run([binary, *args])
        except KeyboardInterrupt:
            # The child got the Ctrl+C too and decides for itself; report the
            # conventional status for an interrupted command.
            sys.exit(130)
        except OSError as exc:
            _fail_for_oserror(binary, exc)
        sys.exit(completed.returncode)

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        os.execv(binary, ["noetl", *args])
    except OSError as exc:
        _fail_for_oserror(binary, exc)


if __name__ == "__main__":  # pragma: no cover
    main()
