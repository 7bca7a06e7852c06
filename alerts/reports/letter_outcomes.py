"""What a campaign's letters achieved on its bill, which emails brought them, and the deadline.

- **Stances:** for each stance on the campaign's bill, how many members stood that
  way and how many letters they got. The stances are those the send froze
  (db/stances.py) when it froze any; otherwise, for a campaign whose bill has data,
  those that `alerts bills update` and `alerts bills load` give now.
- **Wins:** members of the bill's latest fetch who became cosponsors on or after the
  day the campaign was first sent (UTC), with the letters their offices got from
  it before that day.
- **Letters by email:** letters sent from a follow-up's email (`letter_campaign`)
  count for the campaign whose letter they are; both campaigns list them under the
  email that brought them.
- **Deadline:** letters said to be sent before the campaign's deadline and after it:
  subscribers' letters and those of the campaign's public page together.

`Outcomes.tables` is the one rendering into headed tables: the terminal and the
HTML report both show them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from alerts.db import Database
from alerts.db import bills as bills_db
from alerts.db import campaigns as campaigns_db
from alerts.db import roster as roster_db
from alerts.db import stances as stances_db
from alerts.db import stats as stats_db
from alerts.models import CampaignRecord, Member, Stance


@dataclass(frozen=True)
class StanceLetters:
    stance: str
    members: int  # members of Congress who stood this way
    letters: int  # letters those members got


@dataclass(frozen=True)
class Win:
    """A member who became a cosponsor after the campaign was first sent."""

    bioguide: str
    name: str
    since: str  # the sponsorship date, YYYY-MM-DD
    letters_before: int  # letters their office got from the campaign before that day


@dataclass(frozen=True)
class EmailLetters:
    email: str  # the slug of the campaign whose email brought the writers
    counted_in: str  # the slug of the campaign whose letter it was, where they count
    letters: int


@dataclass(frozen=True)
class DeadlineLetters:
    deadline: datetime | None  # as the campaign file gave it when last sent
    before: int  # subscribers' letters and the public page's, together
    after: int  # said to be sent after it: recorded all the same, marked late


@dataclass(frozen=True)
class OutcomeTable:
    heading: str
    intro: str
    headers: tuple[str, ...]
    rows: list[list[str]]


@dataclass(frozen=True)
class Outcomes:
    stances: tuple[StanceLetters, ...] = ()
    stances_frozen: bool = False  # the send's frozen stances, not today's
    wins: tuple[Win, ...] = ()
    by_email: tuple[EmailLetters, ...] = ()
    deadline: DeadlineLetters = field(default_factory=lambda: DeadlineLetters(None, 0, 0))

    def as_json(self) -> dict[str, object]:
        """The keys `alerts stats SLUG --format json` gains from these figures."""
        d = self.deadline
        return {
            "stances": {
                s.stance: {"members": s.members, "letters": s.letters} for s in self.stances
            },
            "wins": [
                {
                    "bioguide": w.bioguide,
                    "name": w.name,
                    "since": w.since,
                    "letters_before": w.letters_before,
                }
                for w in self.wins
            ],
            "letters_by_email": [
                {"email": e.email, "counted_in": e.counted_in, "letters": e.letters}
                for e in self.by_email
            ],
            "deadline": {
                "at": d.deadline.isoformat() if d.deadline else None,
                "letters_before": d.before,
                "letters_after": d.after,
            },
        }

    @property
    def follow_ups_matter(self) -> bool:
        """Letters came through another campaign's email, or went to another's letter."""
        return any(e.email != e.counted_in for e in self.by_email)

    def tables(self) -> list[OutcomeTable]:
        """The figures worth showing, as headed tables (the terminal and the HTML report)."""
        found = [self._stances_table(), self._wins_table(), self._emails_table()]
        found.append(self._deadline_table())
        return [table for table in found if table is not None]

    def _stances_table(self) -> OutcomeTable | None:
        if not self.stances:
            return None
        when = "when the send started" if self.stances_frozen else "now (the send froze none)"
        return OutcomeTable(
            "Letters per stance on the bill",
            f"Where members stood {when}, and the letters they got.",
            ("Stance", "Members", "Letters"),
            [[s.stance, f"{s.members:,}", f"{s.letters:,}"] for s in self.stances],
        )

    def _wins_table(self) -> OutcomeTable | None:
        if not self.wins:
            return None
        return OutcomeTable(
            "Wins: cosponsors since the first send",
            "Members who became cosponsors after the campaign was first sent, and the letters"
            " their offices got from it before that day.",
            ("Member", "Cosponsor since", "Letters before"),
            [[w.name, w.since, f"{w.letters_before:,}"] for w in self.wins],
        )

    def _emails_table(self) -> OutcomeTable | None:
        if not self.follow_ups_matter:
            return None
        return OutcomeTable(
            "Letters by the email that brought them",
            "A follow-up's letters count once, for the campaign whose letter they are.",
            ("Email", "Counted in", "Letters"),
            [[e.email, e.counted_in, f"{e.letters:,}"] for e in self.by_email],
        )

    def _deadline_table(self) -> OutcomeTable | None:
        d = self.deadline
        if d.deadline is None and not d.after:
            return None
        when = d.deadline.isoformat() if d.deadline else "no longer set"
        return OutcomeTable(
            "Letters and the deadline",
            f"The deadline: {when}. Letters said to be sent after it are counted all the same.",
            ("When", "Letters"),
            [["Before the deadline", f"{d.before:,}"], ["After the deadline", f"{d.after:,}"]],
        )


def campaign_outcomes(db: Database, campaign: CampaignRecord, letters: dict[str, int]) -> Outcomes:
    """The outcomes of one campaign; `letters` are its letters per member (bioguide)."""
    before, after = stats_db.stats_letters_late(db, campaign.id)
    stances, frozen = _stances(db, campaign, letters)
    return Outcomes(
        stances=stances,
        stances_frozen=frozen,
        wins=_wins(db, campaign),
        by_email=_by_email(db, campaign.id),
        deadline=DeadlineLetters(campaigns_db.campaign_deadline(db, campaign.id), before, after),
    )


def _stances(
    db: Database, campaign: CampaignRecord, letters: dict[str, int]
) -> tuple[tuple[StanceLetters, ...], bool]:
    frozen = stances_db.frozen_stances(db, campaign.id)
    known = frozen if frozen is not None else bills_db.resolved_stances(db, campaign.slug)
    if not known:
        return (), False
    stance_of = dict(known)
    if frozen is None:  # every member stands unknown unless the bill's data says otherwise
        for member in roster_db.roster_members(db):
            stance_of.setdefault(member.bioguide, Stance.UNKNOWN)
    members = Counter(stance_of.values())
    got: Counter[Stance] = Counter()
    for bioguide, n in letters.items():
        got[stance_of.get(bioguide, Stance.UNKNOWN)] += n
    return tuple(StanceLetters(s.value, members[s], got[s]) for s in Stance), frozen is not None


def _wins(db: Database, campaign: CampaignRecord) -> tuple[Win, ...]:
    first_day = (campaign.send_started_at or "")[:10]
    fetch = bills_db.latest_fetch(db, campaign.slug)
    if not first_day or fetch is None:
        return ()
    joined = [
        s
        for s in fetch.sponsorships
        if s.is_current_cosponsor and s.sponsorship_date and s.sponsorship_date >= first_day
    ]
    cutoffs = {s.bioguide: _day_start(s.sponsorship_date or "") for s in joined}
    before = stats_db.stats_letters_before(db, campaign.id, cutoffs)
    roster = {m.bioguide: m for m in roster_db.roster_members(db)} if joined else {}
    wins = [
        Win(
            s.bioguide,
            _name(roster.get(s.bioguide), s.name),
            s.sponsorship_date or "",
            before.get(s.bioguide, 0),
        )
        for s in joined
    ]
    return tuple(sorted(wins, key=lambda w: (w.since, w.name)))


def _day_start(day: str) -> int:
    """The first second of a day (UTC), in Unix seconds."""
    return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())


def _name(member: Member | None, listed: str) -> str:
    """A member as the roster names them, else as Congress.gov does."""
    return f"{member.title} {member.full_name}" if member else listed


def _by_email(db: Database, campaign_id: int) -> tuple[EmailLetters, ...]:
    rows = stats_db.stats_letters_by_email(db, campaign_id)
    ids = {row.campaign_id for row in rows} | {row.email_campaign_id for row in rows}
    slugs = {
        cid: record.slug
        for cid in ids
        if (record := campaigns_db.campaign_record_by_id(db, cid)) is not None
    }
    return tuple(
        EmailLetters(
            slugs.get(row.email_campaign_id, ""), slugs.get(row.campaign_id, ""), row.letters
        )
        for row in rows
    )
