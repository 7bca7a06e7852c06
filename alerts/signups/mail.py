"""Sending the queued confirmation messages: claim, send, mark, with retries and backoff.

`alerts serve` runs a `ConfirmationSender` thread beside the web app. Each pass
claims the messages that are due (committed as `sending` before anything goes
out), sends them as untracked, untagged messages through the delivery provider,
as many as one request may hold (each with its own link), and marks them
`sent`, so a message is marked sent once. A failure
queues it again after a growing delay, until MAX_ATTEMPTS. A claim older than
the lease (a server killed mid-send) goes back to the queue: the message in
flight at the moment of a crash may be sent again, never lost. The same
thread expires old signups and purges ended rate-limit windows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from html import escape

from alerts import clock
from alerts.config import Config, ConfigError
from alerts.db import Database, rate_limits, write_transaction
from alerts.db import signups as signups_db
from alerts.delivery import providers
from alerts.delivery.provider import (
    RETRYABLE,
    AnswerKind,
    Batch,
    Content,
    DeliveryProvider,
    ProviderAnswer,
    Recipient,
    SendSettings,
)
from alerts.email.signup_confirm import (
    CONFIRM_URL,
    CONSENT_HTML,
    CONSENT_TEXT,
    render_signup_confirm,
)
from alerts.errors import AlertsError
from alerts.signups.start import iso
from alerts.signups.tokens import confirm_token, confirm_url

log = logging.getLogger("alerts.signups")

MAX_ATTEMPTS = 12  # with the backoff, about a day and a half of trying
BACKOFF_BASE = 5.0  # seconds before the first retry, doubled after each failure
BACKOFF_MAX = 4 * 3600.0
CLAIM_BATCH = 500  # messages claimed at once, sent as one request
HOUSEKEEPING_SECONDS = 60.0  # how often expired signups and rate-limit windows are cleared
CONFIRM_CATEGORY = "signup-confirm"


@dataclass(frozen=True)
class ConfirmationMailer:
    """Renders and sends confirmation messages from the queue, many to a request."""

    provider: DeliveryProvider
    settings: SendSettings
    key: bytes
    base_url: str
    from_email: str
    confirm_days: int
    from_name: str | None = None
    reply_to: str | None = None
    org_name: str | None = None
    postal_address: str | None = None

    @property
    def lease(self) -> int:
        """Seconds after which a claim is taken to be a sender that died."""
        return int(self.settings.timeout * 2) + 5

    @cached_property
    def content(self) -> Content:
        """The message every confirmation shares; its link is a per-recipient placeholder."""
        message = render_signup_confirm(
            days=self.confirm_days,
            org_name=self.org_name,
            postal_address=self.postal_address,
        )
        return Content(
            from_email=self.from_email,
            subject=message.subject,
            html=message.html,
            text=message.text,
            from_name=self.from_name,
            reply_to=self.reply_to,
            categories=(CONFIRM_CATEGORY,),
        )

    def send_due(self, db: Database, now: float | None = None) -> int:
        """Send the messages that are due, one request per claimed batch. Returns how many."""
        at = int(clock.now().timestamp() if now is None else now)
        with write_transaction(db):
            signups_db.release_stale_claims(db, at - self.lease)
            claimed = signups_db.claim_due(db, at, self._batch_size)
        if not claimed:
            return 0
        recipients, mails = self._recipients(db, claimed, at)
        if not recipients:
            return 0
        batch = Batch(self.content, tuple(recipients))
        try:
            self.provider.check_batch(batch)
            answer = self.provider.send_batch(batch, self.settings)
        except AlertsError as exc:
            # A provider's messages can quote addresses: the log names only the kind.
            log.warning("confirmation messages cannot be sent (%s)", type(exc).__name__)
            with write_transaction(db):
                for mail in mails:
                    signups_db.mark_unsent(db, mail.id, type(exc).__name__, None)
            return 0
        return self._settle(db, mails, answer, at)

    @property
    def _batch_size(self) -> int:
        return max(1, min(CLAIM_BATCH, self.provider.limits.max_recipients))

    def _recipients(
        self, db: Database, claimed: list[signups_db.QueuedMail], at: int
    ) -> tuple[list[Recipient], list[signups_db.QueuedMail]]:
        """The recipients of the claimed messages that may go, one per address.

        A message whose signup is gone or closed is dropped; a second one to an
        address already in this batch (one request may not name it twice) waits.
        The signups are read in one statement; only those changes take the write lock.
        """
        rows = signups_db.get_signups(db, [mail.signup_id for mail in claimed])
        recipients: list[Recipient] = []
        mails: list[signups_db.QueuedMail] = []
        dropped: list[int] = []
        waiting: list[int] = []
        seen: set[str] = set()
        for mail in claimed:
            row = rows.get(mail.signup_id)
            if row is None or row.status != signups_db.PENDING or not row.email:
                dropped.append(mail.id)
            elif row.email_key in seen:
                waiting.append(mail.id)
            else:
                seen.add(str(row.email_key))
                recipients.append(self._recipient(row, at))
                mails.append(mail)
        if dropped or waiting:
            with write_transaction(db):
                for mail_id in dropped:
                    signups_db.drop_mail(db, mail_id)
                for mail_id in waiting:
                    signups_db.mark_unsent(db, mail_id, "same address in the batch", at)
        return recipients, mails

    def _recipient(self, row: signups_db.SignupRow, at: int) -> Recipient:
        url = confirm_url(self.base_url, confirm_token(self.key, row.id, at))
        name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
        substitutions = {
            CONFIRM_URL: url,
            CONSENT_HTML: escape(row.consent),
            CONSENT_TEXT: row.consent,
        }
        return Recipient(row.id, str(row.email), name, substitutions)

    def _settle(
        self,
        db: Database,
        mails: list[signups_db.QueuedMail],
        answer: ProviderAnswer,
        at: int,
    ) -> int:
        if answer.kind is AnswerKind.ACCEPTED:
            with write_transaction(db):
                ids = [mail.id for mail in mails]
                return signups_db.mark_sent(db, ids, answer.message_id or "")
        with write_transaction(db):
            for position, mail in enumerate(mails):
                if answer.kind is AnswerKind.REJECTED and answer.rejected:
                    # Only the addresses it names are refused; the others go again at once.
                    retry = None if position in answer.rejected else at
                    signups_db.mark_unsent(db, mail.id, answer.kind.value, retry)
                else:
                    retry_at = self._retry_at(answer, mail, at)
                    signups_db.mark_unsent(db, mail.id, answer.kind.value, retry_at)
        log.warning("%d confirmation messages were not sent (%s)", len(mails), answer.kind.value)
        return 0

    def _retry_at(self, answer: ProviderAnswer, mail: signups_db.QueuedMail, at: int) -> int | None:
        if answer.kind is AnswerKind.REJECTED or mail.attempts >= MAX_ATTEMPTS:
            return None
        if answer.kind is AnswerKind.RATE_LIMITED and answer.retry_at is not None:
            return max(at + 1, int(answer.retry_at) + 1)
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (mail.attempts - 1))
        if answer.kind not in RETRYABLE and answer.kind is not AnswerKind.LOST:
            delay = max(delay, 300.0)  # credentials or endpoint: a person must fix a setting
        return at + int(delay)


def confirmation_mailer(config: Config, key: bytes, confirm_days: int) -> ConfirmationMailer | None:
    """The mailer of confirmation messages, or None (and a log line) when sending is not set up.

    Signups are queued all the same, and sent once it is.
    """
    try:
        provider = providers.provider_for(config)
        provider.check_sending()
        settings = providers.send_settings(config)
        from_email = config.require("from_email")
        base_url = config.require("base_url")
    except ConfigError as exc:
        log.warning("confirmation messages are not sent: %s", exc)
        return None
    settings = replace(settings, retries=0, tracking=False, rate=None)
    return ConfirmationMailer(
        provider,
        settings,
        key,
        base_url,
        from_email,
        confirm_days,
        config.get("from_name"),
        config.get("reply_to"),
        config.get("org_name"),
        config.get("postal_address"),
    )


def housekeeping(db: Database, now: float | None = None) -> int:
    """Expire the signups past their days and purge ended rate-limit windows."""
    at = clock.now().timestamp() if now is None else now
    with write_transaction(db):
        expired = signups_db.expire_signups(db, iso(at))
        rate_limits.purge(db, now=at)
    return expired


class ConfirmationSender:
    """The background thread of `alerts serve` that sends the queue.

    `wake()` (after a signup is committed) makes it look at the queue at once;
    otherwise it looks when the next retry is due, and at least every second.
    """

    def __init__(self, connect: Callable[[], Database], mailer: ConfirmationMailer | None):
        self._connect = connect
        self._mailer = mailer
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-signup-mail", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        db = self._connect()
        last_housekeeping = 0.0
        try:
            while not self._stop.is_set():
                self._wake.clear()
                now = clock.now().timestamp()
                if now - last_housekeeping >= HOUSEKEEPING_SECONDS:
                    self._safely(lambda: housekeeping(db) >= 0)
                    last_housekeeping = now
                if self._mailer is not None and self._safely(lambda: self._send(db)):
                    continue  # more are due already
                self._wake.wait(1.0)
        finally:
            db.close()

    def _send(self, db: Database) -> bool:
        """One pass over the queue; True when more messages are due at once."""
        assert self._mailer is not None
        self._mailer.send_due(db)
        due = signups_db.next_due(db)
        return due is not None and due <= clock.now().timestamp()

    @staticmethod
    def _safely(work: Callable[[], bool | int]) -> bool:
        try:
            return bool(work())
        except Exception:
            log.exception("the confirmation sender failed; it tries again shortly")
            return False
