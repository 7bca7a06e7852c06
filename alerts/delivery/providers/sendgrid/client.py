"""Posting a mail/send body with the official client, and what SendGrid's answer means.

Every outcome of a post becomes a ProviderAnswer: 2xx accepted (with the
X-Message-Id); 400 rejected, naming the recipients at fault when SendGrid
does; 413 too large; 429 rate limited (until X-RateLimit-Reset); 5xx a server
error; 401/403 the key refused; a connection that failed while connecting or
writing the request was not sent; a timeout or a connection broken after the
request went out is lost (SendGrid may have accepted it).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
from collections.abc import Mapping
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from alerts.delivery.provider import AnswerKind, ProviderAnswer, Recipient
from alerts.delivery.providers.sendgrid import API_KEY_ENV

# python_http_client logs whole request bodies (addresses, names) at DEBUG level.
# Personal data never goes to logs, whatever the application's logging setup.
logging.getLogger("python_http_client").setLevel(logging.INFO)

_KIND_OF_STATUS = {
    400: AnswerKind.REJECTED,
    401: AnswerKind.AUTH,
    403: AnswerKind.AUTH,
    413: AnswerKind.TOO_LARGE,
    429: AnswerKind.RATE_LIMITED,
}
_HINTS = {
    AnswerKind.AUTH: f"check {API_KEY_ENV} and its Mail Send permission",
    AnswerKind.REFUSED: "check sendgrid_host",
}
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)(\.|$)")
_BRACKETED_ADDRESS = re.compile(r"\[([^\]\s]+@[^\]\s]+)\]")


class SendGridClient:
    """The official client for one API key and host; safe to share between threads."""

    def __init__(self, api_key: str, host: str) -> None:
        self.host = host.rstrip("/")
        self._client = SendGridAPIClient(api_key=api_key, host=self.host)

    def post(
        self, body: dict[str, Any], recipients: tuple[Recipient, ...], timeout: float
    ) -> ProviderAnswer:
        """Post one body whose personalizations[i] is addressed to recipients[i]."""
        try:
            # The client has no timeout of its own: without one a request could hang forever.
            response = self._client.client.mail.send.post(request_body=body, timeout=timeout)
        except http_errors.HTTPError as exc:
            return _error_answer(int(exc.status_code), exc.body, exc.headers, recipients)
        except urllib.error.URLError as exc:
            # urllib wraps failures while connecting or writing the request: not sent.
            return ProviderAnswer(AnswerKind.NOT_SENT, f"could not reach {self.host}: {exc.reason}")
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, TimeoutError):
                detail = f"no answer from SendGrid within {timeout:g} s"
            else:
                detail = f"connection broken after the request was sent ({type(exc).__name__})"
            return ProviderAnswer(AnswerKind.LOST, detail)
        message_id = str(response.headers.get("X-Message-Id") or "")
        return ProviderAnswer(AnswerKind.ACCEPTED, "accepted", message_id=message_id)


def _error_answer(
    status: int, body: bytes | str | None, headers: Any, recipients: tuple[Recipient, ...]
) -> ProviderAnswer:
    errors = _error_objects(body)
    kind = _status_kind(status)
    return ProviderAnswer(
        kind,
        f"SendGrid {status}: {_describe(errors)}",
        rejected=_named_recipients(errors, recipients) if kind is AnswerKind.REJECTED else {},
        message_problem=_describe(errors),
        retry_at=_reset_time(headers),
        hint=_HINTS.get(kind, ""),
    )


def _status_kind(status: int) -> AnswerKind:
    if 200 <= status < 300:
        return AnswerKind.ACCEPTED
    if status >= 500:
        return AnswerKind.SERVER_ERROR
    return _KIND_OF_STATUS.get(status, AnswerKind.REFUSED)


def _error_objects(body: bytes | str | None) -> list[dict[str, Any]]:
    """The `errors` of SendGrid's JSON error body, or the body itself as one message."""
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


def _reset_time(headers: Mapping[str, str] | None) -> float | None:
    value = headers.get("X-RateLimit-Reset") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _named_recipients(
    errors: list[dict[str, Any]], recipients: tuple[Recipient, ...]
) -> dict[int, str]:
    """{position in the request: SendGrid's message} for the recipients a 400 blames.

    SendGrid names a personalization in `field` (personalizations.3.to.0.email); a
    duplicate-address message names the address in brackets instead.
    """
    by_email = {r.email.lower(): i for i, r in enumerate(recipients)}
    named: dict[int, str] = {}
    for error in errors:
        text = str(error.get("message") or "")
        message = f"SendGrid 400: {text.strip() or 'rejected'}"
        match = _PERSONALIZATION_FIELD.match(str(error.get("field") or ""))
        if match and int(match.group(1)) < len(recipients):
            named.setdefault(int(match.group(1)), message)
            continue
        for address in _BRACKETED_ADDRESS.findall(text):
            if address.lower() in by_email:
                named.setdefault(by_email[address.lower()], message)
    return named
