"""Decoding and validating a playbook sent to ``POST /api/catalog/register``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

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


def _one_line(text: object) -> str:
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

# YAML 1.2 (ruamel.yaml's default), as the noetl CLI's YAML reader (serde) reads playbooks:
# `yes`/`no`/`y`/`n` are strings, only `true`/`false` booleans. (PyYAML, used before 0.2, read
# YAML 1.1; a `%YAML 1.1` directive in a document still selects it.)


class _BoundedComposer(Composer):
    """ruamel.yaml's composer, refusing what would crash or blow up later.

    - nesting deeper than MAX_YAML_DEPTH (the composer recurses per level);
    - a string with a lone surrogate (``"\\ud800"``), which is not Unicode text and
      cannot be stored or sent back as UTF-8.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._levels = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._levels >= MAX_YAML_DEPTH:
            raise ComposerError(
                None, None, "nested deeper than %d levels" % MAX_YAML_DEPTH,
                self.parser.peek_event().start_mark,
            )
        self._levels += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._levels -= 1
        if isinstance(node, ScalarNode):
            try:
                node.value.encode("utf-8")
            except UnicodeEncodeError:
                raise ComposerError(
                    None, None, "a string holds a lone surrogate (e.g. \"\\ud800\"), not Unicode text",
                    node.start_mark,
                ) from None
        return node


class _BoundedConstructor(SafeConstructor):
    """The safe constructor, counting what merge keys (``<<``) copy: each merge copies, so
    chained merges grow exponentially; more than MAX_YAML_MERGED_KEYS entries in all is refused.
    Duplicate keys are refused (ruamel.yaml's default), as the noetl CLI's YAML reader does."""

    def __init__(self, preserve_quotes: Any = None, loader: Any = None) -> None:
        super().__init__(preserve_quotes=preserve_quotes, loader=loader)
        self._merged = 0

    def _count_merged(self, node: MappingNode, entries: int) -> None:
        self._merged += entries
        if self._merged > MAX_YAML_MERGED_KEYS:
            raise ConstructorError(
                None, None,
                "merge keys ('<<') copy more than %d entries" % MAX_YAML_MERGED_KEYS,
                node.start_mark,
            )

    def flatten_mapping(self, node: MappingNode) -> Any:
        # Count first, then let ruamel.yaml merge: the count of one level is the merged
        # mappings' sizes, each already flattened (and counted) by the recursion.
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if isinstance(source, MappingNode):
                    self.flatten_mapping(source)
                    self._count_merged(node, len(source.value))
        return super().flatten_mapping(node)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # ruamel.yaml turns a sequence key into a tuple; a playbook's keys are scalars, as
        # JSON's and the CLI's are: a sequence or mapping as a key is refused.
        if isinstance(node, MappingNode):
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        "found unhashable key", key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _parser() -> YAML:
    """A fresh pure-Python safe parser (one per document: parsers keep state)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _BoundedConstructor
    return yaml


def load_yaml(content: str) -> Any:
    """The one YAML document in ``content``; raise :class:`PlaybookError` if it is not one."""
    try:
        return _parser().load(content)
    except YAMLError as exc:
        raise PlaybookError(_yaml_error(exc)) from None
    except RecursionError:  # the depth bound should make this unreachable
        raise PlaybookError("content is not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A constructor's own check failing, e.g. `!!timestamp 2024-02-30`,
        # `!!int x`, or an integer of more digits than Python converts.
        raise PlaybookError("content is not valid YAML: bad value: %s" % _one_line(exc)) from None


def _yaml_error(exc: YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
    return "content is not valid YAML: %s%s" % (_one_line(problem), where)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


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
