"""Plain data shared across layers. No internal imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    first_name: str | None = None
    website: str | None = None


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
    # From SendGrid's event webhook.
    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCE = "bounce"
    DROPPED = "dropped"
    SPAMREPORT = "spamreport"
    SG_OPEN = "sg_open"
    SG_CLICK = "sg_click"
    SG_UNSUBSCRIBE = "sg_unsubscribe"
    GROUP_UNSUBSCRIBE = "group_unsubscribe"
    GROUP_RESUBSCRIBE = "group_resubscribe"
