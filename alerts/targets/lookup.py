"""Each subscriber's own members of Congress, and the answer for a ZIP.

`targets_for` (and `targets_for_many`, for a send's batch) reads the district
stored on a subscriber and returns their House member(s) and senators; `lookup`
answers for a ZIP and an optional state by the same rules, for
`alerts targets lookup`. A member whose current term ended before today
(clock.today()) is never a target: their seat reads as vacant until the roster
is updated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts import clock
from alerts.db import Database
from alerts.db import blocks as blocks_db
from alerts.db import districts as districts_db
from alerts.db import roster as roster_db
from alerts.db.districts import SubscriberDistrict, ZipResolution
from alerts.errors import LookupFailed
from alerts.models import Chamber, Confidence, DistrictFlag, Member, Targets, seat_name
from alerts.targets.districts import STATE_CODE
from alerts.targets.freshness import UPDATE_COMMAND
from alerts.targets.legislators import house_title

JSON_KEYS = (
    "chamber",
    "full_name",
    "last_name",
    "title",
    "party",
    "state",
    "district",
    "phone",
    "contact_url",
    "twitter",
)

_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")


def targets_for(db: Database, subscriber_id: int) -> Targets:
    return _targets_from(_RosterReader(db), districts_db.subscriber_district(db, subscriber_id))


def targets_for_many(db: Database, subscriber_ids: Sequence[int]) -> dict[int, Targets]:
    """targets_for of many subscribers at once (a send's batch): {id: Targets}.

    One query for their districts; each seat's and state's members are read once.
    """
    roster = _RosterReader(db)
    stored = districts_db.subscriber_districts(db, subscriber_ids)
    return {each.subscriber_id: _targets_from(roster, each) for each in stored}


def targets_for_address(
    db: Database,
    zip_code: str | None,
    state: str | None,
    choice: int | None = None,
    block: str | None = None,
) -> Targets:
    """The members for a ZIP and state typed on a public page, by the rules a subscriber's follow.

    `choice` is the district the person picked among an ambiguous ZIP's candidates;
    `block` the census block their street address was geocoded to. As for
    subscribers, the pick wins, then the block (when its state's block file is for
    the roster's Congress), then the ZIP. Nothing is stored: the person is not a subscriber.
    """
    located = blocks_db.block_district(db, block) if block and choice is None else None
    if located is not None:
        flags = (DistrictFlag.ADDRESS.value,)
        at = ZipResolution(located.state, located.district, Confidence.EXACT, flags)
        found = _targets_from(_RosterReader(db), SubscriberDistrict(0, zip_code, state, at, None))
        if found.vacant_house:
            found.flags = (*flags, DistrictFlag.VACANT.value)
        return found
    resolved = districts_db.resolve_zip(db, zip_code or "", state)
    stored = SubscriberDistrict(0, zip_code, state, resolved, choice)
    found = _targets_from(_RosterReader(db), stored)
    if choice is not None and choice in found.candidates and found.district == choice:
        found.flags = (*found.flags, DistrictFlag.CHOSEN)
    return found


def candidate_members(db: Database, found: Targets) -> list[Member]:
    """The serving House members of an ambiguous ZIP's districts, largest share first.

    Also after the subscriber picked one, so that they can pick again.
    """
    if found.confidence is not Confidence.AMBIGUOUS or not found.state:
        return []
    roster = _RosterReader(db)
    return [
        member for district in found.candidates for member in roster.house(found.state, district)
    ]


class _RosterReader:
    """Serving members by seat and senators by state, each read from the database once."""

    def __init__(self, db: Database):
        self.db = db
        self.today = clock.today()
        self._seats: dict[tuple[str, int], list[Member]] = {}
        self._senators: dict[str, list[Member]] = {}
        self._candidates: dict[tuple[str, str], list[int]] = {}

    def house(self, state: str, district: int) -> list[Member]:
        key = (state, district)
        if key not in self._seats:
            self._seats[key] = self._serving(roster_db.members_for_seat(self.db, state, district))
        return list(self._seats[key])

    def senate(self, state: str) -> list[Member]:
        if state not in self._senators:
            self._senators[state] = self._serving(roster_db.senators_for_state(self.db, state))
        return list(self._senators[state])

    def _serving(self, members: list[Member]) -> list[Member]:
        return [member for member in members if not member.term_ended_before(self.today)]

    def candidates(self, zip_code: str, state: str) -> list[int]:
        key = (zip_code, state)
        if key not in self._candidates:
            self._candidates[key] = districts_db.district_candidates(self.db, zip_code, state)
        return list(self._candidates[key])


def _targets_from(roster: _RosterReader, stored: SubscriberDistrict) -> Targets:
    resolved = stored.resolved
    home = resolved.state or stored.state
    result = Targets(state=home, confidence=resolved.confidence, flags=resolved.flags)
    if not home:
        return result
    result.senate = roster.senate(home)
    district = resolved.district
    if result.confidence is Confidence.AMBIGUOUS:
        result.candidates = roster.candidates(stored.zip or "", home)
        if stored.choice is not None and stored.choice in result.candidates:
            district = stored.choice
    if district is not None:
        result.district = district
        result.house = roster.house(home, district)
        result.vacant_house = not result.house
    elif result.candidates:
        for candidate in result.candidates:
            result.house.extend(roster.house(home, candidate))
    return result


@dataclass
class LookupAnswer:
    """The answer for one ZIP (and state): targets in the JSON shape, and notes for people."""

    zip: str
    state: str | None
    confidence: Confidence
    district: int | None
    flags: tuple[str, ...]
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def lookup(db: Database, zip_code: str, state: str | None = None) -> list[dict[str, Any]]:
    """The House member(s) for a ZIP and the senators of its state, as JSON-ready dicts."""
    return lookup_answer(db, zip_code, state).targets


def lookup_answer(db: Database, zip_code: str, state: str | None = None) -> LookupAnswer:
    zip5 = _valid_zip(zip_code)
    given = _valid_state(state)
    if not roster_db.roster_loaded(db):
        raise LookupFailed("no roster loaded: run `alerts targets load` or `alerts targets update`")
    found = districts_db.resolve_zip(db, zip5, given)
    home, flags = found.state, found.flags
    if DistrictFlag.STATE_INVALID in flags:
        raise LookupFailed(f"unknown state {given!r}: the loaded roster has no member or ZIP in it")
    if DistrictFlag.ZIP_UNKNOWN in flags and home is None:
        raise LookupFailed(
            f"unknown ZIP {zip5}: not in the ZIP map, which has no PO-box-only or unique ZIPs;"
            " give --state to get the senators"
        )
    builder = _AnswerBuilder(db, LookupAnswer(zip5, home, found.confidence, found.district, flags))
    if home is None:  # the ZIP spans several states and none was given
        builder.add_multi_state()
    else:
        builder.add_house(home)
        builder.add_senators(home)
    return builder.finished()


def _valid_zip(zip_code: str) -> str:
    match = _ZIP.fullmatch(zip_code.strip())
    if match is None:
        raise LookupFailed(f"invalid ZIP {zip_code!r}: expected 5 digits, like 20001")
    return match.group(1)


def _valid_state(state: str | None) -> str | None:
    if state is None or not state.strip():
        return None
    code = state.strip().upper()
    if not STATE_CODE.fullmatch(code):
        raise LookupFailed(f"invalid state {state!r}: expected a two-letter USPS code, like NY")
    return code


class _AnswerBuilder:
    """Fills a LookupAnswer: House seats and senators, minding terms that ended before today."""

    def __init__(self, db: Database, answer: LookupAnswer) -> None:
        self.db, self.answer, self.today = db, answer, clock.today()
        self.ended: list[Member] = []

    def add_house(self, home: str) -> None:
        answer = self.answer
        if answer.confidence is Confidence.AMBIGUOUS:
            shares = districts_db.district_shares(self.db, answer.zip, home)
            seats = ", ".join(seat_name(home, d) for d in shares)
            answer.notes.append(f"ZIP {answer.zip} spans {len(shares)} districts: {seats}.")
            for district, share in shares.items():
                self._add_seat(home, district, {"ambiguous": True, "share": share})
        elif answer.district is not None:
            self._add_seat(home, answer.district, {})
        answer.notes.extend(self._house_notes(home))

    def add_multi_state(self) -> None:
        answer = self.answer
        seats = districts_db.zip_districts_for(self.db, answer.zip)
        states = sorted({seat.state for seat in seats})
        answer.notes.append(
            f"ZIP {answer.zip} spans several states ({', '.join(states)}): give --state for"
            " the senators and a surer House answer."
        )
        for state in states:
            shares = districts_db.district_shares(self.db, answer.zip, state)
            for district, share in shares.items():
                self._add_seat(state, district, {"ambiguous": True, "share": share})

    def add_senators(self, home: str) -> None:
        senators = roster_db.senators_for_state(self.db, home)
        self.answer.targets.extend(self._target_or_ended(member) for member in senators)
        if not senators:
            self.answer.notes.append(f"{home} has no senators.")

    def finished(self) -> LookupAnswer:
        for member in self.ended:
            self.answer.notes.append(
                f"The term of {member.title} {member.full_name} ({member.seat}) ended on"
                f" {member.term_end}: the roster is out of date; run `{UPDATE_COMMAND}`."
            )
        return self.answer

    def _add_seat(self, state: str, district: int, extra: dict[str, Any]) -> None:
        members = roster_db.members_for_seat(self.db, state, district)
        found = [self._target_or_ended(m) for m in members] or [_vacant_target(state, district)]
        self.answer.targets.extend({**target, **extra} for target in found)

    def _target_or_ended(self, member: Member) -> dict[str, Any]:
        if not member.term_ended_before(self.today):
            return _target(member)
        self.ended.append(member)
        return _ended_target(member)

    def _house_notes(self, home: str) -> Iterator[str]:
        zip5, flags, district = self.answer.zip, self.answer.flags, self.answer.district
        known = "" if district is None else f"; {home} has a single seat, {seat_name(home, 0)}"
        unknown = f": the House member for {home} is unknown" if district is None else known
        if DistrictFlag.MAP_OUTDATED in flags:
            yield (
                f"{home} drew new House districts and its ZIP map is for another Congress than"
                f" the roster{unknown}: run `{UPDATE_COMMAND}`, or load {home}'s new map"
                f" with `alerts targets load --zip-districts FILE --states {home}`."
            )
            return
        if DistrictFlag.STATE_MISMATCH in flags:
            seats = districts_db.zip_districts_for(self.db, zip5)
            listed = ", ".join(sorted({seat.state for seat in seats}))
            yield f"ZIP {zip5} is listed under {listed}, not {home}, in the ZIP map{unknown}."
        if DistrictFlag.ZIP_UNKNOWN in flags:
            yield f"ZIP {zip5} is not in the ZIP map{unknown}."
        if DistrictFlag.VACANT in flags and district is not None:
            yield f"{seat_name(home, district)} is vacant: there is no House member to write to."


def _target(member: Member) -> dict[str, Any]:
    return {
        "chamber": member.chamber,
        "full_name": member.full_name,
        "last_name": member.last_name,
        "title": member.title,
        "party": member.party,
        "state": member.state,
        "district": member.district,
        "phone": member.phone,
        "contact_url": member.contact_url,
        "twitter": member.twitter,
    }


def _vacant_target(state: str, district: int) -> dict[str, Any]:
    """A House seat with nobody in it: no letter can go there, and the answer says so."""
    target: dict[str, Any] = dict.fromkeys(JSON_KEYS)
    target.update(
        chamber=Chamber.HOUSE.value,
        title=house_title(state, district),
        state=state,
        district=district,
        vacant=True,
    )
    return target


def _ended_target(member: Member) -> dict[str, Any]:
    """A seat whose member's term has ended: a vacancy until the roster is updated."""
    target: dict[str, Any] = dict.fromkeys(JSON_KEYS)
    target.update(
        chamber=member.chamber,
        title=member.title,
        state=member.state,
        district=member.district,
        vacant=True,
        term_ended=True,
    )
    return target
