"""Fetching a campaign's bill from Congress.gov, and who joined or withdrew since the last fetch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from alerts.bills.congress_gov.client import CongressGovClient
from alerts.db import Database, write_transaction
from alerts.db import bills as bills_db
from alerts.db.bills import BillFetch
from alerts.models import BillId, Sponsorship


@dataclass(frozen=True)
class CosponsorChanges:
    """Between two fetches of one bill: who became a cosponsor, and who stopped being one."""

    joined: tuple[Sponsorship, ...]
    withdrew: tuple[Sponsorship, ...]  # withdrawn, or gone from the list


@dataclass(frozen=True)
class BillUpdate:
    """One `alerts bills update`: the fetch, and what changed since the campaign's last one."""

    fetch: BillFetch
    previous_fetched_at: str | None  # None: the campaign's first fetch of this bill
    previous_bill: BillId | None  # the bill the campaign named at its last fetch, if another
    changes: CosponsorChanges

    @property
    def sponsors(self) -> tuple[Sponsorship, ...]:
        return tuple(s for s in self.fetch.sponsorships if s.is_sponsor)

    @property
    def cosponsors(self) -> int:
        return sum(1 for s in self.fetch.sponsorships if s.is_current_cosponsor)

    @property
    def withdrawn(self) -> int:
        return sum(1 for s in self.fetch.sponsorships if s.withdrawn_date is not None)

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.fetch.slug,
            "bill": self.fetch.bill.name,
            "title": self.fetch.title,
            "fetched_at": self.fetch.fetched_at,
            "previous_fetched_at": self.previous_fetched_at,
            "previous_bill": self.previous_bill.name if self.previous_bill else None,
            "sponsors": [_member(s) for s in self.sponsors],
            "cosponsors": self.cosponsors,
            "withdrawn": self.withdrawn,
            "joined": [_member(s) for s in self.changes.joined],
            "withdrew": [_member(s) for s in self.changes.withdrew],
        }


def _member(sponsorship: Sponsorship) -> dict[str, object]:
    fields = asdict(sponsorship)
    del fields["is_sponsor"]
    return fields


def update_bill(db: Database, slug: str, bill: BillId, client: CongressGovClient) -> BillUpdate:
    """Fetch the bill, record the fetch as the campaign's current one, and compare."""
    details = client.bill(bill)  # over the network, before taking the write lock
    with write_transaction(db):
        previous = bills_db.latest_fetch(db, slug)
        fetch = bills_db.record_fetch(db, slug, details)
    if previous is None or previous.bill != bill:
        return BillUpdate(
            fetch, None, previous.bill if previous else None, CosponsorChanges((), ())
        )
    changes = cosponsor_changes(previous.sponsorships, fetch.sponsorships)
    return BillUpdate(fetch, previous.fetched_at, None, changes)


def cosponsor_changes(
    before: Sequence[Sponsorship], after: Sequence[Sponsorship]
) -> CosponsorChanges:
    """Who is a cosponsor after but was not before, and who was before but is not after."""
    was = {s.bioguide: s for s in before if s.is_current_cosponsor}
    now = {s.bioguide for s in after if s.is_current_cosponsor}
    joined = tuple(s for s in after if s.is_current_cosponsor and s.bioguide not in was)
    latest = {s.bioguide: s for s in after}
    withdrew = tuple(latest.get(b, s) for b, s in was.items() if b not in now)
    return CosponsorChanges(joined, withdrew)
