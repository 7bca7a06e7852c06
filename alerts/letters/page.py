"""A recipient's letter page: their members of Congress and a letter to each.

`letter_page` builds what `GET /a/<token>` shows from the campaign file as
it is now (campaigns.py), the recipient's targets and the letters they
already said they sent. Letters are plain text (email/letter_text.py) until
the page template escapes them. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

from alerts.bills.frozen import member_stances
from alerts.db import Database
from alerts.db import campaigns as campaigns_db
from alerts.db import events as events_db
from alerts.db import subscribers as subscribers_db
from alerts.email import letter_text
from alerts.errors import CampaignError
from alerts.letters import followups, urls
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.followups import Closing
from alerts.models import (
    Campaign,
    CampaignKind,
    Chamber,
    Confidence,
    DistrictFlag,
    Member,
    ShareSpec,
    Stance,
    Status,
    Subscriber,
    Targets,
    TextCode,
    seat_name,
)
from alerts.subscribers.normalise import STATE_NAMES
from alerts.targets import lookup as targets
from alerts.targets.congresses import ordinal
from alerts.targets.legislators import house_title
from alerts.tracking.recording import http_url

# Where to find a member the roster gives no website or phone for: each chamber's
# own directory, and the Capitol switchboard, which puts callers through to any office.
HOUSE_DIRECTORY = "https://www.house.gov/representatives"
SENATE_DIRECTORY = "https://www.senate.gov/senators/"
CAPITOL_SWITCHBOARD = "(202) 224-3121"

# The letter box opens tall enough for its text where CSS cannot size it to fit.
LETTER_ROW_CHARS = 60
LETTER_ROWS_MIN = 6
LETTER_ROWS_MAX = 80

# Places whose name reads with "the" in a sentence ("residents of the District of Columbia").
_NAMES_WITH_THE = frozenset({"DC", "VI", "MP", "MH"})


def place_name(state: str) -> str:
    """A state's or territory's name as a sentence uses it: "Ohio", "the District of Columbia"."""
    name = STATE_NAMES.get(state, state)
    return f"the {name}" if state in _NAMES_WITH_THE else name


def member_role(member: Member) -> str:
    """What a member is, in words: "Senior senator for Vermont", "Delegate for Guam"."""
    place = place_name(member.state)
    if member.chamber == Chamber.SENATE:
        rank = f"{member.state_rank} senator" if member.state_rank else "senator"
        return f"{rank.capitalize()} for {place}"
    if member.title != "Representative" or member.district is None:
        return f"{member.title} for {place}"
    if member.district == 0:
        return f"Representative for {place} (at large)"
    return f"Representative for {place}'s {ordinal(member.district)} district"


def role_in_prose(title: str) -> str:
    """A title as it reads after "your": "representative", "delegate", "Resident Commissioner"."""
    return title if title == "Resident Commissioner" else title.lower()


def addressed_letter(member: Member, body: str) -> str:
    """The letter as it is pasted into a form: "The Honorable <name>", then the body.

    A body that already starts with "The Honorable" is left as the author wrote it.
    """
    text = body.strip("\n")
    if text.lower().startswith("the honorable"):
        return text + "\n"
    return f"The Honorable {member.full_name}\n\n{text}\n"


def addressed_tweet(text: str, handle: str | None) -> str:
    """The tweet, starting with @handle when the member has one the text leaves out."""
    if not handle or f"@{handle}".lower() in text.lower():
        return text
    return f"@{handle} {text}"


@dataclass(frozen=True)
class LetterTarget:
    """One member of Congress on a letter page, with their letter (plain text).

    The links the page shows more than once are worked out once per target.
    """

    member: Member
    subject: str
    letter: str  # "The Honorable ..." and the body, as the textarea starts
    call_script: str | None = None
    tweet: str | None = None
    sent: bool = False  # the subscriber pressed "I sent it" for this member
    stance: str = Stance.UNKNOWN  # where the member stands on the campaign's bill
    topic: str | None = None  # what to pick in their contact form's topic list

    @cached_property
    def contact_url(self) -> str | None:
        return http_url(self.member.contact_url) or http_url(self.member.website)

    @cached_property
    def contact_is_form(self) -> bool:
        """True when the link is a contact form, not just the member's home page."""
        form = http_url(self.member.contact_url)
        return form is not None and form != http_url(self.member.website)

    @cached_property
    def phone_url(self) -> str | None:
        return urls.tel_url(self.member.phone)

    @property
    def switchboard(self) -> str:
        """The Capitol switchboard, for a member with no phone number on file."""
        return CAPITOL_SWITCHBOARD

    @property
    def switchboard_url(self) -> str | None:
        return urls.tel_url(CAPITOL_SWITCHBOARD)

    @property
    def directory_url(self) -> str:
        """The member's chamber's own directory, for a member with no website on file."""
        return SENATE_DIRECTORY if self.member.chamber == Chamber.SENATE else HOUSE_DIRECTORY

    @property
    def name(self) -> str:
        """The member as headings and thanks name them: "Senator Avery Sampleton"."""
        return f"{self.member.title} {self.member.full_name}"

    @property
    def short_name(self) -> str:
        """The member as links and greetings name them: "Senator Sampleton"."""
        return f"{self.member.title} {self.member.surname}"

    @property
    def role(self) -> str:
        return member_role(self.member)

    @property
    def letter_rows(self) -> int:
        """Rows for the letter box, so that it shows the whole letter without scrolling."""
        lines = self.letter.rstrip("\n").split("\n")
        rows = sum(max(1, -(-len(line) // LETTER_ROW_CHARS)) for line in lines) + 1
        return min(max(rows, LETTER_ROWS_MIN), LETTER_ROWS_MAX)

    @property
    def mailto_url(self) -> str:
        return urls.mailto_url(self.subject, self.letter)

    @cached_property
    def tweet_url(self) -> str | None:
        return urls.tweet_url(self.tweet) if self.tweet else None


@dataclass(frozen=True)
class Candidate:
    """A House district a split ZIP may put the subscriber in, and its member (None: vacant)."""

    district: int
    seat: str
    member: Member | None = None


class HouseLookup(StrEnum):
    """What the page can say about the subscriber's House member."""

    NOT_ASKED = "not_asked"  # the letter goes to senators only
    KNOWN = "known"
    CHOOSE = "choose"  # the ZIP spans several districts and nobody was picked yet
    VACANT = "vacant"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LetterPage:
    """Everything `GET /a/<token>` shows; None fields mean "not known"."""

    campaign_id: int
    subscriber_id: int
    subscriber: Subscriber
    available: bool  # False: the campaign file is gone or broken: no letter to show
    chambers: tuple[Chamber, ...] = ()
    targets: tuple[LetterTarget, ...] = ()
    house: HouseLookup = HouseLookup.NOT_ASKED
    candidates: tuple[Candidate, ...] = ()  # House districts to pick from (ambiguous ZIP)
    picked: Member | None = None  # the House member the subscriber picked earlier
    picked_district: int | None = None  # the district they picked (also when it is vacant)
    seat: str | None = None  # the known House seat (NY-10), also when vacant
    state: str | None = None
    flags: tuple[str, ...] = ()
    topic: str | None = None
    text_code: TextCode | None = None
    slug: str | None = None  # the campaign's, for its share panel
    share: ShareSpec | None = None  # the campaign's `share` key
    via_campaign_id: int | None = None  # a follow-up's page: the follow-up (followups.py)
    thanked: bool = False  # a follow-up's visitor who already wrote: thanked, not asked again
    closing: Closing | None = None  # the letter campaign's deadline

    @property
    def closed(self) -> bool:
        """The action's deadline has passed: "I sent it" is recorded as late."""
        return self.closing is not None and self.closing.closed

    @property
    def asks_senate(self) -> bool:
        return Chamber.SENATE in self.chambers

    @property
    def text_code_url(self) -> str | None:
        code = self.text_code
        return urls.sms_url(code.number, code.keyword) if code else None

    @property
    def place(self) -> str | None:
        """The subscriber's state or territory by name, as sentences use it."""
        return place_name(self.state) if self.state else None

    @property
    def address_result(self) -> str | None:
        """The sentence "Your address is in NY-12: Representative …", when the street
        address gave the seat."""
        if DistrictFlag.ADDRESS not in self.flags or self.seat is None:
            return None
        house = next((t for t in self.targets if t.member.chamber == Chamber.HOUSE), None)
        if house is None:
            return f"Your address is in {self.seat}."
        stop = "" if house.name.endswith(".") else "."  # "…, Jr." ends the sentence already
        return f"Your address is in {self.seat}: {house.name}{stop}"

    @property
    def home_title(self) -> str:
        """The title of the subscriber's House member: Representative, Delegate..."""
        house = next((t for t in self.targets if t.member.chamber == Chamber.HOUSE), None)
        if house is not None:
            return house.member.title
        return house_title(self.state, 0) if self.state else "Representative"

    @property
    def home_role(self) -> str:
        """That title as a sentence says it: "their delegate", "their Resident Commissioner"."""
        return role_in_prose(self.home_title)

    @property
    def addressees(self) -> str:
        """Whom the letters go to: "your members of Congress", "your senators", "your delegate"."""
        senators = sum(1 for t in self.targets if t.member.chamber == Chamber.SENATE)
        house = len(self.targets) > senators or self.house is HouseLookup.CHOOSE
        if house and senators:
            return "your members of Congress"
        if senators:
            return "your senators" if senators > 1 else "your senator"
        return f"your {self.home_role}"

    @property
    def all_sent(self) -> bool:
        return bool(self.targets) and all(t.sent for t in self.targets)

    def target(self, bioguide: str) -> LetterTarget | None:
        return next((t for t in self.targets if t.member.bioguide == bioguide), None)

    def next_unsent(self, bioguide: str) -> LetterTarget | None:
        """The letter to go to after `bioguide`'s: the next one not sent yet, wrapping round."""
        ids = [t.member.bioguide for t in self.targets]
        start = ids.index(bioguide) + 1 if bioguide in ids else 0
        ordered = self.targets[start:] + self.targets[:start]
        return next((t for t in ordered if not t.sent and t.member.bioguide != bioguide), None)

    def candidate(self, district: str) -> Candidate | None:
        """The district picked in the form, if it is one of the page's candidates."""
        return next((c for c in self.candidates if str(c.district) == district), None)

    def edited(self, bioguide: str, subject: str, letter: str) -> LetterPage:
        """The page holding a letter as the visitor edited it, for "Email me a copy"."""
        return self._with(bioguide, subject=subject, letter=letter)

    def _with(self, bioguide: str, **changes: Any) -> LetterPage:
        targets = tuple(
            replace(t, **changes) if t.member.bioguide == bioguide else t for t in self.targets
        )
        return replace(self, targets=targets)


def letter_page(
    db: Database, letters: LetterCampaigns, campaign_id: int, subscriber_id: int
) -> LetterPage | None:
    """The letter page of one subscriber in one campaign, or None when either is unknown.

    A forgotten subscriber has no page.
    """
    record = campaigns_db.campaign_record_by_id(db, campaign_id)
    subscriber = subscribers_db.subscriber_or_none(db, subscriber_id)
    if record is None or subscriber is None or subscriber.status == Status.FORGOTTEN:
        return None
    campaign = letters.get(record) if record.kind == CampaignKind.ACTION else None
    source = followups.letter_source(db, letters, record, campaign) if campaign else None
    if source is None or source.campaign.letter is None:
        return LetterPage(campaign_id, subscriber_id, subscriber, available=False)
    found = targets.targets_for(db, subscriber_id)
    sent = events_db.letter_targets_sent(db, source.campaign_id, subscriber_id)
    page = page_for(db, letters, source.campaign, source.campaign_id, subscriber, found, sent)
    if source.via_campaign_id is None:
        return page
    thanked = followups.wrote_before(db, source, subscriber_id)
    return replace(page, via_campaign_id=source.via_campaign_id, thanked=thanked)


def page_for(
    db: Database,
    letters: LetterCampaigns,
    campaign: Campaign,
    campaign_id: int,
    person: Subscriber,
    found: Targets,
    sent: set[str],
) -> LetterPage:
    """The letter page of one person with these members, who already wrote to `sent`.

    The person is a subscriber, or a visitor of the campaign's public page
    (letters/public.py) held in a Subscriber that is not stored.
    """
    assert person.id is not None and campaign.letter is not None
    chambers = campaign.letter.to
    addressed = (m.bioguide for m in letter_members(found, chambers))
    stances = member_stances(db, campaign, campaign_id, addressed)
    try:
        built = _letter_targets(campaign, person, found, chambers, sent, stances)
    except CampaignError as exc:
        letters.warn(campaign.slug, str(exc), f"its letter does not render ({exc})")
        return LetterPage(campaign_id, person.id, person, available=False)
    return LetterPage(
        campaign_id=campaign_id,
        subscriber_id=person.id,
        subscriber=person,
        available=True,
        chambers=chambers,
        targets=built,
        house=_house_lookup(found, chambers),
        candidates=_candidates(db, found) if Chamber.HOUSE in chambers else (),
        picked=found.representative if DistrictFlag.CHOSEN in found.flags else None,
        picked_district=found.district if DistrictFlag.CHOSEN in found.flags else None,
        seat=_seat(found),
        state=found.state,
        flags=found.flags,
        topic=campaign.letter.topic,
        text_code=campaign.letter.text_code,
        slug=campaign.slug,
        share=campaign.share,
        closing=followups.closing_of(campaign),
    )


def letter_members(found: Targets, chambers: tuple[Chamber, ...]) -> list[Member]:
    """Whom a recipient's letters go to: their representative when known, their senators."""
    members: list[Member] = []
    for chamber in chambers:
        if chamber is Chamber.HOUSE and found.representative is not None:
            members.append(found.representative)
        elif chamber is Chamber.SENATE:
            members.extend(found.senate)
    return members


def _letter_targets(
    campaign: Campaign,
    subscriber: Subscriber,
    found: Targets,
    chambers: tuple[Chamber, ...],
    sent: set[str],
    stances: dict[str, Stance],
) -> tuple[LetterTarget, ...]:
    return tuple(
        _letter_target(campaign, subscriber, m, m.bioguide in sent, stances[m.bioguide])
        for m in letter_members(found, chambers)
    )


def _letter_target(
    campaign: Campaign, subscriber: Subscriber, member: Member, sent: bool, stance: Stance
) -> LetterTarget:
    """The member's letter: the variant of their stance (letter_text), plain text."""
    parts = letter_text.render_parts(campaign, subscriber, member, stance)
    return LetterTarget(
        member=member,
        subject=parts.letter.subject,
        letter=addressed_letter(member, parts.letter.body),
        call_script=parts.call_script,
        tweet=addressed_tweet(parts.tweet, member.twitter) if parts.tweet else None,
        sent=sent,
        stance=stance,
        topic=parts.topic,
    )


def _candidates(db: Database, found: Targets) -> tuple[Candidate, ...]:
    """Every district of a split ZIP, in the map's order, vacant seats included."""
    if not found.state:
        return ()
    members = targets.candidate_members(db, found)
    listed: list[Candidate] = []
    for district in found.candidates:
        seat = seat_name(found.state, district)
        serving = [m for m in members if m.district == district]
        listed.extend(Candidate(district, seat, m) for m in serving)
        if not serving:
            listed.append(Candidate(district, seat))
    return tuple(listed)


def _house_lookup(found: Targets, chambers: tuple[Chamber, ...]) -> HouseLookup:
    if Chamber.HOUSE not in chambers:
        return HouseLookup.NOT_ASKED
    if found.representative is not None:
        return HouseLookup.KNOWN
    if found.vacant_house:
        return HouseLookup.VACANT
    if found.confidence is Confidence.AMBIGUOUS and found.house:
        return HouseLookup.CHOOSE
    return HouseLookup.UNKNOWN


def _seat(found: Targets) -> str | None:
    if found.state and found.district is not None:
        return seat_name(found.state, found.district)
    return None
