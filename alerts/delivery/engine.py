"""Sending through SendGrid: the engine that works through a campaign's send ledger.

This is the only home of the sendgrid package. A run claims a batch of pending
recipients (committed as in_flight BEFORE its request goes out), has the caller
build the request body for them, posts it with the official client from one of
several worker threads, and commits what became of each recipient: sent (with
SendGrid's X-Message-Id), failed (with SendGrid's message), unknown (the request
went out but no answer came back, so SendGrid may have accepted it) or back to
pending (it never reached SendGrid). A run that dies leaves at most the batches
that were in flight; the next run turns them into unknown and sends only to
pending recipients, so nobody gets the same campaign twice.

Errors: 429 waits for X-RateLimit-Reset (or backs off exponentially with jitter);
5xx answers and connections that failed before the request was written retry
with backoff up to `retries` times, then the run stops with the batch pending; a
400 naming recipients marks only those failed and sends the rest again; 413
splits the batch in halves; 401/403 stop at once.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import random
import re
import signal
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from alerts.config import Config, ConfigError
from alerts.db import Database, write_transaction
from alerts.db import ledger as ledger_db
from alerts.errors import SendAuthError, SendBusy, SendError
from alerts.models import DeliveryState, SendSummary, Subscriber

log = logging.getLogger(__name__)
# python_http_client logs whole request bodies (addresses, names) at DEBUG level.
# Personal data never goes to logs, whatever the application's logging setup.
logging.getLogger("python_http_client").setLevel(logging.INFO)

API_KEY_ENV = "SENDGRID_API_KEY"
MAX_BATCH = 1000  # SendGrid: personalizations and recipients per request
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255

BodyBuilder = Callable[[list[Subscriber]], dict[str, Any]]
Progress = Callable[[int, int], None]  # (recipients done this run, recipients to do)
Part = tuple[list[Subscriber], dict[str, Any]]  # recipients and the body addressed to them


@dataclass(frozen=True)
class SendSettings:
    """How to reach SendGrid and how hard to push it."""

    api_key: str
    host: str = "https://api.sendgrid.com"
    timeout: float = 30.0
    concurrency: int = 8
    batch_size: int = MAX_BATCH
    rate: float | None = None  # messages per second; None: no cap
    retries: int = 6
    tracking: bool = False  # SendGrid's own open and click tracking
    backoff_base: float = 1.0  # first retry delay, doubled after each failure
    backoff_max: float = 60.0
    max_rate_limit_wait: float = 900.0  # a longer X-RateLimit-Reset stops the run instead

    def __post_init__(self) -> None:
        checks = (
            ("sendgrid_timeout", self.timeout > 0, "a number of seconds above 0"),
            ("sendgrid_concurrency", 1 <= self.concurrency <= 64, "between 1 and 64"),
            ("sendgrid_batch_size", 1 <= self.batch_size <= MAX_BATCH, "between 1 and 1000"),
            ("sendgrid_retries", self.retries >= 0, "0 or more"),
            ("sendgrid_rate", self.rate is None or self.rate > 0, "a number above 0"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}")
        if not self.host.startswith(("http://", "https://")):
            raise ConfigError(f"sendgrid_host must be an http(s) URL, not {self.host!r}")

    @classmethod
    def from_config(
        cls, config: Config, *, env: Mapping[str, str] | None = None, rate: float | None = None
    ) -> SendSettings:
        """Settings from alerts.toml / ALERTS_*, the key from SENDGRID_API_KEY; `rate` overrides."""
        api_key = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
        if not api_key:
            raise ConfigError(f"{API_KEY_ENV} is not set: export your SendGrid API key first")
        return cls(
            api_key=api_key,
            host=str(config.get("sendgrid_host")).rstrip("/"),
            timeout=float(config.get("sendgrid_timeout")),
            concurrency=int(config.get("sendgrid_concurrency")),
            batch_size=int(config.get("sendgrid_batch_size")),
            rate=rate if rate is not None else config.get("sendgrid_rate"),
            retries=int(config.get("sendgrid_retries")),
            tracking=bool(config.get("sendgrid_tracking")),
        )

    @property
    def effective_batch_size(self) -> int:
        """Under a low rate cap, smaller requests spread the messages evenly over time."""
        if self.rate is None:
            return self.batch_size
        return max(1, min(self.batch_size, math.floor(self.rate)))


# --------------------------------------------------------------------------
# Request bodies


def tracking_settings(enabled: bool) -> dict[str, Any]:
    """SendGrid's own tracking: off unless asked (the project tracks opens and clicks itself)."""
    return {
        "click_tracking": {"enable": enabled, "enable_text": enabled},
        "open_tracking": {"enable": enabled},
        "subscription_tracking": {"enable": False},  # the project has its own unsubscribe
    }


def custom_args(campaign_id: int, subscriber_id: int) -> dict[str, str]:
    """The only custom_args a message carries: identifiers, never personal data."""
    return {"alerts_campaign": str(campaign_id), "alerts_recipient": str(subscriber_id)}


def display_name(person: Subscriber) -> str | None:
    """The recipient's name as SendGrid accepts it (no `;`, `,` or quotes), or None."""
    name = re.sub(r'[;,"]+', " ", person.full_name)
    name = " ".join(name.split())
    return name or None


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe, as Gmail and Yahoo require of bulk senders."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def personalization(
    person: Subscriber,
    *,
    substitutions: Mapping[str, str] | None = None,
    unsubscribe_url: str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """One recipient's personalization. The engine adds custom_args itself."""
    address: dict[str, str] = {"email": str(person.email)}
    name = display_name(person)
    if name:
        address["name"] = name
    item: dict[str, Any] = {"to": [address]}
    if subject is not None:
        item["subject"] = subject
    if substitutions:
        item["substitutions"] = {str(k): str(v) for k, v in substitutions.items()}
    if unsubscribe_url:
        item["headers"] = unsubscribe_headers(unsubscribe_url)
    return item


def message_body(
    *,
    from_email: str,
    subject: str,
    html: str,
    text: str,
    personalizations: list[dict[str, Any]],
    from_name: str | None = None,
    reply_to: str | None = None,
    categories: Iterable[str] = (),
) -> dict[str, Any]:
    """A mail/send body: message-level content shared by every personalization."""
    sender: dict[str, str] = {"email": from_email}
    if from_name:
        sender["name"] = from_name
    body: dict[str, Any] = {
        "personalizations": personalizations,
        "from": sender,
        "subject": subject,
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
    }
    if reply_to:
        body["reply_to"] = {"email": reply_to}
    wanted = list(dict.fromkeys(categories))
    if wanted:
        check_categories(wanted)
        body["categories"] = wanted
    return body


def check_categories(categories: list[str]) -> None:
    if len(categories) > MAX_CATEGORIES:
        raise SendError(
            f"categories: SendGrid allows at most {MAX_CATEGORIES}, got {len(categories)}"
        )
    for category in categories:
        if not category or len(category) > MAX_CATEGORY_CHARS:
            raise SendError(
                f"categories: each must be 1 to {MAX_CATEGORY_CHARS} characters: {category[:40]!r}"
            )


# --------------------------------------------------------------------------
# One request and what its answer means


class Kind(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # 400
    TOO_LARGE = "too_large"  # 413
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    NOT_SENT = "not_sent"  # connection failed before the request was written
    LOST = "lost"  # timeout or broken connection after the request went out
    AUTH = "auth"  # 401, 403
    REFUSED = "refused"  # any other status (404, 405, 415...)


RETRYABLE = {Kind.RATE_LIMITED, Kind.SERVER_ERROR, Kind.NOT_SENT}


@dataclass
class Answer:
    kind: Kind
    detail: str
    status: int | None = None
    message_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    reset_at: float | None = None  # Unix time from X-RateLimit-Reset


_KIND_OF_STATUS = {
    400: Kind.REJECTED,
    401: Kind.AUTH,
    403: Kind.AUTH,
    413: Kind.TOO_LARGE,
    429: Kind.RATE_LIMITED,
}


def _status_kind(status: int) -> Kind:
    if 200 <= status < 300:
        return Kind.ACCEPTED
    if status >= 500:
        return Kind.SERVER_ERROR
    return _KIND_OF_STATUS.get(status, Kind.REFUSED)


def _error_objects(body: bytes | str | None) -> list[dict[str, Any]]:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        errors = json.loads(text).get("errors")
    except (ValueError, AttributeError):
        return [{"message": " ".join(text.split())[:200] or "no message"}]
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        message = str(error.get("message") or "").strip()
        parts.append(f"{error['field']}: {message}" if error.get("field") else message)
    return "; ".join(parts) or "no message"


def _reset_time(headers: Any) -> float | None:
    value = headers.get("X-RateLimit-Reset") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Mailer:
    """The official client, with a timeout, turning every outcome of a post into an Answer."""

    def __init__(self, settings: SendSettings):
        self.host = settings.host.rstrip("/")
        self.timeout = settings.timeout
        self.client = SendGridAPIClient(api_key=settings.api_key, host=self.host)
        self.client.client.timeout = settings.timeout  # the client has none by default

    def post(self, body: dict[str, Any]) -> Answer:
        try:
            response = self.client.send(body)
        except http_errors.HTTPError as exc:
            errors = _error_objects(exc.body)
            detail = f"SendGrid {exc.status_code}: {_describe(errors)}"
            reset = _reset_time(exc.headers)
            return Answer(
                _status_kind(exc.status_code), detail, exc.status_code, None, errors, reset
            )
        except urllib.error.URLError as exc:
            # urllib wraps failures while connecting or writing the request: not sent.
            return Answer(Kind.NOT_SENT, f"could not reach {self.host}: {exc.reason}")
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, TimeoutError):
                detail = f"no answer from SendGrid within {self.timeout:g} s"
            else:
                detail = f"connection broken after the request was sent ({type(exc).__name__})"
            return Answer(Kind.LOST, detail)
        message_id = response.headers.get("X-Message-Id") or ""
        return Answer(Kind.ACCEPTED, "accepted", response.status_code, message_id)


# --------------------------------------------------------------------------
# Pacing: the rate cap and SendGrid's rate limit, shared by every worker


class Throttle:
    """Spaces requests so messages/second stay under `rate`; a 429 pauses every worker."""

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
    """Posts bodies with retries and backoff; shared by the workers of one run."""

    def __init__(self, mailer: Mailer, settings: SendSettings, stop: threading.Event):
        self.mailer = mailer
        self.settings = settings
        self.stop = stop
        self.throttle = Throttle(settings.rate, stop)

    def post(self, body: dict[str, Any]) -> Answer:
        """Post until an answer that is not worth retrying; raises _Stop when giving up."""
        messages = len(body.get("personalizations") or [])
        for attempt in range(self.settings.retries + 1):
            if not self.throttle.wait_turn(messages):
                raise _Stop(_Halted())
            answer = self.mailer.post(body)
            if answer.kind not in RETRYABLE:
                return answer
            if attempt == self.settings.retries:
                break
            delay = self._delay(answer, attempt)
            log.warning("%s; retrying in %.1f s", answer.detail, delay)
            if answer.kind is Kind.RATE_LIMITED:
                self.throttle.pause(delay)
            elif self.stop.wait(delay):
                raise _Stop(_Halted())
        raise _Stop(
            SendError(
                f"SendGrid still failing after {self.settings.retries + 1} attempts "
                f"({answer.detail}); the recipients not yet sent stay pending: "
                "run the send again to continue"
            )
        )

    def _delay(self, answer: Answer, attempt: int) -> float:
        if answer.kind is Kind.RATE_LIMITED and answer.reset_at is not None:
            wait = answer.reset_at - time.time()
            if wait > self.settings.max_rate_limit_wait:
                when = datetime.fromtimestamp(answer.reset_at, UTC).strftime("%H:%M:%S UTC")
                raise _Stop(
                    SendError(
                        f"SendGrid's rate limit resets at {when}; the recipients not yet "
                        "sent stay pending: run the send again after that"
                    )
                )
            if wait > 0:
                return wait + random.uniform(0, 0.25)  # spread the workers' retries
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def deliver(self, recipients: list[Subscriber], body: dict[str, Any]) -> BatchOutcome:
        """Send one claimed batch, splitting it as SendGrid's answers require."""
        outcome = BatchOutcome()
        parts: list[Part] = [(recipients, body)]
        current: list[Subscriber] = []
        try:
            while parts:
                current, part_body = parts.pop()
                if self.stop.is_set():
                    outcome.released += _ids(current)
                    continue
                answer = self.post(part_body)
                parts += self._settle((current, part_body), answer, outcome)
        except _Stop as stop:
            outcome.released += _ids(current) + [i for part, _ in parts for i in _ids(part)]
            outcome.stop = stop.error
            self.stop.set()
        except Exception as exc:  # a bug must not lose track of who may have been sent
            outcome.unknown += [(i, f"internal error: {exc!r}") for i in _ids(current)]
            outcome.released += [i for part, _ in parts for i in _ids(part)]
            outcome.stop = SendError(f"unexpected error while sending: {exc!r}")
            self.stop.set()
        return outcome

    def _settle(self, part: Part, answer: Answer, outcome: BatchOutcome) -> list[Part]:
        """Record a final answer for a part; returns the parts still to send."""
        recipients, body = part
        if answer.kind is Kind.ACCEPTED:
            outcome.sent += [(i, answer.message_id or "") for i in _ids(recipients)]
        elif answer.kind is Kind.LOST:
            outcome.unknown += [(i, answer.detail) for i in _ids(recipients)]
        elif answer.kind is Kind.REJECTED:
            return self._isolate(part, answer, outcome)
        elif answer.kind is Kind.TOO_LARGE and len(recipients) > 1:
            half = len(recipients) // 2
            return [
                (recipients[half:], _subset(body, range(half, len(recipients)))),
                (recipients[:half], _subset(body, range(half))),
            ]
        else:
            raise _Stop(_stop_error(answer, self.mailer.host))
        return []

    def _isolate(self, part: Part, answer: Answer, outcome: BatchOutcome) -> list[Part]:
        """Mark the recipients a 400 names as failed; the others go again without them."""
        recipients, body = part
        bad = _named_recipients(answer.errors, recipients)
        if not bad:
            raise _Stop(
                SendError(
                    f"SendGrid rejected the message itself ({_describe(answer.errors)}); "
                    "nobody in that request was sent: fix the campaign and run the send again"
                )
            )
        outcome.failed += [(recipients[i].id or 0, reason) for i, reason in sorted(bad.items())]
        keep = [i for i in range(len(recipients)) if i not in bad]
        if not keep:
            return []
        return [([recipients[i] for i in keep], _subset(body, keep))]

    def send_one(self, body: dict[str, Any]) -> str:
        """Post one body outside any ledger (test sends); returns its X-Message-Id."""
        try:
            answer = self.post(body)
        except _Stop as stop:
            raise stop.error from None
        if answer.kind is not Kind.ACCEPTED:
            raise _stop_error(answer, self.mailer.host)
        return answer.message_id or ""


def _ids(people: list[Subscriber]) -> list[int]:
    return [int(p.id or 0) for p in people]


def _subset(body: dict[str, Any], indices: Iterable[int]) -> dict[str, Any]:
    items = body["personalizations"]
    return {**body, "personalizations": [items[i] for i in indices]}


_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)(\.|$)")


def _named_recipients(errors: list[dict[str, Any]], recipients: list[Subscriber]) -> dict[int, str]:
    """{index in the request: SendGrid's message} for the recipients a 400 blames.

    SendGrid names a personalization in `field` (personalizations.3.to.0.email); a
    duplicate-address message names the address in brackets instead.
    """
    by_email = {str(p.email).lower(): i for i, p in enumerate(recipients)}
    named: dict[int, str] = {}
    for error in errors:
        message = f"SendGrid 400: {str(error.get('message') or 'rejected').strip()}"
        match = _PERSONALIZATION_FIELD.match(str(error.get("field") or ""))
        if match and int(match.group(1)) < len(recipients):
            named.setdefault(int(match.group(1)), message)
            continue
        for address in re.findall(r"\[([^\]\s]+@[^\]\s]+)\]", str(error.get("message") or "")):
            if address.lower() in by_email:
                named.setdefault(by_email[address.lower()], message)
    return named


def _stop_error(answer: Answer, host: str) -> SendError:
    if answer.kind is Kind.AUTH:
        return SendAuthError(
            f"SendGrid refused the API key ({answer.detail}): check {API_KEY_ENV} and its "
            "Mail Send permission; the recipients not yet sent stay pending"
        )
    if answer.kind is Kind.TOO_LARGE:
        return SendError(
            f"SendGrid refused the message as too large even for one recipient ({answer.detail})"
        )
    if answer.kind is Kind.REJECTED:
        return SendError(f"SendGrid rejected the message ({answer.detail})")
    return SendError(
        f"SendGrid at {host} answered {answer.detail}; check sendgrid_host. "
        "The recipients not yet sent stay pending"
    )


# --------------------------------------------------------------------------
# A run over a campaign's ledger


def send_campaign(
    db: Database,
    campaign_id: int,
    build_body: BodyBuilder,
    settings: SendSettings,
    *,
    retry_unknown: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    mailer: Mailer | None = None,
) -> SendSummary:
    """Send to the pending recipients of a campaign's (already frozen) ledger.

    `build_body(recipients)` returns a mail/send body whose personalizations[i] is
    addressed to recipients[i]; the engine sets each one's custom_args and the
    message's tracking_settings. `limit` caps how many recipients this run sends to.
    Raises SendError (with `.summary`) when the run has to stop; the recipients not
    yet sent stay pending, so running it again continues.
    """
    run = _Run(db, campaign_id, build_body, settings, mailer or Mailer(settings), progress)
    return run.execute(retry_unknown=retry_unknown, limit=limit)


def send_message(settings: SendSettings, body: dict[str, Any], mailer: Mailer | None = None) -> str:
    """Send one body now, with the engine's retries but no ledger; returns its X-Message-Id.

    For test sends: custom_args are removed so SendGrid's events for it never count
    towards a campaign.
    """
    items = [
        {k: v for k, v in item.items() if k != "custom_args"} for item in body["personalizations"]
    ]
    body = {**body, "personalizations": items}
    body["tracking_settings"] = tracking_settings(settings.tracking)
    deliverer = Deliverer(mailer or Mailer(settings), settings, threading.Event())
    return deliverer.send_one(body)


def pending_count(db: Database, campaign_id: int) -> int:
    return ledger_db.ledger_counts(db, campaign_id)[DeliveryState.PENDING]


class _Run:
    def __init__(
        self,
        db: Database,
        campaign_id: int,
        build_body: BodyBuilder,
        settings: SendSettings,
        mailer: Mailer,
        progress: Progress | None,
    ):
        self.db = db
        self.campaign_id = campaign_id
        self.build_body = build_body
        self.settings = settings
        self.stop = threading.Event()
        self.deliverer = Deliverer(mailer, settings, self.stop)
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
            for run_id, pid, run_host in ledger_db.send_runs_open(self.db, self.campaign_id):
                if run_host == host and pid and _process_alive(pid):
                    raise SendBusy(
                        f"campaign {self.campaign_id} is already being sent by process {pid}; "
                        "wait for it to finish or stop it first"
                    )
                ledger_db.send_run_end(self.db, run_id, "crashed", SendSummary(), "process died")
            return ledger_db.send_run_begin(self.db, self.campaign_id, os.getpid(), host)

    def _work(self, limit: int | None) -> None:
        remaining = math.inf if limit is None else max(limit, 0)
        in_flight: set[Future[BatchOutcome]] = set()
        size = self.settings.effective_batch_size
        with ThreadPoolExecutor(self.settings.concurrency, "sendgrid") as pool:
            try:
                drained = False
                while True:
                    while (
                        not drained
                        and not self.stop.is_set()
                        and remaining > 0
                        and (len(in_flight) < self.settings.concurrency)
                    ):
                        batch = self._claim(int(min(size, remaining)))
                        if batch is None:
                            drained = True
                        elif batch:
                            remaining -= len(batch)
                            body = self._body_for(batch)
                            in_flight.add(pool.submit(self.deliverer.deliver, batch, body))
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
        if duplicates:
            ledger_db.ledger_record(self.db, self.campaign_id, skipped=duplicates)
        self.summary.skipped += len(skipped) + len(duplicates)
        self.done += len(skipped) + len(duplicates)
        return unique

    def _body_for(self, batch: list[Subscriber]) -> dict[str, Any]:
        try:
            body = self.build_body(batch)
            _stamp(body, batch, self.campaign_id, self.settings.tracking)
        except BaseException:
            ledger_db.ledger_record(self.db, self.campaign_id, released=_ids(batch))
            raise
        return body

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


def _stamp(body: dict[str, Any], batch: list[Subscriber], campaign_id: int, tracking: bool) -> None:
    """Check that personalizations[i] is addressed to batch[i]; set custom_args and tracking."""
    items = body.get("personalizations")
    if not isinstance(items, list) or len(items) != len(batch):
        count = len(items) if isinstance(items, list) else 0
        raise SendError(
            f"the message builder made {count} personalizations for {len(batch)} recipients"
        )
    for position, (item, person) in enumerate(zip(items, batch, strict=True)):
        to = item.get("to") or [{}]
        if str(to[0].get("email", "")).lower() != str(person.email).lower():
            raise SendError(
                f"the message builder's personalization {position} is not addressed to "
                f"subscriber {person.id}"
            )
        item["custom_args"] = custom_args(campaign_id, int(person.id or 0))
    body["tracking_settings"] = tracking_settings(tracking)


def _split_duplicates(
    people: list[Subscriber],
) -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """SendGrid refuses an address twice in one request; one message per address anyway."""
    first: dict[str, int] = {}
    unique, duplicates = [], []
    for person in people:
        key = str(person.email).strip().lower()
        if key in first:
            duplicates.append((int(person.id or 0), f"same address as subscriber {first[key]}"))
        else:
            first[key] = int(person.id or 0)
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
