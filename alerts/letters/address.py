"""Finding a letter writer's House district from the street address they type.

Where a letter page cannot name the subscriber's representative (their ZIP code
spans several districts, or the district is unknown, as while a redrawn state's
map is being updated), it offers "Enter your street address". The server sends
that one address to the geocoder (a batch of one through targets/geocoder/),
stores what came back on the subscriber (the block or why there is none, the
time and the address's fingerprint: db/geocodes.py), keeps the typed fields
their record had none of, and resolves their district again (db/districts.py):
a block in a state whose block file is for the roster's Congress makes the
district exact, and an earlier pick among the ZIP's districts gives way to it.
A visitor of a public page (/act/<slug>) is looked up the same way; nothing is
stored for them but the block, in their own signed cookie (letters/public.py).

Each lookup counts against limits per subscriber (or typed email address) and
per client address (db/rate_limits.py). The typed address goes to the geocoder
and nowhere else: never into a URL, a log or a provider's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from alerts.db import Database, rate_limits, utc_now
from alerts.db import blocks as blocks_db
from alerts.db import districts as districts_db
from alerts.db import geocodes as geocodes_db
from alerts.db import subscribers as subscribers_db
from alerts.db.visitors import Visitor
from alerts.errors import GeocoderError
from alerts.letters.copies import Submit
from alerts.letters.page import HouseLookup, LetterPage
from alerts.models import DistrictFlag, Subscriber
from alerts.subscribers.normalise import InvalidValue, clean_text, normalise_state, normalise_zip
from alerts.targets import districts
from alerts.targets.geocoder import AddressQuery, GeocodeAnswer, Geocoder, GeoOutcome, geocode_one

# A person waits for the page: the geocoder gets this long to answer one address.
LOOKUP_TIMEOUT = 10.0  # seconds
# Lookups allowed in each fixed window: (bucket, uses, seconds). A failed lookup counts too.
LIMITS_PER_SUBSCRIBER = (
    ("address.subscriber.hour", 5, 3600),
    ("address.subscriber.day", 20, 86400),
)
LIMITS_PER_VISITOR = (("address.visitor.hour", 5, 3600),)  # by the email address typed
LIMITS_PER_CLIENT = (("address.client.hour", 30, 3600),)
STREET_LIMIT = 200  # characters
CITY_LIMIT = 100

Limit = tuple[str, str, int, int]  # bucket, key, uses, seconds


class Lookup(StrEnum):
    """What came of a typed address."""

    FOUND = "found"  # the district is now exact, from the address
    OFF = "off"  # geocoding is off (geocoder_url is empty)
    DOWN = "down"  # the geocoder timed out, failed, or answered what cannot be read
    NO_MATCH = "no_match"
    TIE = "tie"
    NO_BLOCKS = "no_blocks"  # a match, but no block file of the roster's Congress has it
    LIMITED = "limited"
    INVALID = "invalid"  # the form: a field is missing or wrong

    @property
    def status(self) -> int:
        """The HTTP status of the page that says so."""
        return _STATUSES.get(self, 200)


REASONS = {
    Lookup.OFF: "Street addresses cannot be looked up on this site.",
    Lookup.DOWN: "The address lookup did not answer just now: please try again later.",
    Lookup.NO_MATCH: "We could not find that address: check the street, city, state and ZIP code.",
    Lookup.TIE: "That address fits more than one place, so it cannot tell us your district.",
    Lookup.NO_BLOCKS: (
        "We found your address, but cannot yet tell House districts from addresses there."
    ),
    Lookup.LIMITED: "You have looked up several addresses already: please try again in an hour.",
}
_STATUSES = {Lookup.INVALID: 422, Lookup.LIMITED: 429, Lookup.DOWN: 503, Lookup.OFF: 503}


@dataclass(frozen=True)
class LookupResult:
    lookup: Lookup
    reason: str | None = None  # one line for the page; None when found

    @classmethod
    def of(cls, lookup: Lookup, reason: str | None = None) -> LookupResult:
        return cls(lookup, reason or REASONS.get(lookup))


@dataclass(frozen=True)
class TypedAddress:
    """The address form's fields, as typed (cleaned) or as the record holds them."""

    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""

    @classmethod
    def prefilled(cls, person: Subscriber | Visitor) -> TypedAddress:
        """The form as it opens: what the record holds (or the visitor typed)."""
        return cls(person.street or "", person.city or "", person.state or "", person.zip or "")

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TypedAddress:
        return cls(
            *(clean_text(form.get(name, ""))[:1000] for name in ("street", "city", "state", "zip"))
        )

    def checked(self) -> TypedAddress:
        """The address, state and ZIP in their normal forms; InvalidValue names a bad field."""
        if not self.street:
            raise InvalidValue("Street address: enter the number and street where you live.")
        if len(self.street) > STREET_LIMIT:
            raise InvalidValue(f"Street address: at most {STREET_LIMIT} characters.")
        if len(self.city) > CITY_LIMIT:
            raise InvalidValue(f"City: at most {CITY_LIMIT} characters.")
        try:
            state = normalise_state(self.state) if self.state else ""
        except InvalidValue:
            raise InvalidValue("State: write a US state or its two-letter code.") from None
        try:
            zip_code = normalise_zip(self.zip) if self.zip else ""
        except InvalidValue:
            raise InvalidValue("ZIP code: write a 5-digit US ZIP code.") from None
        return TypedAddress(self.street, self.city, state, zip_code)

    def query(self, query_id: int) -> AddressQuery:
        return AddressQuery.of(query_id, self.street, self.city, self.state, self.zip)

    def fields(self) -> dict[str, str]:
        return {"street": self.street, "city": self.city, "state": self.state, "zip": self.zip}


def offered(page: LetterPage, choosing: bool) -> bool:
    """Whether the page offers the address form: the House member is not known for sure."""
    if not page.available or page.thanked:
        return False
    return page.house in (HouseLookup.CHOOSE, HouseLookup.UNKNOWN) or (
        choosing and bool(page.candidates)
    )


@dataclass(frozen=True)
class AddressSection:
    """The page's "Enter your street address": its form (None: geocoding is off), a reason."""

    form: TypedAddress | None
    reason: str | None = None


def section(
    page: LetterPage,
    *,
    choosing: bool,
    geocoding: bool,
    typed: TypedAddress | None = None,
    reason: str | None = None,
) -> AddressSection | None:
    """What the page shows of the address form: after a lookup, its reason and the typed
    address; otherwise the form filled from the record, where it is offered."""
    form = typed or TypedAddress.prefilled(page.subscriber)
    if reason is not None:
        return AddressSection(form if geocoding else None, reason)
    if geocoding and offered(page, choosing):
        return AddressSection(form)
    return None


# --------------------------------------------------------------------------
# Limits


def subscriber_limits(subscriber_id: int, client: str | None) -> list[Limit]:
    return _limits(LIMITS_PER_SUBSCRIBER, f"subscriber:{subscriber_id}", client)


def visitor_limits(email_key: str, client: str | None) -> list[Limit]:
    return _limits(LIMITS_PER_VISITOR, email_key, client)


def _limits(own: Sequence[tuple[str, int, int]], key: str, client: str | None) -> list[Limit]:
    limits = [(bucket, key, uses, seconds) for bucket, uses, seconds in own]
    if client:
        limits += [(bucket, client, uses, seconds) for bucket, uses, seconds in LIMITS_PER_CLIENT]
    return limits


def within_limits(db: Database, limits: Sequence[Limit]) -> bool:
    """Count one lookup against each limit (a writer job); False at the first one exceeded."""
    return all(
        rate_limits.take(db, bucket, key, most, seconds) for bucket, key, most, seconds in limits
    )


# --------------------------------------------------------------------------
# Looking up


def geocode(geocoder: Geocoder, query: AddressQuery) -> GeocodeAnswer | None:
    """The geocoder's answer for one address (it blocks); None when the geocoder failed."""
    try:
        return geocode_one(geocoder, query)
    except GeocoderError:
        return None  # its message names the geocoder, never the address; nothing to log


def store_lookup(
    db: Database, subscriber_id: int, typed: TypedAddress, answer: GeocodeAnswer
) -> bool:
    """Store a subscriber's typed lookup and resolve their district (a writer job).

    The typed fields their record lacks are kept. A block that gives a district
    replaces their earlier pick. True when their district now comes from the address.
    """
    subscribers_db.fill_missing_address(db, subscriber_id, typed.fields())
    located = _located(db, answer)
    if located and districts_db.subscriber_district(db, subscriber_id).choice is not None:
        districts.forget_district_choice(db, subscriber_id)
    sha256 = typed.query(subscriber_id).sha256
    geocode = geocodes_db.Geocode(
        subscriber_id, answer.outcome.value, answer.block, sha256, utc_now(), typed=True
    )
    geocodes_db.store_geocodes(db, [geocode])
    flags = districts_db.subscriber_district(db, subscriber_id).resolved.flags
    return DistrictFlag.ADDRESS in flags


def look_up_subscriber(
    submit: Submit,
    geocoder: Geocoder | None,
    subscriber_id: int,
    form: Mapping[str, str],
    client: str | None,
) -> LookupResult:
    """The whole lookup of an address a subscriber typed; blocks: run it off the event loop.

    `submit` runs writer jobs (the server's group committer) and returns their futures.
    """
    try:
        typed = TypedAddress.from_form(form).checked()
    except InvalidValue as exc:
        return LookupResult(Lookup.INVALID, str(exc))
    if geocoder is None:
        return LookupResult.of(Lookup.OFF)
    limits = subscriber_limits(subscriber_id, client)
    if not submit(lambda db: within_limits(db, limits)).result():
        return LookupResult.of(Lookup.LIMITED)
    answer = geocode(geocoder, typed.query(subscriber_id))
    if answer is None:
        return LookupResult.of(Lookup.DOWN)
    found: bool = submit(lambda db: store_lookup(db, subscriber_id, typed, answer)).result()
    return LookupResult.of(Lookup.FOUND if found else _not_found(answer))


@dataclass(frozen=True)
class VisitorLookup:
    """What came of a visitor's street: the census block for their cookie, and the lookup."""

    block: str | None
    lookup: Lookup | None = None  # None: no street was typed


def look_up_visitor(
    submit: Submit,
    geocoder: Geocoder | None,
    email_key: str,
    typed: TypedAddress,
    client: str | None,
) -> VisitorLookup:
    """The census block of a visitor's address, or None (no street, off, limited, not found),
    and what came of the lookup, FOUND when the block gives a district.

    Nothing is stored but the count against the limits; blocks: run it off the event loop.
    """
    if not typed.street:
        return VisitorLookup(None)
    if geocoder is None:
        return VisitorLookup(None, Lookup.OFF)
    limits = visitor_limits(email_key, client)
    if not submit(lambda db: within_limits(db, limits)).result():
        return VisitorLookup(None, Lookup.LIMITED)
    answer = geocode(geocoder, typed.query(0))
    if answer is None:
        return VisitorLookup(None, Lookup.DOWN)
    found: bool = submit(lambda db: _located(db, answer)).result()
    return VisitorLookup(answer.block, Lookup.FOUND if found else _not_found(answer))


def visitor_section(
    page: LetterPage, *, choosing: bool, lookup: Lookup | None
) -> AddressSection | None:
    """What a public page shows of its visitor's street: the reason it gave no district,
    as a subscriber's page says it, where that page would offer the address form."""
    reason = REASONS.get(lookup) if lookup is not None else None
    if reason is None or not offered(page, choosing):
        return None
    return section(page, choosing=choosing, geocoding=False, reason=reason)


def _located(db: Database, answer: GeocodeAnswer) -> bool:
    """Whether the geocoder's block is in a block file: then it gives the district."""
    return answer.block is not None and blocks_db.block_district(db, answer.block) is not None


def _not_found(answer: GeocodeAnswer) -> Lookup:
    if answer.outcome is GeoOutcome.TIE:
        return Lookup.TIE
    if answer.outcome is GeoOutcome.NO_MATCH:
        return Lookup.NO_MATCH
    return Lookup.NO_BLOCKS
