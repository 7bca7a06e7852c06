"""Which states drew new House districts for which Congress (alerts/data/redrawn.yaml).

The file is a YAML list of {congress, states, as_of, sources}: the states under
Congress N have districts in it that differ from Congress N - 1's. The package
ships one; `--redrawn FILE` or `--redrawn-url URL` replaces it for a load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.config import data_file
from alerts.errors import RosterError
from alerts.targets.districts import STATE_CODE
from alerts.targets.sources import SourceFile, read_source

SHIPPED_FILE = "redrawn.yaml"
FIRST_CONGRESS_WITH_PREDECESSOR = 2


@dataclass(frozen=True)
class RedrawnStates:
    """The redrawn-states file, read: Congress -> the states whose districts are new in it."""

    name: str
    sha256: str
    by_congress: dict[int, tuple[str, ...]]

    def pairs(self) -> list[tuple[int, str]]:
        """(Congress, state) for every state the file lists."""
        return [(number, state) for number, states in self.by_congress.items() for state in states]


def shipped_redrawn_file() -> Path:
    return data_file(SHIPPED_FILE)


def read_redrawn(source: SourceFile | None = None) -> RedrawnStates:
    """The given file, or the one shipped with the package."""
    given = source or read_source(shipped_redrawn_file())
    try:
        data = yaml.safe_load(given.text())
    except yaml.YAMLError as exc:
        raise RosterError(f"{given.name}: malformed YAML ({_first_line(exc)})") from None
    if not isinstance(data, list) or not data:
        raise RosterError(f"{given.name}: expected a YAML list of {{congress, states}} entries")
    by_congress: dict[int, tuple[str, ...]] = {}
    for number, entry in enumerate(data, 1):
        congress, states = _entry(f"{given.name}: entry {number}", entry)
        if congress in by_congress:
            raise RosterError(f"{given.name}: entry {number}: Congress {congress} is listed twice")
        by_congress[congress] = states
    return RedrawnStates(given.name, given.sha256, by_congress)


def _entry(where: str, entry: Any) -> tuple[int, tuple[str, ...]]:
    if not isinstance(entry, dict):
        raise RosterError(f"{where}: expected a map with congress and states")
    congress, states = entry.get("congress"), entry.get("states")
    if isinstance(congress, bool) or not isinstance(congress, int):
        raise RosterError(f"{where}: congress {congress!r} is not a Congress number")
    if congress < FIRST_CONGRESS_WITH_PREDECESSOR:
        raise RosterError(f"{where}: congress {congress} has no earlier Congress to differ from")
    if not isinstance(states, list):
        raise RosterError(f"{where}: states must be a list of USPS codes, like [TX, CA]")
    codes = tuple(str(state).strip().upper() for state in states)
    bad = [code for code in codes if not STATE_CODE.fullmatch(code)]
    if bad:
        raise RosterError(f"{where}: {bad[0]!r} is not a two-letter USPS code")
    return congress, tuple(sorted(set(codes)))


def _first_line(exc: yaml.YAMLError) -> str:
    return str(exc).strip().splitlines()[0]
