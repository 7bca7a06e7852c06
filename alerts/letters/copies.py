"""The letter page's "Email me a copy": the letter as the visitor left it, to their own address.

One message, untracked and untagged, so that it never counts towards a
campaign. A copy is counted against the subscriber's limits before it is
sent (tracking.recording.reserve_letter_copy) and the count is released
if sending fails, so racing requests cannot pass the limit together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from alerts.config import Config, ConfigError
from alerts.db import Database
from alerts.delivery import engine, providers
from alerts.delivery.provider import Batch, Content, DeliveryProvider, Recipient, SendSettings
from alerts.email.letter_copy import render_letter_copy
from alerts.email.personalise import short_name
from alerts.errors import AlertsError
from alerts.letters.actions import LetterProblem, check_letter_edit
from alerts.letters.page import LetterPage, LetterTarget
from alerts.subscribers import lifecycle
from alerts.tracking import recording
from alerts.tracking.committer import Job
from alerts.tracking.machines import Visit

LETTER_COPY_RETRIES = 1  # a person is waiting: one retry at most, then an apology
LETTER_COPY_TIMEOUT = 15.0
LETTER_COPY_CATEGORY = "letter-copy"

log = logging.getLogger("alerts.letters")

Submit = Callable[[Job[Any]], Future[Any]]


def can_receive_copy(page: LetterPage) -> bool:
    """Whether a copy may go to the subscriber's address at all."""
    return lifecycle.may_get_letter_copy(page.subscriber)


@dataclass(frozen=True)
class LetterCopySender:
    """Emails a subscriber the letter they edited: one message, untracked and untagged."""

    provider: DeliveryProvider
    settings: SendSettings
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    org_name: str | None = None
    postal_address: str | None = None

    def send(self, page: LetterPage, target: LetterTarget, page_url: str) -> str:
        """Send `target`'s letter as `page` holds it; returns the provider's message id."""
        copy = render_letter_copy(
            first_name=short_name(page.subscriber.first_name),
            member=target.member,
            contact_url=target.contact_url,
            contact_is_form=target.contact_is_form,
            phone=target.member.phone,
            page_url=page_url,
            letter_subject=target.subject,
            letter=target.letter,
            org_name=self.org_name,
            postal_address=self.postal_address,
        )
        content = Content(
            from_email=self.from_email,
            subject=copy.subject,
            html=copy.html,
            text=copy.text,
            from_name=self.from_name,
            reply_to=self.reply_to,
            categories=(LETTER_COPY_CATEGORY,),
        )
        batch = Batch(content, (Recipient.of(page.subscriber),))
        return engine.send_message(self.provider, self.settings, batch)


def letter_copy_sender(
    config: Config, env: Mapping[str, str] | None = None
) -> LetterCopySender | None:
    """The sender of letter copies, or None (and a log line) when sending is not set up."""
    try:
        provider = providers.provider_for(config, env)
        provider.check_sending()
        settings = providers.send_settings(config)
        from_email = config.require("from_email")
    except ConfigError as exc:
        log.warning("'Email me a copy' is off on letter pages: %s", exc)
        return None
    settings = replace(
        settings,
        retries=min(settings.retries, LETTER_COPY_RETRIES),
        timeout=min(settings.timeout, LETTER_COPY_TIMEOUT),
        tracking=False,
        rate=None,
    )
    return LetterCopySender(
        provider,
        settings,
        from_email,
        config.get("from_name"),
        config.get("reply_to"),
        config.get("org_name"),
        config.get("postal_address"),
    )


class CopyOutcome(StrEnum):
    SENT = "sent"
    INVALID = "invalid"  # the edited letter cannot be sent as it is
    UNAVAILABLE = "unavailable"  # copies are off, or the address may not be mailed
    LIMITED = "limited"  # too many copies lately: retry later
    FAILED = "failed"  # the provider did not take the message


@dataclass(frozen=True)
class CopyResult:
    outcome: CopyOutcome
    problem: LetterProblem | None = None  # INVALID: what is wrong
    retry_after: int = 0  # LIMITED: seconds until the next copy is allowed


class CopyAllowance(Protocol):
    """How copies count against limits: before one is sent, and given back if it fails."""

    def reserve(self, db: Database) -> int:
        """Count one copy (a writer job): 0 when it may go, else seconds to wait."""
        ...

    def release(self, db: Database) -> None:
        """Give back the copy `reserve` counted, when it could not be sent (a writer job)."""
        ...


class SubscriberAllowance:
    """A subscriber's copies: letter_emailed events, within LETTER_COPY_LIMITS."""

    def __init__(self, page: LetterPage, bioguide: str, visit: Visit) -> None:
        self.page, self.bioguide, self.visit = page, bioguide, visit
        self.event_id: int | None = None

    def reserve(self, db: Database) -> int:
        page = self.page
        permit = recording.reserve_letter_copy(
            db, page.campaign_id, page.subscriber_id, self.bioguide, self.visit
        )
        self.event_id = permit.event_id
        return 0 if permit.granted else permit.retry_after

    def release(self, db: Database) -> None:
        if self.event_id is not None:
            recording.release_letter_copy(db, self.event_id)


def email_copy(
    submit: Submit,
    sender: LetterCopySender | None,
    page: LetterPage,
    target: LetterTarget,
    page_url: str,
    visit: Visit,
    allowance: CopyAllowance | None = None,
) -> CopyResult:
    """Email `target`'s letter as `page` holds it (edited) to the subscriber.

    Blocks until the provider answers: run it off the event loop. `submit`
    runs writer jobs (the server's group committer) and returns their futures.
    The copy counts against `allowance`, by default the subscriber's own.
    """
    problem = check_letter_edit(target.subject, target.letter)
    if problem is not None:
        return CopyResult(CopyOutcome.INVALID, problem)
    if sender is None or not can_receive_copy(page):
        return CopyResult(CopyOutcome.UNAVAILABLE)
    if allowance is None:
        allowance = SubscriberAllowance(page, target.member.bioguide, visit)
    retry_after: int = submit(allowance.reserve).result()
    if retry_after:
        return CopyResult(CopyOutcome.LIMITED, retry_after=retry_after)
    try:
        sender.send(page, target, page_url)
    except AlertsError as exc:
        # A provider's messages can quote the address: the log names only the kind.
        log.warning("a letter copy could not be sent (%s)", type(exc).__name__)
        submit(allowance.release).result()
        return CopyResult(CopyOutcome.FAILED)
    return CopyResult(CopyOutcome.SENT)
