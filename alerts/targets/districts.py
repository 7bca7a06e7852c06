"""The rules a subscriber's district follows, beyond those the database applies.

Which district a ZIP and state give, how sure that is and why (the flags) is
decided in SQL, for every subscriber at once (`alerts.db.districts`); the map's
files are read by zip_maps.py. What this module adds: which picks a subscriber
may make among the districts of an ambiguous ZIP, and `resolve_subscribers`, the
entry point for resolving a few subscribers' districts again (a confirmed signup).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from alerts.db import Database
from alerts.db import districts as districts_db
from alerts.errors import LookupFailed
from alerts.models import Confidence

STATE_CODE = re.compile(r"[A-Z]{2}")  # a USPS state or territory code, such as NY or PR


def resolve_subscribers(db: Database, subscriber_ids: Iterable[int]) -> int:
    """Resolve these subscribers' districts by the rules an import applies to the people
    it adds or changes: the ZIP map, the block files of the geocoded, their own pick.

    Inside the caller's transaction when there is one. Returns how many changed.
    """
    return districts_db.resolve_subscriber_districts(db, subscriber_ids)


def choose_district(db: Database, subscriber_id: int, district: int) -> None:
    """Remember the district a subscriber picked among the candidates of their ambiguous ZIP.

    Only an ambiguous subscriber may pick, and only one of the districts the ZIP
    map gives their ZIP in their state.
    """
    stored = districts_db.subscriber_district(db, subscriber_id)
    home, confidence = stored.resolved.state, stored.resolved.confidence
    if confidence is not Confidence.AMBIGUOUS or not home:
        raise LookupFailed(
            f"subscriber {subscriber_id}: district is {confidence}, not ambiguous: nothing to pick"
        )
    candidates = districts_db.district_candidates(db, stored.zip or "", home)
    if district not in candidates:
        listed = ", ".join(str(d) for d in candidates)
        raise LookupFailed(
            f"district: {district} is not a district of ZIP {stored.zip} in {home} ({listed})"
        )
    districts_db.store_district_choice(db, subscriber_id, district)


def forget_district_choice(db: Database, subscriber_id: int) -> None:
    """Forget the district a subscriber picked: their ZIP's districts are all offered again."""
    districts_db.store_district_choice(db, subscriber_id, None)
