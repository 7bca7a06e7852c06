"""Geocoding subscribers: whose street address is sent, in batches, and what is kept.

`run_geocode` picks the subscribed people with a street address who need a
geocode, sends their addresses to a geocoder (geocoder/) in batches of its size,
and stores each batch's answers in one commit, their districts re-resolved in the
same commit. So a process killed mid-run loses at most the batch in flight, and
the next run does not send the finished batches again: their addresses now carry
the fingerprint they were geocoded from. A batch that fails (a timeout, an HTTP
error, a malformed answer) changes nothing; nor does an address the answer left out.

Who is sent, by default: people whose district is not `exact`, or was set by an
earlier geocode, and whose address changed since their last geocode (never
geocoded counts as changed), except people whose last geocode was of an
address they typed on their letter page, until their record's address changes.
`everyone` sends every address again; an interrupted `everyone` run is taken up
where it stopped by the next one.

Only the block, the outcome, the time and the address's fingerprint are stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from alerts.db import Database, meta_get, meta_set, utc_now, write_transaction
from alerts.db import districts as districts_db
from alerts.db import geocodes as geocodes_db
from alerts.errors import GeocoderError, LookupFailed
from alerts.models import Confidence
from alerts.targets.geocoder import AddressQuery, GeocodeAnswer, Geocoder, GeoOutcome, geocode_one

# The start of an `everyone` run that has not finished: what it stored since is not redone.
RESUME_KEY = "geocode_all_since"
SUMMARY_KEYS = ("sent", "matched", "not_matched", "ties", "failed", "skipped")

Progress = Callable[[int, int], None]  # (subscribers with a street looked at so far, of them all)


@dataclass
class GeocodeSummary:
    """What a run did; `as_dict` is the JSON of `alerts targets geocode`."""

    sent: int = 0  # addresses sent to the geocoder
    matched: int = 0
    not_matched: int = 0
    ties: int = 0
    failed: int = 0  # sent, but in a failed batch or left out of its answer
    skipped: int = 0  # with a street address, not sent (not needed, or past the limit)
    batches: int = 0
    failures: list[str] = field(default_factory=list)
    confidence: dict[str, int] = field(default_factory=dict)  # everyone's, after the run

    def as_dict(self) -> dict[str, int]:
        return {key: int(getattr(self, key)) for key in SUMMARY_KEYS}

    def count(self, answer: GeocodeAnswer) -> None:
        if answer.outcome is GeoOutcome.MATCHED:
            self.matched += 1
        elif answer.outcome is GeoOutcome.TIE:
            self.ties += 1
        else:
            self.not_matched += 1


def query_of(stored: geocodes_db.StoredAddress) -> AddressQuery:
    return AddressQuery.of(stored.id, stored.street, stored.city, stored.state, stored.zip)


def needs_geocode(
    stored: geocodes_db.StoredAddress, query: AddressQuery, *, everyone: bool, since: str | None
) -> bool:
    """Whether this address is to be sent (the rules of the module's docstring)."""
    unchanged = stored.address_sha256 == query.sha256
    if everyone:
        done = since is not None and (stored.geocoded_at or "") >= since
        return not (done and unchanged)
    if unchanged or stored.typed:
        return False  # a typed address stands until the record's own address changes
    return stored.confidence != Confidence.EXACT or stored.address_sha256 is not None


@dataclass
class _Selection:
    """Who is sent, read in one pass: the addresses to send, the others counted as skipped."""

    everyone: bool
    limit: int | None
    since: str | None
    examined: int = 0  # rows read so far
    wanted: int = 0
    complete: bool = True  # no one who needed a geocode was left out by the limit

    def queries(
        self, db: Database, ids: Sequence[int] | None, summary: GeocodeSummary
    ) -> Iterator[AddressQuery]:
        for stored in geocodes_db.addresses(db, ids):
            self.examined += 1
            query = query_of(stored)
            if not query.has_street:
                continue
            if not needs_geocode(stored, query, everyone=self.everyone, since=self.since):
                summary.skipped += 1
            elif self.limit is not None and self.wanted >= self.limit:
                summary.skipped += 1
                self.complete = False
            else:
                self.wanted += 1
                yield query


class _Call:
    """A call on a daemon thread: a run interrupted meanwhile does not wait for its answer."""

    def __init__(self, function: Callable[[list[AddressQuery]], list[GeocodeAnswer]],
                 queries: list[AddressQuery]):  # fmt: skip
        self.queries = queries
        self._answers: list[GeocodeAnswer] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[[list[AddressQuery]], list[GeocodeAnswer]]) -> None:
        try:
            self._answers = function(self.queries)
        except BaseException as exc:  # handed to the caller by answers()
            self._error = exc

    def answers(self) -> list[GeocodeAnswer]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._answers


@dataclass
class _Batches:
    """Sends batches, one in flight at a time, and stores their answers into the summary.

    A batch goes out once the one before is stored, so a process killed at any moment
    loses at most the batch in flight; while it is out, the next one is read.
    """

    db: Database
    geocoder: Geocoder
    summary: GeocodeSummary
    on_failure: Callable[[str], None] | None
    in_flight: _Call | None = None

    def send(self, queries: list[AddressQuery]) -> None:
        self.finish()
        self.summary.batches += 1
        self.summary.sent += len(queries)
        self.in_flight = _Call(self.geocoder.geocode_batch, queries)

    def finish(self) -> None:
        """Wait for the batch in flight, if any, and store its answers."""
        if self.in_flight is None:
            return
        call, self.in_flight = self.in_flight, None
        summary, queries = self.summary, call.queries
        try:
            answers = call.answers()
        except GeocoderError as exc:
            summary.failed += len(queries)
            summary.failures.append(
                f"batch {summary.batches} ({len(queries):,} addresses): {exc};"
                " nothing changed for them"
            )
            if self.on_failure is not None:
                self.on_failure(summary.failures[-1])
            return
        at = utc_now()
        by_id = {q.id: q for q in queries}
        stored = [_geocode(a, by_id[a.id], at) for a in answers if a.id in by_id]
        geocodes_db.store_geocodes(self.db, stored)
        for answer in answers:
            summary.count(answer)
        summary.failed += len(queries) - len(stored)


def run_geocode(
    db: Database,
    geocoder: Geocoder,
    *,
    everyone: bool = False,
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> GeocodeSummary:
    """Geocode who needs it (or `everyone`; at most `limit`; among `ids` if given).

    Addresses are read once, in id order, and sent as soon as a batch is full; each
    batch is asked with no transaction open, then stored in one commit.
    """
    since = _resume_point(db) if everyone and ids is None else None
    selection = _Selection(everyone, limit, since)
    summary = GeocodeSummary()
    batches = _Batches(db, geocoder, summary, on_failure)
    total = geocodes_db.address_count(db, ids)
    if progress is not None:
        progress(0, total)
    batch: list[AddressQuery] = []
    for query in selection.queries(db, ids, summary):
        batch.append(query)
        if len(batch) == geocoder.max_batch:
            batches.send(batch)
            batch = []
            if progress is not None:
                progress(selection.examined, total)
    if batch:
        batches.send(batch)
    batches.finish()
    if progress is not None:
        progress(total, total)
    if since is not None and selection.complete and not summary.failures:
        _finish_resume(db)
    summary.confidence = districts_db.district_confidence_counts(db)
    return summary


def _geocode(answer: GeocodeAnswer, query: AddressQuery, at: str) -> geocodes_db.Geocode:
    return geocodes_db.Geocode(answer.id, answer.outcome.value, answer.block, query.sha256, at)


def _resume_point(db: Database) -> str:
    """The start of the unfinished `everyone` run, or now, recorded as this run's start.

    Times have whole seconds: a new run starts on a fresh second, so what was stored
    before it is never taken for its own work.
    """
    since = meta_get(db, RESUME_KEY)
    if since:
        return since
    started = utc_now()
    while utc_now() == started:
        time.sleep(0.01)
    since = utc_now()
    with write_transaction(db):
        meta_set(db, RESUME_KEY, since)
    return since


def _finish_resume(db: Database) -> None:
    with write_transaction(db):
        meta_set(db, RESUME_KEY, "")


def geocode_typed_address(
    db: Database,
    geocoder: Geocoder,
    subscriber_id: int,
    query: AddressQuery,
) -> GeocodeAnswer:
    """Geocode one address a subscriber typed, store the answer, resolve their district.

    `query.id` must be the subscriber's id. GeocoderError (nothing stored) when the
    geocoder fails; LookupFailed for an address without a street.
    """
    if query.id != subscriber_id:
        raise ValueError(f"query {query.id} is not subscriber {subscriber_id}'s")
    if not query.has_street:
        raise LookupFailed("street: give a street address to look up")
    answer = geocode_one(geocoder, query)
    geocodes_db.store_geocodes(db, [_geocode(answer, query, utc_now())])
    return answer
