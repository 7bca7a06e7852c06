"""Geocoding behind a seam: from a street address to the census block it lies in.

provider.py holds what any geocoder answers (AddressQuery, GeocodeAnswer, the
Geocoder protocol) and the address's one normal form; census/ holds everything
that names the Census Bureau's service: its wire format, its client and a local
stand-in. Callers get a geocoder from `configured_geocoder` and speak only the
protocol.
"""

from __future__ import annotations

from alerts.targets.geocoder.census.client import DEFAULT_TIMEOUT, CensusGeocoder
from alerts.targets.geocoder.provider import (
    BLANK,
    AddressQuery,
    GeocodeAnswer,
    Geocoder,
    GeoOutcome,
    PreparedBatch,
    geocode_one,
)

__all__ = [
    "BLANK",
    "DEFAULT_TIMEOUT",
    "OFF_MESSAGE",
    "AddressQuery",
    "GeoOutcome",
    "GeocodeAnswer",
    "Geocoder",
    "PreparedBatch",
    "configured_geocoder",
    "geocode_one",
]

OFF_MESSAGE = "Geocoding is off (geocoder_url is empty): no address was sent."


def configured_geocoder(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Geocoder | None:
    """The geocoder at the geocoder_url setting; None when it is empty (geocoding is off)."""
    if not url.strip():
        return None
    return CensusGeocoder(url.strip(), timeout=timeout)
