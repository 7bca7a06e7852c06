"""Signups waiting for confirmation, the queue of confirmation messages, and confirming.

`signups` holds the people who asked to join on a form and have not confirmed
yet, apart from `subscribers`: nothing here is ever mailed a campaign. A row is
`pending` until its person confirms (`confirmed`, with the subscriber it became),
the address turns out to be one that complained (`refused`), or its days run out
(`expired`). A row that is no longer pending keeps only its attribution (source,
tags, campaign), its consent sentence and its dates: the personal fields are blanked.

`signup_mail` is the queue of confirmation messages: `queued` until the server's
sender claims a row (`sending`, with the time of the claim), sends it and marks
it `sent`; a failure puts it back to `queued` for a later try, or `failed` after
the last one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.db.connection import Database, inserted_id, utc_now
from alerts.db.id_lists import IN_ID_LIST, id_list

PENDING = "pending"
CONFIRMED = "confirmed"
REFUSED = "refused"
EXPIRED = "expired"

_PERSONAL_BLANK = (
    "email = NULL, email_key = NULL, first_name = NULL, last_name = NULL,"
    " street = NULL, city = NULL, state = NULL, zip = NULL"
)
_SIGNUP_COLUMNS = (
    "id, status, email, email_key, first_name, last_name, street, city, state, zip,"
    " source, tags, campaign, consent, created_at, expires_at, confirmed_at"
)


@dataclass(frozen=True)
class SignupRow:
    id: int
    status: str
    email: str | None
    email_key: str | None
    first_name: str | None
    last_name: str | None
    street: str | None
    city: str | None
    state: str | None
    zip: str | None
    source: str | None
    tags: list[str]
    campaign: str | None
    consent: str
    created_at: str
    expires_at: str
    confirmed_at: str | None


def _row(values: Sequence[Any]) -> SignupRow:
    fields = list(values)
    fields[11] = json.loads(fields[11])
    return SignupRow(*fields)


_SAVED_COLUMNS = (
    "email", "email_key", "first_name", "last_name", "street", "city", "state", "zip",
    "source", "tags", "campaign", "consent", "created_at", "expires_at",
)  # fmt: skip


# One statement: the address's pending signup (unique, migration 131) is updated in place.
_SAVE_PENDING = (
    f"INSERT INTO signups ({', '.join(_SAVED_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_SAVED_COLUMNS))})"
    " ON CONFLICT (email_key) WHERE status = 'pending' DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _SAVED_COLUMNS)
    + " RETURNING id"
)


def save_pending(db: Database, values: dict[str, Any]) -> int:
    """Store a pending signup, or update the address's pending one. Returns its id.

    `values`: email, email_key, the fields given, source, tags (a list), campaign,
    consent, created_at and expires_at; a field not given is stored empty.
    """
    row = [values.get(name) for name in _SAVED_COLUMNS]
    row[_SAVED_COLUMNS.index("tags")] = json.dumps(values.get("tags") or [])
    return int(db.execute(_SAVE_PENDING, row).fetchone()[0])


def get_signup(db: Database, signup_id: int) -> SignupRow | None:
    row = db.execute(f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE id = ?", [signup_id]).fetchone()
    return _row(row) if row else None


def get_signups(db: Database, signup_ids: Iterable[int]) -> dict[int, SignupRow]:
    """The signups of these ids that exist, by id: one statement for a batch."""
    rows = db.execute(
        f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE id {IN_ID_LIST}", [id_list(signup_ids)]
    )
    return {row.id: row for row in map(_row, rows)}


def pending_signups(db: Database, now: str) -> Iterator[SignupRow]:
    """Signups still waiting for confirmation (not past their expiry), oldest first."""
    yield from (
        _row(row)
        for row in db.execute(
            f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE status = 'pending' AND expires_at > ?"
            " ORDER BY id",
            [now],
        )
    )


def finish_signup(
    db: Database, signup_id: int, status: str, *, subscriber_id: int | None, previous: str | None
) -> bool:
    """Close a pending signup as confirmed or refused and blank its personal fields.

    True if it was pending: a second confirmation changes nothing.
    """
    now = utc_now()
    cursor = db.execute(
        f"UPDATE signups SET status = ?, confirmed_at = ?, subscriber_id = ?,"
        f" previous_status = ?, {_PERSONAL_BLANK} WHERE id = ? AND status = 'pending'",
        [status, now, subscriber_id, previous, signup_id],
    )
    return cursor.rowcount == 1


def expire_signups(db: Database, now: str) -> int:
    """Mark every pending signup past its expiry `expired`, erasing its personal fields.

    Their unsent confirmation messages are dropped. Returns how many expired.
    """
    db.execute(
        "UPDATE signup_mail SET state = 'dropped' WHERE state IN ('queued', 'failed')"
        " AND signup_id IN (SELECT id FROM signups WHERE status = 'pending' AND expires_at <= ?)",
        [now],
    )
    cursor = db.execute(
        f"UPDATE signups SET status = 'expired', {_PERSONAL_BLANK}"
        " WHERE status = 'pending' AND expires_at <= ?",
        [now],
    )
    return cursor.rowcount


def erase_signups(db: Database, email_key: str) -> int:
    """Delete the pending signups of an address and their queued messages (forget)."""
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id FROM signups WHERE email_key = ? AND status = 'pending'", [email_key]
        )
    ]
    marks = json.dumps(ids)
    db.execute(
        "DELETE FROM signup_mail WHERE signup_id IN (SELECT value FROM json_each(?))", [marks]
    )
    db.execute("DELETE FROM signups WHERE id IN (SELECT value FROM json_each(?))", [marks])
    return len(ids)


def forget_hashes_cleared(db: Database, hashes: Sequence[str]) -> int:
    """Remove these hashes from `forgotten`: the address came back with new consent."""
    cursor = db.execute(
        "DELETE FROM forgotten WHERE email_hash IN (SELECT value FROM json_each(?))",
        [json.dumps(list(hashes))],
    )
    return cursor.rowcount


# --------------------------------------------------------------------------
# The subscriber a confirmation makes or brings back


def insert_subscriber(db: Database, values: dict[str, Any]) -> int:
    """Add a subscribed person from a confirmed signup; tags a list, extra a dict."""
    now = utc_now()
    row = {**values, "status": "subscribed", "created_at": now, "updated_at": now}
    row["tags"] = json.dumps(row.get("tags", []))
    row["extra"] = json.dumps(row.get("extra", {}))
    row["status_changed_at"] = now
    columns = [*row]
    cursor = db.execute(
        f"INSERT INTO subscribers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [row[c] for c in columns],
    )
    return inserted_id(cursor)


def resubscribe(db: Database, subscriber_id: int, values: dict[str, Any]) -> None:
    """Subscribe a known person again with fresh consent: `values` holds source, tags
    (merged into theirs), extra (merged), consent_at and the fields they typed."""
    now = utc_now()
    fields = {k: v for k, v in values.items() if k not in ("tags", "extra")}
    sets = "".join(f", {name} = COALESCE(:{name}, {name})" for name in fields)
    db.execute(
        "UPDATE subscribers SET status = 'subscribed', status_changed_at = :now,"
        " updated_at = :now"
        " , tags = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(tags)"
        "   UNION SELECT value FROM json_each(:tags)))"
        " , extra = json_patch(extra, :extra)"
        f"{sets} WHERE id = :id",
        {
            **fields,
            "now": now,
            "id": subscriber_id,
            "tags": json.dumps(values.get("tags", [])),
            "extra": json.dumps(values.get("extra", {})),
        },
    )


# --------------------------------------------------------------------------
# The confirmation queue


@dataclass(frozen=True)
class QueuedMail:
    id: int
    signup_id: int
    attempts: int


def queue_mail(db: Database, signup_id: int, now: int, created_at: str | None = None) -> int:
    """Queue a confirmation message, due at `now` (Unix seconds); `created_at` ISO, default now."""
    cursor = db.execute(
        "INSERT INTO signup_mail (signup_id, next_at, created_at) VALUES (?, ?, ?)",
        [signup_id, now, created_at or utc_now()],
    )
    return inserted_id(cursor)


def release_stale_claims(db: Database, claimed_before: int) -> int:
    """Claims older than `claimed_before` (a sender that died mid-send) go back to the queue."""
    cursor = db.execute(
        "UPDATE signup_mail SET state = 'queued', claimed_at = NULL"
        " WHERE state = 'sending' AND claimed_at < ?",
        [claimed_before],
    )
    return cursor.rowcount


def claim_due(db: Database, now: int, limit: int) -> list[QueuedMail]:
    """Claim up to `limit` queued messages that are due: they are `sending` from now on."""
    rows = db.execute(
        "UPDATE signup_mail SET state = 'sending', claimed_at = ?, attempts = attempts + 1"
        " WHERE id IN (SELECT id FROM signup_mail WHERE state = 'queued' AND next_at <= ?"
        "   ORDER BY next_at, id LIMIT ?)"
        " RETURNING id, signup_id, attempts",
        [now, now, limit],
    ).fetchall()
    return sorted((QueuedMail(*row) for row in rows), key=lambda m: m.id)


def mark_sent(db: Database, mail_ids: Sequence[int], message_id: str) -> int:
    """Mark claimed messages sent (a batch one request sent). Returns how many: each once."""
    cursor = db.execute(
        "UPDATE signup_mail SET state = 'sent', sent_at = ?, message_id = ?, error = NULL"
        f" WHERE id {IN_ID_LIST} AND state = 'sending'",
        [utc_now(), message_id, id_list(mail_ids)],
    )
    return cursor.rowcount


def mark_unsent(db: Database, mail_id: int, error: str, retry_at: int | None) -> None:
    """A claimed message that did not go: queued again for `retry_at`, or failed (None)."""
    db.execute(
        "UPDATE signup_mail SET state = ?, next_at = COALESCE(?, next_at), claimed_at = NULL,"
        " error = ? WHERE id = ? AND state = 'sending'",
        ["queued" if retry_at is not None else "failed", retry_at, error, mail_id],
    )


def drop_mail(db: Database, mail_id: int) -> None:
    """A claimed message that must not go any more (its signup is gone or closed)."""
    db.execute(
        "UPDATE signup_mail SET state = 'dropped', claimed_at = NULL WHERE id = ?", [mail_id]
    )


def mail_counts(db: Database) -> dict[str, int]:
    return dict(db.execute("SELECT state, COUNT(*) FROM signup_mail GROUP BY state").fetchall())


def next_due(db: Database) -> int | None:
    """When the next queued message is due (Unix seconds), or None with none queued."""
    row = db.execute("SELECT MIN(next_at) FROM signup_mail WHERE state = 'queued'").fetchone()
    return row[0] if row and row[0] is not None else None


# --------------------------------------------------------------------------
# Stats


@dataclass(frozen=True)
class SignupCount:
    source: str | None
    day: str  # the UTC day the signup was made, YYYY-MM-DD
    status: str
    count: int


def signup_counts(db: Database, now: str, campaign: str | None = None) -> list[SignupCount]:
    """Signups by source, day and status; a pending one past its expiry counts as expired.

    With `campaign`, only those attributable to it: made on its /act page, or
    whose source or one of whose tags is its slug.
    """
    where, params = "", [now]
    if campaign is not None:
        where = (
            " WHERE campaign = ? OR source = ?"
            " OR EXISTS (SELECT 1 FROM json_each(signups.tags) WHERE value = ?)"
        )
        params += [campaign, campaign, campaign]
    rows = db.execute(
        "SELECT source, substr(created_at, 1, 10) AS day,"
        " CASE WHEN status = 'pending' AND expires_at <= ? THEN 'expired' ELSE status END,"
        f" COUNT(*) FROM signups{where} GROUP BY 1, 2, 3 ORDER BY 2, 1, 3",
        params,
    ).fetchall()
    return [SignupCount(*row) for row in rows]
