"""Reading YAML nodes with their file lines, collecting every problem as `file:line: message`.

Campaign files (files.py) and their segments (segments.py) are read node by
node rather than as plain values, so each problem names its line and all of
them are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Entry:
    """One key of a mapping, the line it is on and its value node."""

    key: str
    line: int
    node: yaml.Node


class NodeReader:
    """Reads values out of YAML nodes; a value that is wrong becomes a problem and None."""

    def __init__(self, path: Path, first_line: int):
        self.path = path
        self.first_line = first_line
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.path}:{line}: {message}")

    def line_of(self, node: yaml.Node) -> int:
        return self.first_line + node.start_mark.line

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def entries(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> dict[str, Entry]:
        """The keys of a mapping node; reports duplicates and unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(self.line_of(node), f"{where} must be a mapping of keys to values")
            return {}
        found: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            line = self.line_of(key_node)
            key = self.value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(line, f"{where}: keys must be words, not {key!r}")
                continue
            if key in found:
                self.problem(line, f"{where}: {key!r} is given twice")
                continue
            if key not in allowed:
                self.problem(line, f"{where}: unknown key {key!r} (known: {', '.join(allowed)})")
                continue
            found[key] = Entry(key, line, value_node)
        return found

    def string(self, entry: Entry, *, one_line: bool = False) -> str | None:
        node = entry.node
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            self.problem(entry.line, f"{entry.key} must be text")
            return None
        text = str(value)
        if not text.strip():
            self.problem(entry.line, f"{entry.key} is empty")
            return None
        if one_line and ("\n" in text.strip() or "\r" in text):
            self.problem(entry.line, f"{entry.key} must be a single line")
            return None
        return text.strip() if one_line else text

    def words(self, entry: Entry) -> list[str] | None:
        """A value that may be one word or a list of them."""
        node = entry.node
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[str] = []
        for item in items:
            value = self.value(item) if isinstance(item, yaml.ScalarNode) else None
            if (
                isinstance(value, bool)
                or not isinstance(value, str | int)
                or not str(value).strip()
            ):
                self.problem(self.line_of(item), f"{entry.key} must be a word or a list of words")
                return None
            out.append(str(value).strip())
        if not out:
            self.problem(entry.line, f"{entry.key} is an empty list")
            return None
        return out

    def positive_int(self, entry: Entry) -> int | None:
        value = self.value(entry.node) if isinstance(entry.node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(entry.line, f"{entry.key} must be a whole number of 1 or more")
            return None
        return value

    def day(self, entry: Entry) -> str | None:
        value = self.value(entry.node) if isinstance(entry.node, yaml.ScalarNode) else None
        if isinstance(value, date):
            return value.isoformat()[:10]
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            self.problem(entry.line, f"{entry.key} must be a date like 2025-01-31, not {value!r}")
            return None
