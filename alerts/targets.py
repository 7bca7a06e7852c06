"""Each subscriber's own members of Congress.

`targets_for` reads the district stored on a subscriber (resolved from the
ZIP map when subscribers are imported and whenever the roster is loaded) and
returns their House member(s) and senators.
"""

from __future__ import annotations

from alerts import db as store
from alerts.db import Database
from alerts.models import Confidence, Targets


def targets_for(db: Database, subscriber_id: int) -> Targets:
    zip_code, state, cd_state, cd_district, confidence, flags, choice = store.subscriber_district(
        db, subscriber_id
    )
    home = cd_state or state
    result = Targets(
        state=home,
        confidence=Confidence(confidence or Confidence.UNKNOWN),
        flags=tuple(f for f in (flags or "").split(",") if f),
    )
    if not home:
        return result
    result.senate = store.senators_for_state(db, home)
    district = cd_district
    if result.confidence is Confidence.AMBIGUOUS:
        result.candidates = [d for s, d in store.zip_districts_for(db, zip_code or "") if s == home]
        if choice is not None and choice in result.candidates:
            district = choice
    if district is not None:
        result.district = district
        result.house = store.members_for_seat(db, home, district)
        result.vacant_house = not result.house
    elif result.candidates:
        for candidate in result.candidates:
            result.house.extend(store.members_for_seat(db, home, candidate))
    return result
