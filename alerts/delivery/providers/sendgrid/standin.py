"""A local stand-in for SendGrid's POST /v3/mail/send, for tests, benchmarks and the demo.

It is a real HTTP server on 127.0.0.1 (the standard library's) that checks a
request the way SendGrid does (Bearer auth, JSON body, the limits of wire.py),
answers with SendGrid's status codes and JSON error bodies, and records every
accepted request so each recipient's personalised message can be rebuilt.

Faults are injected from Python (`server.inject(Fault(...))`), through the
control endpoint (`control(url, faults=[...])`) or, for added latency, the
`--latency-ms` flag:

    python -m alerts.delivery.providers.sendgrid.standin --port 8025 \
        --store delivered.jsonl --latency-ms 50

Nothing here sends mail: it is test and demo infrastructure.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import signal
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from alerts.delivery.providers.sendgrid.wire import (
    MAIL_SEND_PATH,
    MAX_BODY_BYTES,
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    MAX_CUSTOM_ARGS_BYTES,
    MAX_PERSONALIZATIONS,
    MAX_RECIPIENTS,
    MAX_SEND_AT_AHEAD,
    MAX_SUBSTITUTION_BYTES,
    RECIPIENT_ARG,
)
from alerts.standins import Standin, StandinServer

CONTROL_PATH = "/_fake/control"
STATS_PATH = "/_fake/stats"

RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "Content-Type",
        "Content-Transfer-Encoding",
        "To",
        "From",
        "Subject",
        "Reply-To",
        "CC",
        "BCC",
    )
)
EMAIL_SYNTAX = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
HELP_URL = "https://docs.sendgrid.com/api-reference/mail-send/errors"

_MESSAGES = {
    "no_personalizations": (
        "The personalizations field is required and must have at least one personalization."
    ),
    "too_many_personalizations": (
        f"You may not have more than {MAX_PERSONALIZATIONS} personalizations per API request."
    ),
    "no_to": (
        "The to array is required for all personalization objects, and must have at "
        "least one email object with a valid email address."
    ),
    "custom_args_total": (
        f"The custom_args of a message must total less than {MAX_CUSTOM_ARGS_BYTES} bytes."
    ),
    "no_subject": (
        "The subject is required. You can get around this requirement if you use a "
        "template with a subject defined or if every personalization has a subject "
        "defined."
    ),
    "no_content": (
        "Unless a valid template_id is provided, the content parameter is required. "
        "There must be at least one defined content block."
    ),
    "empty_content": ("The content field must be an array of at least one content block."),
    "empty_value": ("The content value must be a string at least one character in length."),
    "content_order": (
        "If present, text/plain and text/html may only be provided in this order, "
        "followed by any other content."
    ),
    "too_many_categories": (f"You may not have more than {MAX_CATEGORIES} categories per request."),
    "long_category": (f"A category may not be more than {MAX_CATEGORY_CHARS} characters."),
}


FAULT_KINDS = ("status", "drop_before_body", "drop_after_body", "slow", "hang", "bad_address")


@dataclass
class Fault:
    """A misbehaviour applied to the next `times` mail/send requests, first come first served.

    kind "status" answers `status` (429 carries X-RateLimit-Reset `reset_after`
    seconds ahead when given); "drop_before_body" breaks the connection without
    reading the body; "drop_after_body" accepts the request, then breaks the
    connection instead of answering; "slow" accepts it and answers only after
    `delay` seconds; "hang" never reads the request (SendGrid never gets it) and
    drops the connection after `delay` seconds or when the fake stops, whichever
    comes first; "bad_address" makes `address` invalid until faults are
    cleared (it does not count down), so any request holding it gets a 400
    naming it.
    """

    kind: str
    status: int = 500
    times: int = 1
    delay: float = 0.0
    reset_after: float | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}: {self.kind!r}")
        if self.kind == "bad_address" and not self.address:
            raise ValueError("a bad_address fault needs an address")


@dataclass
class ApiError:
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "field": self.field, "help": HELP_URL}


@dataclass
class RequestRecord:
    """One mail/send request as the fake saw it, whatever the answer."""

    at: float
    status: int | None  # None: the connection was dropped
    personalizations: int
    recipients: int
    fault: str | None = None


@dataclass
class Accepted:
    """A request answered 202 (or accepted before a dropped or late answer)."""

    message_id: str
    at: float
    body: dict[str, Any]


@dataclass
class Delivery:
    """One recipient's message, rebuilt from an accepted request and its substitutions."""

    message_id: str
    email: str
    name: str | None
    subject: str | None
    html: str | None
    text: str | None
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: list[str]
    from_email: str | None
    reply_to: str | None

    @property
    def subscriber_id(self) -> int | None:
        """The subscriber the sender tagged this message with, if it did."""
        tagged = self.custom_args.get(RECIPIENT_ARG, "")
        return int(tagged) if tagged.isdigit() else None


# --------------------------------------------------------------------------
# Validation: what SendGrid checks before it accepts a request


def validate_mail(body: Any, *, now: float | None = None) -> list[ApiError]:
    """Every reason SendGrid would answer 400 to this body (empty when it is acceptable)."""
    if not isinstance(body, dict):
        return [ApiError("The request body must be a JSON object.")]
    errors: list[ApiError] = []
    errors += _check_from(body)
    errors += _check_personalizations(body)
    errors += _check_subject(body)
    errors += _check_content(body)
    errors += _check_string_map(body, "headers", None)
    errors += _check_reserved_headers(body.get("headers"), "headers")
    errors += _check_string_map(body, "custom_args", MAX_CUSTOM_ARGS_BYTES - 1)
    errors += _check_categories(body.get("categories"))
    errors += _check_settings(body)
    errors += _check_send_at(body.get("send_at"), "send_at", now)
    return errors


def _check_address(value: Any, where: str) -> list[ApiError]:
    if not isinstance(value, dict):
        return [ApiError("An email object with an email field is required.", where)]
    errors = []
    email = value.get("email")
    if not isinstance(email, str) or not EMAIL_SYNTAX.match(email):
        errors.append(ApiError("Does not contain a valid address.", f"{where}.email"))
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or ";" in name or "," in name):
        errors.append(ApiError("The name may not contain a semicolon or a comma.", f"{where}.name"))
    return errors


def _check_from(body: dict[str, Any]) -> list[ApiError]:
    if "from" not in body:
        return [ApiError("The from object must be provided for every email send.", "from")]
    errors = _check_address(body["from"], "from")
    if "reply_to" in body:
        errors += _check_address(body["reply_to"], "reply_to")
    return errors


def _check_personalizations(body: dict[str, Any]) -> list[ApiError]:
    items = body.get("personalizations")
    if not isinstance(items, list) or not items:
        return [ApiError(_MESSAGES["no_personalizations"], "personalizations")]
    if len(items) > MAX_PERSONALIZATIONS:
        return [ApiError(_MESSAGES["too_many_personalizations"], "personalizations")]
    errors: list[ApiError] = []
    seen: set[str] = set()
    recipients = 0
    for i, item in enumerate(items):
        where = f"personalizations.{i}"
        if not isinstance(item, dict):
            errors.append(ApiError("A personalization must be an object.", where))
            continue
        errors += _check_personalization(item, where, body.get("custom_args"))
        for role in ("to", "cc", "bcc"):
            for address in item.get(role) or []:
                if not isinstance(address, dict) or not isinstance(address.get("email"), str):
                    continue
                recipients += 1
                key = address["email"].strip().lower()
                if key in seen:
                    errors.append(_duplicate_error(address["email"], f"{where}.{role}"))
                seen.add(key)
    if recipients > MAX_RECIPIENTS:
        errors.append(
            ApiError(
                f"The total number of recipients must be no more than {MAX_RECIPIENTS}.",
                "personalizations",
            )
        )
    return errors


def _duplicate_error(email: str, where: str) -> ApiError:
    return ApiError(
        "Each email address in the personalization block should be unique between to, cc, "
        f"and bcc. We found the first duplicate instance of [{email}] in the {where} field.",
        where,
    )


def _check_personalization(item: dict[str, Any], where: str, message_args: Any) -> list[ApiError]:
    errors: list[ApiError] = []
    to = item.get("to")
    if not isinstance(to, list) or not to:
        errors.append(ApiError(_MESSAGES["no_to"], f"{where}.to"))
    for role in ("to", "cc", "bcc"):
        addresses = item.get(role)
        if addresses is None or (role == "to" and not isinstance(addresses, list)):
            continue
        if not isinstance(addresses, list):
            errors.append(ApiError(f"The {role} field must be an array.", f"{where}.{role}"))
            continue
        for j, address in enumerate(addresses):
            errors += _check_address(address, f"{where}.{role}.{j}")
    errors += _check_string_map(item, "substitutions", MAX_SUBSTITUTION_BYTES, where)
    errors += _check_string_map(item, "headers", None, where)
    errors += _check_reserved_headers(item.get("headers"), f"{where}.headers")
    errors += _check_string_map(item, "custom_args", MAX_CUSTOM_ARGS_BYTES - 1, where)
    if not errors and isinstance(message_args, dict) and isinstance(item.get("custom_args"), dict):
        combined = {**message_args, **item["custom_args"]}
        if _map_bytes(combined) >= MAX_CUSTOM_ARGS_BYTES:
            errors.append(ApiError(_MESSAGES["custom_args_total"], f"{where}.custom_args"))
    if "subject" in item and not isinstance(item["subject"], str):
        errors.append(ApiError("The subject must be a string.", f"{where}.subject"))
    errors += _check_send_at(item.get("send_at"), f"{where}.send_at", None)
    return errors


def _map_bytes(mapping: dict[str, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in mapping.items())


def _check_string_map(
    owner: dict[str, Any], key: str, max_bytes: int | None, prefix: str | None = None
) -> list[ApiError]:
    if key not in owner:
        return []
    where = f"{prefix}.{key}" if prefix else key
    mapping = owner[key]
    if not isinstance(mapping, dict):
        return [ApiError(f"The {key} field must be an object of string keys and values.", where)]
    for name, value in mapping.items():
        if not isinstance(value, str):
            return [
                ApiError(
                    f"Invalid type. Expected: string, given: {type(value).__name__}. "
                    f"The {key} value of {name!r} must be a string.",
                    where,
                )
            ]
    if max_bytes is not None and _map_bytes(mapping) > max_bytes:
        return [ApiError(f"The {key} field may not exceed {max_bytes} bytes.", where)]
    return []


def _check_reserved_headers(headers: Any, where: str) -> list[ApiError]:
    if not isinstance(headers, dict):
        return []
    reserved = sorted(name for name in headers if str(name).lower() in RESERVED_HEADERS)
    if reserved:
        return [ApiError(f"The header {reserved[0]} is reserved and cannot be set.", where)]
    return []


def _check_subject(body: dict[str, Any]) -> list[ApiError]:
    if "subject" in body:
        if isinstance(body["subject"], str) and body["subject"]:
            return []
        return [ApiError("The subject must be a non-empty string.", "subject")]
    items = body.get("personalizations")
    if body.get("template_id") or (
        isinstance(items, list)
        and all(isinstance(p, dict) and isinstance(p.get("subject"), str) for p in items)
    ):
        return []
    return [ApiError(_MESSAGES["no_subject"], "subject")]


def _check_content(body: dict[str, Any]) -> list[ApiError]:
    content = body.get("content")
    if content is None:
        if body.get("template_id"):
            return []
        return [ApiError(_MESSAGES["no_content"], "content")]
    if not isinstance(content, list) or not content:
        return [ApiError(_MESSAGES["empty_content"], "content")]
    errors: list[ApiError] = []
    types: list[str] = []
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            errors.append(ApiError("A content block must be an object.", f"content.{i}"))
            continue
        if not isinstance(block.get("type"), str) or not block["type"]:
            errors.append(ApiError("The content type must be a string.", f"content.{i}.type"))
        if not isinstance(block.get("value"), str) or not block["value"]:
            errors.append(ApiError(_MESSAGES["empty_value"], f"content.{i}.value"))
        types.append(str(block.get("type")))
    if {"text/plain", "text/html"} <= set(types) and (
        types.index("text/plain") > types.index("text/html")
    ):
        errors.append(ApiError(_MESSAGES["content_order"], "content"))
    return errors


def _check_categories(categories: Any) -> list[ApiError]:
    if categories is None:
        return []
    if not isinstance(categories, list):
        return [ApiError("The categories field must be an array of strings.", "categories")]
    if len(categories) > MAX_CATEGORIES:
        return [ApiError(_MESSAGES["too_many_categories"], "categories")]
    for i, category in enumerate(categories):
        if not isinstance(category, str):
            return [ApiError("A category must be a string.", f"categories.{i}")]
        if len(category) > MAX_CATEGORY_CHARS:
            return [ApiError(_MESSAGES["long_category"], f"categories.{i}")]
    if len(set(categories)) != len(categories):
        return [ApiError("The categories must be unique.", "categories")]
    return []


def _check_settings(body: dict[str, Any]) -> list[ApiError]:
    errors: list[ApiError] = []
    for group in ("tracking_settings", "mail_settings"):
        settings = body.get(group)
        if settings is None:
            continue
        if not isinstance(settings, dict):
            errors.append(ApiError(f"The {group} field must be an object.", group))
            continue
        for name, value in settings.items():
            where = f"{group}.{name}"
            if not isinstance(value, dict):
                errors.append(ApiError("A setting must be an object.", where))
            elif "enable" in value and not isinstance(value["enable"], bool):
                errors.append(ApiError("The enable field must be a boolean.", f"{where}.enable"))
    asm = body.get("asm")
    if asm is not None and not (isinstance(asm, dict) and isinstance(asm.get("group_id"), int)):
        errors.append(ApiError("The asm group_id must be an integer.", "asm.group_id"))
    return errors


def _check_send_at(value: Any, where: str, now: float | None) -> list[ApiError]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return [ApiError("The send_at field must be a Unix timestamp (integer).", where)]
    if value > (now if now is not None else time.time()) + MAX_SEND_AT_AHEAD:
        return [ApiError("You may not schedule a message more than 72 hours in advance.", where)]
    return []


def _is_sandbox(body: dict[str, Any]) -> bool:
    sandbox = (body.get("mail_settings") or {}).get("sandbox_mode") or {}
    return sandbox.get("enable") is True


def _count_recipients(body: Any) -> tuple[int, int]:
    if not isinstance(body, dict) or not isinstance(body.get("personalizations"), list):
        return 0, 0
    items = [p for p in body["personalizations"] if isinstance(p, dict)]
    recipients = sum(len(p.get(role) or []) for p in items for role in ("to", "cc", "bcc"))
    return len(body["personalizations"]), recipients


def _bad_address_errors(body: dict[str, Any], bad: set[str]) -> list[ApiError]:
    errors = []
    for i, item in enumerate(body.get("personalizations") or []):
        for role in ("to", "cc", "bcc"):
            for j, address in enumerate(item.get(role) or []):
                if str(address.get("email", "")).lower() in bad:
                    where = f"personalizations.{i}.{role}.{j}.email"
                    errors.append(ApiError("Does not contain a valid address.", where))
    return errors


# --------------------------------------------------------------------------
# Rebuilding what each recipient received


def _substitute(text: str | None, substitutions: dict[str, str]) -> str | None:
    """Replace every key at once, longest first, so a value is never substituted again."""
    if text is None or not substitutions:
        return text
    keys = sorted(substitutions, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: substitutions[m.group(0)], text)


def _content_of(body: dict[str, Any], kind: str) -> str | None:
    for block in body.get("content") or []:
        value = block.get("value")
        if block.get("type") == kind and isinstance(value, str):
            return value
    return None


def expand(accepted: Accepted) -> list[Delivery]:
    """Each recipient's message in an accepted request, personalised as SendGrid would."""
    body = accepted.body
    html, text = _content_of(body, "text/html"), _content_of(body, "text/plain")
    reply_to = (body.get("reply_to") or {}).get("email")
    deliveries = []
    for item in body["personalizations"]:
        subs = item.get("substitutions") or {}
        for role in ("to", "cc", "bcc"):
            for address in item.get(role) or []:
                deliveries.append(
                    Delivery(
                        message_id=accepted.message_id,
                        email=address["email"],
                        name=address.get("name"),
                        subject=_substitute(item.get("subject", body.get("subject")), subs),
                        html=_substitute(html, subs),
                        text=_substitute(text, subs),
                        headers={**(body.get("headers") or {}), **(item.get("headers") or {})},
                        custom_args={
                            **(body.get("custom_args") or {}),
                            **(item.get("custom_args") or {}),
                        },
                        categories=list(body.get("categories") or []),
                        from_email=body["from"]["email"],
                        reply_to=_substitute(reply_to, subs),
                    )
                )
    return deliveries


def read_store(path: Path | str) -> list[Accepted]:
    """The accepted requests a fake appended to its --store file (one JSON object a line)."""
    accepted = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                accepted.append(Accepted(record["message_id"], record["at"], record["body"]))
    return accepted


def iter_store(path: Path | str) -> Iterator[Delivery]:
    """Every recipient's message recorded in a --store file, in the order accepted."""
    for accepted in read_store(path):
        yield from expand(accepted)


def deliveries_in(accepted: list[Accepted]) -> list[Delivery]:
    return [delivery for request in accepted for delivery in expand(request)]


def webhook_events(
    deliveries: Iterable[Delivery], event: str = "processed"
) -> list[dict[str, Any]]:
    """The Event Webhook payload SendGrid would post about these messages (one event each).

    Shaped like SendGrid's: custom_args at the top level, `sg_message_id` starting
    with the request's X-Message-Id, a unique `sg_event_id`.
    """
    now = int(time.time())
    return [
        {
            "email": delivery.email,
            "timestamp": now,
            "event": event,
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"{delivery.message_id}.filter0001-{index}",
            "category": delivery.categories,
            **delivery.custom_args,
        }
        for index, delivery in enumerate(deliveries)
    ]


# --------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read records
        return

    def do_POST(self) -> None:
        if self.path == MAIL_SEND_PATH:
            self.server.fake.handle_mail_send(self)
        elif self.path == CONTROL_PATH:
            self.server.fake.handle_control(self)
        else:
            self.answer(404, [ApiError("Not found.")])

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            self.answer_json(200, self.server.fake.stats())
        elif self.path == MAIL_SEND_PATH:
            self.answer(405, [ApiError("Method not allowed.")])
        else:
            self.answer(404, [ApiError("Not found.")])

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(
        self, status: int, errors: list[ApiError], headers: dict[str, str] | None = None
    ) -> None:
        self.answer_json(status, {"errors": [e.as_json() for e in errors]}, headers)

    def answer_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    def answer_empty(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True

    def drop(self) -> None:
        """Break the connection with a reset instead of answering."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class _Server(StandinServer):
    fake: FakeSendGrid


class FakeSendGrid(Standin[Fault]):
    """The fake on a free loopback port (or `port`); use as a context manager or start()/stop()."""

    def __init__(
        self,
        port: int = 0,
        *,
        api_key: str | None = None,
        store: Path | str | None = None,
        latency: float = 0.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ):
        super().__init__(port, _Handler, _Server)
        self.api_key = api_key
        self.latency = latency
        self.max_body_bytes = max_body_bytes
        self.requests: list[RequestRecord] = []
        self.accepted: list[Accepted] = []
        self._bad_addresses: set[str] = set()
        self._active = 0
        self.max_concurrent = 0  # most mail/send requests being handled at once
        self._store = open(store, "a", encoding="utf-8") if store else None  # noqa: SIM115
        self._server.fake = self  # type: ignore[attr-defined]

    def stop(self) -> None:
        super().stop()
        if self._store:
            self._store.close()
            self._store = None

    # ---- faults

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            for fault in faults:
                if fault.kind == "bad_address":
                    self._bad_addresses.add(str(fault.address).lower())
                else:
                    self._faults.append(fault)

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            self._bad_addresses.clear()

    # ---- what was received

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            accepted = list(self.accepted)
        return deliveries_in(accepted)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "accepted_requests": len(self.accepted),
                "messages": sum(_count_recipients(a.body)[1] for a in self.accepted),
                "pending_faults": len(self._faults),
                "max_concurrent": self.max_concurrent,
            }

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.accepted.clear()
            self.max_concurrent = 0

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _accept(self, body: dict[str, Any]) -> str:
        message_id = secrets.token_urlsafe(16)[:22]
        accepted = Accepted(message_id, time.time(), body)
        with self._lock:
            self.accepted.append(accepted)
            if self._store:
                self._store.write(json.dumps(asdict(accepted)) + "\n")
                self._store.flush()
        return message_id

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # ---- handlers

    def handle_mail_send(self, handler: _Handler) -> None:
        with self._lock:
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            self._mail_send(handler)
        finally:
            with self._lock:
                self._active -= 1

    def _mail_send(self, handler: _Handler) -> None:
        at = time.time()
        fault = self._next_fault()
        if fault and fault.kind in ("drop_before_body", "hang"):
            self._log(RequestRecord(at, None, 0, 0, fault.kind))
            if fault.kind == "hang":
                self._sleep(fault.delay)
            handler.drop()
            return
        status, body, errors, headers = self._judge(handler, handler.read_body(), fault)
        counts = _count_recipients(body)
        if status not in (200, 202):
            self._log(RequestRecord(at, status, *counts, fault.kind if fault else None))
            self._sleep(self.latency)
            handler.answer(status, errors, headers)
            return
        if status == 202:
            headers = {"X-Message-Id": self._accept(body)}
        late = fault is not None and fault.kind in ("drop_after_body", "slow")
        self._log(
            RequestRecord(at, None if late else status, *counts, fault.kind if fault else None)
        )
        if fault and fault.kind == "drop_after_body":
            handler.drop()
            return
        self._sleep(self.latency + (fault.delay if fault and fault.kind == "slow" else 0.0))
        handler.answer_empty(status, headers)

    def _judge(
        self, handler: _Handler, raw: bytes, fault: Fault | None
    ) -> tuple[int, Any, list[ApiError], dict[str, str]]:
        """(status, parsed body, errors, extra headers) for a mail/send request."""
        denied = self._check_auth(handler.headers.get("Authorization"))
        if denied:
            return denied, None, [ApiError(_AUTH_MESSAGES[denied])], {}
        if fault and fault.kind == "status":
            return fault.status, _safe_json(raw), _fault_errors(fault), _fault_headers(fault)
        if len(raw) > self.max_body_bytes:
            return 413, None, [ApiError("The JSON payload you have included is too large.")], {}
        if "json" not in (handler.headers.get("Content-Type") or ""):
            return 415, None, [ApiError("Content-Type should be application/json.")], {}
        body = _safe_json(raw)
        if body is None:
            return 400, None, [ApiError("The request body is not valid JSON.")], {}
        errors = validate_mail(body)
        if not errors and self._bad_addresses:
            errors = _bad_address_errors(body, self._bad_addresses)
        if errors:
            return 400, body, errors, {}
        return (200 if _is_sandbox(body) else 202), body, [], {}

    def _check_auth(self, header: str | None) -> int | None:
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return 401
        if self.api_key is not None and header[7:].strip() != self.api_key:
            return 401
        return None

    def handle_control(self, handler: _Handler) -> None:
        try:
            command = json.loads(handler.read_body() or b"{}")
            if command.get("reset"):
                self.reset()
            if command.get("clear_faults"):
                self.clear_faults()
            if "latency_ms" in command:
                self.latency = float(command["latency_ms"]) / 1000
            self.inject(*(Fault(**spec) for spec in command.get("faults", [])))
        except (ValueError, TypeError, AttributeError) as exc:
            handler.answer(400, [ApiError(f"bad control command: {exc}")])
            return
        handler.answer_json(200, self.stats())


_AUTH_MESSAGES = {
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
}
_FAULT_MESSAGES = {
    400: "Bad Request",
    401: _AUTH_MESSAGES[401],
    403: _AUTH_MESSAGES[403],
    413: "The JSON payload you have included is too large.",
    429: "too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _safe_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _fault_errors(fault: Fault) -> list[ApiError]:
    return [ApiError(_FAULT_MESSAGES.get(fault.status, "error"))]


def _fault_headers(fault: Fault) -> dict[str, str]:
    if fault.status != 429:
        return {}
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
    if fault.reset_after is not None:
        headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + fault.reset_after))
    return headers


# --------------------------------------------------------------------------
# Driving a fake in another process


def control(
    url: str,
    *,
    faults: list[Fault] | None = None,
    latency_ms: float | None = None,
    clear_faults: bool = False,
    reset: bool = False,
) -> dict[str, int]:
    """Change a running fake at `url` (its host, e.g. http://127.0.0.1:8025); returns its stats."""
    command: dict[str, Any] = {"clear_faults": clear_faults, "reset": reset}
    if faults:
        command["faults"] = [asdict(f) for f in faults]
    if latency_ms is not None:
        command["latency_ms"] = latency_ms
    request = urllib.request.Request(
        url + CONTROL_PATH,
        data=json.dumps(command).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return _counts(response.read())


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + STATS_PATH, timeout=10) as response:
        return _counts(response.read())


def _counts(answer: bytes) -> dict[str, int]:
    return {str(name): int(count) for name, count in json.loads(answer).items()}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m alerts.delivery.providers.sendgrid.standin",
        description="A local fake of SendGrid's POST /v3/mail/send for tests and demos.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--store", type=Path, help="append accepted requests to this JSON-lines file"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    parser.add_argument("--api-key", help="accept only this key (default: any Bearer key)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    fake = FakeSendGrid(
        args.port, api_key=args.api_key, store=args.store, latency=args.latency_ms / 1000
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=fake.stop).start())
    print(f"fake SendGrid listening on {fake.url}", flush=True)
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
