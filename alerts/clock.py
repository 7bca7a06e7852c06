"""The one clock that decides which day it is: the UTC date, unless ALERTS_TODAY says otherwise.

Whether a member's term has ended and whether the roster's Congress is over are
questions about today. ALERTS_TODAY=YYYY-MM-DD sets that day for tests, demos
and dress rehearsals of the Congress changeover. No internal imports.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime

TODAY_VARIABLE = "ALERTS_TODAY"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ClockError(Exception):
    """ALERTS_TODAY holds something that is not a date; reported in one line, like ConfigError."""

    exit_code = 1


def today() -> date:
    """Today's UTC date, or the date ALERTS_TODAY gives."""
    given = os.environ.get(TODAY_VARIABLE, "").strip()
    if not given:
        return datetime.now(UTC).date()
    problem = ClockError(f"{TODAY_VARIABLE}={given!r} is not a date: write it as YYYY-MM-DD")
    if not _ISO_DATE.fullmatch(given):
        raise problem
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise problem from None
