"""Where each member stands on a campaign's bill: Congress.gov's answer, then the CSV's.

Congress.gov knows the sponsor and the cosponsors. A cosponsor who withdrew is no
longer one: with no stance from a CSV they stand `unknown`, like every member the
API does not name. A stance loaded from a CSV (`alerts bills load`) wins over the
API's answer for that member. The rule is written once, as SQL in db/bills.py, which
segments by stance (`member_stance`) use too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.db import Database
from alerts.db import bills as bills_db
from alerts.models import Stance


@dataclass(frozen=True)
class BillStances:
    """The stance of every member anyone knows about; every other member's is unknown."""

    known: Mapping[str, Stance]  # by bioguide id

    def of(self, bioguide: str) -> Stance:
        return self.known.get(bioguide, Stance.UNKNOWN)

    def counts(self) -> dict[str, int]:
        """Members known to stand each way, for every stance but unknown."""
        counted = Counter(self.known.values())
        return {s.value: counted[s] for s in Stance if s is not Stance.UNKNOWN}


def campaign_stances(db: Database, slug: str) -> BillStances:
    """The stances on the campaign's bill: its latest fetch, then its CSV overrides."""
    return BillStances(bills_db.resolved_stances(db, slug))
