"""The stances a campaign's send uses: frozen with its recipients, else as they stand now.

When a send first freezes its recipients it also freezes where every member stands
on the campaign's bill (`stance_freeze`, written by the ledger's freeze). From then
on its emails, its letter pages and its stats use those frozen stances, so a
member's letter variant and stance sentence match what the email said, even after
the next `alerts bills update`. Before any freeze (checks, previews, dry runs) the
stances are those of the latest fetch and the CSV, as `alerts bills update` shows.
A campaign that names no bill has every member `unknown`.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerts.bills.stance import BillStances, campaign_stances
from alerts.db import Database
from alerts.db import bills as bills_db
from alerts.db import roster as roster_db
from alerts.db import stances as stances_db
from alerts.db.stances import StanceFreeze
from alerts.models import Campaign, Stance

NO_STANCES = BillStances({})


def stance_freeze(db: Database, campaign: Campaign) -> StanceFreeze | None:
    """What a send of `campaign` freezes: every member's stance now; None without a bill.

    Every member of the roster is listed (most as unknown), with every member the
    bill's data names, so the frozen rows read without defaults.
    """
    if campaign.bill is None:
        return None
    fetch = bills_db.latest_fetch(db, campaign.slug)
    known = dict.fromkeys((m.bioguide for m in roster_db.roster_members(db)), Stance.UNKNOWN)
    known.update(campaign_stances(db, campaign.slug).known)
    return StanceFreeze(campaign.bill, fetch.id if fetch is not None else None, known)


def unfetched_bill(db: Database, campaign: Campaign) -> str | None:
    """Why the campaign's stances are not known yet (its bill never fetched), or None."""
    if campaign.bill is None:
        return None
    fetch = bills_db.latest_fetch(db, campaign.slug)
    if fetch is not None and fetch.bill == campaign.bill:
        return None
    return (
        f"where members stand on {campaign.bill.name} is not known yet:"
        f" run `alerts bills update {campaign.slug}` first"
    )


def send_stances(db: Database, campaign: Campaign, campaign_id: int | None) -> BillStances:
    """Every member's stance for the campaign's send: frozen, else as they stand now."""
    if campaign.bill is None:
        return NO_STANCES
    frozen = stances_db.frozen_stances(db, campaign_id) if campaign_id is not None else None
    return BillStances(frozen) if frozen is not None else campaign_stances(db, campaign.slug)


def member_stances(
    db: Database, campaign: Campaign, campaign_id: int, bioguides: Iterable[str]
) -> dict[str, Stance]:
    """The stances of a few members (a letter page's), read without the whole roster."""
    wanted = list(bioguides)
    if campaign.bill is None:
        return dict.fromkeys(wanted, Stance.UNKNOWN)
    frozen = stances_db.frozen_stances_of(db, campaign_id, wanted)
    if frozen is not None:
        return frozen
    live = campaign_stances(db, campaign.slug)
    return {bioguide: live.of(bioguide) for bioguide in wanted}
