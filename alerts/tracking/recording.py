"""Opens, clicks, unsubscribes and SendGrid's events: what they mean, and recording them.

Group commit: the tracking server answers a request (redirect, GIF, 2xx) only
after its event is committed, yet one transaction per request would cap it at
the disk's fsync rate. `GroupCommitter` owns the one writer connection of a
server process: requests hand it small jobs, its thread runs every job that
is waiting in one transaction, commits once, and only then completes their
futures. Should a job fail, the batch is rolled back and run again with each
job in a savepoint of its own, so a failing job undoes only its own work.
The busier the server, the more jobs share each commit.

Machine detection (docs/tracking.md explains each rule and its sources):
opens and clicks that were probably made by a privacy proxy or a link scanner
are still recorded, with `machine = 1` and the rule's name in `detail`.

SendGrid's Event Webhook: `WebhookVerifier` checks the ECDSA signature and
the age of the signed timestamp; `parse_events` and `ingest_sendgrid_events`
turn a JSON array of events into rows, de-duplicated on sg_event_id, and
update subscribers' statuses so that nobody who bounced, complained or
unsubscribed is mailed again. `alerts events ingest` uses the same two.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from alerts.config import ConfigError
from alerts.db import Database, open_db, savepoint, set_durable, write_transaction
from alerts.db import campaigns as campaigns_db
from alerts.db import events as events_db
from alerts.db import subscribers as subscribers_db
from alerts.errors import EventPayloadError, StorageError, WebhookAuthError
from alerts.models import SAMPLE_SUBSCRIBER_ID, Event, EventKind, IngestSummary, Status

log = logging.getLogger("alerts.tracking")

T = TypeVar("T")
Job = Callable[[Database], T]

# --------------------------------------------------------------------------
# Machine detection

DELIVERY_WINDOW = 10  # seconds: no person opens or clicks this soon after delivery
BURST_WINDOW = 5  # seconds
BURST_LINKS = 3  # distinct links of one campaign clicked within BURST_WINDOW
APPLE_PROXY_AGENT = "Mozilla/5.0"  # the bare user agent of Apple's image prefetcher
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")  # Apple's own address block
USER_AGENT_LIMIT = 512

# Tools, libraries and security products that announce themselves (matched in
# lower case). Webmail image proxies (Gmail's GoogleImageProxy, Yahoo's) fetch
# when a person opens the message: not here.
AUTOMATED_AGENT_WORDS = (
    "bot/",
    "crawler",
    "spider",
    "headless",
    "scanner",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "apache-httpclient",
    "phantomjs",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "fortiguard",
    "zscaler",
    "bingpreview",
    "facebookexternalhit",
    "skypeuripreview",
    "microsoft office existence discovery",
)
_BOT_WORD = re.compile(r"bot\b")  # Googlebot, "compatible; bot", not "Cubot" phones


@dataclass(frozen=True)
class Visit:
    """What the server knows of one request: when, from what client, and how."""

    at: float  # Unix seconds
    user_agent: str | None = None
    ip: str | None = None  # the client's address after trusted proxy headers
    head: bool = False  # a HEAD request: nobody looks at a HEAD answer


@lru_cache(maxsize=4096)  # real traffic repeats a few thousand user agents
def _agent_reason(user_agent: str | None) -> str | None:
    if not user_agent or not user_agent.strip():
        return "no_user_agent"
    lowered = user_agent.lower()
    if any(word in lowered for word in AUTOMATED_AGENT_WORDS) or _BOT_WORD.search(lowered):
        return "automated_user_agent"
    return None


def _from_apple(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in APPLE_NETWORK
    except ValueError:
        return False


def _soon_after(visit: Visit, delivered_at: int | None) -> bool:
    return delivered_at is not None and visit.at - delivered_at < DELIVERY_WINDOW


def _request_reason(visit: Visit, delivered_at: int | None) -> str | None:
    """The rules that opens and clicks share."""
    if visit.head:
        return "head_request"
    return _agent_reason(visit.user_agent) or (
        "soon_after_delivery" if _soon_after(visit, delivered_at) else None
    )


def open_machine_reason(visit: Visit, delivered_at: int | None) -> str | None:
    """The rule that makes this open look machine-made, or None for a person."""
    if visit.user_agent == APPLE_PROXY_AGENT or _from_apple(visit.ip):
        return "apple_privacy_proxy"
    return _request_reason(visit, delivered_at)


def click_machine_reason(visit: Visit, delivered_at: int | None, burst: bool) -> str | None:
    """The rule that makes this click look like a link scanner's, or None for a person."""
    return _request_reason(visit, delivered_at) or ("link_burst" if burst else None)


def _machine_detail(reason: str | None) -> str | None:
    return json.dumps({"machine": reason}) if reason else None


def _clip(text: str | None, limit: int = USER_AGENT_LIMIT) -> str | None:
    return text[:limit] if text else None


# --------------------------------------------------------------------------
# Jobs: each runs inside the writer's transaction and returns what it recorded


def record_open(db: Database, campaign_id: int, subscriber_id: int, visit: Visit) -> Event | None:
    """Record an open; None (nothing recorded) for an unknown campaign or the sample recipient."""
    if subscriber_id == SAMPLE_SUBSCRIBER_ID or not campaigns_db.campaign_exists(db, campaign_id):
        return None
    reason = open_machine_reason(visit, events_db.delivery_time(db, campaign_id, subscriber_id))
    return _record_seen(db, EventKind.OPEN, campaign_id, subscriber_id, visit, reason)


def _record_seen(
    db: Database,
    kind: str,
    campaign_id: int,
    subscriber_id: int,
    visit: Visit,
    reason: str | None,
    link_id: int | None = None,
) -> Event:
    """Insert an open, click or visit, with the machine rule that fired (if any)."""
    event = Event(
        kind=kind,
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        at=int(visit.at),
        link_id=link_id,
        user_agent=_clip(visit.user_agent),
        machine=reason is not None,
        detail=_machine_detail(reason),
    )
    events_db.insert_event(db, event)
    return event


def record_click(
    db: Database, campaign_id: int, subscriber_id: int, link_id: int, visit: Visit
) -> Event | None:
    """Record a click on a link the caller has checked belongs to the campaign.

    A click by the sample recipient of a preview or test send is not recorded.

    A scanner follows every link of a message at once: when this click makes
    BURST_LINKS distinct links within BURST_WINDOW seconds, the earlier ones
    of the burst are flagged too.
    """
    if subscriber_id == SAMPLE_SUBSCRIBER_ID:
        return None
    at = int(visit.at)
    since = at - BURST_WINDOW
    clicked = events_db.recent_click_links(db, campaign_id, subscriber_id, since) | {link_id}
    burst = len(clicked) >= BURST_LINKS
    delivered_at = events_db.delivery_time(db, campaign_id, subscriber_id)
    reason = click_machine_reason(visit, delivered_at, burst)
    if burst:
        events_db.flag_machine_clicks(db, campaign_id, subscriber_id, since, "link_burst")
    return _record_seen(db, EventKind.CLICK, campaign_id, subscriber_id, visit, reason, link_id)


def unsubscribe(db: Database, campaign_id: int, subscriber_id: int, at: float) -> bool:
    """Unsubscribe a subscriber from everything. True if this call changed their status.

    Idempotent: a second call changes nothing and records nothing. Someone who
    bounced or complained is already never mailed, so they stay as they are.
    """
    changed = subscribers_db.change_status(
        db, subscriber_id, Status.UNSUBSCRIBED, (Status.SUBSCRIBED,)
    )
    if changed:
        campaign = campaign_id if campaigns_db.campaign_exists(db, campaign_id) else None
        events_db.insert_event(
            db, Event(EventKind.UNSUBSCRIBE, campaign, subscriber_id, at=int(at))
        )
    return changed


# --------------------------------------------------------------------------
# Letter pages: visits, "I sent it", and the rate limit of "Email me a copy"

# "Email me a copy" sends whatever the visitor typed to the subscriber's own
# address: at most this many copies per subscriber in each window.
LETTER_COPY_LIMITS = ((3600, 5), (86400, 12))  # (seconds, copies)


def record_letter_visit(db: Database, campaign_id: int, subscriber_id: int, visit: Visit) -> Event:
    """Record a view of the letter page, flagged like a click when a machine made it."""
    reason = click_machine_reason(
        visit, events_db.delivery_time(db, campaign_id, subscriber_id), False
    )
    return _record_seen(db, EventKind.LETTER_VISIT, campaign_id, subscriber_id, visit, reason)


def record_letter_sent(
    db: Database, campaign_id: int, subscriber_id: int, target: str, visit: Visit
) -> bool:
    """Record that the subscriber sent their letter to `target` (a bioguide id).

    Idempotent per campaign, subscriber and target: True only the first time.
    The check and the insert share the writer's transaction, so two presses at
    once still make one row.
    """
    if target in events_db.letter_targets_sent(db, campaign_id, subscriber_id):
        return False
    events_db.insert_event(
        db,
        Event(
            kind=EventKind.LETTER_SENT,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            at=int(visit.at),
            target=target,
            user_agent=_clip(visit.user_agent),
        ),
    )
    return True


@dataclass(frozen=True)
class CopyPermit:
    """The answer to a request for a letter copy: a reserved event, or when to retry."""

    event_id: int | None  # the letter_emailed row counting this copy; None when refused
    retry_after: int = 0  # seconds until the oldest copy of the full window expires

    @property
    def granted(self) -> bool:
        return self.event_id is not None


def reserve_letter_copy(
    db: Database,
    campaign_id: int,
    subscriber_id: int,
    target: str,
    visit: Visit,
    limits: tuple[tuple[int, int], ...] = LETTER_COPY_LIMITS,
) -> CopyPermit:
    """Count a copy against the subscriber's limits before it is sent.

    The letter_emailed row is written (and committed) first, so that requests
    racing each other cannot all pass the check; if sending then fails, the
    caller removes it with `release_letter_copy`.
    """
    at = int(visit.at)
    longest = max(seconds for seconds, _ in limits)
    times = events_db.letter_copy_times(db, subscriber_id, at - longest)
    for seconds, most in limits:
        recent = [t for t in times if t > at - seconds]
        if len(recent) >= most:
            return CopyPermit(None, retry_after=max(1, recent[-most] + seconds - at))
    events_db.insert_event(
        db,
        Event(
            kind=EventKind.LETTER_EMAILED,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            at=at,
            target=target,
            user_agent=_clip(visit.user_agent),
        ),
    )
    return CopyPermit(events_db.last_event_id(db))


def release_letter_copy(db: Database, event_id: int) -> None:
    events_db.delete_letter_copy(db, event_id)


# --------------------------------------------------------------------------
# Group commit


class GroupCommitter:
    """The one writer of a server process: many requests' jobs, one transaction."""

    def __init__(self, connect: Callable[[], Database], *, max_batch: int = 2000) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Job[Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="alerts-group-commit", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.transactions = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(self, job: Job[T]) -> Future[T]:
        """Queue a job; its future completes once the job's work is committed.

        The future is marked running at once so that nobody can cancel it: a
        client that hangs up does not take its event with it.
        """
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        self._queue.put((job, future))
        return future

    def close(self) -> None:
        """Commit whatever is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            db = self._connect()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                if batch:
                    self._commit(db, batch)
        finally:
            db.close()

    def _next_batch(self) -> tuple[list[tuple[Job[Any], Future[Any]]], bool]:
        item = self._queue.get()
        if item is None:
            return [], True
        batch = [item]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, db: Database, batch: list[tuple[Job[Any], Future[Any]]]) -> None:
        jobs = [job for job, _future in batch]
        try:
            try:
                with write_transaction(db):
                    outcomes = _run_together(db, jobs)
            except _JobFailed:
                # Rare: start the batch over with each job in a savepoint of its own.
                with write_transaction(db):
                    outcomes = [_run_isolated(db, job) for job in jobs]
        except Exception as exc:
            if db.conn.in_transaction:
                db.conn.rollback()
            log.error("group commit of %d jobs failed: %s", len(batch), exc)
            error = StorageError(f"the database could not commit: {exc}")
            for _job, future in batch:
                future.set_exception(error)
            return
        self.transactions += 1
        self.jobs += len(batch)
        for (_job, future), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class _JobFailed(Exception):
    """A job of a batch raised: the batch's transaction is rolled back and run again."""


def _run_together(db: Database, jobs: list[Job[Any]]) -> list[tuple[bool, Any]]:
    """The fast path: every job straight in the transaction, no savepoints."""
    outcomes: list[tuple[bool, Any]] = []
    for job in jobs:
        try:
            outcomes.append((True, job(db)))
        except Exception as exc:
            raise _JobFailed from exc
    return outcomes


def _run_isolated(db: Database, job: Job[Any]) -> tuple[bool, Any]:
    try:
        with savepoint(db):
            return True, job(db)
    except Exception as exc:
        return False, exc


def _open_writer(db_path: Path, durable: bool) -> Database:
    database = open_db(db_path)
    if durable:
        set_durable(database)
    return database


@dataclass(frozen=True)
class UnsubscribeView:
    """What the unsubscribe page may show: a first name and a masked address."""

    first_name: str | None
    masked_email: str | None
    subscribed: bool


def mask_email(email: str | None) -> str | None:
    """j…@example.org: enough to tell two addresses apart, not enough to read one."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def redirect_target(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None: we never redirect elsewhere."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


@dataclass
class Tracker:
    """The tracking server's handle on the database.

    Reads (link targets, the unsubscribe page) go through `reader`, which the
    caller uses from one thread; writes go through the group committer.
    """

    db_path: Path
    durable: bool = True
    _links: dict[tuple[int, int], str] = field(default_factory=dict, repr=False)
    _reader: Database | None = field(default=None, repr=False)
    _committer: GroupCommitter | None = field(default=None, repr=False)

    def start(self) -> None:
        self._reader = open_db(self.db_path)
        self._committer = GroupCommitter(lambda: _open_writer(self.db_path, self.durable))
        self._committer.start()

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
            log.info(
                "group commit: %d events and changes in %d transactions",
                self._committer.jobs,
                self._committer.transactions,
            )
            self._committer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> Database:
        if self._reader is None:
            raise RuntimeError("Tracker.start() was not called")
        return self._reader

    def submit(self, job: Job[T]) -> Future[T]:
        if self._committer is None:
            raise RuntimeError("Tracker.start() was not called")
        return self._committer.submit(job)

    def link_url(self, campaign_id: int, link_id: int) -> str | None:
        """Where a click on this campaign's link goes, or None. Links never change: cached."""
        key = (campaign_id, link_id)
        url = self._links.get(key)
        if url is None:
            url = redirect_target(campaigns_db.link_url(self.reader, campaign_id, link_id))
            if url is not None:
                self._links[key] = url
        return url

    def unsubscribe_view(self, subscriber_id: int) -> UnsubscribeView | None:
        contact = subscribers_db.subscriber_contact(self.reader, subscriber_id)
        if contact is None:
            return None
        email, first_name, status = contact
        return UnsubscribeView(first_name, mask_email(email), status == Status.SUBSCRIBED)

    def record_open(self, campaign_id: int, subscriber_id: int, visit: Visit) -> Future[Any]:
        return self.submit(lambda db: record_open(db, campaign_id, subscriber_id, visit))

    def record_click(
        self, campaign_id: int, subscriber_id: int, link_id: int, visit: Visit
    ) -> Future[Any]:
        return self.submit(lambda db: record_click(db, campaign_id, subscriber_id, link_id, visit))

    def unsubscribe(self, campaign_id: int, subscriber_id: int, at: float) -> Future[bool]:
        return self.submit(lambda db: unsubscribe(db, campaign_id, subscriber_id, at))

    def record_letter_visit(
        self, campaign_id: int, subscriber_id: int, visit: Visit
    ) -> Future[Event]:
        return self.submit(lambda db: record_letter_visit(db, campaign_id, subscriber_id, visit))

    def record_letter_sent(
        self, campaign_id: int, subscriber_id: int, target: str, visit: Visit
    ) -> Future[bool]:
        return self.submit(
            lambda db: record_letter_sent(db, campaign_id, subscriber_id, target, visit)
        )

    def reserve_letter_copy(
        self, campaign_id: int, subscriber_id: int, target: str, visit: Visit
    ) -> Future[CopyPermit]:
        return self.submit(
            lambda db: reserve_letter_copy(db, campaign_id, subscriber_id, target, visit)
        )

    def release_letter_copy(self, event_id: int) -> Future[None]:
        return self.submit(lambda db: release_letter_copy(db, event_id))

    def ingest(self, events: list[dict[str, Any]]) -> Future[IngestSummary]:
        return self.submit(lambda db: ingest_sendgrid_events(db, events))


# --------------------------------------------------------------------------
# SendGrid's Event Webhook: signature

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SIGNATURE_MAX_AGE = 600  # seconds a signed timestamp may differ from our clock


class WebhookVerifier:
    """Checks SendGrid's ECDSA P-256 signature over timestamp + raw body."""

    def __init__(self, public_key: str, max_age: int = SIGNATURE_MAX_AGE) -> None:
        self._key = load_webhook_public_key(public_key)
        self._max_age = max_age

    def verify(self, body: bytes, signature: str | None, timestamp: str | None, now: float) -> None:
        """Raise WebhookAuthError unless the request is signed by SendGrid, recently."""
        if not signature or not timestamp:
            raise WebhookAuthError("the webhook request is not signed")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise WebhookAuthError("the webhook timestamp is not a Unix time")
        if abs(now - int(timestamp)) > self._max_age:
            raise WebhookAuthError("the webhook timestamp is too old or in the future")
        try:
            der = base64.b64decode(signature.strip(), validate=True)
            self._key.verify(der, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise WebhookAuthError("the webhook signature does not match") from None


def load_webhook_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from its base64 (or PEM) SubjectPublicKeyInfo text."""
    where = "sendgrid_webhook_public_key"
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        key = load_der_public_key(base64.b64decode("".join(body.split()), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: not a base64 public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{where}: not an ECDSA P-256 public key")
    return key


# --------------------------------------------------------------------------
# SendGrid's Event Webhook: events

CAMPAIGN_ARG = "alerts_campaign"
RECIPIENT_ARG = "alerts_recipient"

KIND_BY_EVENT: dict[str, str] = {
    "processed": EventKind.PROCESSED,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCE,
    "dropped": EventKind.DROPPED,
    "spamreport": EventKind.SPAMREPORT,
    "open": EventKind.SG_OPEN,
    "click": EventKind.SG_CLICK,
    "unsubscribe": EventKind.SG_UNSUBSCRIBE,
    "group_unsubscribe": EventKind.GROUP_UNSUBSCRIBE,
    "group_resubscribe": EventKind.GROUP_RESUBSCRIBE,
}
# SendGrid's drop reasons that say something about the address itself.
STATUS_BY_DROP_REASON = {
    "bounced address": Status.BOUNCED,
    "invalid": Status.BOUNCED,
    "unsubscribed address": Status.UNSUBSCRIBED,
    "spam reporting address": Status.COMPLAINED,
}
# Who a new status may replace. A complaint outranks an earlier bounce or
# unsubscribe; nothing replaces `forgotten`, and nothing here resubscribes anyone.
REPLACEABLE = {
    Status.BOUNCED: (Status.SUBSCRIBED,),
    Status.UNSUBSCRIBED: (Status.SUBSCRIBED,),
    Status.COMPLAINED: (Status.SUBSCRIBED, Status.UNSUBSCRIBED, Status.BOUNCED),
}
_DETAIL_FIELDS = (
    "sg_message_id",
    "reason",
    "status",
    "type",
    "response",
    "attempt",
    "asm_group_id",
)
_EMAIL = re.compile(r"[^\s<>()\"',;:@]+@[^\s<>()\"',;:@]+")


def parse_events(body: bytes, source: str) -> list[dict[str, Any]]:
    """A webhook body or saved payload: a JSON array of event objects."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise EventPayloadError(f"{source}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise EventPayloadError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise EventPayloadError(f"{source}: JSON nested too deeply") from None
    if not isinstance(data, list):
        raise EventPayloadError(
            f"{source}: expected a JSON array of events, found {_json_type(data)}"
        )
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise EventPayloadError(
                f"{source}: event {number} is {_json_type(item)}, not an object"
            )
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _id_arg(value: Any) -> int | None:
    """A custom_args id: a string of digits (as the sender writes it) or an integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _timestamp(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**40:
        return int(value)
    return None


def _scrub(value: Any) -> Any:
    """SMTP responses often quote the address: keep the rest, drop the address."""
    if isinstance(value, str):
        return _EMAIL.sub("<address>", value)[:300]
    if isinstance(value, int | float | bool):
        return value
    return None


def _status_change(kind: str, raw: dict[str, Any]) -> str | None:
    if kind == "bounce":
        # `blocked` is a refusal of this message (content, reputation), not of the address.
        return Status.BOUNCED if raw.get("type", "bounce") == "bounce" else None
    if kind == "dropped":
        reason = raw.get("reason")
        if not isinstance(reason, str):
            return None
        return STATUS_BY_DROP_REASON.get(reason.strip().lower())
    if kind == "spamreport":
        return Status.COMPLAINED
    if kind in ("unsubscribe", "group_unsubscribe"):
        return Status.UNSUBSCRIBED
    return None


@dataclass
class _Matcher:
    """Maps events to our campaigns and subscribers, remembering lookups within a batch."""

    db: Database
    campaigns: dict[int, bool] = field(default_factory=dict)
    contacts: dict[int, tuple[str | None, str | None, str] | None] = field(default_factory=dict)

    def campaign(self, raw: dict[str, Any]) -> int | None:
        campaign_id = _id_arg(raw.get(CAMPAIGN_ARG))
        if campaign_id is None:
            return None
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = campaigns_db.campaign_exists(self.db, campaign_id)
        return campaign_id if self.campaigns[campaign_id] else None

    def recipient(self, raw: dict[str, Any], by_email: bool) -> int | None:
        """The subscriber the event is about.

        The id in custom_args counts only if the event's address is still that
        subscriber's (ids outlive addresses). Without our id, a status-changing
        event (say, a bounce of mail sent by another tool) is matched by address.
        """
        email = raw.get("email") if isinstance(raw.get("email"), str) else None
        recipient_id = _id_arg(raw.get(RECIPIENT_ARG))
        if recipient_id is not None:
            if recipient_id not in self.contacts:
                self.contacts[recipient_id] = subscribers_db.subscriber_contact(
                    self.db, recipient_id
                )
            contact = self.contacts[recipient_id]
            if contact is not None and _same_address(email, contact[0]):
                return recipient_id
        if by_email and email:
            return subscribers_db.subscriber_id_for_email(self.db, email)
        return None


def _same_address(event_email: str | None, our_email: str | None) -> bool:
    if event_email is None or our_email is None:
        return True
    return event_email.strip().casefold() == our_email.strip().casefold()


def ingest_sendgrid_events(
    db: Database,
    events: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Record SendGrid events and apply the status changes they call for.

    Runs inside the caller's transaction. Events already stored (same
    sg_event_id) are counted as duplicates and change nothing.
    """
    summary = IngestSummary()
    matcher = _Matcher(db)
    for raw in events:
        summary.received += 1
        _ingest_one(db, raw, matcher, summary)
        if progress is not None and summary.received % 1000 == 0:
            progress(1000)
    if progress is not None and summary.received % 1000:
        progress(summary.received % 1000)
    return summary


def _ingest_one(
    db: Database, raw: dict[str, Any], matcher: _Matcher, summary: IngestSummary
) -> None:
    event_type = raw.get("event")
    sg_event_id = raw.get("sg_event_id")
    at = _timestamp(raw.get("timestamp"))
    if (
        not isinstance(event_type, str)
        or not isinstance(sg_event_id, str)
        or not 0 < len(sg_event_id) <= 200
        or at is None
    ):
        summary.invalid += 1
        return
    kind = KIND_BY_EVENT.get(event_type)
    if kind is None:
        summary.ignored += 1
        return
    new_status = _status_change(event_type, raw)
    campaign_id = matcher.campaign(raw)
    subscriber_id = matcher.recipient(raw, by_email=new_status is not None)
    if campaign_id is None and subscriber_id is None:
        summary.ignored += 1
        return
    stored = events_db.insert_event(db, _sendgrid_row(raw, kind, campaign_id, subscriber_id, at))
    if not stored:
        summary.duplicates += 1
        return
    summary.recorded += 1
    if new_status is None or subscriber_id is None:
        return
    if subscribers_db.change_status(db, subscriber_id, new_status, REPLACEABLE[new_status]):
        summary.status_changes += 1


def _sendgrid_row(
    raw: dict[str, Any], kind: str, campaign_id: int | None, subscriber_id: int | None, at: int
) -> Event:
    detail = {name: _scrub(raw[name]) for name in _DETAIL_FIELDS if name in raw}
    detail = {name: value for name, value in detail.items() if value is not None}
    user_agent = raw.get("useragent") if kind in (EventKind.SG_OPEN, EventKind.SG_CLICK) else None
    return Event(
        kind=kind,
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        at=at,
        user_agent=_clip(user_agent) if isinstance(user_agent, str) else None,
        machine=kind == EventKind.SG_OPEN and raw.get("sg_machine_open") is True,
        sg_event_id=raw["sg_event_id"],
        detail=json.dumps(detail, sort_keys=True) if detail else None,
    )
