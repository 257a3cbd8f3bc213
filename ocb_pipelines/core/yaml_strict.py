"""Reading YAML that refuses a key written twice in one mapping.

YAML loaders keep the last of two equal keys silently, so `dev_mode: true` followed further down by
`dev_mode: false` would mean real email with nobody noticing. The composed node tree is checked
before the values are built: every mapping, nested or in a list, anchored or not. A merge key (`<<:`)
is not a duplicate; a key that overrides a merged one is allowed (that is what merging is for).
"""

from __future__ import annotations

from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ValueError):
    """A mapping has the same key twice; the message names the key and both lines."""


def _key_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _check(node: yaml.Node, where: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias of an anchored node already checked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                _check(value_node, where, seen)
                continue
            if isinstance(key_node, yaml.ScalarNode):
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first:
                    raise DuplicateKeyError(
                        f"line {line}: key {_key_path(where, key)!r} is written twice (lines {first[key]} and "
                        f"{line}); YAML would silently keep the last value: remove one of them")
                first[key] = line
                _check(value_node, _key_path(where, key), seen)
            else:
                _check(value_node, where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check(item, f"{where}[{index}]", seen)


def safe_load_unique(text: str) -> Any:
    """yaml.safe_load, refusing duplicate keys (DuplicateKeyError); yaml.YAMLError for YAML that does not parse."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return None
    _check(root, "", set())
    return yaml.safe_load(text)
