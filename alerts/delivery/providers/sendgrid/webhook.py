"""SendGrid's Event Webhook: checking its signature, and reading its events.

`WebhookVerifier` checks the ECDSA P-256 signature over the signed timestamp
and the raw body, and the age of that timestamp. `parse_events` reads a JSON
array of SendGrid events into models.ProviderEvent values: SendGrid's event
names become the project's kinds, the custom_args the sender set
(alerts_campaign, alerts_recipient) become the ids the event claims, and the
events that say something about the address itself carry its status change.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from alerts.config import ConfigError
from alerts.delivery.providers.sendgrid.wire import CAMPAIGN_ARG, RECIPIENT_ARG
from alerts.errors import EventPayloadError, WebhookAuthError
from alerts.models import EventKind, ParsedEvents, ProviderDetail, ProviderEvent, Status

PUBLIC_KEY_SETTING: Final = "sendgrid_webhook_public_key"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SIGNATURE_MAX_AGE = 600  # seconds a signed timestamp may differ from our clock
MAX_EVENT_ID = 200  # characters
MAX_ID = 2**63 - 1  # the largest id SQLite stores, and so the largest we send
MAX_INTEGER_DIGITS = 30  # longer JSON integers are read as floats

KIND_BY_EVENT: dict[str, str] = {
    "processed": EventKind.ACCEPTED,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCE,
    "dropped": EventKind.DROPPED,
    "spamreport": EventKind.COMPLAINT,
    "open": EventKind.PROVIDER_OPEN,
    "click": EventKind.PROVIDER_CLICK,
    "unsubscribe": EventKind.PROVIDER_UNSUBSCRIBE,
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
_WITH_USER_AGENT = (EventKind.PROVIDER_OPEN, EventKind.PROVIDER_CLICK)
# What is kept of an event besides its kind, time and ids (never `email` or `ip`).
DETAIL_FIELDS = (
    "sg_message_id",
    "reason",
    "status",
    "type",
    "response",
    "attempt",
    "asm_group_id",
)
_EMAIL = re.compile(r"[^\s<>()\"',;:@]+@[^\s<>()\"',;:@]+")


# --------------------------------------------------------------------------
# Signatures


class WebhookVerifier:
    """Checks SendGrid's ECDSA P-256 signature over timestamp + raw body."""

    def __init__(self, public_key: str, max_age: int = SIGNATURE_MAX_AGE) -> None:
        self._key = load_public_key(public_key)
        self._max_age = max_age

    def verify(self, body: bytes, headers: Mapping[str, str], now: float) -> None:
        """Raise WebhookAuthError unless the request is signed by SendGrid, recently."""
        named = {name.lower(): value for name, value in headers.items()}  # any letter case
        signature = named.get(SIGNATURE_HEADER.lower())
        timestamp = named.get(TIMESTAMP_HEADER.lower())
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


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from its base64 (or PEM) SubjectPublicKeyInfo text."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        key = load_der_public_key(base64.b64decode("".join(body.split()), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{PUBLIC_KEY_SETTING}: not a base64 public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{PUBLIC_KEY_SETTING}: not an ECDSA P-256 public key")
    return key


# --------------------------------------------------------------------------
# Events


def parse_events(body: bytes, source: str) -> ParsedEvents:
    """A webhook body or saved payload (a JSON array of event objects) as events.

    A payload that is not such an array raises EventPayloadError naming `source`.
    An item that is not an event we could have caused (no sg_event_id, type or
    timestamp; a custom_args id that is a number but no id of ours; text that is
    not Unicode) is counted invalid and skipped, one of a type the project does
    not keep ignored: the rest of the batch is read all the same.
    """
    items = _event_objects(body, source)
    events: list[ProviderEvent] = []
    invalid = ignored = 0
    for raw in items:
        event_type = raw.get("event")
        event_id = raw.get("sg_event_id")
        at = _timestamp(raw.get("timestamp"))
        if (
            not isinstance(event_type, str)
            or not isinstance(event_id, str)
            or not 0 < len(event_id) <= MAX_EVENT_ID
            or at is None
            or not _is_unicode(raw)
        ):
            invalid += 1
        elif event_type not in KIND_BY_EVENT:
            ignored += 1
        else:
            try:
                events.append(_event(raw, event_type, event_id, at))
            except _NotOurId:
                invalid += 1
    return ParsedEvents(tuple(events), len(items), invalid, ignored)


class _NotOurId(ValueError):
    """A custom_args id that is a number, but not one a message of ours carries."""


def _is_unicode(raw: dict[str, Any]) -> bool:
    """False when a string of the event holds a lone surrogate (JSON allows "\\ud800")."""
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def _event(raw: dict[str, Any], event_type: str, event_id: str, at: int) -> ProviderEvent:
    kind = KIND_BY_EVENT[event_type]
    email = raw.get("email")
    user_agent = raw.get("useragent") if kind in _WITH_USER_AGENT else None
    return ProviderEvent(
        kind=kind,
        provider_event_id=event_id,
        at=at,
        email=email if isinstance(email, str) else None,
        campaign_id=_id_arg(raw.get(CAMPAIGN_ARG)),
        subscriber_id=_id_arg(raw.get(RECIPIENT_ARG)),
        status_change=_status_change(event_type, raw),
        machine=kind == EventKind.PROVIDER_OPEN and raw.get("sg_machine_open") is True,
        user_agent=user_agent if isinstance(user_agent, str) else None,
        detail=_detail(raw),
    )


def _event_objects(body: bytes, source: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(body, parse_int=_json_integer)
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


def _json_integer(digits: str) -> int | float:
    """A JSON integer; one too long for any id or time is read as a float, not refused."""
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS else float(digits)


def _id_arg(value: Any) -> int | None:
    """A custom_args id: a string of digits (as the sender writes it) or an integer.

    None when the message carries none, or something that is not a number (mail
    another tool tagged); _NotOurId for a number no message of ours carries.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return None
        if len(value) > MAX_INTEGER_DIGITS:
            raise _NotOurId(value[:40])
        value = int(value)
    if isinstance(value, float) or (isinstance(value, int) and not 0 < value <= MAX_ID):
        raise _NotOurId(str(value)[:40])
    return value if isinstance(value, int) else None


def _timestamp(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**40:
        return int(value)
    return None


def _status_change(event_type: str, raw: dict[str, Any]) -> str | None:
    if event_type == "bounce":
        # `blocked` is a refusal of this message (content, reputation), not of the address.
        return Status.BOUNCED if raw.get("type", "bounce") == "bounce" else None
    if event_type == "dropped":
        reason = raw.get("reason")
        if not isinstance(reason, str):
            return None
        return STATUS_BY_DROP_REASON.get(reason.strip().lower())
    if event_type == "spamreport":
        return Status.COMPLAINED
    if event_type in ("unsubscribe", "group_unsubscribe"):
        return Status.UNSUBSCRIBED
    return None


def _detail(raw: dict[str, Any]) -> dict[str, ProviderDetail]:
    detail = {name: _scrub(raw[name]) for name in DETAIL_FIELDS if name in raw}
    return {name: value for name, value in detail.items() if value is not None}


def _scrub(value: Any) -> ProviderDetail | None:
    """SMTP responses often quote the address: keep the rest, drop the address."""
    if isinstance(value, str):
        return _EMAIL.sub("<address>", value)[:300]
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return None
