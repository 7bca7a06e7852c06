"""The send table family: `send_ledger` (one row per campaign and recipient, with
what became of their message) and `send_runs` (one row per run of `alerts send`).

A send also stamps its campaign's send_started_at and send_finished_at here, in
the transactions that freeze and finish its ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.db.connection import Database, inserted_id, utc_now, write_transaction
from alerts.db.districts import addressed_by_sql
from alerts.db.id_lists import IN_ID_LIST, id_list
from alerts.db.segments import segment_where
from alerts.db.stances import StanceFreeze, freeze_stances, unfreeze_stances
from alerts.db.subscribers import SUBSCRIBER_COLUMNS, row_to_subscriber, sendable
from alerts.models import (
    PROVIDER_KINDS,
    DeliveryState,
    Segment,
    SendSummary,
    Subscriber,
)

CONFIRMED_BY_EVENT = "confirmed by a SendGrid event after the request's answer was lost"


@dataclass(frozen=True)
class LedgerRecipient:
    subscriber_id: int
    email: str | None  # None once forgotten
    reason: str | None


@dataclass(frozen=True)
class OpenSendRun:
    """A run of a campaign's send that has not recorded its end: alive, or it died."""

    id: int
    pid: int | None
    host: str | None


def ledger_freeze_segment(
    db: Database,
    campaign_id: int,
    segment: Segment | None,
    now: datetime | None = None,
    *,
    stances: StanceFreeze | None = None,
) -> int:
    """Freeze the segment's subscribed people into the ledger; how many were added."""
    return len(ledger_freeze(db, campaign_id, segment, now, stances=stances))


def ledger_freeze(
    db: Database,
    campaign_id: int,
    segment: Segment | None,
    now: datetime | None = None,
    *,
    stances: StanceFreeze | None = None,
) -> list[int]:
    """Freeze the segment's subscribed people into the ledger and mark the send started.

    One transaction: a send is either not started, or started with its recipients
    frozen. Recipients already in the ledger keep their state, so freezing again
    adds only the people who joined the segment since (a top-up). Returns the ids
    added, in id order. `stances`, for a campaign that names a bill, are frozen in the
    same transaction by the first freeze and kept by every later one (stances.py).
    """
    where, params = segment_where(segment, now, campaign_id)
    with write_transaction(db):
        rows = db.execute(
            "INSERT OR IGNORE INTO send_ledger"
            " (campaign_id, subscriber_id, state, updated_at, subscriber_state, addressed_by)"
            f" SELECT ?, id, 'pending', ?, state, {addressed_by_sql('subscribers')}"
            f" FROM subscribers WHERE {sendable('subscribers')}"
            f" AND id IN (SELECT s.id FROM subscribers s WHERE {where}) RETURNING subscriber_id",
            [campaign_id, utc_now(), *params],
        ).fetchall()
        db.execute(
            "UPDATE campaigns SET send_started_at = ? WHERE id = ? AND send_started_at IS NULL",
            [utc_now(), campaign_id],
        )
        if stances is not None:
            freeze_stances(db, campaign_id, stances)
    return sorted(row[0] for row in rows)


def ledger_unfreeze(db: Database, campaign_id: int, subscriber_ids: Iterable[int]) -> int:
    """Take recipients a freeze added out of the ledger again, if still pending.

    For a send nobody confirmed: when no recipient is left, the campaign is a
    draft again (not started). Returns how many were taken out.
    """
    with write_transaction(db):
        removed = db.execute(
            "DELETE FROM send_ledger WHERE campaign_id = ? AND state = 'pending'"
            f" AND subscriber_id {IN_ID_LIST}",
            [campaign_id, id_list(subscriber_ids)],
        ).rowcount
        draft = db.execute(
            "UPDATE campaigns SET send_started_at = NULL WHERE id = ?"
            " AND NOT EXISTS (SELECT 1 FROM send_ledger WHERE campaign_id = ?)",
            [campaign_id, campaign_id],
        ).rowcount
        if draft:
            unfreeze_stances(db, campaign_id)
    return int(removed)


def ledger_recover(db: Database, campaign_id: int, *, retry_unknown: bool) -> tuple[int, int]:
    """Start of a run: in_flight rows (left by a run that died) become unknown.

    Unknown rows for whom the delivery provider has since reported an event of
    this campaign (accepted, delivered...) were accepted: they become sent. With
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
    f" AND e.kind IN ({', '.join('?' for _ in PROVIDER_KINDS)})"
    " AND e.subscriber_id IN ("
    "  SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'unknown'))"
)


def _confirm_unknown_by_events(db: Database, campaign_id: int, now: str) -> int:
    """Unknown recipients the provider reported an event for were sent after all."""
    kinds = [str(kind) for kind in PROVIDER_KINDS]
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
            f"SELECT {SUBSCRIBER_COLUMNS}, {sendable('subscribers')} FROM subscribers WHERE id IN ("
            " SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'pending'"
            " ORDER BY subscriber_id LIMIT ?) ORDER BY id",
            [campaign_id, size],
        ).fetchall()
        claimed: list[Subscriber] = []
        claimed_ids: list[int] = []
        skipped: list[tuple[int, str]] = []
        for row in rows:
            person, subscriber_id, is_sendable = row_to_subscriber(row), row[0], row[-1]
            if is_sendable:
                claimed.append(person)
                claimed_ids.append(subscriber_id)
            else:
                skipped.append((subscriber_id, f"status is {person.status}"))
        db.execute(
            "UPDATE send_ledger SET state = 'in_flight', attempts = attempts + 1, updated_at = ?"
            f" WHERE campaign_id = ? AND subscriber_id {IN_ID_LIST}",
            [now, campaign_id, id_list(claimed_ids)],
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
            f" WHERE campaign_id = ? AND state IN ({marks}) AND subscriber_id {IN_ID_LIST}",
            [state.value, reason, now, campaign_id, *was, id_list(ids)],
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

    sent: (id, the provider's message id); failed/unknown/skipped: (id, reason);
    released: ids whose request never reached the provider, back to pending.
    """
    now = utc_now()
    with write_transaction(db):
        for message_id, ids in _grouped(sent).items():
            db.execute(
                "UPDATE send_ledger SET state = 'sent', message_id = ?, reason = NULL,"
                " updated_at = ? WHERE campaign_id = ? AND state IN ('in_flight', 'unknown')"
                f" AND subscriber_id {IN_ID_LIST}",
                [message_id, now, campaign_id, id_list(ids)],
            )
        _set_states(db, campaign_id, DeliveryState.FAILED, failed, now)
        _set_states(db, campaign_id, DeliveryState.UNKNOWN, unknown, now)
        _set_states(db, campaign_id, DeliveryState.SKIPPED, skipped, now)
        db.execute(
            "UPDATE send_ledger SET state = 'pending', updated_at = ?"
            f" WHERE campaign_id = ? AND state = 'in_flight' AND subscriber_id {IN_ID_LIST}",
            [now, campaign_id, id_list(released)],
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
) -> list[LedgerRecipient]:
    """The recipients in a state, by id."""
    rows = db.execute(
        "SELECT l.subscriber_id, s.email, l.reason FROM send_ledger l"
        " JOIN subscribers s ON s.id = l.subscriber_id"
        " WHERE l.campaign_id = ? AND l.state = ? ORDER BY l.subscriber_id LIMIT ?",
        [campaign_id, str(state), -1 if limit is None else limit],
    ).fetchall()
    return [LedgerRecipient(*row) for row in rows]


def send_runs_open(db: Database, campaign_id: int) -> list[OpenSendRun]:
    """The runs of a campaign's send that never recorded their end."""
    rows = db.execute(
        "SELECT id, pid, host FROM send_runs WHERE campaign_id = ? AND finished_at IS NULL",
        [campaign_id],
    ).fetchall()
    return [OpenSendRun(*row) for row in rows]


def send_run_begin(db: Database, campaign_id: int, pid: int, host: str) -> int:
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO send_runs (campaign_id, started_at, pid, host) VALUES (?, ?, ?, ?)",
            [campaign_id, utc_now(), pid, host],
        )
        return inserted_id(cursor)


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
    cursor = db.execute(
        "SELECT id, started_at, finished_at, outcome, message, sent, failed, unknown, skipped"
        " FROM send_runs WHERE campaign_id = ? ORDER BY id",
        [campaign_id],
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
