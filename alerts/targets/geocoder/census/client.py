"""A client of the Census Geocoder's batch endpoint, on urllib.

Each batch is one POST of the documented multipart form (wire.py). The ids in
the address file are the addresses' places in the batch (1, 2, 3...), not ours,
so no subscriber id leaves the machine; answers come back in any order and are
matched to the queries by that number. Nothing is retried: a timeout, an HTTP
error, a redirect or an answer that is not the documented CSV is a one-line
GeocoderError, and the caller changes nothing for that batch.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from alerts import __version__
from alerts.errors import GeocoderError
from alerts.targets.geocoder.census.wire import (
    BATCH_PATH,
    MATCH,
    MAX_BATCH,
    TIE,
    AddressRow,
    AnswerLine,
    MalformedAnswer,
    address_file,
    form_body,
    form_type,
    read_answer,
)
from alerts.targets.geocoder.provider import (
    AddressQuery,
    GeocodeAnswer,
    GeoOutcome,
    PreparedBatch,
)

DEFAULT_TIMEOUT = 600.0  # seconds; the Bureau takes minutes over a full batch
_MESSAGE_CHARS = 160
_OUTCOMES = {MATCH: GeoOutcome.MATCHED, TIE: GeoOutcome.TIE}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError: addresses go nowhere else


class CensusGeocoder:
    """The geocoder at `base_url` (the geocoder_url setting): batches of up to 10,000."""

    max_batch = MAX_BATCH

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        boundary: Callable[[], str] = lambda: uuid.uuid4().hex,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._boundary = boundary
        self._opener = urllib.request.build_opener(_NoRedirects)

    def prepare_batch(self, queries: Sequence[AddressQuery]) -> PreparedBatch:
        """The batch's address file, its lines numbered by place."""
        if len(queries) > self.max_batch:
            raise ValueError(f"{len(queries)} addresses: a batch holds at most {self.max_batch}")
        rows = [
            AddressRow(str(place), q.street, q.city, q.state, q.zip)
            for place, q in enumerate(queries, start=1)
        ]
        return PreparedBatch(tuple(queries), address_file(rows))

    def send_batch(self, batch: PreparedBatch) -> list[GeocodeAnswer]:
        if not batch.queries:
            return []
        body = self._post(batch.payload)
        try:
            lines = read_answer(body)
        except MalformedAnswer as exc:
            raise GeocoderError(f"the geocoder's answer is malformed: {exc}") from None
        if not lines:
            raise GeocoderError(f"the geocoder answered nothing for {len(batch.queries)} addresses")
        return _answers(lines, batch.queries)

    def geocode_batch(self, queries: Sequence[AddressQuery]) -> list[GeocodeAnswer]:
        return self.send_batch(self.prepare_batch(queries))

    def _post(self, file: bytes) -> bytes:
        boundary = self._boundary()
        while boundary.encode() in file:
            boundary = uuid.uuid4().hex
        request = urllib.request.Request(
            self.base_url + BATCH_PATH,
            data=form_body(file, boundary),
            headers={"Content-Type": form_type(boundary), "User-Agent": f"alerts/{__version__}"},
            method="POST",
        )
        where = f"the geocoder at {self.base_url}"
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise GeocoderError(
                    f"{where} redirected the batch (HTTP {exc.code}): check geocoder_url"
                ) from None
            raise GeocoderError(f"{where} answered HTTP {exc.code}") from None
        except TimeoutError:
            raise GeocoderError(f"{where} did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise GeocoderError(f"{where} did not answer within {self.timeout:g} s") from None
            raise GeocoderError(f"could not reach {where}: {_one_line(exc.reason)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise GeocoderError(f"could not reach {where}: {_one_line(exc)}") from None


def _answers(lines: Sequence[AnswerLine], queries: Sequence[AddressQuery]) -> list[GeocodeAnswer]:
    """Each line's answer for the query at its place in the batch; a bad id is malformed."""
    answers: dict[int, GeocodeAnswer] = {}
    size, outcomes, no_match = len(queries), _OUTCOMES, GeoOutcome.NO_MATCH
    for line in lines:
        place = int(line.id) if line.id.isascii() and line.id.isdigit() else 0
        if not 1 <= place <= size:
            raise GeocoderError(
                f"the geocoder's answer is malformed: line {line.line}: "
                f"id {line.id[:20]!r} is not one of the batch's"
            )
        if place in answers:
            raise GeocoderError(
                f"the geocoder's answer is malformed: line {line.line}: id {line.id} again"
            )
        answers[place] = GeocodeAnswer(
            queries[place - 1].id, outcomes.get(line.status, no_match), line.block
        )
    return list(answers.values())


def _one_line(reason: object) -> str:
    flat = " ".join(str(reason).split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"
