"""Geocoding subscribers: whose street address is sent, in batches, and what is kept.

`run_geocode` picks the subscribed people with a street address who need a
geocode, sends their addresses to a geocoder (geocoder/) in batches of its size,
keeps each batch's answers in a journal as they arrive, and stores them in one
commit, their districts re-resolved in the same commit, while the next batch is
out. So a process killed mid-run loses at most the batch in flight (kept answers
are stored at the next start), and the next run does not send the finished
batches again: their addresses now carry the fingerprint they were geocoded from.
A batch that fails (a timeout, an HTTP error, a malformed answer) changes nothing;
nor does an address the answer left out.

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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from alerts.db import Database, meta_get, meta_set, utc_now, write_transaction
from alerts.db import districts as districts_db
from alerts.db import geocodes as geocodes_db
from alerts.errors import GeocoderError, LookupFailed
from alerts.targets.geocoder import (
    BLANK,
    AddressQuery,
    GeocodeAnswer,
    Geocoder,
    GeoOutcome,
    PreparedBatch,
    geocode_one,
)

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


@dataclass
class _Selection:
    """Who is sent, read in one pass, in id order, in batches of the geocoder's size.

    The database leaves out, by default, those who never need a geocode (geocodes.py
    _MAY_NEED); of the others, those whose address changed since their last geocode
    are sent. `examined_up_to` is the last id read.
    """

    everyone: bool
    limit: int | None
    since: str | None
    size: int
    wanted: int = 0
    complete: bool = True  # no one who needed a geocode was left out by the limit
    examined_up_to: int = -1

    def batches(self, db: Database, ids: Sequence[int] | None) -> Iterator[list[AddressQuery]]:
        batch: list[AddressQuery] = []
        for query in self._wanted(db, ids):
            batch.append(query)
            if len(batch) == self.size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _wanted(self, db: Database, ids: Sequence[int] | None) -> Iterator[AddressQuery]:
        pages = geocodes_db.candidates(db, ids, blank=BLANK, everyone=self.everyone)
        for page in pages:
            for id, street, city, state, zip_code, sha256, geocoded_at in page:
                query = AddressQuery.of(id, street, city, state, zip_code)
                if not query.has_street or not self._needs(query, sha256, geocoded_at):
                    continue
                if self.limit is not None and self.wanted >= self.limit:
                    self.complete = False
                    return
                self.wanted += 1
                self.examined_up_to = id
                yield query
            self.examined_up_to = page[-1][0]

    def _needs(self, query: AddressQuery, sha256: str | None, geocoded_at: str | None) -> bool:
        """Whether this candidate is sent (the rules of the module's docstring)."""
        unchanged = sha256 == query.sha256
        if not self.everyone:
            return not unchanged
        done = self.since is not None and (geocoded_at or "") >= self.since
        return not (done and unchanged)


class _Call:
    """A call on a daemon thread: a run interrupted meanwhile does not wait for its answer."""

    def __init__(self, geocoder: Geocoder, batch: PreparedBatch):
        self.batch = batch
        self._answers: list[GeocodeAnswer] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(geocoder,), daemon=True)
        self._thread.start()

    def _run(self, geocoder: Geocoder) -> None:
        try:
            self._answers = geocoder.send_batch(self.batch)
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

    A batch's answers are kept in the journal (one small commit) the moment they
    arrive; then the next batch goes out, and the answers are stored while it is
    out. So a process killed at any moment loses at most the batch in flight: kept
    answers are stored at the next run's start. While a batch is out, the WAL is
    also checkpointed and the next batch is read and encoded.
    """

    db: Database
    geocoder: Geocoder
    summary: GeocodeSummary
    on_failure: Callable[[str], None] | None
    in_flight: _Call | None = None
    kept: tuple[int, list[geocodes_db.GeocodeRow]] | None = None  # answered, not yet stored

    def send(self, batch: PreparedBatch) -> None:
        self._keep_answers()
        self.summary.batches += 1
        self.summary.sent += len(batch.queries)
        self.in_flight = _Call(self.geocoder, batch)
        self._store_kept()
        geocodes_db.checkpoint(self.db)

    def finish(self) -> None:
        """Wait for the batch in flight, if any, and store every answer."""
        self._keep_answers()
        self._store_kept()

    def _store_kept(self) -> None:
        if self.kept is not None:
            journal_id, rows = self.kept
            geocodes_db.store_journaled(self.db, journal_id, rows)
            self.kept = None

    def _keep_answers(self) -> None:
        """Wait for the batch in flight, if any, and keep its answers in the journal."""
        if self.in_flight is None:
            return
        call, self.in_flight = self.in_flight, None
        summary, queries = self.summary, call.batch.queries
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
        fingerprints = {q.id: q.sha256 for q in queries}
        rows = [
            (a.id, a.block, str(a.outcome), fingerprints[a.id], at, 0)
            for a in answers
            if a.id in fingerprints
        ]
        self.kept = (geocodes_db.journal_answers(self.db, rows), rows)
        outcomes = Counter(row[2] for row in rows)  # the outcomes' values, plain strings
        summary.matched += outcomes[GeoOutcome.MATCHED.value]
        summary.ties += outcomes[GeoOutcome.TIE.value]
        summary.not_matched += outcomes[GeoOutcome.NO_MATCH.value]
        summary.failed += len(queries) - len(rows)


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
    batch is asked with no transaction open, then stored in one commit. Whoever has
    a street and is not sent is skipped.
    """
    for journal_id, rows in geocodes_db.journaled(db):  # a killed run's last answers
        geocodes_db.store_journaled(db, journal_id, rows)
    since = _resume_point(db) if everyone and ids is None else None
    selection = _Selection(everyone, limit, since, geocoder.max_batch)
    summary = GeocodeSummary()
    batches = _Batches(db, geocoder, summary, on_failure)
    total = geocodes_db.address_count(db, ids, blank=BLANK)
    if progress is not None:
        progress(0, total)
    with geocodes_db.checkpoints_when_asked(db):
        for batch in selection.batches(db, ids):
            batches.send(geocoder.prepare_batch(batch))
            if progress is not None and len(batch) == geocoder.max_batch:
                up_to = selection.examined_up_to
                progress(geocodes_db.address_count(db, ids, blank=BLANK, up_to=up_to), total)
        batches.finish()
    summary.skipped = max(total - summary.sent, 0)
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
