"""SendGrid as the project's delivery provider: the only home of its SDK and its ways.

client.py posts with the official client and reads its answers, wire.py
builds the mail/send body and holds SendGrid's limits, webhook.py checks and
reads its Event Webhook, and standin.py is a local server that answers like
SendGrid for tests, benchmarks and the demo. `SendGridProvider` puts them
behind delivery.provider.DeliveryProvider.

Its settings are the sendgrid_* keys of alerts.toml and SENDGRID_API_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from alerts.config import Config, ConfigError
from alerts.delivery.provider import Batch, BatchLimits, ProviderAnswer, SendSettings
from alerts.delivery.providers.sendgrid import webhook, wire
from alerts.models import ParsedEvents

if TYPE_CHECKING:
    from alerts.delivery.providers.sendgrid.client import SendGridClient

NAME = "sendgrid"
API_KEY_ENV = "SENDGRID_API_KEY"
DEFAULT_HOST = "https://api.sendgrid.com"


class SendGridProvider:
    """SendGrid for one API key and host, and the public key of its signed webhook."""

    name = NAME
    limits: BatchLimits = wire.LIMITS

    def __init__(
        self,
        api_key: str = "",
        host: str = DEFAULT_HOST,
        webhook_public_key: str | None = None,
        allow_smtputf8: bool = False,
    ) -> None:
        self.api_key = api_key
        self.host = host.rstrip("/")
        self.webhook_public_key = webhook_public_key
        if allow_smtputf8:  # the account delivers them after all: the setting says so
            self.limits = replace(wire.LIMITS, smtputf8=True)

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None) -> SendGridProvider:
        """The provider as alerts.toml and the environment set it up; checked only when used."""
        api_key = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
        public_key = config.get(webhook.PUBLIC_KEY_SETTING)
        return cls(
            api_key,
            str(config.get("sendgrid_host")),
            str(public_key or "") or None,
            allow_smtputf8=config.get("allow_smtputf8"),
        )

    @property
    def endpoint(self) -> str:
        return self.host

    def check_sending(self) -> None:
        if not self.api_key:
            raise ConfigError(f"{API_KEY_ENV} is not set: export your SendGrid API key first")
        if not self.host.startswith(("http://", "https://")):
            raise ConfigError(f"sendgrid_host must be an http(s) URL, not {self.host!r}")

    def check_batch(self, batch: Batch) -> None:
        wire.check_categories(batch.content.categories)

    def send_batch(self, batch: Batch, settings: SendSettings) -> ProviderAnswer:
        body = wire.mail_body(batch, settings.tracking)
        return self._client.post(body, batch.recipients, settings.timeout)

    @cached_property
    def _client(self) -> SendGridClient:
        # Imported on first send: the SDK takes a noticeable time to load, and most
        # commands (and the webhook) never send.
        from alerts.delivery.providers.sendgrid.client import SendGridClient

        return SendGridClient(self.api_key, self.host)

    def check_webhooks(self) -> str | None:
        if self._verifier is not None:
            return None
        return (
            f"{webhook.PUBLIC_KEY_SETTING} is not set: the SendGrid webhook accepts unsigned"
            " requests (see docs/tracking.md)"
        )

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> None:
        if self._verifier is not None:
            self._verifier.verify(body, headers, now)

    @cached_property
    def _verifier(self) -> webhook.WebhookVerifier | None:
        if self.webhook_public_key is None:
            return None
        return webhook.WebhookVerifier(self.webhook_public_key)

    def parse_events(self, body: bytes, source: str) -> ParsedEvents:
        return webhook.parse_events(body, source)


def send_settings(config: Config, rate: float | None = None) -> SendSettings:
    """The engine's settings from the sendgrid_* keys; `rate` overrides sendgrid_rate."""
    rate = rate if rate is not None else config.get("sendgrid_rate")
    settings = SendSettings(
        timeout=float(config.get("sendgrid_timeout")),
        concurrency=int(config.get("sendgrid_concurrency")),
        batch_size=int(config.get("sendgrid_batch_size")),
        rate=None if rate is None else float(rate),
        retries=int(config.get("sendgrid_retries")),
        tracking=bool(config.get("sendgrid_tracking")),
    )
    most = wire.LIMITS.max_recipients
    checks = (
        ("sendgrid_timeout", settings.timeout > 0, "a number of seconds above 0"),
        ("sendgrid_concurrency", 1 <= settings.concurrency <= 64, "between 1 and 64"),
        ("sendgrid_batch_size", 1 <= settings.batch_size <= most, f"between 1 and {most}"),
        ("sendgrid_retries", settings.retries >= 0, "0 or more"),
        ("sendgrid_rate", settings.rate is None or settings.rate > 0, "a number above 0"),
    )
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{name} must be {expected}")
    return settings
