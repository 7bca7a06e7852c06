"""Stances no API knows, such as public statements: a CSV of `bioguide,stance` rows.

The file replaces the campaign's previous one as a whole, in one transaction, and
only when every row is good: a bad file changes nothing. Other columns (a note, a
link to the statement) are allowed and ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from alerts.db import Database
from alerts.db import bills as bills_db
from alerts.db.bills import StanceOverride
from alerts.errors import InputFileError, StanceFileError
from alerts.models import Stance

COLUMNS = ("bioguide", "stance")
BIOGUIDE_RE = re.compile(r"[A-Z]\d{6}")
_STANCES = ", ".join(s.value for s in Stance)


@dataclass(frozen=True)
class OverridesLoad:
    """What `alerts bills load` did."""

    slug: str
    source: str
    loaded: int
    replaced: int  # overrides the campaign had before
    loaded_by_stance: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "file": self.source,
            "loaded": self.loaded,
            "replaced": self.replaced,
            "loaded_by_stance": self.loaded_by_stance,
        }


def load_overrides(db: Database, slug: str, path: Path) -> OverridesLoad:
    """Read the CSV at `path` and make its rows the campaign's stance overrides."""
    overrides = read_overrides(path)
    replaced = bills_db.replace_stance_overrides(db, slug, overrides, path.name)
    counted = Counter(o.stance.value for o in overrides)
    return OverridesLoad(slug, str(path), len(overrides), replaced, dict(sorted(counted.items())))


def read_overrides(path: Path) -> list[StanceOverride]:
    """Every row of the file; StanceFileError listing each bad row as file:line: message."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise InputFileError(f"{path}: the file is empty: it needs a header bioguide,stance")
    columns = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in columns]
    if missing:
        raise InputFileError(
            f"{path}:1: the header must name the columns bioguide and stance "
            f"({' and '.join(missing)} missing)"
        )
    bioguide_at, stance_at = columns.index("bioguide"), columns.index("stance")
    overrides: list[StanceOverride] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        bioguide = _cell(row, bioguide_at).upper()
        stance = _cell(row, stance_at).lower()
        problem = _row_problem(bioguide, stance, first_line.get(bioguide))
        if problem:
            problems.append(f"{path}:{line}: {problem}")
            continue
        first_line[bioguide] = line
        overrides.append(StanceOverride(bioguide, Stance(stance), line))
    if problems:
        count = len(problems)
        raise StanceFileError(
            f"{path}: {count} bad row{'s' if count > 1 else ''}; nothing was loaded", problems
        )
    return overrides


def _row_problem(bioguide: str, stance: str, earlier_line: int | None) -> str | None:
    if not BIOGUIDE_RE.fullmatch(bioguide):
        shown = repr(bioguide) if bioguide else "empty"
        return f"bioguide must be a letter and 6 digits, like P000617, not {shown}"
    if stance not in {s.value for s in Stance}:
        return f"stance must be one of {_STANCES}, not {stance!r}"
    if earlier_line is not None:
        return f"{bioguide} is given twice (first on line {earlier_line})"
    return None


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{path}:{line}: not UTF-8 text") from None
