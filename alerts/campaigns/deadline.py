"""A campaign's deadline: when its action closes, how close to it a send may start, and the
words letter pages and `alerts send` use about it.

`deadline` is an ISO 8601 date and time with its UTC offset, such as the time of a
committee vote (`2027-02-15T17:00:00-05:00`); `send_margin` is how long before it
`alerts send` starts warning that recipients may read the email too late, written
as a number and a unit (`90m`, `12h`, `2d`, or `1d12h`), 24 hours unless given.
What time it is comes from alerts/clock.py, so ALERTS_TODAY rehearses a deadline.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Protocol

import yaml

from alerts import clock
from alerts.campaigns.yaml_nodes import Entry
from alerts.errors import CampaignError
from alerts.models import Campaign

DEADLINE_EXAMPLE = "2027-02-15T17:00:00-05:00"
_MARGIN_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


class _Reader(Protocol):
    """What reading these keys needs of the campaign file's reader (files.py)."""

    def problem(self, line: int, message: str) -> None: ...


# --------------------------------------------------------------------------
# Reading the keys


def read_deadline(reader: _Reader, entry: Entry) -> datetime | None:
    """The deadline as written, in its own offset; a problem naming the key otherwise."""
    text = entry.node.value.strip() if isinstance(entry.node, yaml.ScalarNode) else ""
    found = clock.parse_moment(text) if text else None
    if found is None:
        reader.problem(
            entry.line,
            f"deadline must be a date and time with its UTC offset, like {DEADLINE_EXAMPLE}"
            + (f", not {text!r}" if text else ""),
        )
    return found


def read_margin(reader: _Reader, entry: Entry) -> timedelta | None:
    """send_margin as a length of time; a problem naming the key otherwise."""
    text = entry.node.value.strip() if isinstance(entry.node, yaml.ScalarNode) else ""
    margin = parse_margin(text)
    if margin is None:
        reader.problem(
            entry.line,
            f"send_margin must be a length of time like 90m, 12h, 2d or 1d12h, not {text!r}",
        )
    return margin


def parse_margin(text: str) -> timedelta | None:
    """`90m`, `12h`, `2d` or a mix (`1d12h`) as a timedelta; None when it is none of these."""
    match = _MARGIN_RE.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


# --------------------------------------------------------------------------
# Words about it


def duration_words(span: timedelta) -> str:
    """A length of time as people say it, to the minute: "1 day 2 hours", "45 minutes"."""
    seconds = int(abs(span.total_seconds()))
    parts: list[str] = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "less than a minute"


def offset_name(moment: datetime) -> str:
    """The moment's UTC offset as people read it: UTC-05:00, or UTC."""
    offset = moment.utcoffset() or timedelta()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes > 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def moment_words(moment: datetime) -> str:
    """A moment in its own offset: "February 15, 2027 at 5:00 p.m. (UTC-05:00)"."""
    hour = moment.hour % 12 or 12
    noon = "a.m." if moment.hour < 12 else "p.m."
    day = f"{moment:%B} {moment.day}, {moment.year}"
    return f"{day} at {hour}:{moment:%M} {noon} ({offset_name(moment)})"


def closed_sentence(deadline: datetime) -> str:
    """What a letter page says once the deadline has passed."""
    return f"This action closed on {moment_words(deadline)}."


# --------------------------------------------------------------------------
# Whether it has passed


def has_passed(deadline: datetime | None, now: datetime | None = None) -> bool:
    """Whether the action closed: the deadline is at or before now (clock.now())."""
    return deadline is not None and deadline <= (now or clock.now())


def send_warning(campaign: Campaign, now: datetime | None = None) -> str | None:
    """Whether `alerts send` may go ahead: None, or a warning when the deadline is near.

    Raises CampaignError, naming the deadline, once it has passed.
    """
    deadline = campaign.deadline
    if deadline is None:
        return None
    moment = now or clock.now()
    left = deadline - moment
    if left <= timedelta():
        raise CampaignError(
            f"{campaign.path}: deadline: the action closed {duration_words(left)} ago,"
            f" on {moment_words(deadline)}: not sending"
        )
    if left >= campaign.send_margin:
        return None
    return (
        f"the deadline is {duration_words(left)} away ({moment_words(deadline)}), less than"
        f" the send_margin of {duration_words(campaign.send_margin)}: some recipients may read"
        " it too late"
    )
