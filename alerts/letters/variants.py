"""How the letters of a campaign's recipients split across its letter variants.

`alerts campaigns check` prints, for a campaign with letter variants, how many
letters each variant would be written as: one per recipient and member their
letters go to (the representative when known, the senators, as `letter: to`
says), and to how many members. The recipients are those the segment selects
now; the stances are the send's (frozen once it started, else as they stand now).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from alerts.bills.frozen import send_stances
from alerts.campaigns.stances import DEFAULT_VARIANT, STANCES, variant_name
from alerts.db import Database
from alerts.db import districts as districts_db
from alerts.letters.page import letter_members
from alerts.models import Campaign
from alerts.targets import lookup as targets


@dataclass(frozen=True)
class VariantCount:
    """One letter variant: the stances whose members get it, and how many letters."""

    variant: str  # the stance it is written under, or "default"
    stances: tuple[str, ...]
    letters: int  # recipients times the members of theirs who get it
    members: int

    def as_dict(self) -> dict[str, object]:
        return {
            "variant": self.variant,
            "stances": list(self.stances),
            "letters": self.letters,
            "members": self.members,
        }


def variant_counts(db: Database, campaign: Campaign, campaign_id: int | None) -> list[VariantCount]:
    """Letters per variant for the people the segment selects now; the default comes last."""
    letter = campaign.letter
    if letter is None:
        return []
    stances = send_stances(db, campaign, campaign_id)
    groups = districts_db.segment_seat_groups(db, campaign.segment, campaign_id)
    found = targets.targets_for_many(db, [group.subscriber_id for group in groups])
    letters: Counter[str] = Counter()
    members: defaultdict[str, set[str]] = defaultdict(set)
    for group in groups:
        each = found.get(group.subscriber_id)
        for member in letter_members(each, letter.to) if each is not None else []:
            name = variant_name(letter, stances.of(member.bioguide))
            letters[name] += group.people
            members[name].add(member.bioguide)
    names = [v.stance for v in letter.variants if v.same_as is None] + [DEFAULT_VARIANT]
    return [
        VariantCount(
            name,
            tuple(s for s in STANCES if variant_name(letter, s) == name),
            letters[name],
            len(members[name]),
        )
        for name in names
    ]
