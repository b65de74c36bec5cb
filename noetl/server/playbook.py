"""Decoding and validating a playbook sent to ``POST /api/catalog/register``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from noetl.server.limits import MAX_YAML_DEPTH, MAX_YAML_MERGED_KEYS

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


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what it would crash or blow up on.

    - nesting deeper than MAX_YAML_DEPTH (the composer recurses per level);
    - a string with a lone surrogate (``"\\ud800"``), which is not Unicode
      text and cannot be stored or sent back as UTF-8;
    - merge keys (``<<``) copying more than MAX_YAML_MERGED_KEYS entries in all
      (each merge copies, so chained merges grow exponentially).
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._merged = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_YAML_DEPTH:
            raise ComposerError(
                None, None, "nested deeper than %d levels" % MAX_YAML_DEPTH,
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, ScalarNode):
            try:
                node.value.encode("utf-8")
            except UnicodeEncodeError:
                raise ComposerError(
                    None, None, "a string holds a lone surrogate (e.g. \"\\ud800\"), not Unicode text",
                    node.start_mark,
                ) from None
        return node

    def _count_merged(self, node: MappingNode, entries: int) -> None:
        self._merged += entries
        if self._merged > MAX_YAML_MERGED_KEYS:
            raise ConstructorError(
                None, None,
                "merge keys ('<<') copy more than %d entries" % MAX_YAML_MERGED_KEYS,
                node.start_mark,
            )

    def flatten_mapping(self, node: MappingNode) -> None:
        # SafeConstructor.flatten_mapping, counting what the merges copy.
        merge: list[Any] = []
        index = 0
        while index < len(node.value):
            key_node, value_node = node.value[index]
            if key_node.tag == _MERGE_TAG:
                del node.value[index]
                if isinstance(value_node, MappingNode):
                    self.flatten_mapping(value_node)
                    self._count_merged(node, len(value_node.value))
                    merge.extend(value_node.value)
                elif isinstance(value_node, SequenceNode):
                    submerge = []
                    for subnode in value_node.value:
                        if not isinstance(subnode, MappingNode):
                            raise ConstructorError(
                                "while constructing a mapping", node.start_mark,
                                "expected a mapping for merging, but found %s" % subnode.id,
                                subnode.start_mark,
                            )
                        self.flatten_mapping(subnode)
                        self._count_merged(node, len(subnode.value))
                        submerge.append(subnode.value)
                    submerge.reverse()
                    for value in submerge:
                        merge.extend(value)
                else:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        "expected a mapping or list of mappings for merging, but found %s"
                        % value_node.id,
                        value_node.start_mark,
                    )
            elif key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"
                index += 1
            else:
                index += 1
        if merge:
            node.value = merge + node.value


def load_yaml(content: str) -> Any:
    """The one YAML document in ``content``; raise :class:`PlaybookError` if it is not one."""
    try:
        return yaml.load(content, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise PlaybookError(_yaml_error(exc)) from None
    except RecursionError:  # the depth bound should make this unreachable
        raise PlaybookError("content is not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A constructor's own check failing, e.g. `!!timestamp 2024-02-30`,
        # `!!int x`, or an integer of more digits than Python converts.
        raise PlaybookError("content is not valid YAML: bad value: %s" % _one_line(exc)) from None


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


def _check_name(name: str) -> None:
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise PlaybookError("invalid 'metadata.name' %r: control characters" % name)


def _check_path(path: str) -> None:
    if path != path.strip():
        raise PlaybookError("invalid 'metadata.path' %r: leading or trailing whitespace" % path)
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in path):
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
    document = load_yaml(content)
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
    _check_name(name)
    path = _required_string(metadata, "path", "metadata.path")
    _check_path(path)
    return Playbook(path=path, name=name, kind=PLAYBOOK_KIND, content=content, document=document)
