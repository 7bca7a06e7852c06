"""ledger"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from alerts.db.connection import _IN_IDS, Database, _json_ids, utc_now, write_transaction
from alerts.db.segments import segment_where
from alerts.db.subscribers import SUBSCRIBER_COLUMNS, row_to_subscriber
from alerts.models import (
    SENDGRID_KINDS,
    DeliveryState,
    Segment,
    SendSummary,
    Subscriber,
)

CONFIRMED_BY_EVENT = "confirmed by a SendGrid event after the request's answer was lost"


_FREEZE = (
    "INSERT OR IGNORE INTO send_ledger (campaign_id, subscriber_id, state, updated_at)"
    " SELECT ?, id, 'pending', ? FROM subscribers WHERE status = 'subscribed'"
)


def ledger_freeze(db: Database, campaign_id: int, subscriber_ids: Iterable[int]) -> int:
    """Add the subscribed people among `subscriber_ids` as pending; returns how many were new.

    Recipients already in the ledger keep their state, so freezing again is harmless.
    """
    return ledger_freeze_query(
        db, campaign_id, "SELECT value FROM json_each(?)", [_json_ids(subscriber_ids)]
    )


def ledger_freeze_query(
    db: Database, campaign_id: int, id_query: str, params: Sequence[Any] = ()
) -> int:
    """Like ledger_freeze, for the ids an SQL `SELECT id ...` (a segment's query) returns."""
    with write_transaction(db):
        before = db.conn.total_changes
        db.execute(f"{_FREEZE} AND id IN ({id_query})", [campaign_id, utc_now(), *params])
        return db.conn.total_changes - before


def ledger_recover(db: Database, campaign_id: int, *, retry_unknown: bool) -> tuple[int, int]:
    """Start of a run: in_flight rows (left by a run that died) become unknown.

    Unknown rows for whom SendGrid's Event Webhook has since reported an event of
    this campaign (processed, delivered...) were accepted: they become sent. With
    `retry_unknown`, every other unknown row then goes back to pending.
    Returns (rows made unknown, rows made pending).
    """
    now = utc_now()
    with write_transaction(db):
        lost = db.execute(
            "UPDATE send_ledger SET state = 'unknown', updated_at = ?,"
            " reason = 'a previous send stopped while its request was out'"
            " WHERE campaign_id = ? AND state = 'in_flight'",
            [now, campaign_id],
        ).rowcount
        _confirm_unknown_by_events(db, campaign_id, now)
        requeued = 0
        if retry_unknown:
            requeued = db.execute(
                "UPDATE send_ledger SET state = 'pending', updated_at = ?"
                " WHERE campaign_id = ? AND state = 'unknown'",
                [now, campaign_id],
            ).rowcount
    return lost, requeued


# The events index is (campaign_id, kind, subscriber_id): naming every kind lets
# SQLite probe it for each unknown recipient instead of scanning the campaign's events.
_CONFIRM_UNKNOWN = (
    "UPDATE send_ledger SET state = 'sent', updated_at = ?, reason = ?"
    " WHERE campaign_id = ? AND state = 'unknown' AND subscriber_id IN ("
    " SELECT e.subscriber_id FROM events e WHERE e.campaign_id = ?"
    f" AND e.kind IN ({', '.join('?' for _ in SENDGRID_KINDS)})"
    " AND e.subscriber_id IN ("
    "  SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'unknown'))"
)


def _confirm_unknown_by_events(db: Database, campaign_id: int, now: str) -> int:
    """Unknown recipients SendGrid reported an event for were sent after all."""
    kinds = [str(kind) for kind in SENDGRID_KINDS]
    params = [now, CONFIRMED_BY_EVENT, campaign_id, campaign_id, *kinds, campaign_id]
    return db.execute(_CONFIRM_UNKNOWN, params).rowcount


def ledger_claim(
    db: Database, campaign_id: int, size: int
) -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """Take up to `size` pending recipients, lowest id first, and commit them as in_flight.

    Those no longer subscribed (or forgotten) are marked skipped instead. Returns
    (claimed subscribers, [(subscriber id, reason skipped)]).
    """
    now = utc_now()
    with write_transaction(db):
        rows = db.execute(
            f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id IN ("
            " SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'pending'"
            " ORDER BY subscriber_id LIMIT ?) ORDER BY id",
            [campaign_id, size],
        ).fetchall()
        claimed: list[Subscriber] = []
        skipped: list[tuple[int, str]] = []
        for person in map(row_to_subscriber, rows):
            if person.status == "subscribed" and person.email:
                claimed.append(person)
            else:
                skipped.append((int(person.id or 0), f"status is {person.status}"))
        db.execute(
            "UPDATE send_ledger SET state = 'in_flight', attempts = attempts + 1, updated_at = ?"
            f" WHERE campaign_id = ? AND subscriber_id {_IN_IDS}",
            [now, campaign_id, _json_ids(p.id or 0 for p in claimed)],
        )
        _set_states(db, campaign_id, DeliveryState.SKIPPED, skipped, now, was=("pending",))
    return claimed, skipped


def _grouped(pairs: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    """{value: [ids]} from (id, value) pairs, so each distinct value is one statement."""
    groups: dict[str, list[int]] = {}
    for sid, value in pairs:
        groups.setdefault(value, []).append(sid)
    return groups


def _set_states(
    db: Database,
    campaign_id: int,
    state: DeliveryState,
    reasons: Iterable[tuple[int, str]],
    now: str,
    was: tuple[str, ...] = ("in_flight", "unknown"),
) -> None:
    """Set `state` and its reason on rows now in one of the states `was`."""
    marks = ", ".join("?" * len(was))
    for reason, ids in _grouped(reasons).items():
        db.execute(
            "UPDATE send_ledger SET state = ?, reason = ?, updated_at = ?"
            f" WHERE campaign_id = ? AND state IN ({marks}) AND subscriber_id {_IN_IDS}",
            [state.value, reason, now, campaign_id, *was, _json_ids(ids)],
        )


def ledger_record(
    db: Database,
    campaign_id: int,
    *,
    sent: Iterable[tuple[int, str]] = (),
    failed: Iterable[tuple[int, str]] = (),
    unknown: Iterable[tuple[int, str]] = (),
    skipped: Iterable[tuple[int, str]] = (),
    released: Iterable[int] = (),
) -> None:
    """Record what became of claimed recipients, in one transaction.

    sent: (id, X-Message-Id); failed/unknown/skipped: (id, reason); released: ids whose
    request never reached SendGrid, back to pending.
    """
    now = utc_now()
    with write_transaction(db):
        for message_id, ids in _grouped(sent).items():
            db.execute(
                "UPDATE send_ledger SET state = 'sent', message_id = ?, reason = NULL,"
                " updated_at = ? WHERE campaign_id = ? AND state IN ('in_flight', 'unknown')"
                f" AND subscriber_id {_IN_IDS}",
                [message_id, now, campaign_id, _json_ids(ids)],
            )
        _set_states(db, campaign_id, DeliveryState.FAILED, failed, now)
        _set_states(db, campaign_id, DeliveryState.UNKNOWN, unknown, now)
        _set_states(db, campaign_id, DeliveryState.SKIPPED, skipped, now)
        db.execute(
            "UPDATE send_ledger SET state = 'pending', updated_at = ?"
            f" WHERE campaign_id = ? AND state = 'in_flight' AND subscriber_id {_IN_IDS}",
            [now, campaign_id, _json_ids(released)],
        )


def ledger_counts(db: Database, campaign_id: int) -> dict[str, int]:
    """Recipients per ledger state, every state present (zero when none)."""
    counts = {state.value: 0 for state in DeliveryState}
    rows = db.execute(
        "SELECT state, COUNT(*) FROM send_ledger WHERE campaign_id = ? GROUP BY state",
        [campaign_id],
    ).fetchall()
    counts.update({state: n for state, n in rows})
    return counts


def ledger_reasons(
    db: Database, campaign_id: int, state: str = DeliveryState.FAILED
) -> list[tuple[str, int]]:
    """(reason, recipients) for a state, most frequent first."""
    rows = db.execute(
        "SELECT COALESCE(reason, ''), COUNT(*) AS n FROM send_ledger"
        " WHERE campaign_id = ? AND state = ? GROUP BY 1 ORDER BY n DESC, 1",
        [campaign_id, str(state)],
    ).fetchall()
    return [(reason, n) for reason, n in rows]


def ledger_recipients(
    db: Database, campaign_id: int, state: str, limit: int | None = None
) -> list[tuple[int, str | None, str | None]]:
    """(subscriber id, email, reason) of the recipients in a state, by id."""
    rows = db.execute(
        "SELECT l.subscriber_id, s.email, l.reason FROM send_ledger l"
        " JOIN subscribers s ON s.id = l.subscriber_id"
        " WHERE l.campaign_id = ? AND l.state = ? ORDER BY l.subscriber_id LIMIT ?",
        [campaign_id, str(state), -1 if limit is None else limit],
    ).fetchall()
    return [(sid, email, reason) for sid, email, reason in rows]


def send_runs_open(db: Database, campaign_id: int) -> list[tuple[int, int | None, str | None]]:
    """(run id, pid, host) of the runs of a campaign that never finished."""
    rows = db.execute(
        "SELECT id, pid, host FROM send_runs WHERE campaign_id = ? AND finished_at IS NULL",
        [campaign_id],
    ).fetchall()
    return [(run_id, pid, host) for run_id, pid, host in rows]


def send_run_begin(db: Database, campaign_id: int, pid: int, host: str) -> int:
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO send_runs (campaign_id, started_at, pid, host) VALUES (?, ?, ?, ?)",
            [campaign_id, utc_now(), pid, host],
        )
        return int(cursor.lastrowid or 0)


def send_run_end(
    db: Database, run_id: int, outcome: str, summary: SendSummary, message: str | None = None
) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE send_runs SET finished_at = ?, outcome = ?, message = ?,"
            " sent = ?, failed = ?, unknown = ?, skipped = ? WHERE id = ?",
            [
                utc_now(),
                outcome,
                message,
                summary.sent,
                summary.failed,
                summary.unknown,
                summary.skipped,
                run_id,
            ],
        )


def ledger_freeze_segment(
    db: Database, campaign_id: int, segment: Segment | None, now: datetime | None = None
) -> int:
    """Freeze the segment's subscribed people into the ledger and mark the send started.

    One transaction: a send is either not started, or started with its recipients
    frozen. Returns how many recipients were added.
    """
    where, params = segment_where(segment, now, campaign_id)
    with write_transaction(db):
        frozen = ledger_freeze_query(
            db, campaign_id, f"SELECT s.id FROM subscribers s WHERE {where}", params
        )
        db.execute(
            "UPDATE campaigns SET send_started_at = ? WHERE id = ? AND send_started_at IS NULL",
            [utc_now(), campaign_id],
        )
    return frozen


def campaign_send_finished(db: Database, campaign_id: int) -> bool:
    """Record the end of sending when nobody is pending or in flight; True if so."""
    with write_transaction(db):
        left = db.execute(
            "SELECT COUNT(*) FROM send_ledger WHERE campaign_id = ?"
            " AND state IN ('pending', 'in_flight')",
            [campaign_id],
        ).fetchone()[0]
        if left:
            return False
        db.execute(
            "UPDATE campaigns SET send_finished_at = ? WHERE id = ?", [utc_now(), campaign_id]
        )
    return True


def ledger_ids(db: Database, campaign_id: int, states: Iterable[str]) -> list[int]:
    """Ids of the recipients in any of `states`, in id order."""
    wanted = [str(state) for state in states]
    rows = db.execute(
        "SELECT subscriber_id FROM send_ledger WHERE campaign_id = ?"
        f" AND state IN ({', '.join('?' for _ in wanted)}) ORDER BY subscriber_id",
        [campaign_id, *wanted],
    ).fetchall()
    return [row[0] for row in rows]


def send_run_history(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every run of a campaign's send, oldest first."""
    rows = db.execute(
        "SELECT id, started_at, finished_at, outcome, message, sent, failed, unknown, skipped"
        " FROM send_runs WHERE campaign_id = ? ORDER BY id",
        [campaign_id],
    ).fetchall()
    columns = ("id", "started_at", "finished_at", "outcome", "message")
    columns += ("sent", "failed", "unknown", "skipped")
    return [dict(zip(columns, row, strict=True)) for row in rows]
