"""Pending signups for `alerts subscribers pending` (the counts are reports/signups.py)."""

from __future__ import annotations

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
