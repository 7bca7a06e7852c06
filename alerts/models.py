"""Plain data shared across layers. No internal imports."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path

# The made-up recipient of previews and `alerts send --test`: its links work, but
# nothing it does is recorded, so a test click never counts in a campaign.
SAMPLE_SUBSCRIBER_ID = 0


class Status(StrEnum):
    """A subscriber's status. Only `subscribed` people are ever mailed."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FORGOTTEN = "forgotten"


# The subscriber fields an import can fill, in the order exports are written.
SUBSCRIBER_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "street",
    "city",
    "state",
    "zip",
    "phone",
)


@dataclass
class Subscriber:
    id: int | None
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    phone: str | None = None
    status: str = Status.SUBSCRIBED
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    consent_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass
class ImportSummary:
    """Counts are per person, not per row: rows for one email are merged first."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    suppressed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "suppressed": self.suppressed,
        }


class Chamber(StrEnum):
    HOUSE = "house"
    SENATE = "senate"


class Confidence(StrEnum):
    """How sure we are of a subscriber's congressional district."""

    EXACT = "exact"
    AMBIGUOUS = "ambiguous"
    UNKNOWN = "unknown"


def seat_name(state: str, district: int) -> str:
    """A House seat as people write it: NY-10, or VT-AL for at-large seats and delegates."""
    return f"{state}-{'AL' if district == 0 else district}"


@dataclass(frozen=True, order=True)
class HouseSeat:
    """A House seat: a state and its district number (0 for at-large seats and delegates)."""

    state: str
    district: int

    @property
    def name(self) -> str:
        return seat_name(self.state, self.district)


@dataclass(frozen=True)
class ZipDistrict:
    """One row of the ZIP map: a ZIP (ZCTA) lies, at least partly, in this House district."""

    zip: str
    state: str
    district: int
    share: float | None = None  # its part of the ZIP's land area (0-1), when the map gives areas


@dataclass(frozen=True)
class Member:
    """A sitting member of Congress, as loaded from the roster."""

    bioguide: str
    chamber: str
    state: str
    district: int | None
    title: str  # salutation title: Representative, Senator, Delegate, Resident Commissioner
    full_name: str
    last_name: str
    party: str | None = None
    phone: str | None = None
    contact_url: str | None = None
    twitter: str | None = None
    first_name: str | None = None  # the name they go by: the nickname when there is one
    website: str | None = None
    state_rank: str | None = None  # senators: senior or junior
    senate_class: int | None = None
    term_start: str | None = None  # the current term's first and last days, YYYY-MM-DD
    term_end: str | None = None

    def term_ended_before(self, day: date) -> bool:
        """Whether the current term's last day is before `day` (the roster is out of date)."""
        return self.term_end is not None and self.term_end < day.isoformat()

    @property
    def seat(self) -> str:
        """NY-10, VT-AL (at-large or delegate), or the state alone for a senator."""
        if self.chamber == Chamber.SENATE or self.district is None:
            return self.state
        return seat_name(self.state, self.district)

    @property
    def surname(self) -> str:
        """The last name as the member's display name (`full_name`) writes it.

        Greetings, links and summaries use it, so that a member is one name on a
        page: the roster's last name can hold more than the name the member goes
        by ("Hernández Rivera" beside "Pablo José Hernández"). It is the longest
        leading part of the roster's last name that the display name contains,
        spelled as the display name spells it; the roster's last name when none is.
        """
        return _display_surname(self.last_name, self.full_name)


@lru_cache(maxsize=4096)
def _display_surname(last_name: str, full_name: str) -> str:
    """Member.surname, worked out once per pair of names (a page asks for it many times)."""
    words = last_name.split()
    shown = [word.strip(",") for word in full_name.split()]
    folded = [_folded(word) for word in shown]
    for size in range(len(words), 0, -1):
        wanted = [_folded(word) for word in words[:size]]
        for start in range(len(shown) - size + 1):
            if folded[start : start + size] == wanted:
                return " ".join(shown[start : start + size])
    return last_name


def _folded(word: str) -> str:
    """A word compared without case or accents: "Hernández" and "HERNANDEZ" are one."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass
class Targets:
    """A subscriber's own members of Congress, as resolved from the roster.

    `house` holds one member when the district is known (exact, or picked by the
    subscriber), the candidates when the ZIP spans several districts, and nobody
    when it is unknown or the seat is vacant. DC and the territories have no senators.
    """

    state: str | None
    confidence: Confidence
    house: list[Member] = field(default_factory=list)
    senate: list[Member] = field(default_factory=list)
    district: int | None = None  # the House district when known
    candidates: list[int] = field(default_factory=list)  # districts when ambiguous
    vacant_house: bool = False  # the known district's seat is empty
    flags: tuple[str, ...] = ()

    @property
    def representative(self) -> Member | None:
        """The subscriber's own House member when known for certain, else None."""
        if self.district is not None and len(self.house) == 1:
            return self.house[0]
        return None


class DistrictFlag(StrEnum):
    """Why a subscriber's district is less than certain; stored in subscribers.cd_flags."""

    ZIP_MISSING = "zip_missing"  # no ZIP at all
    ZIP_INVALID = "zip_invalid"  # not 5 digits (ZIP+4 and lost leading zeros are repaired)
    ZIP_UNKNOWN = "zip_unknown"  # well formed but not in the ZIP map (PO box, new ZIP...)
    STATE_INVALID = "state_invalid"  # the subscriber's state is not a USPS code in the roster
    STATE_FROM_ZIP = "state_from_zip"  # no usable own state: the ZIP's only state is used
    STATE_MISMATCH = "state_mismatch"  # the ZIP map does not list the subscriber's state
    ZIP_MULTI_STATE = "zip_multi_state"  # no own state and the ZIP spans several states
    CHOSEN = "chosen"  # ambiguous ZIP: the subscriber picked their district (cd_choice)
    ADDRESS = "address"  # from the street address: its census block, in a block file
    VACANT = "vacant"  # the district is known but its House seat is empty
    MAP_OUTDATED = "map_outdated"  # the state redrew its districts and its ZIP map is not current


@dataclass(frozen=True)
class SeatChange:
    """A member who changed seat between two rosters."""

    member: Member
    old_seat: str
    new_seat: str


@dataclass(frozen=True)
class MapChange:
    """One state's ZIP map as a load replaced it."""

    state: str
    congress: int  # the Congress of the new map's districts
    previous_congress: int | None  # that of the map it replaced (None: none, or not recorded)
    zips_changed: int  # ZIPs whose districts differ from the previous map's (added, gone, moved)
    subscribers_moved: int  # subscribers whose House district changed with it

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "congress": self.congress,
            "previous_congress": self.previous_congress,
            "zips_changed": self.zips_changed,
            "subscribers_moved": self.subscribers_moved,
        }


@dataclass
class RosterDiff:
    """What a roster load changed against the previous roster."""

    version: int
    first_load: bool
    members: int
    zip_rows: int
    left: list[Member] = field(default_factory=list)
    arrived: list[Member] = field(default_factory=list)
    changed_seat: list[SeatChange] = field(default_factory=list)
    vacant_seats: list[str] = field(default_factory=list)  # House seats with no member
    confidence: dict[str, int] = field(default_factory=dict)  # subscribers by confidence
    roster_replaced: bool = True  # False for a load of a ZIP map alone
    congress: int | None = None  # the Congress the roster describes, after the load
    maps: list[MapChange] = field(default_factory=list)  # the states whose ZIP map was replaced
    maps_kept: dict[str, int] = field(default_factory=dict)  # state -> newer Congress kept
    dropped: dict[str, int] = field(default_factory=dict)  # map rows left out, by reason

    @property
    def unchanged(self) -> bool:
        return not (self.left or self.arrived or self.changed_seat)

    def as_dict(self) -> dict[str, object]:
        def brief(member: Member) -> dict[str, str]:
            return {"bioguide": member.bioguide, "name": member.full_name, "seat": member.seat}

        return {
            "version": self.version,
            "first_load": self.first_load,
            "members": self.members,
            "zip_rows": self.zip_rows,
            "left": [brief(m) for m in self.left],
            "arrived": [brief(m) for m in self.arrived],
            "changed_seat": [
                {**brief(c.member), "old_seat": c.old_seat, "seat": c.new_seat}
                for c in self.changed_seat
            ],
            "vacant_seats": self.vacant_seats,
            "confidence": self.confidence,
            "roster_replaced": self.roster_replaced,
            "congress": self.congress,
            "maps": [change.as_dict() for change in self.maps],
            "maps_kept": self.maps_kept,
            "dropped": self.dropped,
        }


class CampaignKind(StrEnum):
    UPDATE = "update"
    ACTION = "action"


class DeliveryState(StrEnum):
    """A recipient's state in a campaign's send ledger."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"  # a request carrying them is out; becomes UNKNOWN after a crash
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # unsubscribed, bounced or forgotten after the ledger was frozen


@dataclass
class SendSummary:
    """The outcome of one send run.

    `sent`, `failed` and `skipped` count this run; `unknown` counts every recipient of
    the campaign left unknown after it, including those an earlier run left in flight.
    """

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


class EventKind(StrEnum):
    """Kinds of rows in the events table."""

    # Recorded by `alerts serve` itself.
    OPEN = "open"
    CLICK = "click"
    LETTER_VISIT = "letter_visit"
    LETTER_SENT = "letter_sent"
    LETTER_EMAILED = "letter_emailed"
    UNSUBSCRIBE = "unsubscribe"
    # Someone off the list (unsubscribed, bounced, forgotten) confirmed a new signup;
    # `detail` is the status they had.
    RESUBSCRIBE = "resubscribe"
    # Reported by the delivery provider's event webhook.
    ACCEPTED = "accepted"  # the provider took the message and will try to deliver it
    DELIVERED = "delivered"
    DEFERRED = "deferred"  # the receiving server asked the provider to try again later
    BOUNCE = "bounce"
    DROPPED = "dropped"  # the provider did not try (a suppressed or invalid address...)
    COMPLAINT = "complaint"  # the recipient reported the message as spam
    PROVIDER_OPEN = "provider_open"  # the provider's own open tracking
    PROVIDER_CLICK = "provider_click"  # the provider's own click tracking
    PROVIDER_UNSUBSCRIBE = "provider_unsubscribe"  # the provider's own unsubscribe link
    GROUP_UNSUBSCRIBE = "group_unsubscribe"  # left one of the provider's subscription groups
    GROUP_RESUBSCRIBE = "group_resubscribe"


# Kinds that only a delivery provider reports, each about a message it accepted:
# proof that a recipient left `unknown` by an interrupted send was sent.
PROVIDER_KINDS = (
    EventKind.ACCEPTED,
    EventKind.DELIVERED,
    EventKind.DEFERRED,
    EventKind.BOUNCE,
    EventKind.DROPPED,
    EventKind.COMPLAINT,
    EventKind.PROVIDER_OPEN,
    EventKind.PROVIDER_CLICK,
    EventKind.PROVIDER_UNSUBSCRIBE,
    EventKind.GROUP_UNSUBSCRIBE,
    EventKind.GROUP_RESUBSCRIBE,
)


# --------------------------------------------------------------------------
# Campaigns: the parsed campaign file, its audience, and the compiled message

# How long before a campaign's deadline `alerts send` starts warning, unless it sets send_margin.
DEFAULT_SEND_MARGIN = timedelta(hours=24)

# Per-recipient placeholders. Compiled campaigns carry these in place of
# recipient values, so MJML and premailer run once per campaign and the delivery
# provider (or `render.personalise`) swaps them per recipient. The spelling uses only
# URL-unreserved characters, so Markdown, MJML, premailer's href encoding and
# HTML escaping all leave it alone: `-ALRT.<name>.<context>-`, where context
# is `h` (HTML: the value is escaped), `t` (text and subject: the raw value,
# one line) or `n` (neutral: only inside the compiler, never in its output).
PLACEHOLDER_MARK = "-ALRT."
PLACEHOLDER_RE = re.compile(r"-ALRT\.([a-z0-9_.]+?)\.([htn])-")
HTML_CONTEXT = "h"
TEXT_CONTEXT = "t"
NEUTRAL_CONTEXT = "n"


def readable_placeholders(text: str) -> str:
    """Text with each placeholder shown as `{name}`, for people (lists, reports)."""
    return PLACEHOLDER_RE.sub(lambda m: "{" + m.group(1).removesuffix(".cap") + "}", text)


# What each per-recipient variable stands for, in words, for subjects in reports.
PLACEHOLDER_LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "full name",
    "rep_full_name": "representative's full name",
    "rep_last_name": "representative's last name",
    "rep_title": "representative's title",
    "rep_stance_text": "representative's stance",
    "sen_stance_text": "senators' stances",
}
_READABLE_RE = re.compile(r"\{([a-z_]+)\}")


def labelled_placeholders(text: str) -> str:
    """A stored subject (`{first_name}, ask ...`) as people read it: `[first name], ask ...`."""

    def label(match: re.Match[str]) -> str:
        name = PLACEHOLDER_LABELS.get(match.group(1))
        return f"[{name}]" if name else match.group(0)

    return _READABLE_RE.sub(label, text)


def placeholder(name: str, context: str = NEUTRAL_CONTEXT) -> str:
    """The spelling of one per-recipient placeholder, e.g. `-ALRT.first_name.h-`."""
    return f"{PLACEHOLDER_MARK}{name}.{context}-"


@dataclass(frozen=True)
class SourceText:
    """A piece of a campaign file and the file line its first line sits on."""

    text: str
    line: int


@dataclass(frozen=True)
class TextCode:
    """An SMS keyword and the number to text it to, as some letter services offer."""

    keyword: str
    number: str


@dataclass(frozen=True)
class LetterVariant:
    """The letter for members of one stance: the keys it changes, or another variant's name.

    `same_as` names the variant it reads as (`sponsor: cosponsor`); otherwise each
    key left None keeps the default letter's.
    """

    stance: str  # a Stance value
    line: int  # where the variant is written, for messages
    same_as: str | None = None
    subject: SourceText | None = None
    body: SourceText | None = None
    call_script: SourceText | None = None
    tweet: SourceText | None = None
    topic: str | None = None


class ShareNetwork(StrEnum):
    """Where the share panel of letter pages sends a share; `copy` is its copy-link button."""

    FACEBOOK = "facebook"
    X = "x"
    EMAIL = "email"
    COPY = "copy"


@dataclass(frozen=True)
class ShareSpec:
    """A campaign's `share` key: the text and page its letter pages' share panel posts.

    Plain text, the same for everyone; None values take the defaults (the
    campaign's subject, its public page /act/<slug>).
    """

    text: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class LetterSpec:
    """The `letter` of an action campaign: Jinja texts with `target` and `subscriber`."""

    to: tuple[Chamber, ...]
    subject: SourceText
    body: SourceText
    call_script: SourceText | None = None
    tweet: SourceText | None = None
    text_code: TextCode | None = None
    topic: str | None = None  # what to pick in a contact form's topic list (plain text)
    variants: tuple[LetterVariant, ...] = ()  # by stance; members of other stances get this one


class Segment:
    """Base of the segment rules: who receives a campaign (see docs/campaigns.md)."""


@dataclass(frozen=True)
class AllOf(Segment):
    parts: tuple[Segment, ...]


@dataclass(frozen=True)
class AnyOf(Segment):
    parts: tuple[Segment, ...]


@dataclass(frozen=True)
class Not(Segment):
    part: Segment


@dataclass(frozen=True)
class TagIn(Segment):
    tags: tuple[str, ...]


@dataclass(frozen=True)
class StateIn(Segment):
    states: tuple[str, ...]


@dataclass(frozen=True)
class DistrictIn(Segment):
    districts: tuple[tuple[str, int], ...]  # (state, district); 0 is at-large


@dataclass(frozen=True)
class SourceIn(Segment):
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SignedUp(Segment):
    """Signup date (consent time, else import time) on or after `after`, before `before`."""

    after: str | None = None  # YYYY-MM-DD
    before: str | None = None
    within_days: int | None = None


class Engagement(StrEnum):
    OPENED = "opened"  # an open or a click: a click proves the message was opened
    CLICKED = "clicked"
    ACTED = "acted"  # sent a letter from the letter page


@dataclass(frozen=True)
class Engaged(Segment):
    """Opened, clicked or acted in one of the last N sent campaigns, or in the last N days."""

    what: Engagement
    last_campaigns: int | None = None
    within_days: int | None = None
    campaign: str | None = None  # the slug of the one campaign it is about


class StanceChamber(StrEnum):
    """Whose stance a `member_stance` rule asks about."""

    HOUSE = "house"  # the subscriber's House member
    SENATE = "senate"  # either of their senators
    ANY = "any"  # any of their members


@dataclass(frozen=True)
class MemberStance(Segment):
    """The subscriber's member (`chamber`) stands one of `stances` on campaign `bill_of`'s bill."""

    chamber: StanceChamber
    stances: tuple[Stance, ...]
    bill_of: str  # the slug of the campaign whose bill it is


@dataclass(frozen=True)
class Campaign:
    """A campaign file, validated. Texts keep their file lines for error messages."""

    slug: str
    path: Path
    kind: CampaignKind
    subject: SourceText
    body: SourceText
    source_sha256: str
    preheader: SourceText | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    segment: Segment | None = None
    letter: LetterSpec | None = None
    button: str | None = None
    first_name_fallback: str = "friend"
    bill: BillId | None = None
    share: ShareSpec | None = None  # what letter pages' share panel posts
    letter_campaign: str | None = None  # a follow-up's: the campaign whose letter it opens
    deadline: datetime | None = None  # timezone-aware, in the offset the file gave
    send_margin: timedelta = DEFAULT_SEND_MARGIN
    after_deadline: SourceText | None = None  # what letter pages say after the deadline
    stance_text: tuple[tuple[str, SourceText], ...] = ()  # (stance, its sentence)


@dataclass(frozen=True)
class SiteSettings:
    """The settings a message needs, from alerts.toml (see pipeline.site_settings)."""

    org_name: str
    postal_address: str
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class CompiledCampaign:
    """One campaign compiled once: subject, HTML and text with placeholders inside.

    `links[i]` is the URL behind placeholder `link.<i>`. The same subject, HTML,
    text and substitution map are what the sender hands to the delivery provider.
    """

    slug: str
    kind: CampaignKind
    subject: str
    html: str
    text: str
    source_sha256: str
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    links: tuple[str, ...] = ()
    fallbacks: tuple[tuple[str, str], ...] = ()  # (field, value used when blank)
    list_id: str | None = None  # the List-Id header's value (RFC 2919), when known

    @cached_property
    def keys(self) -> frozenset[str]:
        """Every placeholder spelling the subject, HTML or text uses."""
        found: set[str] = set()
        for part in (self.subject, self.html, self.text):
            found.update(m.group(0) for m in PLACEHOLDER_RE.finditer(part))
        return frozenset(found)

    @cached_property
    def plans(self) -> tuple[SubstitutionPlan, SubstitutionPlan, SubstitutionPlan]:
        """Subject, HTML and text cut at their placeholders, made once per campaign."""
        return (
            SubstitutionPlan.of(self.subject),
            SubstitutionPlan.of(self.html),
            SubstitutionPlan.of(self.text),
        )


@dataclass(frozen=True)
class SubstitutionPlan:
    """A text cut into literal pieces and placeholder slots, to fill by joining.

    Filling is a list copy, one assignment per slot and a join: a few
    microseconds for a whole HTML message (str.format would re-parse it).
    """

    pieces: tuple[str, ...]  # literals, with "" where a value goes
    slots: tuple[tuple[int, str], ...]  # (index in pieces, placeholder)

    @classmethod
    def of(cls, text: str) -> SubstitutionPlan:
        pieces: list[str] = []
        slots: list[tuple[int, str]] = []
        last = 0
        for match in PLACEHOLDER_RE.finditer(text):
            pieces.append(text[last : match.start()])
            slots.append((len(pieces), match.group(0)))
            pieces.append("")
            last = match.end()
        pieces.append(text[last:])
        return cls(tuple(pieces), tuple(slots))

    def fill(self, values: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by values[placeholder] (KeyError if absent)."""
        out = list(self.pieces)
        for index, key in self.slots:
            out[index] = values[key]
        return "".join(out)


@dataclass(frozen=True)
class RenderedMessage:
    """One recipient's message, as they will receive it."""

    subject: str
    html: str
    text: str
    headers: dict[str, str]


@dataclass(frozen=True)
class CampaignRecord:
    """A row of the campaigns table."""

    id: int
    slug: str
    kind: str
    subject: str
    source_sha256: str | None
    created_at: str
    send_started_at: str | None
    send_finished_at: str | None

    @property
    def readable_subject(self) -> str:
        """The subject with its per-recipient variables named in words: `[first name]`."""
        return labelled_placeholders(self.subject)

    @property
    def status(self) -> str:
        if self.send_finished_at:
            return "sent"
        if self.send_started_at:
            return "sending"
        return "draft"


@dataclass(frozen=True)
class Event:
    """One row of the events table. `at` is Unix seconds."""

    kind: str
    campaign_id: int | None
    subscriber_id: int | None
    at: int
    link_id: int | None = None
    target: str | None = None
    user_agent: str | None = None
    machine: bool = False
    provider: str | None = None  # the delivery provider that reported it, by name
    provider_event_id: str | None = None  # that provider's id of the event, unique per provider
    detail: str | None = None
    via_campaign_id: int | None = None  # a letter sent from a follow-up's email: that campaign
    late: bool = False  # a letter the subscriber said they sent after the campaign's deadline


ProviderDetail = str | int | float | bool


@dataclass(frozen=True)
class ProviderEvent:
    """One event a delivery provider reported about a message, in the project's terms.

    `campaign_id` and `subscriber_id` are the ids the message was tagged with, as
    the provider echoes them: claims that ingestion checks against the database.
    `status_change` is what the event says about the address itself (a Status:
    bounced, complained or unsubscribed), or None. `detail` holds the provider's
    own facts worth keeping, with no personal data left in them.
    """

    kind: str  # an EventKind
    provider_event_id: str
    at: int  # Unix seconds
    email: str | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None
    status_change: str | None = None
    machine: bool = False
    user_agent: str | None = None
    detail: Mapping[str, ProviderDetail] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedEvents:
    """A provider's webhook payload (or a saved copy of one), read into neutral events."""

    events: tuple[ProviderEvent, ...]
    received: int  # items in the payload
    invalid: int = 0  # items that are not events of ours: no event id, type or timestamp, a bad id
    ignored: int = 0  # events of a type the project does not keep


@dataclass
class IngestSummary:
    """What became of a batch of provider events (a webhook request or a saved file)."""

    received: int = 0
    recorded: int = 0
    duplicates: int = 0  # an event id the provider already reported: it retried
    ignored: int = 0  # an event type we do not keep, or about nobody of ours
    invalid: int = 0  # not an event of ours: no event id, type or timestamp, a bad id; skipped
    status_changes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "invalid": self.invalid,
            "status_changes": self.status_changes,
        }


@dataclass(frozen=True)
class EventTotals:
    """Counts of one kind of event (for a campaign, link, member or state).

    `human_people` is how many recipients have at least one human event, `people`
    how many have any event at all, human or machine-made (kept per campaign and
    kind only; 0 for links, members and states).
    """

    human_events: int = 0
    machine_events: int = 0
    human_people: int = 0
    people: int = 0


@dataclass(frozen=True)
class SubscriberFilter:
    """Which subscribers a list, count or export covers; None means any."""

    status: str | None = None
    tag: str | None = None
    state: str | None = None


# --------------------------------------------------------------------------
# Bills: the bill an action campaign names, and where each member stands on it

# Congress.gov's bill types, spelled as in its URLs.
BILL_TYPES = ("hr", "s", "hjres", "sjres", "hconres", "sconres", "hres", "sres")
_BILL_KEYS = ("congress", "type", "number")
_BILL_NAME_RE = re.compile(r"([a-z]+)(\d+)-(\d+)")
_BILL_SPELLINGS = "hr1234-119 or {congress: 119, type: hr, number: 1234}"


@dataclass(frozen=True)
class BillId:
    """A bill as Congress.gov names it: hr1234-119 is H.R. 1234 of the 119th Congress."""

    congress: int
    type: str  # one of BILL_TYPES
    number: int

    @property
    def name(self) -> str:
        return f"{self.type}{self.number}-{self.congress}"

    @classmethod
    def parse(cls, value: object) -> BillId:
        """A bill written `hr1234-119` or as a mapping of congress, type and number.

        Raises ValueError with a one-line message that starts with "bill".
        """
        match = _BILL_NAME_RE.fullmatch(value.strip().lower()) if isinstance(value, str) else None
        if match is not None:
            kind, number, congress = match.groups()
            return cls._checked(congress, kind, number)
        if isinstance(value, Mapping):
            unknown = [str(key) for key in value if key not in _BILL_KEYS]
            if unknown:
                raise ValueError(
                    f"bill: unknown key {unknown[0]!r} (known: {', '.join(_BILL_KEYS)})"
                )
            missing = [key for key in _BILL_KEYS if key not in value]
            if missing:
                raise ValueError(f"bill: {missing[0]} is required ({_BILL_SPELLINGS})")
            return cls._checked(value["congress"], value["type"], value["number"])
        raise ValueError(f"bill must be written like {_BILL_SPELLINGS}, not {value!r}")

    @classmethod
    def _checked(cls, congress: object, kind: object, number: object) -> BillId:
        text = kind.strip().lower() if isinstance(kind, str) else None
        if text not in BILL_TYPES:
            raise ValueError(f"bill: type must be one of {', '.join(BILL_TYPES)}, not {kind!r}")
        return cls(_whole_number("congress", congress), text, _whole_number("number", number))


def _whole_number(name: str, value: object) -> int:
    text = str(value).strip() if isinstance(value, int | str) else ""
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"bill: {name} must be a whole number of 1 or more, not {value!r}")
    return int(text)


class Stance(StrEnum):
    """Where a member of Congress stands on a campaign's bill."""

    SPONSOR = "sponsor"
    COSPONSOR = "cosponsor"  # a cosponsor now: one who withdrew is not
    SUPPORTS = "supports"
    OPPOSES = "opposes"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Sponsorship:
    """A member Congress.gov names on a bill: its sponsor or one of its cosponsors."""

    bioguide: str
    name: str  # as Congress.gov writes it: "Rep. Comer, James [R-KY-1]"
    is_sponsor: bool
    party: str | None = None
    state: str | None = None
    district: int | None = None  # None for senators, 0 for an at-large seat
    sponsorship_date: str | None = None  # YYYY-MM-DD; the sponsor's is the day of introduction
    is_original: bool = False  # cosponsored on the day the bill was introduced
    withdrawn_date: str | None = None  # YYYY-MM-DD: no longer a cosponsor since that day

    @property
    def is_current_cosponsor(self) -> bool:
        return not self.is_sponsor and self.withdrawn_date is None


@dataclass(frozen=True)
class BillDetails:
    """A bill's title and the members named on it, as Congress.gov answered."""

    bill: BillId
    title: str | None
    sponsorships: tuple[Sponsorship, ...]
