"""A provider's events: SendGrid's webhook signatures and payloads, ingesting them, migration 70."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.testclient import TestClient
from test_schema import from_release_0_1_0
from tracking_helpers import Signer, payload, rows, seed, seed_file, sg_event, status_of

from alerts.config import Config, ConfigError
from alerts.db import Database, open_db, write_transaction
from alerts.db import events as events_db
from alerts.delivery.providers.sendgrid import SendGridProvider, webhook
from alerts.errors import EventPayloadError, WebhookAuthError
from alerts.models import Event, EventKind
from alerts.tracking import ingest
from alerts.web.app import create_app

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
T0 = 1_767_225_600
SIGNATURE = webhook.SIGNATURE_HEADER
TIMESTAMP = webhook.TIMESTAMP_HEADER
WEB_SETTINGS = {
    "secret": "test-secret-for-tokens",
    "base_url": "https://act.example.org",
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
}


@pytest.fixture
def seeded(tmp_path: Path) -> Any:
    database = open_db(tmp_path / "t.db")
    seed(database)
    yield database
    database.close()


# --------------------------------------------------------------------------
# Signatures


def test_a_valid_signature_passes():
    signer = Signer()
    body = payload([sg_event(1)])
    webhook.WebhookVerifier(signer.public_key).verify(body, signer.headers(body), time.time())


def test_header_names_are_matched_in_any_letter_case():
    signer = Signer()
    body = payload([sg_event(1)])
    headers = {name.lower(): value for name, value in signer.headers(body).items()}
    webhook.WebhookVerifier(signer.public_key).verify(body, headers, time.time())


@pytest.mark.parametrize(
    "case", ["tampered_body", "other_key", "no_signature", "no_timestamp", "stale", "future",
             "garbage_signature", "bad_timestamp", "timestamp_swapped"],
)  # fmt: skip
def test_bad_signatures_are_refused(case: str):
    signer = Signer()
    body = payload([sg_event(1)])
    now = int(time.time())
    headers = signer.headers(body, now)
    if case == "tampered_body":
        body = body.replace(b"delivered", b"bounce")
    elif case == "other_key":
        headers[SIGNATURE] = Signer().headers(body, now)[SIGNATURE]
    elif case == "no_signature":
        headers[SIGNATURE] = ""
    elif case == "no_timestamp":
        del headers[TIMESTAMP]
    elif case == "stale":
        headers = signer.headers(body, now - webhook.SIGNATURE_MAX_AGE - 60)
    elif case == "future":
        headers = signer.headers(body, now + webhook.SIGNATURE_MAX_AGE + 60)
    elif case == "garbage_signature":
        headers[SIGNATURE] = "not base64 at all!"
    elif case == "bad_timestamp":
        headers[TIMESTAMP] = "12e3"
    elif case == "timestamp_swapped":
        headers[TIMESTAMP] = str(now + 1)  # the signature covers the timestamp too
    with pytest.raises(WebhookAuthError):
        webhook.WebhookVerifier(signer.public_key).verify(body, headers, now)


def test_public_key_in_pem_form_is_accepted():
    signer = Signer()
    pem = signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    webhook.load_public_key(pem.decode("ascii"))


def _der(public_key: Any) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not-a-key", "not a base64 public key"),
        (base64.b64encode(b"random bytes").decode(), "not a base64 public key"),
        (_der(rsa.generate_private_key(65537, 2048).public_key()), "not an ECDSA P-256"),
        (_der(ec.generate_private_key(ec.SECP384R1()).public_key()), "not an ECDSA P-256"),
    ],
)
def test_bad_public_keys_are_config_errors(text: str, message: str):
    with pytest.raises(ConfigError, match=message) as info:
        webhook.load_public_key(text)
    assert "sendgrid_webhook_public_key" in str(info.value)


def test_the_provider_checks_its_webhook_settings():
    signer = Signer()
    assert SendGridProvider(webhook_public_key=signer.public_key).check_webhooks() is None
    unsigned = SendGridProvider()
    assert "accepts unsigned" in (unsigned.check_webhooks() or "")
    unsigned.verify_webhook(b"[]", {}, time.time())  # nothing to check against
    with pytest.raises(ConfigError, match="sendgrid_webhook_public_key"):
        SendGridProvider(webhook_public_key="not-a-key").check_webhooks()


# --------------------------------------------------------------------------
# Payloads


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[{", "not valid JSON (line 1, column 3"),
        (b"", "not valid JSON"),
        (b'{"event": "open"}', "expected a JSON array of events, found an object"),
        (b'"text"', "found a string"),
        (b'[{"event": "open"}, 3]', "event 2 is a number, not an object"),
        (b"[\xff\xfe\xfa]", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_payloads_name_the_source(body: bytes, message: str):
    with pytest.raises(EventPayloadError, match=r"^saved\.json: ") as info:
        webhook.parse_events(body, "saved.json")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_events_are_read_into_the_projects_terms():
    parsed = webhook.parse_events(
        payload(
            [
                sg_event(1, "open", useragent="Mozilla/5.0", sg_machine_open=True, ip="17.0.0.1"),
                sg_event(2, "dropped", reason="Spam Reporting Address"),
                sg_event(3, "spamreport", alerts_campaign="7", alerts_recipient=12),
            ]
        ),
        "test",
    )
    opened, dropped, complaint = parsed.events
    assert (opened.kind, opened.machine, opened.user_agent) == (
        "provider_open",
        True,
        "Mozilla/5.0",
    )
    assert (opened.provider_event_id, opened.at, opened.email) == (
        "evt-1",
        T0 + 1,
        "ada@example.org",
    )
    assert (opened.campaign_id, opened.subscriber_id) == (1, 1)
    assert "ip" not in opened.detail and "email" not in opened.detail
    assert (dropped.kind, dropped.status_change) == ("dropped", "complained")
    assert (complaint.kind, complaint.status_change) == ("complaint", "complained")
    assert (complaint.campaign_id, complaint.subscriber_id) == (7, 12)


# --------------------------------------------------------------------------
# Ingesting


def _ingest(db: Database, events: list[dict[str, Any]]) -> dict[str, int]:
    parsed = webhook.parse_events(json.dumps(events).encode(), "test")
    with write_transaction(db):
        return ingest.ingest_events(db, "sendgrid", parsed).as_dict()


def test_events_are_stored_with_our_kinds_and_deduplicated(seeded: Database):
    events = [
        sg_event(1, "processed"),
        sg_event(2, "delivered"),
        sg_event(3, "open", useragent="Mozilla/5.0", sg_machine_open=True, ip="17.0.0.1"),
        sg_event(4, "click", url="https://example.org/act", useragent=CHROME),
        sg_event(5, "deferred", response="451 try later for ada@example.org", attempt="2"),
        sg_event(6, "group_resubscribe", asm_group_id=7),
    ]
    summary = _ingest(seeded, events)
    assert summary == {"received": 6, "recorded": 6, "duplicates": 0, "ignored": 0,
                       "invalid": 0, "status_changes": 0}  # fmt: skip
    stored = seeded.execute(
        "SELECT kind, campaign_id, subscriber_id, at, machine, user_agent, detail, provider"
        " FROM events ORDER BY provider_event_id"
    ).fetchall()
    kinds = [row[0] for row in stored]
    assert kinds == [
        "accepted",
        "delivered",
        "provider_open",
        "provider_click",
        "deferred",
        "group_resubscribe",
    ]
    assert all(row[1:3] == (1, 1) and row[7] == "sendgrid" for row in stored)
    assert stored[2][4] == 1 and stored[2][5] == "Mozilla/5.0"  # sg_machine_open
    assert json.loads(stored[0][6]) == {"sg_message_id": "msg-1.filter"}
    detail = json.loads(stored[4][6])
    assert detail["response"] == "451 try later for <address>"  # no address kept
    assert "ada@example.org" not in json.dumps([list(row) for row in stored])

    again = _ingest(seeded, events)
    assert again["duplicates"] == 6 and again["recorded"] == 0
    assert seeded.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 6


def test_event_ids_are_unique_per_provider(seeded: Database):
    def event(provider: str, event_id: str) -> Event:
        return Event(EventKind.DELIVERED, 1, 1, T0, provider=provider, provider_event_id=event_id)

    assert events_db.insert_event(seeded, event("sendgrid", "e1"))
    assert events_db.insert_event(seeded, event("another", "e1"))
    assert not events_db.insert_event(seeded, event("sendgrid", "e1"))
    with pytest.raises(sqlite3.IntegrityError):  # an id needs its provider, and the other way
        events_db.insert_event(seeded, Event(EventKind.DELIVERED, 1, 1, T0, provider="sendgrid"))


@pytest.mark.parametrize(
    ("event", "fields", "status"),
    [
        ("bounce", {"type": "bounce", "reason": "550 no such user"}, "bounced"),
        ("bounce", {}, "bounced"),
        ("bounce", {"type": "blocked", "reason": "IP reputation"}, "subscribed"),
        ("dropped", {"reason": "Bounced Address"}, "bounced"),
        ("dropped", {"reason": "Unsubscribed Address"}, "unsubscribed"),
        ("dropped", {"reason": "Spam Reporting Address"}, "complained"),
        ("dropped", {"reason": "Spam Content (if spam checker app enabled)"}, "subscribed"),
        ("spamreport", {}, "complained"),
        ("unsubscribe", {}, "unsubscribed"),
        ("group_unsubscribe", {"asm_group_id": 3}, "unsubscribed"),
        ("delivered", {}, "subscribed"),
    ],
)
def test_events_update_status(seeded: Database, event: str, fields: dict[str, Any], status: str):
    summary = _ingest(seeded, [sg_event(1, event, **fields)])
    assert summary["recorded"] == 1
    assert summary["status_changes"] == (0 if status == "subscribed" else 1)
    assert seeded.execute("SELECT status FROM subscribers WHERE id = 1").fetchone()[0] == status


def test_a_complaint_outranks_an_unsubscribe_but_nothing_outranks_forgotten(seeded: Database):
    seeded.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE id = 1")
    seeded.execute("UPDATE subscribers SET status = 'forgotten' WHERE id = 2")
    _ingest(
        seeded,
        [
            sg_event(1, "spamreport"),
            sg_event(2, "bounce", email="bob@example.org", alerts_recipient="2"),
            sg_event(3, "spamreport", email="bob@example.org", alerts_recipient="2"),
        ],
    )
    statuses = seeded.execute("SELECT status FROM subscribers ORDER BY id").fetchall()
    assert statuses == [("complained",), ("forgotten",)]


def test_a_replayed_bounce_does_not_undo_a_later_resubscribe(seeded: Database):
    _ingest(seeded, [sg_event(1, "bounce")])
    seeded.execute("UPDATE subscribers SET status = 'subscribed' WHERE id = 1")
    assert _ingest(seeded, [sg_event(1, "bounce")])["duplicates"] == 1
    assert seeded.execute("SELECT status FROM subscribers WHERE id = 1").fetchone()[0] == (
        "subscribed"
    )


def test_matching_to_campaigns_and_recipients(seeded: Database):
    events = [
        # The id names subscriber 1, but the address is someone else's: not subscriber 1.
        sg_event(1, "bounce", email="stranger@example.org"),
        # No custom_args at all (mail from another tool): a bounce is matched by address.
        {k: v for k, v in sg_event(2, "bounce", email="BOB@example.org").items()
         if not k.startswith("alerts_")},
        # No custom_args and not a status change: not ours to count.
        {k: v for k, v in sg_event(3, "open").items() if not k.startswith("alerts_")},
        # A campaign that does not exist: kept for the subscriber, without a campaign.
        sg_event(4, "delivered", alerts_campaign="999"),
        # custom_args that are not ids.
        sg_event(5, "delivered", alerts_campaign="1; DROP TABLE", alerts_recipient="x"),
        # The address as the provider spells it, in another letter case: still ours.
        sg_event(6, "delivered", email="Ada@Example.org"),
    ]  # fmt: skip
    summary = _ingest(seeded, events)
    assert summary["recorded"] == 4 and summary["ignored"] == 2
    stored = seeded.execute(
        "SELECT provider_event_id, campaign_id, subscriber_id FROM events"
        " ORDER BY provider_event_id"
    ).fetchall()
    assert stored == [
        ("evt-1", 1, None),
        ("evt-2", None, 2),
        ("evt-4", None, 1),
        ("evt-6", 1, 1),
    ]
    statuses = seeded.execute("SELECT status FROM subscribers ORDER BY id").fetchall()
    assert statuses == [("subscribed",), ("bounced",)]


@pytest.mark.parametrize(
    "broken",
    [
        {"event": "open", "timestamp": T0},  # no sg_event_id
        {"sg_event_id": "x", "timestamp": T0},  # no event type
        {"sg_event_id": "x", "event": "open"},  # no timestamp
        {"sg_event_id": "x", "event": "open", "timestamp": "yesterday"},
        {"sg_event_id": "x", "event": "open", "timestamp": True},
        {"sg_event_id": ["x"], "event": "open", "timestamp": T0},
        {"sg_event_id": "", "event": "open", "timestamp": T0},
    ],
)
def test_malformed_events_are_counted_invalid(seeded: Database, broken: dict[str, Any]):
    summary = _ingest(seeded, [{**broken, "alerts_campaign": "1", "alerts_recipient": "1"}])
    assert summary["invalid"] == 1 and summary["recorded"] == 0 and summary["received"] == 1


def test_unknown_event_types_are_ignored(seeded: Database):
    assert _ingest(seeded, [sg_event(1, "teleported")])["ignored"] == 1


def test_thousands_of_events_in_one_batch(seeded: Database, tmp_path: Path):
    events = [sg_event(n, "delivered") for n in range(5000)] + [sg_event(9999, "bounce")]
    reported: list[int] = []
    parsed = webhook.parse_events(json.dumps(events).encode(), "test")
    with write_transaction(seeded):
        summary = ingest.ingest_events(seeded, "sendgrid", parsed, reported.append)
    assert summary.recorded == 5001 and summary.status_changes == 1
    assert reported == [1000] * 5 + [1]
    assert status_of(tmp_path / "t.db", 1) == "bounced"


# --------------------------------------------------------------------------
# A batch with bad events in it: they are skipped and counted, the rest recorded

# Events no message of ours caused, each beside a real hard bounce of Bob's.
BAD_EVENTS = {
    "huge_integer_id": {"alerts_recipient": 99999999999999999999999},
    "huge_string_id": {"alerts_recipient": "99999999999999999999999"},
    "huge_campaign_id": {"alerts_campaign": 2**63},
    "negative_id": {"alerts_recipient": -1},
    "fractional_id": {"alerts_campaign": 1.5},
    "lone_surrogate_event_id": {"sg_event_id": "\ud800"},
    "lone_surrogate_user_agent": {"useragent": "Mozilla \udfff"},
}
HARD_BOUNCE = sg_event(2, "bounce", email="bob@example.org", alerts_recipient="2", type="bounce")


def _batch_with(bad: dict[str, Any]) -> bytes:
    return payload([sg_event(1, "open", **bad), HARD_BOUNCE])


@pytest.mark.parametrize("bad", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_a_signed_batch_with_a_bad_event_records_the_rest(tmp_path: Path, bad: dict[str, Any]):
    signer = Signer()
    path = tmp_path / "web.db"
    seed_file(path)
    config = Config({**WEB_SETTINGS, "sendgrid_webhook_public_key": signer.public_key})
    body = _batch_with(bad)
    with TestClient(create_app(path, config), raise_server_exceptions=False) as client:
        answer = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 2, "recorded": 1, "duplicates": 0,
                             "ignored": 0, "invalid": 1, "status_changes": 1}  # fmt: skip
    assert status_of(path, 2) == "bounced"
    assert rows(path, "SELECT kind, subscriber_id FROM events") == [("bounce", 2)]


@pytest.mark.parametrize("bad", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_events_ingest_of_a_file_with_a_bad_event(cli, project: Path, bad: dict[str, Any]):
    seed_file(project / "subscribers.db")
    saved = project / "events.json"
    saved.write_bytes(_batch_with(bad))
    result = cli("events", "ingest", str(saved))
    assert "  recorded: 1" in result.output and "  invalid: 1" in result.output
    assert status_of(project / "subscribers.db", 2) == "bounced"


def test_an_integer_too_long_to_read_is_an_invalid_event_not_a_bad_payload(seeded: Database):
    body = payload([sg_event(1, "open", alerts_recipient=7), sg_event(3, "open"), HARD_BOUNCE])
    body = body.replace(b'"alerts_recipient": 7', b'"alerts_recipient": ' + b"9" * 5000, 1)
    body = body.replace(b'"timestamp": 1767225603', b'"timestamp": ' + b"1" * 5000, 1)
    parsed = webhook.parse_events(body, "test")
    assert (parsed.received, parsed.invalid) == (3, 2)
    assert [event.provider_event_id for event in parsed.events] == ["evt-2"]


# --------------------------------------------------------------------------
# Migration 70: the provider column and the project's kinds


def test_migration_70_names_the_provider_and_renames_sendgrids_kinds(tmp_path: Path):
    path = tmp_path / "release-0.1.0.db"
    from_release_0_1_0(path)
    old = [("processed", "p1"), ("sg_open", "o1"), ("spamreport", "s1"), ("sg_click", "c1"),
           ("sg_unsubscribe", "u1"), ("bounce", "b1")]  # fmt: skip
    with sqlite3.connect(path) as conn:
        for kind, event_id in old:
            conn.execute(
                "INSERT INTO events (campaign_id, subscriber_id, kind, at, sg_event_id)"
                " VALUES (1, 3, ?, ?, ?)",
                [kind, T0, event_id],
            )
    db = open_db(path)
    try:
        stored = dict(
            db.execute(
                "SELECT provider_event_id, kind || ' ' || provider FROM events"
                " WHERE provider_event_id IN ('p1', 'o1', 's1', 'c1', 'u1', 'b1')"
            ).fetchall()
        )
        own = db.execute(
            "SELECT COUNT(*) FROM events WHERE provider IS NULL AND kind = 'open'"
        ).fetchone()[0]
        summarised = {
            kind: people
            for kind, people in db.execute(
                "SELECT kind, people FROM stats_kind_totals WHERE campaign_id = 1"
            )
        }
    finally:
        db.close()
    assert stored == {
        "p1": "accepted sendgrid",
        "o1": "provider_open sendgrid",
        "s1": "complaint sendgrid",
        "c1": "provider_click sendgrid",
        "u1": "provider_unsubscribe sendgrid",
        "b1": "bounce sendgrid",
    }
    assert own == 2  # the project's own opens keep no provider
    assert summarised["provider_open"] == summarised["complaint"] == 1
    assert not {"sg_open", "processed", "spamreport"} & set(summarised)
