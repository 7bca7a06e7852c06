"""The visitors table family: people who use a campaign's public letter page, and share clicks.

`visitors` holds one row per email key with the details as the person last
typed them on a public page (/act/<slug>). They are not subscribers: no query
that picks recipients reads this table. `public_visits` counts each visitor's
views of a campaign's page, `public_letters` their "I sent it" once per member
(`late` when said after the campaign's deadline), and `share_clicks` the share
links followed from letter pages per campaign, network and UTC day. Forgetting a
visitor deletes their row and keeps the counts with `visitor_id` NULL, as a
forgotten subscriber's events keep counting.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.db.connection import Database, utc_now
from alerts.db.roster import MEMBER_COLUMNS, row_to_member
from alerts.models import Member

_DETAILS = ("email", "email_key", "first_name", "last_name", "street", "city", "state", "zip")


@dataclass(frozen=True)
class Visitor:
    """A visitor's details as they typed them (normalised), keyed by `email_key`."""

    email: str
    email_key: str
    first_name: str | None = None
    last_name: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


@dataclass(frozen=True)
class PublicTotals:
    """A campaign's public page: visitors who opened it with their details, letters sent."""

    visits: int = 0
    letters: int = 0


def store_visitor(db: Database, visitor: Visitor) -> int:
    """The id of the visitor with this email key, their details updated to these."""
    values = [getattr(visitor, name) for name in _DETAILS]
    now = utc_now()
    changed = " OR ".join(f"{name} IS NOT excluded.{name}" for name in _DETAILS)
    row = db.execute(
        f"INSERT INTO visitors ({', '.join(_DETAILS)}, created_at, updated_at)"
        f" VALUES ({', '.join('?' for _ in _DETAILS)}, ?, ?)"
        " ON CONFLICT (email_key) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in _DETAILS if name != "email_key")
        + f", updated_at = excluded.updated_at WHERE {changed}"
        " RETURNING id",
        [*values, now, now],
    ).fetchone()
    if row is not None:
        return int(row[0])
    found = db.execute(
        "SELECT id FROM visitors WHERE email_key = ?", [visitor.email_key]
    ).fetchone()
    return int(found[0])


def record_visit(db: Database, campaign_id: int, visitor_id: int, at: int) -> None:
    """Count one view of a campaign's public page by a visitor."""
    db.execute(
        "INSERT INTO public_visits (campaign_id, visitor_id, first_at, last_at, views)"
        " VALUES (?, ?, ?, ?, 1) ON CONFLICT (campaign_id, visitor_id) DO UPDATE SET"
        " views = views + 1, last_at = excluded.last_at",
        [campaign_id, visitor_id, at, at],
    )


def record_letter(
    db: Database, campaign_id: int, visitor_id: int, target: str, at: int, *, late: bool
) -> bool:
    """Record a visitor's "I sent it" to `target` (a bioguide id); True only the first time.

    `late`: said after the campaign's deadline.
    """
    cursor = db.execute(
        "INSERT INTO public_letters (campaign_id, visitor_id, target, at, late)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, visitor_id, target) DO NOTHING",
        [campaign_id, visitor_id, target, at, int(late)],
    )
    return cursor.rowcount == 1


def letters_sent(db: Database, campaign_id: int, visitor_id: int) -> set[str]:
    """The members (bioguide ids) a visitor said they wrote to in a campaign."""
    rows = db.execute(
        "SELECT target FROM public_letters WHERE campaign_id = ? AND visitor_id = ?",
        [campaign_id, visitor_id],
    ).fetchall()
    return {row[0] for row in rows}


def visitor_id(db: Database, email_key: str) -> int | None:
    row = db.execute("SELECT id FROM visitors WHERE email_key = ?", [email_key]).fetchone()
    return int(row[0]) if row else None


def erase_visitor(db: Database, email_key: str) -> bool:
    """Delete the visitor with this email key; their visits and letters stay, unnamed."""
    found = visitor_id(db, email_key)
    if found is None:
        return False
    for table in ("public_visits", "public_letters"):
        db.execute(f"UPDATE {table} SET visitor_id = NULL WHERE visitor_id = ?", [found])
    db.execute("DELETE FROM visitors WHERE id = ?", [found])
    return True


def record_share_click(db: Database, campaign_id: int, network: str, day: str) -> None:
    """Count one click on a share link of a campaign (day: YYYY-MM-DD, UTC)."""
    db.execute(
        "INSERT INTO share_clicks (campaign_id, network, day, clicks) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (campaign_id, network, day) DO UPDATE SET clicks = clicks + 1",
        [campaign_id, network, day],
    )


def public_totals(db: Database, campaign_id: int) -> PublicTotals:
    row = db.execute(
        "SELECT (SELECT COUNT(*) FROM public_visits WHERE campaign_id = ?1),"
        " (SELECT COUNT(*) FROM public_letters WHERE campaign_id = ?1)",
        [campaign_id],
    ).fetchone()
    return PublicTotals(int(row[0]), int(row[1]))


@dataclass(frozen=True)
class MemberPublicLetters:
    target: str  # a bioguide id
    member: Member | None  # None when the roster no longer has them
    letters: int


def public_letters_by_target(db: Database, campaign_id: int) -> list[MemberPublicLetters]:
    """The public letters of one campaign per member written to."""
    counts = db.execute(
        "SELECT target, COUNT(*) FROM public_letters WHERE campaign_id = ? GROUP BY target",
        [campaign_id],
    ).fetchall()
    members = {
        row[0]: row_to_member(row)
        for row in db.execute(
            f"SELECT {MEMBER_COLUMNS} FROM members WHERE bioguide IN"
            " (SELECT target FROM public_letters WHERE campaign_id = ?)",
            [campaign_id],
        )
    }
    return [MemberPublicLetters(target, members.get(target), n) for target, n in counts]


def share_clicks_by_network(db: Database, campaign_id: int) -> dict[str, int]:
    """{network: share clicks} for one campaign, every day together."""
    rows = db.execute(
        "SELECT network, SUM(clicks) FROM share_clicks WHERE campaign_id = ? GROUP BY network",
        [campaign_id],
    ).fetchall()
    return {network: int(n) for network, n in rows}
