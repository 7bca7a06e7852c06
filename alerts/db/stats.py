"""stats"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alerts.db.connection import Database, write_transaction
from alerts.db.roster import MEMBER_COLUMNS, _row_to_member
from alerts.models import (
    EventTotals,
    Member,
)


@dataclass(frozen=True)
class _Summary:
    """One summary table: its key columns as SQL on an event row X, and what it counts."""

    table: str
    keys: dict[str, str]
    people: tuple[str, ...] = ()  # human_people and/or people, besides the event counts
    same_key: str = ""  # what else two events of one recipient share to count once
    counts: str = "1"  # which events it counts, as SQL on X
    # False: it counts human_people only, and its statements run only for an event
    # that makes a recipient new (so an expensive key is computed only then).
    events: bool = True

    @property
    def counters(self) -> list[str]:
        return (["human_events", "machine_events"] if self.events else []) + list(self.people)


_CAMPAIGN_KIND = {"campaign_id": "X.campaign_id", "kind": "X.kind"}


_STATS_SUMMARIES = (
    _Summary("stats_kind_totals", _CAMPAIGN_KIND, ("human_people", "people")),
    _Summary(
        "stats_detail_totals",
        {**_CAMPAIGN_KIND, "link_id": "COALESCE(X.link_id, 0)", "target": "COALESCE(X.target, '')"},
        ("human_people",),
        same_key="e.link_id IS X.link_id AND e.target IS X.target",
        counts="(X.link_id IS NOT NULL OR X.target IS NOT NULL)",
    ),
    _Summary(
        "stats_state_totals",
        {
            **_CAMPAIGN_KIND,
            "state": "COALESCE((SELECT s.state FROM subscribers AS s"
            " WHERE s.id = X.subscriber_id), '')",
        },
        ("human_people",),
        counts="X.kind IN ('delivered', 'open', 'click', 'letter_sent')",
        events=False,
    ),
    _Summary(
        "stats_hourly",
        {**_CAMPAIGN_KIND, "hour": "CAST(X.at AS INTEGER) / 3600"},
        counts="X.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed',"
        " 'unsubscribe')",
    ),
)


def _stats_deltas(summary: _Summary) -> list[str]:
    """SQL for how much event X changes each counter (0 or 1): is it a new recipient?"""
    same = (
        "e.campaign_id = X.campaign_id AND e.kind = X.kind"
        " AND e.subscriber_id = X.subscriber_id AND e.id <> X.id"
    )
    if summary.same_key:
        same += " AND " + summary.same_key
    new_person = {
        "human_people": "X.machine = 0 AND X.subscriber_id IS NOT NULL AND NOT EXISTS"
        f" (SELECT 1 FROM events AS e WHERE {same} AND e.machine = 0)",
        "people": "X.subscriber_id IS NOT NULL AND NOT EXISTS"
        f" (SELECT 1 FROM events AS e WHERE {same})",
    }
    events = ["(X.machine = 0)", "(X.machine <> 0)"] if summary.events else []
    return events + [f"({new_person[p]})" for p in summary.people]


def _stats_applies(summary: _Summary) -> str:
    """SQL: event X changes this summary."""
    condition = f"X.campaign_id IS NOT NULL AND {summary.counts}"
    if not summary.events:
        condition += f" AND {_stats_deltas(summary)[0]}"
    return condition


def _stats_add_sql(summary: _Summary, row: str) -> str:
    keys, counters = ", ".join(summary.keys), summary.counters
    deltas = _stats_deltas(summary) if summary.events else ["1"]
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in counters)
    sql = (
        f"INSERT INTO {summary.table} ({keys}, {', '.join(counters)})"
        f" SELECT {', '.join([*summary.keys.values(), *deltas])} WHERE {_stats_applies(summary)}"
        f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )
    return sql.replace("X.", f"{row}.")


def _stats_remove_sql(summary: _Summary, row: str) -> list[str]:
    where = " AND ".join(f"{key} = {expr}" for key, expr in summary.keys.items())
    deltas = _stats_deltas(summary) if summary.events else ["1"]
    changes = zip(summary.counters, deltas, strict=True)
    sets = ", ".join(f"{counter} = {counter} - {delta}" for counter, delta in changes)
    empty = " AND ".join(f"{counter} = 0" for counter in summary.counters[:2])
    statements = [
        f"UPDATE {summary.table} SET {sets} WHERE {where} AND {_stats_applies(summary)}",
        f"DELETE FROM {summary.table} WHERE {where} AND {empty}",
    ]
    return [sql.replace("X.", f"{row}.") for sql in statements]


def _stats_trigger_bodies() -> tuple[list[str], list[str]]:
    """(statements applying NEW, statements withdrawing OLD) for every summary."""
    add = [_stats_add_sql(summary, "NEW") for summary in _STATS_SUMMARIES]
    remove = [sql for summary in _STATS_SUMMARIES for sql in _stats_remove_sql(summary, "OLD")]
    return add, remove


def _stats_rebuild_sql(summary: _Summary) -> str:
    keys = list(summary.keys)
    per_key = ", ".join(f"{expr} AS {key}" for key, expr in summary.keys.items())
    group = ", ".join(keys + (["X.subscriber_id"] if summary.people else []))
    totals = {
        "human_people": "SUM(known AND h > 0)",
        "people": "SUM(known)",
    }
    counts = (["SUM(h)", "SUM(m)"] if summary.events else []) + [totals[p] for p in summary.people]
    having = "" if summary.events else f" HAVING {counts[0]} > 0"
    return (
        f"INSERT INTO {summary.table} ({', '.join(keys + summary.counters)})"
        f" SELECT {', '.join(keys + counts)}"
        f" FROM (SELECT {per_key}, X.subscriber_id IS NOT NULL AS known,"
        " SUM(X.machine = 0) AS h, SUM(X.machine <> 0) AS m FROM events AS X"
        f" WHERE X.campaign_id IS NOT NULL AND {summary.counts} GROUP BY {group})"
        f" GROUP BY {', '.join(keys)}{having}"
    )


def _stats_create_triggers(db: Database) -> None:
    add, remove = _stats_trigger_bodies()
    db.execute(
        "CREATE TRIGGER stats_event_added AFTER INSERT ON events BEGIN " + "; ".join(add) + "; END"
    )
    db.execute(
        "CREATE TRIGGER stats_event_removed AFTER DELETE ON events BEGIN "
        + "; ".join(remove)
        + "; END"
    )
    # Withdraw the old row, then apply the new one: right whether or not the key changed.
    db.execute(
        "CREATE TRIGGER stats_event_changed AFTER UPDATE OF"
        " campaign_id, subscriber_id, kind, link_id, target, at, machine ON events BEGIN "
        + "; ".join(remove + add)
        + "; END"
    )


def rebuild_stats_summaries(db: Database) -> None:
    """Recompute every stats summary from the events table (in the caller's transaction)."""
    for summary in _STATS_SUMMARIES:
        db.execute(f"DELETE FROM {summary.table}")
        db.execute(_stats_rebuild_sql(summary))


_STATS_TOTALS = "human_events, machine_events, human_people"  # `people`: kind totals only


def stats_campaigns(db: Database, slug: str | None = None) -> list[dict[str, Any]]:
    """Campaigns (all, or the one named `slug`), newest first by send start or creation."""
    where, params = ("WHERE slug = ?", [slug]) if slug is not None else ("", [])
    rows = db.execute(
        "SELECT id, slug, kind, subject, created_at, send_started_at, send_finished_at"
        f" FROM campaigns {where}"
        " ORDER BY COALESCE(send_started_at, created_at) DESC, id DESC",
        params,
    ).fetchall()
    keys = ("id", "slug", "kind", "subject", "created_at", "send_started_at", "send_finished_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def stats_ledger_counts(db: Database, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    """{campaign id: {ledger state: recipients}} for one campaign or all of them."""
    where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
    counts: dict[int, dict[str, int]] = {}
    for cid, state, n in db.execute(
        f"SELECT campaign_id, state, COUNT(*) FROM send_ledger {where} GROUP BY campaign_id, state",
        params,
    ):
        counts.setdefault(cid, {})[state] = n
    return counts


def stats_kind_totals(
    db: Database, campaign_id: int | None = None
) -> dict[int, dict[str, EventTotals]]:
    """{campaign id: {event kind: totals}} from the summary, for one campaign or all."""
    where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
    totals: dict[int, dict[str, EventTotals]] = {}
    for cid, kind, *counts in db.execute(
        f"SELECT campaign_id, kind, {_STATS_TOTALS}, people FROM stats_kind_totals {where}",
        params,
    ):
        totals.setdefault(cid, {})[kind] = EventTotals(*counts)
    return totals


def stats_people_with_any(
    db: Database, kinds: list[str], campaign_id: int | None = None
) -> dict[int, int]:
    """{campaign id: recipients with at least one event of any of `kinds`} (each counted once)."""
    marks = ", ".join("?" for _ in kinds)
    where, params = ("WHERE c.id = ?", [campaign_id]) if campaign_id else ("", [])
    rows = db.execute(
        "SELECT c.id, (SELECT COUNT(DISTINCT e.subscriber_id) FROM events AS e"
        f" WHERE e.campaign_id = c.id AND e.kind IN ({marks})) FROM campaigns AS c {where}",
        [*kinds, *params],
    ).fetchall()
    return {cid: n for cid, n in rows if n}


def stats_link_totals(db: Database, campaign_id: int) -> list[tuple[str, EventTotals]]:
    """(url, click totals) for every link of the campaign, clicked or not, in link order."""
    rows = db.execute(
        f"SELECT l.url, {', '.join(f'COALESCE(t.{c}, 0)' for c in _STATS_TOTALS.split(', '))}"
        " FROM links AS l LEFT JOIN stats_detail_totals AS t"
        " ON t.campaign_id = l.campaign_id AND t.kind = 'click' AND t.link_id = l.id"
        " AND t.target = '' WHERE l.campaign_id = ? ORDER BY l.id",
        [campaign_id],
    ).fetchall()
    return [(url, EventTotals(*counts)) for url, *counts in rows]


def stats_target_totals(
    db: Database, campaign_id: int, kind: str
) -> list[tuple[str, Member | None, EventTotals]]:
    """(target, its member or None, totals) for events of `kind` that name a target."""
    rows = db.execute(
        "SELECT target, SUM(human_events), SUM(machine_events), SUM(human_people)"
        " FROM stats_detail_totals"
        " WHERE campaign_id = ? AND kind = ? AND target <> '' GROUP BY target",
        [campaign_id, kind],
    ).fetchall()
    members = {
        row[0]: _row_to_member(row)
        for row in db.execute(
            f"SELECT {MEMBER_COLUMNS} FROM members WHERE bioguide IN"
            " (SELECT target FROM stats_detail_totals WHERE campaign_id = ? AND kind = ?)",
            [campaign_id, kind],
        )
    }
    return [(target, members.get(target), EventTotals(*counts)) for target, *counts in rows]


def stats_state_people(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """{subscriber state ('' when unknown): {event kind: recipients with a human event}}.

    Kept for delivered, open, click and letter_sent only.
    """
    people: dict[str, dict[str, int]] = {}
    for state, kind, n in db.execute(
        "SELECT state, kind, human_people FROM stats_state_totals WHERE campaign_id = ?",
        [campaign_id],
    ):
        people.setdefault(state, {})[kind] = n
    return people


def stats_ledger_by_state(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """{subscriber state ('' when unknown): {ledger state: recipients}} for one campaign."""
    counts: dict[str, dict[str, int]] = {}
    for state, ledger_state, n in db.execute(
        "SELECT COALESCE(s.state, ''), l.state, COUNT(*) FROM send_ledger AS l"
        " LEFT JOIN subscribers AS s ON s.id = l.subscriber_id"
        " WHERE l.campaign_id = ? GROUP BY 1, 2",
        [campaign_id],
    ):
        counts.setdefault(state, {})[ledger_state] = n
    return counts


def stats_hourly(
    db: Database, campaign_id: int, kinds: list[str]
) -> list[tuple[str, int, int, int]]:
    """(kind, hour, human events, machine events) rows; hour is Unix seconds // 3600."""
    marks = ", ".join("?" for _ in kinds)
    return [
        tuple(row)
        for row in db.execute(
            "SELECT kind, hour, human_events, machine_events FROM stats_hourly"
            f" WHERE campaign_id = ? AND kind IN ({marks}) ORDER BY hour",
            [campaign_id, *kinds],
        )
    ]


def stats_letters_sent(db: Database) -> dict[int, int]:
    """{campaign id: letters sent}: recipients counted once per member they wrote to."""
    rows = db.execute(
        "SELECT campaign_id, SUM(human_people) FROM stats_detail_totals"
        " WHERE kind = 'letter_sent' AND target <> '' GROUP BY campaign_id"
    ).fetchall()
    return {cid: n for cid, n in rows}


STATS_TRIGGERS = ("stats_event_added", "stats_event_removed", "stats_event_changed")


@contextmanager
def stats_summaries_paused(db: Database) -> Iterator[Database]:
    """Load many events without row-by-row summary upkeep; rebuild the summaries once after.

    For bulk loads of millions of events, where one rebuild is far cheaper than the
    triggers. Events other processes add meanwhile are counted by the rebuild too.
    """
    with write_transaction(db):
        for trigger in STATS_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        yield db
    finally:
        with write_transaction(db):
            rebuild_stats_summaries(db)
            _stats_create_triggers(db)
