"""A campaign's public letter page, /act/<slug>: the letter page for someone not on the list.

The visitor types their name, email and address; the page is then the very
page a subscriber gets (page.py), built for a `Subscriber` that is never
stored, with the members found from what they typed (`visitor_targets`). What
they do there is stored apart from subscribers (db/visitors.py): they are
never mailed a campaign, and their letters count in the campaign's stats.

The visitor's details travel in a signed cookie (`visitor_cookie`), never in
a URL: for the browser session, or for REMEMBER_DAYS when they tick "Remember
me on this device".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from alerts.db import Database, rate_limits
from alerts.db import campaigns as campaigns_db
from alerts.db import visitors as visitors_db
from alerts.db.visitors import Visitor
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.page import LetterPage, page_for
from alerts.models import Campaign, CampaignKind, Subscriber, Targets
from alerts.subscribers.normalise import email_key
from alerts.targets import lookup as targets
from alerts.targets.geocoder.provider import BLOCK_GEOID

COOKIE_NAME = "alerts_visitor"
COOKIE_PATH = "/act"
REMEMBER_DAYS = 90
SESSION_HOURS = 12  # a cookie without "Remember me" also stops working after this
_COOKIE_LABEL = b"alerts/visitor-cookie/v1"
_OUTCOME_LABEL = b"alerts/act-outcome/v1"
_MAC_BYTES = 16
TARGETS_SECONDS = 60.0
TARGETS_KEPT = 10_000

# What the visitor types, in the order the form asks it (and the cookie keeps it).
FIELDS = ("first_name", "last_name", "email", "street", "city", "state", "zip")

# "Email me a copy" from a public page goes to whatever address was typed: at most
# so many per address and per client address in each window (bucket, uses, seconds).
COPY_LIMITS_PER_EMAIL = (("act.copy.email.hour", 3, 3600), ("act.copy.email.day", 10, 86400))
COPY_LIMITS_PER_CLIENT = (("act.copy.client.hour", 20, 3600),)


# --------------------------------------------------------------------------
# The visitor


def visitor_from(email: str, fields: Mapping[str, str]) -> Visitor:
    """The visitor from a checked details form: the normalised address and the other fields."""
    return Visitor(
        email=email,
        email_key=email_key(email),
        first_name=fields.get("first_name") or None,
        last_name=fields.get("last_name") or None,
        street=fields.get("street") or None,
        city=fields.get("city") or None,
        state=fields.get("state") or None,
        zip=fields.get("zip") or None,
    )


def form_values(visitor: Visitor | None) -> dict[str, str]:
    """The details form filled in from remembered details, or empty."""
    return {name: (getattr(visitor, name) or "") if visitor else "" for name in FIELDS}


# --------------------------------------------------------------------------
# Signed values: the visitor's cookie, the outcome key


def _key(server_key: bytes, label: bytes) -> bytes:
    return hmac.digest(server_key, label, "sha256")


def _mac(key: bytes, payload: bytes) -> str:
    mac = hmac.digest(key, payload, "sha256")[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _unpadded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Remembered:
    """What the visitor's cookie holds: their details, the House district they picked,
    and the census block of their street address (letters/address.py)."""

    visitor: Visitor
    remember: bool  # kept for REMEMBER_DAYS, not only for the browser session
    expires: int  # Unix seconds
    choice: int | None = None
    block: str | None = None

    def with_choice(self, choice: int | None) -> Remembered:
        return replace(self, choice=choice)

    def with_block(self, block: str | None) -> Remembered:
        return replace(self, block=block)

    @property
    def max_age(self) -> int | None:
        """The cookie's Max-Age: None for a session cookie."""
        return REMEMBER_DAYS * 86400 if self.remember else None


def remembered(visitor: Visitor, *, remember: bool, now: float) -> Remembered:
    """A new cookie's contents for a visitor who just gave their details."""
    lasts = REMEMBER_DAYS * 86400 if remember else SESSION_HOURS * 3600
    return Remembered(visitor, remember, int(now) + lasts)


def visitor_cookie(server_key: bytes, held: Remembered) -> str:
    """The cookie's value: the details as compact JSON and an HMAC of them, URL-safe base64."""
    person = held.visitor
    payload = json.dumps(
        {
            "d": [getattr(person, name) or "" for name in FIELDS],
            "r": int(held.remember),
            "e": held.expires,
            "c": held.choice,
            "b": held.block,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    return f"{_unpadded(payload)}.{_mac(_key(server_key, _COOKIE_LABEL), payload)}"


def read_visitor_cookie(server_key: bytes, value: str, now: float) -> Remembered | None:
    """The cookie's contents, or None when it is missing, tampered with, malformed or expired."""
    body, _, mac = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(mac, _mac(_key(server_key, _COOKIE_LABEL), payload)):
        return None
    try:
        return _remembered_from(json.loads(payload.decode("utf-8")), now)
    except (ValueError, TypeError, KeyError):
        return None


def _remembered_from(data: dict[str, Any], now: float) -> Remembered | None:
    values = data["d"]
    if len(values) != len(FIELDS) or not all(isinstance(v, str) for v in values):
        return None
    details = dict(zip(FIELDS, values, strict=True))
    expires, choice, block = int(data["e"]), data["c"], data.get("b")
    if expires < now or not details["email"] or not (choice is None or isinstance(choice, int)):
        return None
    if not (block is None or (isinstance(block, str) and BLOCK_GEOID.fullmatch(block))):
        return None
    visitor = visitor_from(details["email"], details)
    return Remembered(visitor, bool(data["r"]), expires, choice, block)


def outcome_key(server_key: bytes) -> bytes:
    """The key that signs public pages' `done` outcomes (letters/outcomes.py).

    Apart from subscribers' pages', so that no outcome of one is valid on the other.
    """
    return _key(server_key, _OUTCOME_LABEL)


# --------------------------------------------------------------------------
# Campaigns, the page, and what the visitor does there (writer jobs)


def public_campaign(db: Database, letters: LetterCampaigns, slug: str) -> Campaign | None:
    """The action campaign behind /act/<slug>, or None (no such file, not an action, sent
    as another kind)."""
    campaign = letters.by_slug(slug, warn_gone=False)
    if campaign is None or campaign.letter is None:
        return None
    record = campaigns_db.campaign_record(db, slug)
    if record is not None and record.kind != CampaignKind.ACTION:
        return None
    return campaign


def campaign_id(db: Database, campaign: Campaign) -> int:
    """The campaign's id, registering a campaign never sent yet (a writer job), with its
    deadline, so that its stats can split the letters at it."""
    record = campaigns_db.campaign_record(db, campaign.slug)
    if record is not None:
        return record.id
    registered = campaigns_db.register_campaign(
        db, campaign.slug, str(campaign.kind), campaign.subject.text, campaign.source_sha256
    )
    campaigns_db.record_deadline(db, registered, campaign.deadline)
    return registered


@dataclass(frozen=True)
class PublicIds:
    """Whose page it is: the campaign's and the visitor's ids."""

    campaign_id: int
    visitor_id: int


def record_visit(db: Database, campaign: Campaign, visitor: Visitor, at: float) -> PublicIds:
    """Store the visitor's details and count a view of the campaign's page (a writer job)."""
    ids = visitor_ids(db, campaign, visitor)
    visitors_db.record_visit(db, ids.campaign_id, ids.visitor_id, int(at))
    return ids


def visitor_ids(db: Database, campaign: Campaign, visitor: Visitor) -> PublicIds:
    """The ids of the campaign and the visitor, storing both if new (a writer job)."""
    return PublicIds(campaign_id(db, campaign), visitors_db.store_visitor(db, visitor))


def record_sent(db: Database, page: LetterPage, bioguide: str, at: float) -> bool:
    """Record the visitor's "I sent it" to one of the page's members; True only the first
    time. Late once the action has closed, as a subscriber's (actions.record_sent)."""
    return visitors_db.record_letter(
        db, page.campaign_id, page.subscriber_id, bioguide, int(at), late=page.closed
    )


def visitor_targets(
    db: Database, visitor: Visitor, choice: int | None, block: str | None = None
) -> Targets:
    """The visitor's members of Congress: from their pick, the census block of their
    street address (letters/address.py), or their ZIP and state, in that order."""
    return targets.targets_for_address(db, visitor.zip, visitor.state, choice, block)


class VisitorTargets:
    """visitor_targets, each answer kept TARGETS_SECONDS: a ZIP's lookup costs a few ms,
    and visitors of one page share ZIPs. A reloaded roster or map shows within that time."""

    def __init__(self, seconds: float = TARGETS_SECONDS, size: int = TARGETS_KEPT) -> None:
        self.seconds, self.size = seconds, size
        self._kept: dict[tuple[str | None, ...], tuple[float, Targets]] = {}

    def get(
        self, db: Database, visitor: Visitor, choice: int | None, block: str | None = None
    ) -> Targets:
        key = (visitor.zip, visitor.state, str(choice), block)  # what visitor_targets reads
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1]
        if len(self._kept) >= self.size:
            self._kept.clear()
        found = visitor_targets(db, visitor, choice, block)
        self._kept[key] = (now, found)
        return found


def as_person(visitor: Visitor, visitor_id: int) -> Subscriber:
    """The visitor as the letter page and its copies read a person (never stored as one)."""
    return Subscriber(
        id=visitor_id,
        email=visitor.email,
        first_name=visitor.first_name,
        last_name=visitor.last_name,
        street=visitor.street,
        city=visitor.city,
        state=visitor.state,
        zip=visitor.zip,
    )


def public_page(
    db: Database,
    letters: LetterCampaigns,
    campaign: Campaign,
    ids: PublicIds,
    held: Remembered,
    members: VisitorTargets,
) -> LetterPage:
    """The letter page of a visitor: the page a subscriber gets, for what they typed."""
    found = members.get(db, held.visitor, held.choice, held.block)
    sent = visitors_db.letters_sent(db, ids.campaign_id, ids.visitor_id)
    person = as_person(held.visitor, ids.visitor_id)
    return page_for(db, letters, campaign, ids.campaign_id, person, found, sent)


class PublicAllowance:
    """A visitor's copies: counted per typed address and per client address (db/rate_limits).

    A copy that could not be sent still counts: fixed windows give nothing back.
    """

    def __init__(self, email_key: str, client: str | None, now: float) -> None:
        self.limits = [(bucket, email_key, n, s) for bucket, n, s in COPY_LIMITS_PER_EMAIL]
        if client:
            self.limits += [(bucket, client, n, s) for bucket, n, s in COPY_LIMITS_PER_CLIENT]
        self.now = int(now)

    def reserve(self, db: Database) -> int:
        for bucket, key, most, seconds in self.limits:
            if not rate_limits.take(db, bucket, key, most, seconds, now=self.now):
                return seconds - self.now % seconds
        return 0

    def release(self, db: Database) -> None:
        return None
