"""SendGrid's POST /v3/mail/send: its limits, and the request body for a batch.

The body is message-level content with placeholders (subject, text, HTML,
sender, categories) and one personalization per recipient with their
`substitutions`, headers and `custom_args`; SendGrid fills in each copy.
custom_args carry only our ids (alerts_campaign, alerts_recipient), which
SendGrid copies into every event about the message (see webhook.py).

The limits are said here once; the local stand-in (standin.py) checks them too.
"""

from __future__ import annotations

import re
from typing import Any

from alerts.delivery.provider import Batch, BatchLimits, Recipient
from alerts.errors import SendError
from alerts.subscribers.normalise import strip_controls

TITLE = "SendGrid"
MAIL_SEND_PATH = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000  # to, cc and bcc over every personalization of a request
MAX_SUBSTITUTION_BYTES = 10_000  # keys and values of one personalization
MAX_CUSTOM_ARGS_BYTES = 10_000  # SendGrid wants the total strictly under this
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255
MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_SEND_AT_AHEAD = 72 * 3600  # seconds

LIMITS = BatchLimits(
    provider=TITLE,
    max_recipients=min(MAX_PERSONALIZATIONS, MAX_RECIPIENTS),
    max_substitution_bytes=MAX_SUBSTITUTION_BYTES,
    smtputf8=False,  # an address with non-ASCII before the @ is taken with 202, then dropped
)

CAMPAIGN_ARG = "alerts_campaign"
RECIPIENT_ARG = "alerts_recipient"


def mail_body(batch: Batch, tracking: bool) -> dict[str, Any]:
    """The mail/send body: personalizations[i] is addressed to batch.recipients[i]."""
    content = batch.content
    sender: dict[str, str] = {"email": content.from_email}
    if content.from_name:
        sender["name"] = content.from_name
    body: dict[str, Any] = {
        "personalizations": [personalization(r, batch.campaign_id) for r in batch.recipients],
        "from": sender,
        "subject": content.subject,
        "content": [
            {"type": "text/plain", "value": content.text},
            {"type": "text/html", "value": content.html},
        ],
    }
    if content.reply_to:
        body["reply_to"] = {"email": content.reply_to}
    categories = unique_categories(content.categories)
    if categories:
        body["categories"] = categories
    body["tracking_settings"] = tracking_settings(tracking)
    return body


def personalization(recipient: Recipient, campaign_id: int | None) -> dict[str, Any]:
    address = {"email": recipient.email}
    name = display_name(recipient.name)
    if name:
        address["name"] = name
    item: dict[str, Any] = {"to": [address]}
    if recipient.substitutions:
        item["substitutions"] = dict(recipient.substitutions)
    if recipient.headers:
        item["headers"] = dict(recipient.headers)
    if campaign_id is not None:
        item["custom_args"] = custom_args(campaign_id, recipient.subscriber_id)
    return item


def custom_args(campaign_id: int, subscriber_id: int) -> dict[str, str]:
    """The only custom_args a message carries: identifiers, never personal data."""
    return {CAMPAIGN_ARG: str(campaign_id), RECIPIENT_ARG: str(subscriber_id)}


def tracking_settings(enabled: bool) -> dict[str, Any]:
    """SendGrid's own tracking: off unless asked (the project tracks opens and clicks itself)."""
    return {
        "click_tracking": {"enable": enabled, "enable_text": enabled},
        "open_tracking": {"enable": enabled},
        "subscription_tracking": {"enable": False},  # the project has its own unsubscribe
    }


def display_name(name: str | None) -> str | None:
    """The recipient's name as SendGrid accepts it (no `;`, `,`, quotes or controls), or None."""
    cleaned = strip_controls(" ".join(re.sub(r'[;,"]+', " ", name or "").split()))
    return cleaned or None


def unique_categories(categories: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(categories))


def check_categories(categories: tuple[str, ...]) -> None:
    """SendGrid refuses more than 10 categories, or one longer than 255 characters."""
    wanted = unique_categories(categories)
    if len(wanted) > MAX_CATEGORIES:
        raise SendError(f"categories: SendGrid allows at most {MAX_CATEGORIES}, got {len(wanted)}")
    for category in wanted:
        if not category or len(category) > MAX_CATEGORY_CHARS:
            raise SendError(
                f"categories: each must be 1 to {MAX_CATEGORY_CHARS} characters: {category[:40]!r}"
            )
