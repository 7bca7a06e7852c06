"""targets_for: a subscriber's members from the stored district and the roster tables."""

import pytest

from alerts.models import Confidence
from alerts.targets import targets_for


def add_member(db, bioguide, chamber, state, district, last, rank=None):
    db["members"].insert(
        {
            "bioguide": bioguide,
            "chamber": chamber,
            "state": state,
            "district": district,
            "title": "Senator" if chamber == "senate" else "Representative",
            "full_name": f"Pat {last}",
            "last_name": last,
            "state_rank": rank,
        }
    )


def add_subscriber(db, zip_code, state, cd_state, district, confidence, choice=None):
    return (
        db["subscribers"]
        .insert(
            {
                "email": f"{zip_code}-{confidence}@example.org",
                "zip": zip_code,
                "state": state,
                "cd_state": cd_state,
                "cd_district": district,
                "cd_confidence": confidence,
                "cd_choice": choice,
                "created_at": "",
                "updated_at": "",
            }
        )
        .last_pk
    )


@pytest.fixture
def roster(db):
    add_member(db, "S1", "senate", "IL", None, "Junior", "junior")
    add_member(db, "S2", "senate", "IL", None, "Senior", "senior")
    add_member(db, "H7", "house", "IL", 7, "Seven")
    add_member(db, "H8", "house", "IL", 8, "Eight")
    db["zip_districts"].insert_all(
        [{"zip": "60601", "state": "IL", "district": d} for d in (7, 8, 9)]
    )
    return db


def test_exact(roster):
    found = targets_for(roster, add_subscriber(roster, "60601", "IL", "IL", 7, "exact"))
    assert found.representative.bioguide == "H7"
    assert [m.bioguide for m in found.senate] == ["S2", "S1"]


def test_ambiguous_lists_candidates_until_a_choice(roster):
    sid = add_subscriber(roster, "60601", "IL", "IL", None, "ambiguous")
    found = targets_for(roster, sid)
    assert found.confidence is Confidence.AMBIGUOUS
    assert found.candidates == [7, 8, 9]
    assert [m.bioguide for m in found.house] == ["H7", "H8"]
    assert found.representative is None

    roster.execute("UPDATE subscribers SET cd_choice = 8 WHERE id = ?", [sid])
    assert targets_for(roster, sid).representative.bioguide == "H8"


def test_vacant_seat(roster):
    found = targets_for(roster, add_subscriber(roster, "60601", "IL", "IL", 9, "exact"))
    assert found.vacant_house and found.house == [] and found.representative is None


def test_unknown_still_has_senators_of_own_state(roster):
    found = targets_for(roster, add_subscriber(roster, "99999", "IL", None, None, "unknown"))
    assert found.house == [] and len(found.senate) == 2
