"""Decoding and validating a playbook sent to ``POST /api/catalog/register``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml

PLAYBOOK_KIND = "Playbook"


class PlaybookError(ValueError):
    """The playbook is not acceptable; the message is the one-line 400 detail."""


@dataclass(frozen=True)
class Playbook:
    path: str
    name: str
    kind: str
    content: str
    document: dict[str, Any]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def decode_content(content_base64: str) -> str:
    """Base64 (ASCII whitespace and line breaks allowed) → UTF-8 text."""
    compact = "".join(content_base64.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PlaybookError("content_base64 is not valid base64: %s" % _one_line(exc)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlaybookError("content is not UTF-8 text") from None


def _yaml_error(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
    return "content is not valid YAML: %s%s" % (_one_line(problem), where)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _required_string(mapping: dict[str, Any], key: str, label: str) -> str:
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PlaybookError("missing '%s'" % label)
    if not isinstance(value, str):
        raise PlaybookError("'%s' must be a string, got %s" % (label, _type_name(value)))
    return value


def _check_path(path: str) -> None:
    if path != path.strip():
        raise PlaybookError("invalid 'metadata.path' %r: leading or trailing whitespace" % path)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise PlaybookError("invalid 'metadata.path' %r: control characters" % path)
    if path.startswith("/") or path.endswith("/"):
        raise PlaybookError("invalid 'metadata.path' %r: must not start or end with '/'" % path)
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise PlaybookError(
                "invalid 'metadata.path' %r: empty, '.' or '..' segment" % path
            )


def parse_playbook(content_base64: str) -> Playbook:
    """Decode and validate; raise :class:`PlaybookError` with a one-line reason."""
    content = decode_content(content_base64)
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise PlaybookError(_yaml_error(exc)) from None
    if not isinstance(document, dict):
        raise PlaybookError("playbook must be a YAML mapping, got %s" % _type_name(document))

    kind = document.get("kind")
    if kind != PLAYBOOK_KIND:
        if kind is None:
            raise PlaybookError("missing 'kind' (expected 'Playbook')")
        raise PlaybookError("kind must be 'Playbook', got %r" % (kind,))
    _required_string(document, "apiVersion", "apiVersion")

    metadata = document.get("metadata")
    if metadata is None:
        raise PlaybookError("missing 'metadata' (with 'metadata.name' and 'metadata.path')")
    if not isinstance(metadata, dict):
        raise PlaybookError("'metadata' must be a mapping, got %s" % _type_name(metadata))
    name = _required_string(metadata, "name", "metadata.name")
    path = _required_string(metadata, "path", "metadata.path")
    _check_path(path)
    return Playbook(path=path, name=name, kind=PLAYBOOK_KIND, content=content, document=document)
