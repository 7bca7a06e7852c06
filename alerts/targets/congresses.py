"""The calendar of Congresses: Congress N sits from January 3 of 1789 + 2(N - 1) for two years.

The 20th Amendment set January 3 from the 74th Congress (1935) on; earlier
Congresses began on March 4, which no roster in use here describes. A Congress's
last day is the next one's first: both the outgoing and the incoming members
serve on January 3 of an odd year (the handover is at noon).
"""

from __future__ import annotations

from datetime import date

FIRST_YEAR = 1789
START_MONTH, START_DAY = 1, 3


def congress_start(number: int) -> date:
    return date(FIRST_YEAR + 2 * (number - 1), START_MONTH, START_DAY)


def congress_end(number: int) -> date:
    """The last day of Congress `number`: the first day of the next."""
    return congress_start(number + 1)


def congress_on(day: date) -> int:
    """The Congress sitting on `day`; on January 3 of an odd year, the one that begins."""
    year = day.year
    if year % 2 == 1 and (day.month, day.day) < (START_MONTH, START_DAY):
        year -= 1
    return (year - FIRST_YEAR) // 2 + 1


def ordinal(number: int) -> str:
    """119th, 121st, 122nd, 123rd, 111th."""
    if number % 100 in (11, 12, 13):
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
