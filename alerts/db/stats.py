"""The statistics table family: four summaries of the events, and the queries reports read.

`stats_kind_totals` (per campaign and kind), `stats_detail_totals` (per link or
member), `stats_state_totals` (per state, for delivered, open, click and
letter_sent) and `stats_hourly` (per hour) let a report cost the same for a
thousand recipients or a million. Triggers on `events` and `send_ledger`, whose
SQL migration 90 holds, keep them current row by row.

Every summary key is a value stored in those two tables, never the live
subscriber record: a recipient's state is the one frozen in their ledger row
when the campaign's recipients were chosen (`send_ledger.subscriber_state`). A
re-import that moves someone therefore changes no past figure, and `forget`,
which blanks that column, moves them to the unknown state through the ledger
triggers. So after any INSERT, UPDATE or DELETE of either table the summaries
equal what `rebuild_stats_summaries` computes from the tables (tests/test_stats.py
checks it on random changes). `INSERT OR REPLACE` is the exception: it deletes
without firing the delete triggers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from alerts.db.connection import Database, write_transaction
from alerts.db.districts import ADDRESSED_BY
from alerts.db.roster import MEMBER_COLUMNS, row_to_member
from alerts.models import CampaignRecord, EventTotals, Member

STATS_TRIGGERS = (
    "stats_event_added",
    "stats_event_removed",
    "stats_event_changed",
    "stats_ledger_added",
    "stats_ledger_removed",
    "stats_ledger_changed",
)

# What a rebuild computes, summary by summary; the triggers of migration 90 keep
# the same figures row by row. Grouping by recipient first counts people once.
_REBUILDS = {
    "stats_kind_totals": """
        INSERT INTO stats_kind_totals
            (campaign_id, kind, human_events, machine_events, human_people, people)
        SELECT campaign_id, kind, SUM(human), SUM(machine), SUM(known AND human > 0), SUM(known)
        FROM (
            SELECT campaign_id, kind, subscriber_id IS NOT NULL AS known,
                SUM(machine = 0) AS human, SUM(machine <> 0) AS machine
            FROM events WHERE campaign_id IS NOT NULL
            GROUP BY campaign_id, kind, subscriber_id
        )
        GROUP BY campaign_id, kind
    """,
    "stats_detail_totals": """
        INSERT INTO stats_detail_totals
            (campaign_id, kind, link_id, target, human_events, machine_events, human_people)
        SELECT campaign_id, kind, link_id, target, SUM(human), SUM(machine),
            SUM(known AND human > 0)
        FROM (
            SELECT campaign_id, kind, COALESCE(link_id, 0) AS link_id,
                COALESCE(target, '') AS target, subscriber_id IS NOT NULL AS known,
                SUM(machine = 0) AS human, SUM(machine <> 0) AS machine
            FROM events
            WHERE campaign_id IS NOT NULL AND (link_id IS NOT NULL OR target IS NOT NULL)
            GROUP BY campaign_id, kind, 3, 4, subscriber_id
        )
        GROUP BY campaign_id, kind, link_id, target
    """,
    "stats_state_totals": """
        INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
        SELECT campaign_id, kind, state, COUNT(*)
        FROM (
            SELECT DISTINCT e.campaign_id, e.kind, e.subscriber_id,
                COALESCE(l.subscriber_state, '') AS state
            FROM events AS e LEFT JOIN send_ledger AS l
                ON l.campaign_id = e.campaign_id AND l.subscriber_id = e.subscriber_id
            WHERE e.campaign_id IS NOT NULL AND e.subscriber_id IS NOT NULL
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
        )
        GROUP BY campaign_id, kind, state
    """,
    "stats_hourly": """
        INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events)
        SELECT campaign_id, kind, CAST(at AS INTEGER) / 3600, SUM(machine = 0), SUM(machine <> 0)
        FROM events
        WHERE campaign_id IS NOT NULL AND kind IN
            ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', 'unsubscribe')
        GROUP BY 1, 2, 3
    """,
}

_TOTALS = "human_events, machine_events, human_people"  # `people`: kind totals only
_CAMPAIGN_FIELDS = (
    "id",
    "slug",
    "kind",
    "subject",
    "source_sha256",
    "created_at",
    "send_started_at",
    "send_finished_at",
)


@dataclass(frozen=True)
class LinkTotals:
    url: str
    clicks: EventTotals


@dataclass(frozen=True)
class TargetTotals:
    target: str  # a bioguide id
    member: Member | None  # None when the roster no longer has them
    totals: EventTotals


@dataclass(frozen=True)
class HourTotals:
    kind: str
    hour: int  # Unix seconds // 3600
    human_events: int
    machine_events: int


def rebuild_stats_summaries(db: Database) -> None:
    """Recompute every summary from the events and the ledger (in the caller's transaction)."""
    for table, sql in _REBUILDS.items():
        db.execute(f"DELETE FROM {table}")
        db.execute(sql)


@contextmanager
def stats_summaries_paused(db: Database) -> Iterator[Database]:
    """Load many events without row-by-row summary upkeep; rebuild the summaries once after.

    For bulk loads of millions of events, where one rebuild is far cheaper than the
    triggers. Events other processes add meanwhile are counted by the rebuild too.
    The triggers come back exactly as the database had them, from their own SQL.
    """
    with write_transaction(db):
        triggers = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN"
            f" ({', '.join('?' for _ in STATS_TRIGGERS)})",
            STATS_TRIGGERS,
        ).fetchall()
        for name, _sql in triggers:
            db.execute(f"DROP TRIGGER {name}")
    try:
        yield db
    finally:
        with write_transaction(db):
            rebuild_stats_summaries(db)
            for _name, sql in triggers:
                db.execute(sql)


def stats_campaigns(db: Database) -> list[CampaignRecord]:
    """Every campaign, newest first by send start or, for one never sent, creation."""
    rows = db.execute(
        f"SELECT {', '.join(_CAMPAIGN_FIELDS)} FROM campaigns"
        " ORDER BY COALESCE(send_started_at, created_at) DESC, id DESC"
    ).fetchall()
    return [CampaignRecord(**dict(zip(_CAMPAIGN_FIELDS, row, strict=True))) for row in rows]


def stats_ledger_counts(db: Database, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    """{campaign id: {ledger state: recipients}} for one campaign or all of them."""
    where, params = _one_campaign("campaign_id", campaign_id)
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
    where, params = _one_campaign("campaign_id", campaign_id)
    totals: dict[int, dict[str, EventTotals]] = {}
    for cid, kind, *counts in db.execute(
        f"SELECT campaign_id, kind, {_TOTALS}, people FROM stats_kind_totals {where}", params
    ):
        totals.setdefault(cid, {})[kind] = EventTotals(*counts)
    return totals


def stats_people_with_any(
    db: Database, kinds: Sequence[str], campaign_id: int | None = None
) -> dict[int, int]:
    """{campaign id: recipients with at least one event of any of `kinds`} (each counted once)."""
    marks = ", ".join("?" for _ in kinds)
    where, params = _one_campaign("c.id", campaign_id)
    rows = db.execute(
        "SELECT c.id, (SELECT COUNT(DISTINCT e.subscriber_id) FROM events AS e"
        f" WHERE e.campaign_id = c.id AND e.kind IN ({marks})) FROM campaigns AS c {where}",
        [*kinds, *params],
    ).fetchall()
    return {cid: n for cid, n in rows if n}


def stats_link_totals(db: Database, campaign_id: int) -> list[LinkTotals]:
    """Click totals of every link of the campaign, clicked or not, in link order."""
    rows = db.execute(
        f"SELECT l.url, {', '.join(f'COALESCE(t.{c}, 0)' for c in _TOTALS.split(', '))}"
        " FROM links AS l LEFT JOIN stats_detail_totals AS t"
        " ON t.campaign_id = l.campaign_id AND t.kind = 'click' AND t.link_id = l.id"
        " AND t.target = '' WHERE l.campaign_id = ? ORDER BY l.id",
        [campaign_id],
    ).fetchall()
    return [LinkTotals(url, EventTotals(*counts)) for url, *counts in rows]


def stats_target_totals(db: Database, campaign_id: int, kind: str) -> list[TargetTotals]:
    """Totals per target (member of Congress) of the campaign's events of `kind`."""
    rows = db.execute(
        "SELECT target, SUM(human_events), SUM(machine_events), SUM(human_people)"
        " FROM stats_detail_totals"
        " WHERE campaign_id = ? AND kind = ? AND target <> '' GROUP BY target",
        [campaign_id, kind],
    ).fetchall()
    members = {
        row[0]: row_to_member(row)
        for row in db.execute(
            f"SELECT {MEMBER_COLUMNS} FROM members WHERE bioguide IN"
            " (SELECT target FROM stats_detail_totals WHERE campaign_id = ? AND kind = ?)",
            [campaign_id, kind],
        )
    }
    return [
        TargetTotals(target, members.get(target), EventTotals(*counts)) for target, *counts in rows
    ]


def stats_state_people(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """{state at send time ('' when unknown): {event kind: recipients with a human event}}.

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
    """{state at send time ('' when unknown): {ledger state: recipients}} for one campaign."""
    counts: dict[str, dict[str, int]] = {}
    for state, ledger_state, n in db.execute(
        "SELECT COALESCE(subscriber_state, ''), state, COUNT(*) FROM send_ledger"
        " WHERE campaign_id = ? GROUP BY 1, 2",
        [campaign_id],
    ):
        counts.setdefault(state, {})[ledger_state] = n
    return counts


def stats_addressed(db: Database, campaign_id: int) -> dict[str, int]:
    """{how: recipients} by how their House district was known when the campaign froze them.

    The keys are ADDRESSED_BY (address, zip, chosen, unknown), every one present; a row
    frozen with nothing recorded counts as unknown.
    """
    counts = dict.fromkeys(ADDRESSED_BY, 0)
    for how, n in db.execute(
        "SELECT coalesce(addressed_by, 'unknown'), COUNT(*) FROM send_ledger"
        " WHERE campaign_id = ? GROUP BY 1",
        [campaign_id],
    ):
        counts[how] += n
    return counts


def stats_hourly(db: Database, campaign_id: int, kinds: Sequence[str]) -> list[HourTotals]:
    """The campaign's events of `kinds` per hour, earliest hour first."""
    marks = ", ".join("?" for _ in kinds)
    return [
        HourTotals(*row)
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


# A campaign's letters, straight from the events: each recipient counts once per member.
_LETTERS = "kind = 'letter_sent' AND machine = 0 AND target IS NOT NULL"


@dataclass(frozen=True)
class EmailLetters:
    """Letters of one campaign (`campaign_id`) sent from the email of `email_campaign_id`."""

    campaign_id: int  # the campaign whose letter they are, and where they count
    email_campaign_id: int  # the campaign whose email brought the writers: itself or a follow-up
    letters: int


def stats_letters_by_email(db: Database, campaign_id: int) -> list[EmailLetters]:
    """The letters a campaign's figures involve, by the email that brought them.

    Those counted for the campaign (from its own email or a follow-up's), and those its
    own email brought to another campaign's letter (a follow-up's); most letters first.
    """
    rows = db.execute(
        "SELECT campaign_id, email, COUNT(*) FROM (SELECT DISTINCT campaign_id,"
        " COALESCE(via_campaign_id, campaign_id) AS email, subscriber_id, target FROM events"
        f" WHERE (campaign_id = ? OR via_campaign_id = ?) AND {_LETTERS})"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 2",
        [campaign_id, campaign_id],
    ).fetchall()
    return [EmailLetters(*row) for row in rows]


def stats_letters_late(db: Database, campaign_id: int) -> tuple[int, int]:
    """(letters said to be sent before the campaign's deadline, and after it): subscribers'
    letters and the public page's (public_letters) together.

    A subscriber's letter recorded more than once counts before it if it was ever said to be.
    """
    counts = dict(
        db.execute(
            "SELECT late, COUNT(*) FROM (SELECT MIN(late) AS late FROM events"
            f" WHERE campaign_id = ?1 AND {_LETTERS} GROUP BY subscriber_id, target"
            " UNION ALL SELECT late FROM public_letters WHERE campaign_id = ?1) GROUP BY 1",
            [campaign_id],
        ).fetchall()
    )
    return int(counts.get(0, 0)), int(counts.get(1, 0))


def stats_letters_before(db: Database, campaign_id: int, cutoffs: dict[str, int]) -> dict[str, int]:
    """{member: letters they got in the campaign before their cutoff} (Unix seconds)."""
    rows = db.execute(
        "SELECT e.target, COUNT(DISTINCT e.subscriber_id) FROM events AS e JOIN json_each(?) AS c"
        f" ON c.key = e.target AND e.at < c.value WHERE e.campaign_id = ? AND {_LETTERS}"
        " GROUP BY e.target",
        [json.dumps(cutoffs), campaign_id],
    ).fetchall()
    return {str(target): int(n) for target, n in rows}


def _one_campaign(column: str, campaign_id: int | None) -> tuple[str, list[int]]:
    """A WHERE clause keeping one campaign's rows, or none at all for every campaign."""
    if campaign_id is None:
        return "", []
    return f"WHERE {column} = ?", [campaign_id]
