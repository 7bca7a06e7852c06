"""What any geocoder answers, in terms that name no service.

A query is one postal address with an id of ours; an answer says whether the
address matched, tied (several places fit) or did not match, and for a match
the 15-digit census block it lies in (state 2 + county 3 + tract 6 + block 4
digits). Nothing here holds coordinates: a geocoder may send them, the project
never keeps them.

The address's normal form lives here and only here: `AddressQuery.of` cleans
the fields a person typed (what a headerless CSV line cannot carry becomes a
space, runs of spaces one), and `sha256` fingerprints the cleaned, case-folded
address, so a geocode is redone when, and only when, the address changed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from alerts.errors import GeocoderError

BLOCK_GEOID = re.compile(r"[0-9]{15}")
# Commas and quotes would split or quote a field of the address file; line breaks
# and tabs would end or blur a line. None of them tells a geocoder anything.
_UNSAFE = re.compile(r'[,"\x00-\x1f\x7f]+')
_FIELD_SEPARATOR = "\x1f"  # between the fields of the fingerprinted text: never in a field
# A field made only of these cleans to nothing (str.isspace stops at U+3000). NUL,
# which SQLite's trim() cannot be given, is left out: a field of NULs alone is not blank.
BLANK = "".join(c for c in map(chr, range(1, 0x3001)) if c.isspace() or _UNSAFE.fullmatch(c))


class GeoOutcome(StrEnum):
    """What a geocoder made of an address; stored in subscribers.geo_outcome."""

    MATCHED = "matched"
    NO_MATCH = "no_match"
    TIE = "tie"  # several places fit the address equally well: no block


def clean_field(value: str | None) -> str:
    """One address field as it is sent and fingerprinted."""
    if not value:
        return ""
    if value.isascii():
        if (
            value.isprintable()  # no control character
            and "," not in value
            and '"' not in value
            and "  " not in value
            and value[0] != " " != value[-1]
        ):
            return value  # the usual case, answered without building a new string
    else:
        value = unicodedata.normalize("NFC", value)
    return " ".join(_UNSAFE.sub(" ", value).split())


@dataclass(frozen=True)
class AddressQuery:
    """One address to geocode; `id` is ours (a subscriber id) and never leaves the machine.

    The fields are cleaned (clean_field) however the query is made.
    """

    id: int
    street: str
    city: str
    state: str
    zip: str
    # The fingerprint of the address (not of the id): stored as geo_address_sha256.
    sha256: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = (self.street, self.city, self.state, self.zip)
        cleaned = tuple(map(clean_field, fields))
        if cleaned != fields:
            for name, value in zip(("street", "city", "state", "zip"), cleaned, strict=True):
                object.__setattr__(self, name, value)
        text = _FIELD_SEPARATOR.join(cleaned).casefold().encode("utf-8")
        object.__setattr__(self, "sha256", hashlib.sha256(text).hexdigest())

    @classmethod
    def of(
        cls,
        id: int,
        street: str | None,
        city: str | None = None,
        state: str | None = None,
        zip: str | None = None,
    ) -> AddressQuery:
        """The query for an address as stored or typed (a missing field is empty)."""
        return cls(id, street or "", city or "", state or "", zip or "")

    @property
    def has_street(self) -> bool:
        return bool(self.street)


@dataclass(frozen=True)
class GeocodeAnswer:
    """A geocoder's answer for the query with this id: a block only for a match."""

    id: int
    outcome: GeoOutcome
    block: str | None = None

    def __post_init__(self) -> None:
        if (self.outcome is GeoOutcome.MATCHED) != (self.block is not None):
            raise ValueError(f"answer {self.id}: a block goes with a match, and only with one")
        if self.block is not None and not (
            len(self.block) == 15 and self.block.isascii() and self.block.isdigit()
        ):
            raise ValueError(f"answer {self.id}: {self.block!r} is not a 15-digit block GEOID")


@dataclass(frozen=True)
class PreparedBatch:
    """A batch encoded for its geocoder, not yet sent: made while the batch before is out."""

    queries: Sequence[AddressQuery]
    payload: bytes


class Geocoder(Protocol):
    """A geocoding service: addresses in batches of at most `max_batch`, answers by id.

    `geocode_batch` returns an answer for each query the service answered, in
    any order; a query it left out has no answer. A timeout, an HTTP error or an
    answer it cannot read raises GeocoderError, a one-line message. It is
    `send_batch(prepare_batch(queries))`: `prepare_batch` encodes the batch (no
    network; ValueError for more than `max_batch`), `send_batch` sends it.
    """

    @property
    def max_batch(self) -> int: ...

    def prepare_batch(self, queries: Sequence[AddressQuery]) -> PreparedBatch: ...

    def send_batch(self, batch: PreparedBatch) -> list[GeocodeAnswer]: ...

    def geocode_batch(self, queries: Sequence[AddressQuery]) -> list[GeocodeAnswer]: ...


def geocode_one(geocoder: Geocoder, query: AddressQuery) -> GeocodeAnswer:
    """The answer for one address (a batch of one); GeocoderError when there is none."""
    for answer in geocoder.geocode_batch([query]):
        if answer.id == query.id:
            return answer
    raise GeocoderError("the geocoder answered nothing for the address")
