"""The delivery providers, one package each, and the one the project sends through.

SendGrid is the only provider today, so it is the configured one. A second
provider is a new package beside sendgrid/ with a class that satisfies
delivery.provider.DeliveryProvider and a `send_settings(config, rate)`; it is
added to PROVIDERS here, with a setting that picks it.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.config import Config
from alerts.delivery.provider import BatchLimits, DeliveryProvider, SendSettings
from alerts.delivery.providers import sendgrid

PROVIDERS = (sendgrid.NAME,)  # by name: stored with their events; /webhooks/<name>


def provider_for(config: Config, env: Mapping[str, str] | None = None) -> DeliveryProvider:
    """The configured provider. Its settings are checked when it is used."""
    return sendgrid.SendGridProvider.from_config(config, env)


def send_settings(config: Config, rate: float | None = None) -> SendSettings:
    """How the engine sends through the configured provider; ConfigError for a bad setting."""
    return sendgrid.send_settings(config, rate)


def batch_limits() -> BatchLimits:
    """What one request to the configured provider may hold (campaign checks need it)."""
    return sendgrid.SendGridProvider.limits
