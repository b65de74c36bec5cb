"""Every limit the server puts on its input, in one place (docs/api.md, "Limits").

Two are settings (a ``python -m noetl.server`` option, else an environment
variable, else the default here): the request body size and the allowed
``Host`` names. The others are fixed bounds on what a playbook may be.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

# -- settings -----------------------------------------------------------------

#: The largest request body accepted, in bytes. A playbook travels base64-encoded
#: inside JSON (4/3 of its size), so 2 MiB takes a playbook of about 1.5 MiB.
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_BODY_ENV = "NOETL_MAX_BODY_SIZE"

#: ``Host`` names always accepted: the loopback names a local client uses.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: More accepted ``Host`` names, comma-separated; ``*`` accepts any (no check).
ALLOWED_HOSTS_ENV = "NOETL_ALLOWED_HOSTS"
ANY_HOST = "*"
#: Bind addresses that are not names a client connects to: never added as allowed.
_WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")

# -- fixed bounds -------------------------------------------------------------

#: SQLite's INTEGER range: a catalog ``version`` outside it cannot exist.
MIN_VERSION = -(2**63)
MAX_VERSION = 2**63 - 1

#: Deepest nesting of YAML collections in a playbook.
MAX_YAML_DEPTH = 100
#: Most mapping entries YAML merge keys (``<<``) may copy into one playbook
#: (merges copy, so chained merges could otherwise grow exponentially).
MAX_YAML_MERGED_KEYS = 100_000

#: Longest error ``detail`` sent back (it may quote the client's input).
MAX_DETAIL_CHARS = 1000

# A body refused by its Content-Length is still read, and thrown away, after the 413 went out, up
# to this many bytes and seconds: a client that writes its whole body before it reads (the noetl
# CLI, most HTTP libraries) then sees the 413 instead of a broken pipe. Nothing of it is kept.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 30.0


class SettingError(ValueError):
    """A limit setting (option or environment variable) is not valid."""


_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib)?\s*$", re.IGNORECASE | re.ASCII)
_SIZE_UNITS = {None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def parse_size(text: str) -> int:
    """``1048576``, ``512KiB``, ``2MiB`` (K/M are binary: 1024, 1024**2) → bytes, >= 1."""
    match = _SIZE.match(text)
    if not match:
        raise SettingError("not a size in bytes (e.g. 1048576, 512KiB, 2MiB): %r" % text)
    unit = match.group(2).lower() if match.group(2) else None
    size = int(match.group(1)) * _SIZE_UNITS[unit]
    if size < 1:
        raise SettingError("a size must be at least 1 byte: %r" % text)
    return size


def normalize_host(name: str) -> Optional[str]:
    """A host name or address as compared with the ``Host`` header, or None if not one.

    Lower case, no trailing dot, IPv6 without brackets in its compressed form
    (``[0:0::1]`` → ``::1``). No port.
    """
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            return None
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            return None
    if name.endswith("."):
        name = name[:-1]
    if not name or not re.fullmatch(r"[a-z0-9_.-]+", name):
        return None
    return name


def host_of_header(value: str) -> Optional[str]:
    """The normalized host of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), or None."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
    if rest and not re.fullmatch(r":\d{1,5}", rest):
        return None
    return normalize_host(host)


@dataclass(frozen=True)
class Limits:
    """The server's settings for hostile input; see :func:`server_limits`."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Normalized host names accepted in ``Host``; None accepts any.
    allowed_hosts: Optional[frozenset[str]] = frozenset(LOOPBACK_HOSTS)

    def host_allowed(self, host_header: str) -> bool:
        if self.allowed_hosts is None:
            return True
        host = host_of_header(host_header)
        return host is not None and host in self.allowed_hosts


def server_limits(
    host: Optional[str] = None,
    max_body: Optional[str] = None,
    allow_hosts: Optional[Iterable[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Limits:
    """The limits for a server bound to ``host``.

    ``max_body`` (``--max-body-size``) wins over ``$NOETL_MAX_BODY_SIZE``, else
    the default. The allowed hosts are always :data:`LOOPBACK_HOSTS` and ``host``
    (unless a wildcard bind address), plus ``allow_hosts`` (``--allow-host``,
    repeatable), else those in ``$NOETL_ALLOWED_HOSTS``; ``*`` among them turns
    the check off. Raises :class:`SettingError`.
    """
    env = os.environ if environ is None else environ
    size_text = max_body if max_body is not None else env.get(MAX_BODY_ENV)
    max_body_bytes = parse_size(size_text) if size_text else DEFAULT_MAX_BODY_BYTES

    extra = list(allow_hosts or ())
    if not extra:
        extra = [h for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    if any(h.strip() == ANY_HOST for h in extra):
        return Limits(max_body_bytes=max_body_bytes, allowed_hosts=None)
    names = set(LOOPBACK_HOSTS)
    if host is not None and host.strip() not in _WILDCARD_BINDS:
        extra.append(host)
    for name in extra:
        normalized = normalize_host(name)
        if normalized is None:
            raise SettingError("not a host name or address: %r" % name)
        names.add(normalized)
    return Limits(max_body_bytes=max_body_bytes, allowed_hosts=frozenset(names))
