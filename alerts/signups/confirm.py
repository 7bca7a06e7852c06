"""Confirming a signup: the link's signup becomes a subscriber (subscribers/lifecycle.py).

The subscriber's district is then resolved as an import's people are (targets/districts.py),
from the ZIP and state they typed, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts import clock
from alerts.db import Database
from alerts.db import signups as signups_db
from alerts.signups.start import iso
from alerts.subscribers import lifecycle
from alerts.targets import districts


class Confirmation(StrEnum):
    CONFIRMED = "confirmed"  # subscribed now (or again)
    DONE = "done"  # confirmed before: opening the link twice is harmless
    COMPLAINED = "complained"  # the address once reported our mail as spam: not subscribed
    EXPIRED = "expired"  # too late, or the signup is gone (forgotten, expired and purged)


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Confirmation
    subscriber_id: int | None = None


def confirm(db: Database, signup_id: int, now: float | None = None) -> ConfirmResult:
    """Confirm the signup `signup_id`. Inside the caller's write transaction."""
    at = clock.now().timestamp() if now is None else now
    row = signups_db.get_signup(db, signup_id)
    if row is None or row.status == signups_db.EXPIRED:
        return ConfirmResult(Confirmation.EXPIRED)
    if row.status == signups_db.CONFIRMED:
        return ConfirmResult(Confirmation.DONE)
    if row.status == signups_db.REFUSED:
        return ConfirmResult(Confirmation.COMPLAINED)
    if row.expires_at <= iso(at) or row.email is None:
        return ConfirmResult(Confirmation.EXPIRED)
    fields = {
        name: getattr(row, name)
        for name in ("first_name", "last_name", "street", "city", "state", "zip")
        if getattr(row, name)
    }
    values: dict[str, object] = {
        **fields,
        "source": row.source,
        "tags": row.tags,
        "extra": {"consent": row.consent},
        "consent_at": iso(at),
    }
    done = lifecycle.confirm_signup(db, row.email, values, int(at))
    if done.subscriber_id is None:
        signups_db.finish_signup(
            db, signup_id, signups_db.REFUSED, subscriber_id=None, previous=done.previous
        )
        return ConfirmResult(Confirmation.COMPLAINED)
    signups_db.finish_signup(
        db,
        signup_id,
        signups_db.CONFIRMED,
        subscriber_id=done.subscriber_id,
        previous=done.previous,
    )
    districts.resolve_subscribers(db, [done.subscriber_id])
    return ConfirmResult(Confirmation.CONFIRMED, done.subscriber_id)
