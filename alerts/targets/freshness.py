"""Whether the roster and the ZIP maps are current: the rules the guards and the status share.

Out of date, so `alerts send` and `alerts campaigns check` of an action alert
refuse it (`alerts send --allow-stale-targets` overrides):
- a member the letters would address whose current term ended before today;
- a roster whose Congress has ended;
- the ZIP map of a state the letters go to that is for another Congress than the
  roster, when the state drew new districts in between (the `map_outdated` flag),
  unless every recipient there has their district from a block file of the
  roster's Congress (their street address).

`alerts targets status` lists all of these for the whole roster, and also says
when the roster's or a map's Congress is not known. Today is clock.today().
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from alerts import clock
from alerts.db import Database
from alerts.db import districts as districts_db
from alerts.db import roster as roster_db
from alerts.db.districts import OutdatedMap
from alerts.models import Chamber, HouseSeat, Member, Segment
from alerts.targets.congresses import congress_end, ordinal

UPDATE_COMMAND = "alerts targets update"
NAMED_AT_MOST = 5  # members named in one line; the rest are counted


@dataclass(frozen=True)
class Staleness:
    """What is out of date, as of `today`."""

    today: date
    roster_loaded: bool
    roster_congress: int | None
    ended: tuple[Member, ...] = ()  # members whose current term ended before today
    outdated: tuple[OutdatedMap, ...] = ()
    unrecorded_maps: tuple[str, ...] = ()  # states whose map does not say its Congress

    @property
    def roster_ended(self) -> bool:
        number = self.roster_congress
        return number is not None and congress_end(number) < self.today

    @property
    def refuses(self) -> bool:
        """Whether a send or check of an action alert must stop."""
        return bool(self.ended or self.outdated or self.roster_ended)

    def reasons(self) -> list[str]:
        """Every problem, one sentence each; empty when the roster and maps are current."""
        found = self.refusing()
        if self.roster_loaded and self.roster_congress is None:
            found.append(
                "the roster does not say which Congress it describes (it was loaded before"
                " alerts recorded it, or from the CSV form, which has no term dates)"
            )
        if self.unrecorded_maps:
            found.append(
                f"{_house_maps(list(self.unrecorded_maps))} from before alerts recorded each"
                " map's Congress: load the map again with --congress N"
            )
        return found

    def refusal(self) -> str:
        """The one-line message of a refused send or check."""
        return "out-of-date targets: " + "; ".join(self.refusing()) + f": run `{UPDATE_COMMAND}`"

    def refusing(self) -> list[str]:
        """The reasons that make a send or check of an action alert stop."""
        found = []
        if self.roster_ended and self.roster_congress is not None:
            found.append(
                f"the roster is the {ordinal(self.roster_congress)} Congress's, which ended on"
                f" {congress_end(self.roster_congress).isoformat()}"
            )
        if self.ended:
            found.append(_ended_terms(self.ended))
        found.extend(_outdated_maps(self.outdated))
        return found


def roster_staleness(db: Database, today: date | None = None) -> Staleness:
    """What is out of date in the whole roster and every state's map."""
    maps = districts_db.zip_maps(db)
    day = today or clock.today()
    return Staleness(
        today=day,
        roster_loaded=roster_db.roster_loaded(db),
        roster_congress=roster_db.roster_congress(db),
        ended=tuple(roster_db.members_with_terms_ended(db, day)),
        outdated=tuple(districts_db.outdated_maps(db)),
        unrecorded_maps=tuple(record.state for record in maps if record.congress is None),
    )


def campaign_staleness(
    db: Database,
    segment: Segment | None,
    chambers: Iterable[Chamber],
    *,
    exclude_campaign_id: int | None = None,
    today: date | None = None,
) -> Staleness:
    """What is out of date among the members and maps the letters of a campaign would use.

    Those of the people its segment selects now: the senators of their states, and
    the House members of their districts (every candidate of an ambiguous ZIP).
    """
    whole = roster_staleness(db, today)
    where = districts_db.segment_seats(db, segment, exclude_campaign_id)
    house, senate = Chamber.HOUSE in chambers, Chamber.SENATE in chambers

    def addressed(member: Member) -> bool:
        if member.chamber == Chamber.SENATE:
            return senate and member.state in where.states
        return house and HouseSeat(member.state, member.district or 0) in where.seats

    return Staleness(
        today=whole.today,
        roster_loaded=whole.roster_loaded,
        roster_congress=whole.roster_congress,
        ended=tuple(member for member in whole.ended if addressed(member)),
        outdated=tuple(m for m in whole.outdated if house and m.state in where.zip_states),
    )


def _ended_terms(members: tuple[Member, ...]) -> str:
    """One clause per last day: the term of X (OH) ended on D, or the terms of N members..."""
    by_day: dict[str, list[Member]] = defaultdict(list)
    for member in members:
        by_day[member.term_end or ""].append(member)
    clauses = []
    for day, group in sorted(by_day.items()):
        if len(group) == 1:
            clauses.append(f"the term of {_named(group[0])} ended on {day}")
            continue
        named = [_named(member) for member in group[:NAMED_AT_MOST]]
        if len(group) > NAMED_AT_MOST:
            named.append(f"{len(group) - NAMED_AT_MOST} more")
        clauses.append(f"the terms of {len(group)} members ended on {day} ({', '.join(named)})")
    return "; ".join(clauses)


def _named(member: Member) -> str:
    return f"{member.title} {member.full_name} ({member.seat})"


def _outdated_maps(maps: Iterable[OutdatedMap]) -> list[str]:
    grouped: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for found in maps:
        grouped[(found.map_congress, found.roster_congress, found.redrawn_for)].append(found.state)
    lines = []
    for (map_congress, roster_congress, redrawn_for), states in sorted(grouped.items()):
        which = "that state" if len(states) == 1 else "those states"
        lines.append(
            f"{_house_maps(states)} for the {ordinal(map_congress)} Congress and the roster for"
            f" the {ordinal(roster_congress)}, and {which} drew new districts for the"
            f" {ordinal(redrawn_for)}"
        )
    return lines


def _house_maps(states: list[str]) -> str:
    """The start of a sentence: the House map of CA is, or the House maps of CA, UT are."""
    if len(states) == 1:
        return f"the House map of {states[0]} is"
    return f"the House maps of {', '.join(states)} are"
