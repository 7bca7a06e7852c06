"""The one clock: the UTC date and time, unless ALERTS_TODAY says otherwise.

Whether a member's term has ended and whether the roster's Congress is over are
questions about today; whether a campaign's deadline has passed is one about
now. ALERTS_TODAY=YYYY-MM-DD sets the day for tests, demos and dress rehearsals
of the Congress changeover (now() is then that day at the current UTC time of
day); ALERTS_TODAY=YYYY-MM-DDTHH:MM:SS±HH:MM sets the moment itself, and today()
is its UTC date. `frozen_at` does the same for the code inside a `with` block.
No internal imports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

TODAY_VARIABLE = "ALERTS_TODAY"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_frozen: list[datetime] = []


class ClockError(Exception):
    """ALERTS_TODAY holds something that is not a date; reported in one line, like ConfigError."""

    exit_code = 1


def today() -> date:
    """Today's UTC date, or the date ALERTS_TODAY gives."""
    if _frozen:
        return _frozen[-1].astimezone(UTC).date()
    given = os.environ.get(TODAY_VARIABLE, "").strip()
    if not given:
        return datetime.now(UTC).date()
    if "T" in given:
        return _moment(given).astimezone(UTC).date()
    return _day(given)


def now() -> datetime:
    """The current moment (UTC), or the one ALERTS_TODAY gives: its day at the current time."""
    if _frozen:
        return _frozen[-1].astimezone(UTC)
    real = datetime.now(UTC)
    given = os.environ.get(TODAY_VARIABLE, "").strip()
    if not given:
        return real
    if "T" in given:
        return _moment(given).astimezone(UTC)
    return datetime.combine(_day(given), real.timetz())


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Make today() and now() answer `moment` (timezone-aware) inside the block."""
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware moment")
    _frozen.append(moment)
    try:
        yield
    finally:
        _frozen.pop()


def _day(given: str) -> date:
    problem = ClockError(f"{TODAY_VARIABLE}={given!r} is not a date: write it as YYYY-MM-DD")
    if not _ISO_DATE.fullmatch(given):
        raise problem
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise problem from None


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 date and time with its UTC offset (`2027-02-15T17:00:00-05:00`, or `Z`).

    None for anything else, a time without an offset included: a moment must say
    where on Earth its clock hangs.
    """
    if not _ISO_MOMENT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _moment(given: str) -> datetime:
    found = parse_moment(given)
    if found is None:
        raise ClockError(
            f"{TODAY_VARIABLE}={given!r} is not a moment: write it as YYYY-MM-DDTHH:MM:SS-05:00"
            " (with its UTC offset) or as a date, YYYY-MM-DD"
        )
    return found
