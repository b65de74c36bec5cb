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
`noetl` invocation, so nothing heavy (the server, Starlette, uvicorn) may be
imported here. The rest is imported lazily, on the error path only.

When exec fails, the message says why: for ENOENT on a binary that is there, the
ELF program loader it names (PT_INTERP, read with ``struct`` from the file's first
few KB) is missing, i.e. a musl build on glibc or the other way round, and the
message names the wheel to install; for ENOEXEC, the binary's machine and this
one; for EACCES, the file mode and the fix. Printed paths are escaped.
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
        reason=_printable(reason),
        binary=_printable(binary),
        platform=_printable(_platform_description()),
        tags=_printable(_wheel_tags()),
        triple=_printable(_target_triple()),
    )
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:
        pass
    sys.exit(code)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _printable(text):
    """``text`` with every non-printable character escaped, so that a hostile
    path (newlines, terminal escape sequences, bidi overrides, undecodable bytes)
    cannot forge or hide parts of the message."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
            continue
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append("\\x%02x" % (code - 0xDC00))
        elif code < 0x100:
            out.append("\\x%02x" % code)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    return "".join(out)


# ELF e_machine -> the architecture as wheel platform tags and uname spell it.
_ELF_MACHINES = {
    3: "i686",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "armv7l",
    62: "x86_64",
    183: "aarch64",
    243: "riscv64",
    258: "loongarch64",
}
_HEAD_SIZE = 4096  # the ELF header and (in practice) the program headers
_MAX_PHDRS_SIZE = 64 * 1024
_MAX_INTERP_SIZE = 4096  # PATH_MAX
_PT_INTERP = 3


def _elf_info(path):
    """Class, byte order, machine and PT_INTERP of an ELF file, read with
    ``struct`` from the file's first few KB; None if it is not an ELF file or
    cannot be read. Only used on the error path."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_SIZE)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
                return None
            is64 = head[4] == 2
            end = ">" if head[5] == 2 else "<"
            info = {
                "bits": 64 if is64 else 32,
                "big_endian": end == ">",
                "machine": struct.unpack_from(end + "H", head, 18)[0],
                "interp": None,
            }
            if is64:
                if len(head) < 64:
                    return info
                phoff = struct.unpack_from(end + "Q", head, 32)[0]
                phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
                need = 56
            else:
                phoff = struct.unpack_from(end + "I", head, 28)[0]
                phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
                need = 32
            size = phentsize * phnum
            if phentsize < need or not phnum or size > _MAX_PHDRS_SIZE:
                return info
            if phoff + size <= len(head):
                table = head[phoff : phoff + size]
            else:
                fh.seek(phoff)
                table = fh.read(size)
            for i in range(len(table) // phentsize):
                entry = i * phentsize
                if struct.unpack_from(end + "I", table, entry)[0] != _PT_INTERP:
                    continue
                if is64:  # p_offset at +8, p_filesz at +32
                    offset = struct.unpack_from(end + "Q", table, entry + 8)[0]
                    filesz = struct.unpack_from(end + "Q", table, entry + 32)[0]
                else:  # p_offset at +4, p_filesz at +16
                    offset = struct.unpack_from(end + "I", table, entry + 4)[0]
                    filesz = struct.unpack_from(end + "I", table, entry + 16)[0]
                filesz = min(filesz, _MAX_INTERP_SIZE)
                if offset + filesz <= len(head):
                    raw = head[offset : offset + filesz]
                else:
                    fh.seek(offset)
                    raw = fh.read(filesz)
                info["interp"] = raw.split(b"\0", 1)[0]
                break
            return info
    except (OSError, ValueError, struct.error, OverflowError):
        return None


def _elf_arch(info):
    arch = _ELF_MACHINES.get(info["machine"])
    if arch is None:
        return "machine 0x%x" % info["machine"]
    if arch == "ppc64" and not info["big_endian"]:
        return "ppc64le"
    return arch


def _describe_elf(info):
    return "ELF %d-bit %s, %s" % (
        info["bits"],
        "big-endian" if info["big_endian"] else "little-endian",
        _elf_arch(info),
    )


def _system_libc():
    """("glibc", "2.39"), ("musl", "") or ("", "") if unknown. Error path only."""
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.39"; fails on musl
    except (AttributeError, ValueError, OSError):
        value = None
    if value and value.split()[0] == "glibc":
        return ("glibc", value.split()[1] if len(value.split()) > 1 else "")
    for libdir in ("/lib", "/usr/lib"):
        try:
            if any(name.startswith("ld-musl-") for name in os.listdir(libdir)):
                return ("musl", "")
        except OSError:
            pass
    return ("", "")


def _loader_libc(interp):
    """The C library a PT_INTERP path belongs to: "musl", "glibc" or ""."""
    name = os.path.basename(interp).lower()
    if name.startswith("ld-musl"):
        return "musl"
    if name.startswith(("ld-linux", "ld64.so", "ld.so")):
        return "glibc"
    return ""


_WHEEL_FOR_LIBC = {"glibc": "manylinux", "musl": "musllinux"}


def _missing_loader_reason(info):
    """Why exec said ENOENT for an existing ELF binary with a PT_INTERP."""
    interp = os.fsdecode(info["interp"])
    arch = _elf_arch(info)
    needs = _loader_libc(interp)
    system, version = _system_libc()
    system_text = ("%s %s" % (system, version)).strip() if system else "unknown"
    reason = (
        "the program loader (ELF interpreter) the binary needs, %s, is not on this "
        "system" % interp
    )
    if needs:
        reason += ": the binary is a %s (%s) build for %s" % (needs, _WHEEL_FOR_LIBC[needs], arch)
    reason += "; this system's C library: %s" % system_text
    if system and system == needs:
        # e.g. NixOS: glibc is there, but not at the standard loader path.
        return reason + (
            ", but its loader is not at the standard path; make it available there "
            "(NixOS: programs.nix-ld) or build the binary from source for this system"
        )
    wanted = _WHEEL_FOR_LIBC.get(system) or {"musl": "manylinux", "glibc": "musllinux"}.get(needs)
    if wanted:
        reason += (
            "; install the %s wheel instead (platform tag %s_*_%s): "
            "pip install --force-reinstall noetl, run by this system's own Python, picks it"
        ) % (wanted, wanted, "<arch>" if arch.startswith("machine ") else arch)
    return reason


def _missing_script_interpreter(binary):
    """For a ``#!`` script: its interpreter, if that is what is missing."""
    try:
        with open(binary, "rb") as fh:
            line = fh.readline(_MAX_INTERP_SIZE)
    except OSError:
        return None
    if not line.startswith(b"#!"):
        return None
    words = line[2:].split()
    if not words or os.path.exists(words[0]):
        return None
    return os.fsdecode(words[0])


def _describe_foreign(binary):
    """What the file is, for an Exec format error."""
    here = "this machine: %s" % (_this_machine(),)
    info = _elf_info(binary)
    if info is not None:
        return "the binary: %s; %s" % (_describe_elf(info), here)
    try:
        with open(binary, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return here
    if not head:
        kind = "an empty file"
    elif head[:2] == b"MZ":
        kind = "a Windows (PE) program"
    elif head[:4] in (
        b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf",
        b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe",
    ):
        kind = "a macOS (Mach-O) program"
    else:
        kind = "not a program (no ELF header, no #! line)"
    return "the binary is %s; %s" % (kind, here)


def _this_machine():
    import platform

    return "%s, %s" % (platform.machine() or "unknown", platform.system() or sys.platform)


def _fail_for_oserror(binary, exc):
    import errno

    if exc.errno == errno.ENOENT:
        # The binary was there a moment ago (isfile), so ENOENT from exec is
        # usually about what the kernel loads next: the ELF program loader
        # (a musl build on glibc or the other way round), or a #! interpreter.
        info = None if _IS_WINDOWS else _elf_info(binary)
        if info is not None and info["interp"]:
            _fail(binary, _missing_loader_reason(info), EXIT_NOT_FOUND)
        script_interp = None if _IS_WINDOWS else _missing_script_interpreter(binary)
        if script_interp is not None:
            _fail(
                binary,
                "the binary is a #! script whose interpreter, %s, is not on this "
                "system" % script_interp,
                EXIT_NOT_FOUND,
            )
        _fail(binary, "the binary is missing from this installation", EXIT_NOT_FOUND)
    if exc.errno == errno.ENOEXEC or getattr(exc, "winerror", None) == 193:
        _fail(
            binary,
            "Exec format error: the binary was built for another platform or "
            "architecture than this machine (%s)" % _describe_foreign(binary),
            EXIT_CANNOT_EXECUTE,
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        _fail(binary, _permission_reason(binary), EXIT_CANNOT_EXECUTE)
    _fail(binary, "%s" % (exc,), EXIT_CANNOT_EXECUTE)


def _permission_reason(binary):
    try:
        mode = os.stat(binary).st_mode & 0o7777
    except OSError:
        mode = None
    if mode is not None and not mode & 0o111:
        fix = "chmod +x <the binary below>"
        if _printable(binary) == binary:
            import shlex

            fix = "chmod +x %s" % shlex.quote(binary)
        return (
            "permission denied: the file is not executable (mode %04o); fix it with "
            "`%s`, or reinstall noetl" % (mode, fix)
        )
    return (
        "permission denied: the file is executable%s, so the filesystem is probably "
        "mounted noexec (or a directory on the path is not searchable); install noetl "
        "where programs may run" % ("" if mode is None else " (mode %04o)" % mode)
    )


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
