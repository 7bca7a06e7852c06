"""The frozen stances table family: where members stood when a campaign's send froze.

`campaign_stance_freezes` has one row per campaign whose send froze stances (its
bill, the fetch they came from, when); `campaign_stances` holds each member's
stance then, for every member of the roster and every member the bill's data
names. They are written in the ledger's freeze transaction (ledger.py) and kept
as they are by later freezes (top-ups), so one send speaks with one voice; they
go when a freeze nobody confirmed is undone. Reading them:

    SELECT bioguide, stance FROM campaign_stances WHERE campaign_id = ?

A member missing from a frozen campaign's rows (one who joined the roster later)
stood `unknown`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.db.connection import Database, utc_now, write_transaction
from alerts.db.id_lists import IN_ID_LIST
from alerts.models import BillId, Stance


@dataclass(frozen=True)
class StanceFreeze:
    """The stances a send freezes: each member's, on `bill`, from fetch `fetch_id`."""

    bill: BillId
    fetch_id: int | None  # None: the bill was never fetched (stances from a CSV alone)
    stances: Mapping[str, Stance]  # by bioguide id


def freeze_stances(db: Database, campaign_id: int, freeze: StanceFreeze) -> bool:
    """Record the campaign's stances unless an earlier freeze did; True if this one did.

    Safe inside the ledger's freeze transaction (write_transaction nests).
    """
    with write_transaction(db):
        done = db.execute(
            "SELECT 1 FROM campaign_stance_freezes WHERE campaign_id = ?", [campaign_id]
        ).fetchone()
        if done is not None:
            return False
        bill = freeze.bill
        db.execute(
            "INSERT INTO campaign_stance_freezes"
            " (campaign_id, congress, type, number, fetch_id, frozen_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [campaign_id, bill.congress, bill.type, bill.number, freeze.fetch_id, utc_now()],
        )
        db.conn.executemany(
            "INSERT INTO campaign_stances (campaign_id, bioguide, stance) VALUES (?, ?, ?)",
            [(campaign_id, bioguide, stance.value) for bioguide, stance in freeze.stances.items()],
        )
    return True


def unfreeze_stances(db: Database, campaign_id: int) -> None:
    """Forget the campaign's frozen stances (its send is a draft again)."""
    db.execute("DELETE FROM campaign_stances WHERE campaign_id = ?", [campaign_id])
    db.execute("DELETE FROM campaign_stance_freezes WHERE campaign_id = ?", [campaign_id])


def is_frozen(db: Database, campaign_id: int) -> bool:
    row = db.execute(
        "SELECT 1 FROM campaign_stance_freezes WHERE campaign_id = ?", [campaign_id]
    ).fetchone()
    return row is not None


def frozen_stances(db: Database, campaign_id: int) -> dict[str, Stance] | None:
    """Every member's frozen stance by bioguide id, or None if the campaign froze none."""
    if not is_frozen(db, campaign_id):
        return None
    rows = db.execute(
        "SELECT bioguide, stance FROM campaign_stances WHERE campaign_id = ?", [campaign_id]
    ).fetchall()
    return {str(bioguide): Stance(stance) for bioguide, stance in rows}


def frozen_stances_of(
    db: Database, campaign_id: int, bioguides: Iterable[str]
) -> dict[str, Stance] | None:
    """The frozen stances of some members (unknown when not listed), or None if none froze."""
    wanted = list(bioguides)
    if not is_frozen(db, campaign_id):
        return None
    rows = db.execute(
        "SELECT bioguide, stance FROM campaign_stances WHERE campaign_id = ?"
        f" AND bioguide {IN_ID_LIST}",
        [campaign_id, json.dumps(wanted)],
    ).fetchall()
    found = {str(bioguide): Stance(stance) for bioguide, stance in rows}
    return {bioguide: found.get(bioguide, Stance.UNKNOWN) for bioguide in wanted}
