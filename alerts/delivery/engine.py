"""The send engine: it works through a campaign's send ledger with a delivery provider.

A run claims a batch of pending recipients (committed as in_flight BEFORE its
request goes out), has the caller build the batch's messages for them, hands
them to the provider from one of several worker threads, and commits what
became of each recipient: sent (with the provider's message id), failed (with
the provider's reason), unknown (the request went out but no answer came back,
so the provider may have accepted it) or back to pending (it never reached the
provider). A run that dies leaves at most the batches that were in flight; the
next run turns them into unknown and sends only to pending recipients, so
nobody gets the same campaign twice.

What the provider's answers make the engine do: a rate limit waits until it
resets (or backs off exponentially with jitter); server errors and requests
that never went out retry with backoff up to `retries` times, then the run
stops with the batch pending; a rejection naming recipients marks only those
failed and sends the rest again; a request too large is split in halves; a
refused key stops at once. The engine knows no provider's wire format: see
provider.py.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from alerts.db import Database, write_transaction
from alerts.db import ledger as ledger_db
from alerts.delivery.provider import (
    RETRYABLE,
    UNSUPPORTED_ADDRESS,
    AnswerKind,
    Batch,
    BatchLimits,
    DeliveryProvider,
    ProviderAnswer,
    SendSettings,
)
from alerts.errors import SendAuthError, SendBusy, SendError
from alerts.models import DeliveryState, SendSummary, Subscriber
from alerts.subscribers.normalise import email_key, same_person

log = logging.getLogger(__name__)

BatchBuilder = Callable[[list[Subscriber]], Batch]
Progress = Callable[[int, int], None]  # (recipients done this run, recipients to do)


# --------------------------------------------------------------------------
# Pacing: the rate cap and the provider's rate limit, shared by every worker


class Throttle:
    """Spaces requests so messages/second stay under `rate`; a rate limit pauses every worker."""

    def __init__(self, rate: float | None, stop: threading.Event):
        self.rate = rate
        self.stop = stop
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def wait_turn(self, messages: int) -> bool:
        """Sleep until `messages` may go out; False when the run is stopping."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._paused_until)
            if self.rate:
                start = max(start, self._next_start)
                self._next_start = start + messages / self.rate
        if start > now:
            return not self.stop.wait(start - now)
        return not self.stop.is_set()


# --------------------------------------------------------------------------
# One batch: retries, splitting, and the fate of each recipient


@dataclass
class BatchOutcome:
    sent: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    stop: SendError | None = None

    @property
    def done(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.unknown)


class _Stop(Exception):
    """Carries the error that ends the run out of the retry loop."""

    def __init__(self, error: SendError):
        self.error = error


class _Halted(SendError):
    """A worker gave up because the run was already stopping for another reason."""

    def __init__(self) -> None:
        super().__init__("the send was stopped")


class Deliverer:
    """Hands batches to the provider with retries and backoff; shared by a run's workers."""

    def __init__(self, provider: DeliveryProvider, settings: SendSettings, stop: threading.Event):
        self.provider = provider
        self.title = provider.limits.provider
        self.settings = settings
        self.stop = stop
        self.throttle = Throttle(settings.rate, stop)

    def post(self, batch: Batch) -> ProviderAnswer:
        """Send until an answer that is not worth retrying; raises _Stop when giving up."""
        for attempt in range(self.settings.retries + 1):
            if not self.throttle.wait_turn(len(batch.recipients)):
                raise _Stop(_Halted())
            answer = self.provider.send_batch(batch, self.settings)
            if answer.kind not in RETRYABLE:
                return answer
            if attempt == self.settings.retries:
                break
            delay = self._delay(answer, attempt)
            log.warning("%s; retrying in %.1f s", answer.detail, delay)
            if answer.kind is AnswerKind.RATE_LIMITED:
                self.throttle.pause(delay)
            elif self.stop.wait(delay):
                raise _Stop(_Halted())
        raise _Stop(
            SendError(
                f"{self.title} still failing after {self.settings.retries + 1} attempts "
                f"({answer.detail}); the recipients not yet sent stay pending: "
                "run the send again to continue"
            )
        )

    def _delay(self, answer: ProviderAnswer, attempt: int) -> float:
        if answer.kind is AnswerKind.RATE_LIMITED and answer.retry_at is not None:
            wait = answer.retry_at - time.time()
            if wait > self.settings.max_rate_limit_wait:
                when = datetime.fromtimestamp(answer.retry_at, UTC).strftime("%H:%M:%S UTC")
                raise _Stop(
                    SendError(
                        f"{self.title}'s rate limit resets at {when}; the recipients not yet "
                        "sent stay pending: run the send again after that"
                    )
                )
            if wait > 0:
                return wait + random.uniform(0, 0.25)  # spread the workers' retries
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def deliver(self, batch: Batch) -> BatchOutcome:
        """Send one claimed batch, splitting it as the provider's answers require."""
        outcome = BatchOutcome()
        parts = [batch]
        current: Batch | None = None
        try:
            while parts:
                current = parts.pop()
                if self.stop.is_set():
                    outcome.released += _recipient_ids(current)
                    continue
                parts += self._settle(current, self.post(current), outcome)
        except _Stop as stop:
            left = [current, *parts] if current is not None else parts
            outcome.released += [i for part in left for i in _recipient_ids(part)]
            outcome.stop = stop.error
            self.stop.set()
        except Exception as exc:  # a bug must not lose track of who may have been sent
            lost = _recipient_ids(current) if current is not None else []
            outcome.unknown += [(i, f"internal error: {exc!r}") for i in lost]
            outcome.released += [i for part in parts for i in _recipient_ids(part)]
            outcome.stop = SendError(f"unexpected error while sending: {exc!r}")
            self.stop.set()
        return outcome

    def _settle(self, part: Batch, answer: ProviderAnswer, outcome: BatchOutcome) -> list[Batch]:
        """Record a final answer for a part; returns the parts still to send."""
        ids = _recipient_ids(part)
        if answer.kind is AnswerKind.ACCEPTED:
            outcome.sent += [(i, answer.message_id or "") for i in ids]
        elif answer.kind is AnswerKind.LOST:
            outcome.unknown += [(i, answer.detail) for i in ids]
        elif answer.kind is AnswerKind.REJECTED:
            return self._isolate(part, answer, outcome)
        elif answer.kind is AnswerKind.TOO_LARGE and len(ids) > 1:
            half = len(ids) // 2
            return [part.part(range(half, len(ids))), part.part(range(half))]
        else:
            raise _Stop(self._stop_error(answer))
        return []

    def _isolate(self, part: Batch, answer: ProviderAnswer, outcome: BatchOutcome) -> list[Batch]:
        """Mark the recipients a rejection names as failed; the others go again without them."""
        bad = {i: reason for i, reason in answer.rejected.items() if 0 <= i < len(part.recipients)}
        if not bad:
            raise _Stop(
                SendError(
                    f"{self.title} rejected the message itself ({answer.message_problem}); "
                    "nobody in that request was sent: fix the campaign and run the send again"
                )
            )
        recipients = part.recipients
        outcome.failed += [(recipients[i].subscriber_id, bad[i]) for i in sorted(bad)]
        keep = [i for i in range(len(recipients)) if i not in bad]
        return [part.part(keep)] if keep else []

    def send_one(self, batch: Batch) -> str:
        """Send one batch outside any ledger (test sends); returns the provider's message id."""
        try:
            answer = self.post(batch)
        except _Stop as stop:
            raise stop.error from None
        if answer.kind is not AnswerKind.ACCEPTED:
            raise self._stop_error(answer)
        return answer.message_id or ""

    def _stop_error(self, answer: ProviderAnswer) -> SendError:
        if answer.kind is AnswerKind.AUTH:
            return SendAuthError(
                f"{self.title} refused the API key ({answer.detail}): {answer.hint}; "
                "the recipients not yet sent stay pending"
            )
        if answer.kind is AnswerKind.TOO_LARGE:
            return SendError(
                f"{self.title} refused the message as too large even for one recipient "
                f"({answer.detail})"
            )
        if answer.kind is AnswerKind.REJECTED:
            return SendError(f"{self.title} rejected the message ({answer.detail})")
        return SendError(
            f"{self.title} at {self.provider.endpoint} answered {answer.detail}; {answer.hint}. "
            "The recipients not yet sent stay pending"
        )


def _recipient_ids(batch: Batch) -> list[int]:
    return [recipient.subscriber_id for recipient in batch.recipients]


# --------------------------------------------------------------------------
# A run over a campaign's ledger


def send_campaign(
    db: Database,
    campaign_id: int,
    build: BatchBuilder,
    provider: DeliveryProvider,
    settings: SendSettings,
    *,
    retry_unknown: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
) -> SendSummary:
    """Send to the pending recipients of a campaign's (already frozen) ledger.

    `build(recipients)` returns a Batch whose recipients[i] is recipients[i]; the
    engine tags it with the campaign. `limit` caps how many recipients this run
    sends to. Raises SendError (with `.summary`) when the run has to stop; the
    recipients not yet sent stay pending, so running it again continues.
    """
    run = _Run(db, campaign_id, build, provider, settings, progress)
    return run.execute(retry_unknown=retry_unknown, limit=limit)


def send_message(provider: DeliveryProvider, settings: SendSettings, batch: Batch) -> str:
    """Send one batch now, with the engine's retries but no ledger; returns its message id.

    For test sends and letter copies: the messages are not tagged with a
    campaign, so the provider's events about them never count towards one.
    """
    untagged = replace(batch, campaign_id=None)
    provider.check_batch(untagged)
    return Deliverer(provider, settings, threading.Event()).send_one(untagged)


def pending_count(db: Database, campaign_id: int) -> int:
    return ledger_db.ledger_counts(db, campaign_id)[DeliveryState.PENDING]


class _Run:
    def __init__(
        self,
        db: Database,
        campaign_id: int,
        build: BatchBuilder,
        provider: DeliveryProvider,
        settings: SendSettings,
        progress: Progress | None,
    ):
        self.db = db
        self.campaign_id = campaign_id
        self.build = build
        self.provider = provider
        self.settings = settings
        self.stop = threading.Event()
        self.deliverer = Deliverer(provider, settings, self.stop)
        self.progress = progress
        self.summary = SendSummary()
        self.error: SendError | None = None
        self.done = 0
        self.total = 0
        self.interrupted = False  # Ctrl-C (or SIGTERM) once: finish what is out, then stop
        self.abandoned = False  # twice: stop at once

    def execute(self, *, retry_unknown: bool, limit: int | None) -> SendSummary:
        started = time.monotonic()
        run_id = self._begin()
        outcome, message = "completed", None
        try:
            ledger_db.ledger_recover(self.db, self.campaign_id, retry_unknown=retry_unknown)
            pending = pending_count(self.db, self.campaign_id)
            self.total = pending if limit is None else min(pending, max(limit, 0))
            self._report()
            with self._graceful_interrupts():
                self._work(limit)
            if self.interrupted:
                raise KeyboardInterrupt
            if self.error:
                raise self.error
        except SendError as exc:
            outcome, message = "stopped", str(exc)
            exc.summary = self.summary
            raise
        except BaseException as exc:
            outcome, message = "interrupted", type(exc).__name__
            raise
        finally:
            counts = ledger_db.ledger_counts(self.db, self.campaign_id)
            self.summary.unknown = counts[DeliveryState.UNKNOWN]
            self.summary.seconds = time.monotonic() - started
            ledger_db.send_run_end(self.db, run_id, outcome, self.summary, message)
        return self.summary

    def _begin(self) -> int:
        """Refuse while another live process sends this campaign; close runs that died."""
        host = socket.gethostname()
        with write_transaction(self.db):
            for run in ledger_db.send_runs_open(self.db, self.campaign_id):
                if run.host == host and run.pid and _process_alive(run.pid):
                    raise SendBusy(
                        f"campaign {self.campaign_id} is already being sent by process {run.pid}; "
                        "wait for it to finish or stop it first"
                    )
                ledger_db.send_run_end(self.db, run.id, "crashed", SendSummary(), "process died")
            return ledger_db.send_run_begin(self.db, self.campaign_id, os.getpid(), host)

    def _work(self, limit: int | None) -> None:
        remaining = math.inf if limit is None else max(limit, 0)
        in_flight: set[Future[BatchOutcome]] = set()
        size = min(self.settings.effective_batch_size, self.provider.limits.max_recipients)
        with ThreadPoolExecutor(self.settings.concurrency, "delivery") as pool:
            try:
                drained = False
                while True:
                    while (
                        not drained
                        and not self.stop.is_set()
                        and remaining > 0
                        and (len(in_flight) < self.settings.concurrency)
                    ):
                        claimed = self._claim(int(min(size, remaining)))
                        if claimed is None:
                            drained = True
                        elif claimed:
                            remaining -= len(claimed)
                            batch = self._batch_for(claimed)
                            in_flight.add(pool.submit(self.deliverer.deliver, batch))
                    if not in_flight:
                        return
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._record(future.result())
                        in_flight.discard(future)  # only once its outcome is committed
            except BaseException:
                # An error here (or a second Ctrl-C): let the requests already out finish
                # and record them, so the run leaves nobody in flight, unless abandoned.
                self.stop.set()
                if not self.abandoned:
                    for future in in_flight:
                        self._record(future.result())
                raise

    @contextmanager
    def _graceful_interrupts(self) -> Iterator[None]:
        """The first Ctrl-C or SIGTERM stops claiming; the requests out are answered and recorded.

        A KeyboardInterrupt raised anywhere could land between a claim's commit and
        the moment its batch is tracked, leaving it in flight; a flag cannot. The
        second signal raises KeyboardInterrupt and abandons the requests still out.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(number: int, frame: object) -> None:
            if self.interrupted:
                self.abandoned = True
                raise KeyboardInterrupt
            self.interrupted = True
            self.stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _claim(self, size: int) -> list[Subscriber] | None:
        """The next batch (committed as in_flight), [] if all were skipped, None when done."""
        claimed, skipped = ledger_db.ledger_claim(self.db, self.campaign_id, size)
        if not claimed and not skipped:
            return None
        unique, duplicates = _split_duplicates(claimed)
        unique, unsupported = split_unsupported(unique, self.provider.limits)
        if duplicates or unsupported:
            ledger_db.ledger_record(self.db, self.campaign_id, skipped=duplicates + unsupported)
        passed_over = len(skipped) + len(duplicates) + len(unsupported)
        self.summary.skipped += passed_over
        self.done += passed_over
        return unique

    def _batch_for(self, claimed: list[Subscriber]) -> Batch:
        """The builder's batch for the claimed recipients, checked and tagged with the campaign."""
        try:
            batch = replace(self.build(claimed), campaign_id=self.campaign_id)
            _check_addressed(batch, claimed)
            self.provider.check_batch(batch)
        except BaseException:
            ledger_db.ledger_record(self.db, self.campaign_id, released=_ids(claimed))
            raise
        return batch

    def _record(self, outcome: BatchOutcome) -> None:
        ledger_db.ledger_record(
            self.db,
            self.campaign_id,
            sent=outcome.sent,
            failed=outcome.failed,
            unknown=outcome.unknown,
            released=outcome.released,
        )
        self.summary.sent += len(outcome.sent)
        self.summary.failed += len(outcome.failed)
        self.done += outcome.done
        if outcome.stop and (self.error is None or isinstance(self.error, _Halted)):
            self.error = outcome.stop
        self._report()

    def _report(self) -> None:
        if self.progress:
            self.progress(min(self.done, self.total), self.total)


def _check_addressed(batch: Batch, claimed: list[Subscriber]) -> None:
    """The builder's recipients[i] must be claimed[i]: the ledger records them by position."""
    if len(batch.recipients) != len(claimed):
        raise SendError(
            f"the message builder made {len(batch.recipients)} messages "
            f"for {len(claimed)} recipients"
        )
    for position, (recipient, person) in enumerate(zip(batch.recipients, claimed, strict=True)):
        same_address = recipient.email == person.email or same_person(
            recipient.email, str(person.email)
        )
        if recipient.subscriber_id != person.id or not same_address:
            raise SendError(
                f"the message builder's recipient {position} is not subscriber {person.id}"
            )


def _ids(people: list[Subscriber]) -> list[int]:
    return [_id(person) for person in people]


def _id(person: Subscriber) -> int:
    if person.id is None:
        raise SendError("a recipient of the ledger has no subscriber id")
    return person.id


def split_unsupported(
    people: list[Subscriber], limits: BatchLimits
) -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """Those the provider delivers to, and (id, UNSUPPORTED_ADDRESS) for the others."""
    supported, unsupported = [], []
    for person in people:
        if limits.unsupported_address(str(person.email)) is None:
            supported.append(person)
        else:
            unsupported.append((_id(person), UNSUPPORTED_ADDRESS))
    return supported, unsupported


def _split_duplicates(
    people: list[Subscriber],
) -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """One message per address, even when two subscribers share one inbox."""
    first: dict[str, int] = {}
    unique, duplicates = [], []
    for person in people:
        key = email_key(str(person.email))
        if key in first:
            duplicates.append((_id(person), f"same address as subscriber {first[key]}"))
        else:
            first[key] = _id(person)
            unique.append(person)
    return unique, duplicates


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead for us
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
