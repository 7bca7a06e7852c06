"""The bills table family: the bill each campaign names and where its members stand.

`bills` holds each campaign's bill and points at its latest fetch; `bill_fetches` and
`bill_sponsors` keep every fetch of the sponsor and cosponsors from Congress.gov whole,
so that one fetch can be compared with the one before; `bill_stance_overrides` holds
the stances loaded from a CSV, which win over Congress.gov's answer.

Rows are keyed on the campaign's slug, not on its row in `campaigns`: a campaign file
names its bill, and its bill is fetched, before the campaign is ever prepared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alerts.db.connection import Database, inserted_id, utc_now, write_transaction
from alerts.models import BillDetails, BillId, Sponsorship, Stance

_SPONSOR_COLUMNS = (
    "bioguide, name, is_sponsor, party, state, district, sponsorship_date, is_original,"
    " withdrawn_date"
)


@dataclass(frozen=True)
class BillFetch:
    """One fetch of a campaign's bill from Congress.gov, with every member it named."""

    id: int
    slug: str
    bill: BillId
    title: str | None
    fetched_at: str
    sponsorships: tuple[Sponsorship, ...]


@dataclass(frozen=True)
class StanceOverride:
    """A member's stance from a CSV row: what no API knows, such as a public statement."""

    bioguide: str
    stance: Stance
    line: int  # the row's line in its file


def record_fetch(db: Database, slug: str, details: BillDetails) -> BillFetch:
    """Store a fetch of the campaign's bill and make it the campaign's current one."""
    fetched_at = utc_now()
    bill = details.bill
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO bill_fetches (slug, congress, type, number, title, fetched_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [slug, bill.congress, bill.type, bill.number, details.title, fetched_at],
        )
        fetch_id = inserted_id(cursor)
        db.conn.executemany(
            f"INSERT INTO bill_sponsors (fetch_id, {_SPONSOR_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_sponsor_row(fetch_id, s) for s in details.sponsorships],
        )
        db.execute(
            "INSERT INTO bills (slug, congress, type, number, title, fetched_at, fetch_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (slug) DO UPDATE SET congress = excluded.congress,"
            " type = excluded.type, number = excluded.number, title = excluded.title,"
            " fetched_at = excluded.fetched_at, fetch_id = excluded.fetch_id",
            [slug, bill.congress, bill.type, bill.number, details.title, fetched_at, fetch_id],
        )
    return BillFetch(fetch_id, slug, bill, details.title, fetched_at, details.sponsorships)


def _sponsor_row(fetch_id: int, sponsorship: Sponsorship) -> list[object]:
    return [
        fetch_id,
        sponsorship.bioguide,
        sponsorship.name,
        int(sponsorship.is_sponsor),
        sponsorship.party,
        sponsorship.state,
        sponsorship.district,
        sponsorship.sponsorship_date,
        int(sponsorship.is_original),
        sponsorship.withdrawn_date,
    ]


def latest_fetch(db: Database, slug: str) -> BillFetch | None:
    """The campaign's current fetch (of the bill it named then), or None before the first."""
    row = db.execute(
        "SELECT f.id, f.congress, f.type, f.number, f.title, f.fetched_at"
        " FROM bills AS b JOIN bill_fetches AS f ON f.id = b.fetch_id WHERE b.slug = ?",
        [slug],
    ).fetchone()
    if row is None:
        return None
    fetch_id = int(row[0])
    bill = BillId(congress=int(row[1]), type=str(row[2]), number=int(row[3]))
    return BillFetch(fetch_id, slug, bill, row[4], row[5], _sponsorships(db, fetch_id))


def _sponsorships(db: Database, fetch_id: int) -> tuple[Sponsorship, ...]:
    rows = db.execute(
        f"SELECT {_SPONSOR_COLUMNS} FROM bill_sponsors WHERE fetch_id = ?"
        " ORDER BY is_sponsor DESC, sponsorship_date, bioguide",
        [fetch_id],
    ).fetchall()
    return tuple(
        Sponsorship(
            bioguide=row[0],
            name=row[1],
            is_sponsor=bool(row[2]),
            party=row[3],
            state=row[4],
            district=row[5],
            sponsorship_date=row[6],
            is_original=bool(row[7]),
            withdrawn_date=row[8],
        )
        for row in rows
    )


def replace_stance_overrides(
    db: Database, slug: str, overrides: Sequence[StanceOverride], source: str
) -> int:
    """Make `overrides` the campaign's whole set, in one transaction; returns how many it had."""
    loaded_at = utc_now()
    with write_transaction(db):
        before = db.execute(
            "SELECT COUNT(*) FROM bill_stance_overrides WHERE slug = ?", [slug]
        ).fetchone()[0]
        db.execute("DELETE FROM bill_stance_overrides WHERE slug = ?", [slug])
        db.conn.executemany(
            "INSERT INTO bill_stance_overrides (slug, bioguide, stance, source, line, loaded_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(slug, o.bioguide, o.stance.value, source, o.line, loaded_at) for o in overrides],
        )
    return int(before)


def stance_overrides(db: Database, slug: str) -> dict[str, Stance]:
    """The campaign's stances from a CSV, by bioguide id."""
    rows = db.execute(
        "SELECT bioguide, stance FROM bill_stance_overrides WHERE slug = ?", [slug]
    ).fetchall()
    return {str(bioguide): Stance(stance) for bioguide, stance in rows}


# Each member's stance on a campaign's bill, by bioguide id: the CSV's when it has one,
# else the latest fetch's (the sponsor; a cosponsor who has not withdrawn; anyone else
# it names is unknown). Members neither names stand unknown and have no row. Its three
# parameters are the campaign's slug.
_RESOLVED_STANCES = (
    "SELECT bioguide, stance FROM bill_stance_overrides WHERE slug = ?"
    " UNION ALL"
    " SELECT sp.bioguide, CASE WHEN MAX(sp.is_sponsor) THEN 'sponsor'"
    " WHEN MAX(sp.withdrawn_date IS NULL) THEN 'cosponsor' ELSE 'unknown' END"
    " FROM bills AS b JOIN bill_sponsors AS sp ON sp.fetch_id = b.fetch_id"
    " WHERE b.slug = ? AND sp.bioguide NOT IN"
    " (SELECT bioguide FROM bill_stance_overrides WHERE slug = ?)"
    " GROUP BY sp.bioguide"
)


def resolved_stances(db: Database, slug: str) -> dict[str, Stance]:
    """Every member whose stance on the campaign's bill anyone knows, by bioguide id."""
    rows = db.execute(_RESOLVED_STANCES, [slug, slug, slug]).fetchall()
    return {str(bioguide): Stance(stance) for bioguide, stance in rows}


def stance_condition(column: str, slug: str, stances: Sequence[Stance]) -> tuple[str, list[str]]:
    """SQL true when the member whose bioguide id is `column` stands one of `stances`.

    Members nobody names stand unknown, so a wanted `unknown` is every member but
    those known to stand another way.
    """
    wanted = {Stance(stance) for stance in stances}
    if wanted == set(Stance):
        return "1", []
    negated = Stance.UNKNOWN in wanted
    listed = [s.value for s in Stance if (s in wanted) != negated]
    marks = ", ".join("?" for _ in listed)
    sql = (
        f"{column} {'NOT IN' if negated else 'IN'} (SELECT bioguide FROM ({_RESOLVED_STANCES})"
        f" WHERE stance IN ({marks}))"
    )
    return sql, [slug, slug, slug, *listed]
