"""Pending signups for `alerts subscribers pending`, and signup counts for `alerts stats`.

A signup counts for a campaign when it was made on the campaign's /act page,
or its source or one of its tags is the campaign's slug (the snippet's
`--source` or `--tag`, the /join link's `?source=` or `?tag=`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from alerts import clock
from alerts.db import Database
from alerts.db import signups as signups_db
from alerts.signups.start import iso

PENDING_COLUMNS = ("id", "email", "name", "zip", "source", "tags", "campaign", "created_at",
                   "expires_at")  # fmt: skip


def pending(db: Database, now: float | None = None) -> list[dict[str, Any]]:
    """The signups waiting for confirmation (not expired), oldest first."""
    at = clock.now().timestamp() if now is None else now
    return [
        {
            "id": row.id,
            "email": row.email,
            "name": " ".join(p for p in (row.first_name, row.last_name) if p),
            "zip": row.zip,
            "source": row.source,
            "tags": row.tags,
            "campaign": row.campaign,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
        }
        for row in signups_db.pending_signups(db, iso(at))
    ]


@dataclass(frozen=True)
class SignupFigures:
    """Signups by status, and by source and by day; statuses: confirmed, pending, expired."""

    totals: dict[str, int]
    by_source: list[dict[str, Any]]
    by_day: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


STATUSES = ("confirmed", "pending", "expired", "refused")


def signup_figures(
    db: Database, campaign: str | None = None, now: float | None = None
) -> SignupFigures:
    """Signup counts, all of them or those attributable to `campaign` (a slug)."""
    at = clock.now().timestamp() if now is None else now
    counts = signups_db.signup_counts(db, iso(at), campaign)
    totals = dict.fromkeys(STATUSES, 0)
    sources: dict[str, dict[str, int]] = {}
    days: dict[str, dict[str, int]] = {}
    for count in counts:
        totals[count.status] = totals.get(count.status, 0) + count.count
        for table, name in ((sources, count.source or ""), (days, count.day)):
            row = table.setdefault(name, dict.fromkeys(STATUSES, 0))
            row[count.status] = row.get(count.status, 0) + count.count
    return SignupFigures(
        totals,
        [{"source": name or None, **row} for name, row in sorted(sources.items())],
        [{"day": name, **row} for name, row in sorted(days.items())],
    )
