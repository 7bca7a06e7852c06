"""Signup counts for a campaign's figures: by status, and by source and by day.

A signup counts for a campaign when it was made on the campaign's /act page,
or its source or one of its tags is the campaign's slug (the snippet's
`--source` or `--tag`, the /join link's `?source=` or `?tag=`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alerts import clock
from alerts.db import Database
from alerts.db import signups as signups_db
from alerts.db.connection import utc_at

STATUSES = ("confirmed", "pending", "expired", "refused")


@dataclass(frozen=True)
class SignupFigures:
    """Signups by status, and by source and by day; statuses: confirmed, pending, expired."""

    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    by_source: list[dict[str, Any]] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return any(self.totals.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def signup_figures(
    db: Database, campaign: str | None = None, now: float | None = None
) -> SignupFigures:
    """Signup counts, all of them or those attributable to `campaign` (a slug)."""
    at = clock.now().timestamp() if now is None else now
    totals = dict.fromkeys(STATUSES, 0)
    sources: dict[str, dict[str, int]] = {}
    days: dict[str, dict[str, int]] = {}
    for count in signups_db.signup_counts(db, utc_at(at), campaign):
        totals[count.status] = totals.get(count.status, 0) + count.count
        for table, name in ((sources, count.source or ""), (days, count.day)):
            row = table.setdefault(name, dict.fromkeys(STATUSES, 0))
            row[count.status] = row.get(count.status, 0) + count.count
    return SignupFigures(
        totals,
        [{"source": name or None, **row} for name, row in sorted(sources.items())],
        [{"day": name, **row} for name, row in sorted(days.items())],
    )
