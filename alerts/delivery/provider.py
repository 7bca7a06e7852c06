"""What the send engine needs of an email delivery provider, in the project's own terms.

A provider is one package under delivery/providers/ (SendGrid's is the only one
today). It turns a `Batch` (message-level content with placeholders, and each
recipient's substitutions and headers) into its own API request, and its
answer into a `ProviderAnswer` the engine acts on: sent, retried, split,
refused. On the way back it checks and reads its event webhook into
models.ProviderEvent values that tracking/ingest.py stores.

Nothing outside the provider's package knows its wire format, limits, event
names or signature scheme; everything here is provider-neutral.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from alerts.models import ParsedEvents, Subscriber


@dataclass(frozen=True)
class BatchLimits:
    """What one request to the provider may hold, as far as the project is concerned."""

    provider: str  # the provider's name for people, e.g. "SendGrid"
    max_recipients: int
    max_substitution_bytes: int | None = None  # keys and values per recipient; None: no cap
    # Delivers to addresses with non-ASCII characters before the @ (RFC 6531 SMTPUTF8).
    smtputf8: bool = False

    def unsupported_address(self, email: str) -> str | None:
        """Why the provider would not deliver to `email`, or None if it would.

        The part of an address after the @ can be spelled in ASCII (IDNA); the part
        before it cannot, and needs SMTPUTF8. A provider without it may take the
        message and drop it. The ledger records a skip for this as UNSUPPORTED_ADDRESS.
        """
        if self.smtputf8 or email.rpartition("@")[0].isascii():
            return None
        return (
            f"{self.provider} drops addresses with non-ASCII characters before the @; "
            "a send skips it (allow_smtputf8 sends it, for a provider with SMTPUTF8)"
        )


UNSUPPORTED_ADDRESS = "unsupported_address"  # the ledger's reason for such a skip


@dataclass(frozen=True)
class SendSettings:
    """How hard the engine pushes the provider (the provider's own settings are its own)."""

    timeout: float = 30.0  # seconds to wait for the answer to one request
    concurrency: int = 8
    batch_size: int = 1000
    rate: float | None = None  # messages per second; None: no cap
    retries: int = 6
    tracking: bool = False  # the provider's own open and click tracking
    backoff_base: float = 1.0  # first retry delay, doubled after each failure
    backoff_max: float = 60.0
    max_rate_limit_wait: float = 900.0  # a longer wait for a rate limit stops the run instead

    @property
    def effective_batch_size(self) -> int:
        """Under a low rate cap, smaller requests spread the messages evenly over time."""
        if self.rate is None:
            return self.batch_size
        return max(1, min(self.batch_size, math.floor(self.rate)))


@dataclass(frozen=True)
class Content:
    """What every message of a batch shares; placeholders are filled per recipient."""

    from_email: str
    subject: str
    html: str
    text: str
    from_name: str | None = None
    reply_to: str | None = None
    categories: tuple[str, ...] = ()  # labels the provider files the messages under


@dataclass(frozen=True)
class Recipient:
    """One recipient of a batch: their address, and the values and headers of their copy."""

    subscriber_id: int
    email: str
    name: str | None = None
    substitutions: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        person: Subscriber,
        substitutions: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Recipient:
        if person.id is None or not person.email:
            raise ValueError("a recipient needs a stored subscriber with an address")
        return cls(
            person.id,
            person.email,
            person.full_name or None,
            dict(substitutions or {}),
            dict(headers or {}),
        )


@dataclass(frozen=True)
class Batch:
    """One request's worth of messages.

    `campaign_id` tags every message so that the provider's events about them
    name the campaign and the recipient; None sends them untagged (test sends,
    letter copies), so their events never count towards a campaign.
    """

    content: Content
    recipients: tuple[Recipient, ...]
    campaign_id: int | None = None

    def part(self, indices: Iterable[int]) -> Batch:
        """The same batch for the recipients at these positions only."""
        return Batch(self.content, tuple(self.recipients[i] for i in indices), self.campaign_id)


class AnswerKind(Enum):
    """What the provider's answer to one request means for its recipients."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # invalid: some recipients named, or the message itself
    TOO_LARGE = "too_large"  # the request is over the provider's size limit: split it
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    NOT_SENT = "not_sent"  # the request never reached the provider
    LOST = "lost"  # the request went out and no answer came back: it may have been accepted
    AUTH = "auth"  # the provider refused our credentials
    REFUSED = "refused"  # any other refusal (a wrong endpoint...)


RETRYABLE = frozenset({AnswerKind.RATE_LIMITED, AnswerKind.SERVER_ERROR, AnswerKind.NOT_SENT})


@dataclass(frozen=True)
class ProviderAnswer:
    """The provider's answer to one request, as the engine needs to know it."""

    kind: AnswerKind
    detail: str  # one line for logs, ledger reasons and errors
    message_id: str | None = None  # ACCEPTED: the provider's id for the request's messages
    rejected: Mapping[int, str] = field(default_factory=dict)  # position in batch -> why
    message_problem: str = ""  # REJECTED with nobody named: what is wrong with the message
    retry_at: float | None = None  # RATE_LIMITED: Unix time the limit resets, when known
    hint: str = ""  # AUTH, REFUSED: which setting to check


class DeliveryProvider(Protocol):
    """An email delivery provider, configured: sending, and reading its event webhook."""

    @property
    def name(self) -> str:
        """Short and stable: stored with its events, and the webhook path /webhooks/<name>."""
        ...

    @property
    def limits(self) -> BatchLimits: ...

    @property
    def endpoint(self) -> str:
        """Where requests go, for people (the confirmation of `alerts send`)."""
        ...

    def check_sending(self) -> None:
        """Raise ConfigError unless this provider can send (credentials, endpoint)."""
        ...

    def check_batch(self, batch: Batch) -> None:
        """Raise SendError when the provider would refuse the batch whoever it is for."""
        ...

    def send_batch(self, batch: Batch, settings: SendSettings) -> ProviderAnswer:
        """Make one request; never raises for what the provider or the network does."""
        ...

    def check_webhooks(self) -> str | None:
        """ConfigError for bad webhook settings; a warning when requests cannot be verified."""
        ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> None:
        """Raise WebhookAuthError unless the request comes from the provider, recently."""
        ...

    def parse_events(self, body: bytes, source: str) -> ParsedEvents:
        """A webhook body or saved payload as events; EventPayloadError names `source`."""
        ...
