"""The send engine, through the SendGrid provider, against the stand-in on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from conftest import free_port

from alerts.config import Config, ConfigError
from alerts.db import Database, open_db, utc_now
from alerts.db import ledger as ledger_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery.engine import send_campaign, send_message
from alerts.delivery.provider import Batch, Content, Recipient, SendSettings
from alerts.delivery.providers import send_settings
from alerts.delivery.providers.sendgrid import SendGridProvider
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid, Fault, iter_store
from alerts.delivery.providers.sendgrid.standin import stats as fake_stats
from alerts.delivery.providers.sendgrid.wire import mail_body
from alerts.errors import SendAuthError, SendBusy, SendError
from alerts.models import SendSummary, Subscriber

UNSUBSCRIBE = "https://act.example.org/u/"


@pytest.fixture
def fake() -> Any:
    with FakeSendGrid() as server:
        yield server


def via(
    host: str, api_key: str = "SG.test", **overrides: Any
) -> tuple[SendGridProvider, SendSettings]:
    """The provider at `host` and quick settings: what send_campaign takes after the builder."""
    values: dict[str, Any] = {
        "timeout": 2.0,
        "concurrency": 4,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
    }
    values.update(overrides)
    return SendGridProvider(api_key, host), SendSettings(**values)


def add_people(db: Database, count: int, start: int = 0, domain: str = "example.org") -> list[int]:
    now = utc_now()
    rows = [
        {
            "email": f"person{i}@{domain}",
            "email_key": f"person{i}@{domain}",
            "first_name": f"First{i}",
            "last_name": "Tester",
            "status": "subscribed",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(start, start + count)
    ]
    db["subscribers"].insert_all(rows)
    db.conn.commit()
    return [row[0] for row in db.execute("SELECT id FROM subscribers ORDER BY id").fetchall()]


def new_campaign(db: Database, people: int = 0, slug: str = "qi-update") -> int:
    db["campaigns"].insert(
        {"slug": slug, "kind": "update", "subject": "News", "created_at": utc_now()}
    )
    db.conn.commit()
    campaign_id = db.execute("SELECT id FROM campaigns WHERE slug = ?", [slug]).fetchone()[0]
    if people:
        add_people(db, people)
        ledger_db.ledger_freeze_segment(db, campaign_id, None)
    return campaign_id


CONTENT = Content(
    from_email="updates@example.org",
    from_name="End QI",
    subject="News for -first-",
    html="<p>Hello -first-</p>",
    text="Hello -first-",
    reply_to="team@example.org",
    categories=("qi-update", "update"),
)


def build(recipients: list[Subscriber], content: Content = CONTENT) -> Batch:
    return Batch(
        content,
        tuple(
            Recipient.of(
                person,
                {"-first-": person.first_name or "friend"},
                {
                    "List-Unsubscribe": f"<{UNSUBSCRIBE}{person.id}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
            for person in recipients
        ),
    )


def states(db: Database, campaign_id: int) -> dict[str, int]:
    return {k: v for k, v in ledger_db.ledger_counts(db, campaign_id).items() if v}


def delivered(fake: FakeSendGrid) -> Counter[str]:
    return Counter(d.email for d in fake.deliveries())


def accepted_sizes(fake: FakeSendGrid) -> list[int]:
    return sorted(r.recipients for r in fake.requests if r.status == 202)


# --------------------------------------------------------------------------
# The happy path


def test_sends_everyone_once_in_requests_of_at_most_1000(db, fake):
    campaign = new_campaign(db, 2500)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert (summary.sent, summary.failed, summary.unknown, summary.skipped) == (2500, 0, 0, 0)
    assert accepted_sizes(fake) == [500, 1000, 1000]
    assert set(delivered(fake).values()) == {1} and len(delivered(fake)) == 2500
    assert states(db, campaign) == {"sent": 2500}
    ids = {a.message_id for a in fake.accepted}
    rows = db.execute("SELECT DISTINCT message_id FROM send_ledger").fetchall()
    assert {r[0] for r in rows} == ids


def test_each_message_is_personalised_with_ids_only_in_custom_args(db, fake):
    campaign = new_campaign(db, 3)
    send_campaign(db, campaign, build, *via(fake.url))
    by_email = {d.email: d for d in fake.deliveries()}
    person = subscribers_db.find_subscriber(db, "person1@example.org")
    message = by_email["person1@example.org"]
    assert message.subject == "News for First1"
    assert message.html == "<p>Hello First1</p>" and message.text == "Hello First1"
    assert message.custom_args == {
        "alerts_campaign": str(campaign),
        "alerts_recipient": str(person.id),
    }
    assert message.headers == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}{person.id}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert message.categories == ["qi-update", "update"]
    assert message.name == "First1 Tester"
    tracking = fake.accepted[0].body["tracking_settings"]
    assert tracking["click_tracking"]["enable"] is False
    assert tracking["open_tracking"]["enable"] is False


def test_tracking_setting_turns_sendgrid_tracking_on(db, fake):
    campaign = new_campaign(db, 2)
    send_campaign(db, campaign, build, *via(fake.url, tracking=True))
    tracking = fake.accepted[0].body["tracking_settings"]
    assert tracking["click_tracking"]["enable"] is True
    assert tracking["open_tracking"]["enable"] is True


def test_a_second_run_sends_nothing(db, fake):
    campaign = new_campaign(db, 40)
    send_campaign(db, campaign, build, *via(fake.url))
    again = send_campaign(db, campaign, build, *via(fake.url))
    assert again.as_dict()["sent"] == 0
    assert len(fake.requests) == 1


def test_summary_has_exactly_the_contract_keys(db, fake):
    campaign = new_campaign(db, 1)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert list(summary.as_dict()) == ["sent", "failed", "unknown", "skipped", "seconds"]
    assert summary.seconds > 0


def test_several_requests_are_in_flight_at_once(db, fake):
    # Each request takes half a second, far longer than claiming a batch (one
    # fsync'd commit), so with 8 batches the 4 workers must overlap.
    fake.latency = 0.5
    campaign = new_campaign(db, 400)
    send_campaign(db, campaign, build, *via(fake.url, batch_size=50, concurrency=4))
    assert fake.max_concurrent >= 3
    assert len(delivered(fake)) == 400


def test_limit_sends_only_that_many(db, fake):
    campaign = new_campaign(db, 300)
    summary = send_campaign(db, campaign, build, *via(fake.url, batch_size=100), limit=150)
    assert summary.sent == 150
    assert states(db, campaign) == {"sent": 150, "pending": 150}
    rest = send_campaign(db, campaign, build, *via(fake.url))
    assert rest.sent == 150 and set(delivered(fake).values()) == {1}


def test_progress_reports_up_to_the_total(db, fake):
    campaign = new_campaign(db, 250)
    seen: list[tuple[int, int]] = []
    send_campaign(
        db,
        campaign,
        build,
        *via(fake.url, batch_size=100),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[0] == (0, 250) and seen[-1] == (250, 250)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# --------------------------------------------------------------------------
# Who is skipped


def test_people_who_unsubscribe_mid_send_are_skipped(db, fake):
    campaign = new_campaign(db, 300)
    late = subscribers_db.find_subscriber(db, "person250@example.org")
    calls = []

    def build_and_unsubscribe(recipients: list[Subscriber]) -> Batch:
        if not calls:  # while the first batch is being prepared
            db.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE id = ?", [late.id])
            db.conn.commit()
        calls.append(len(recipients))
        return build(recipients)

    summary = send_campaign(db, campaign, build_and_unsubscribe, *via(fake.url, batch_size=100))
    assert (summary.sent, summary.skipped) == (299, 1)
    assert "person250@example.org" not in delivered(fake)
    assert ledger_db.ledger_reasons(db, campaign, "skipped") == [("status is unsubscribed", 1)]


def test_addresses_sendgrid_would_drop_are_skipped_unless_smtputf8_is_allowed(db, fake):
    campaign = new_campaign(db)
    now = utc_now()
    for email in ("zoë@example.org", "plain@example.org", "plain@exämple.org", "名前@example.jp"):
        db["subscribers"].insert({"email": email, "created_at": now, "updated_at": now})
    db.conn.commit()
    ledger_db.ledger_freeze_segment(db, campaign, None)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert (summary.sent, summary.skipped) == (2, 2)
    assert sorted(delivered(fake)) == ["plain@example.org", "plain@exämple.org"]
    assert ledger_db.ledger_reasons(db, campaign, "skipped") == [("unsupported_address", 2)]

    again = new_campaign(db, slug="smtputf8")
    ledger_db.ledger_freeze_segment(db, again, None)
    provider = SendGridProvider.from_config(
        Config({"sendgrid_host": fake.url, "allow_smtputf8": True}), {"SENDGRID_API_KEY": "SG.t"}
    )
    summary = send_campaign(db, again, build, provider, via(fake.url)[1])
    assert (summary.sent, summary.skipped) == (4, 0)


def test_one_address_twice_is_sent_once_and_never_twice_in_a_request(db, fake):
    campaign = new_campaign(db)
    # Two rows for one inbox, as rows stored without their email key could be.
    now = utc_now()
    for email in ("émile@example.org", "Émile@example.org", "zoe@example.org"):
        db["subscribers"].insert({"email": email, "created_at": now, "updated_at": now})
    db.conn.commit()
    ids = [r[0] for r in db.execute("SELECT id FROM subscribers ORDER BY id").fetchall()]
    ledger_db.ledger_freeze_segment(db, campaign, None)
    provider, settings = via(fake.url)
    provider = SendGridProvider(provider.api_key, provider.host, allow_smtputf8=True)
    summary = send_campaign(db, campaign, build, provider, settings)
    assert (summary.sent, summary.skipped) == (2, 1)
    assert [r.status for r in fake.requests] == [202]
    assert ledger_db.ledger_reasons(db, campaign, "skipped") == [
        (f"same address as subscriber {ids[0]}", 1)
    ]


# --------------------------------------------------------------------------
# Errors that are retried


def test_429_waits_for_the_rate_limit_reset(db, fake):
    fake.inject(Fault("status", status=429, reset_after=1.0))
    campaign = new_campaign(db, 10)
    started = time.time()
    summary = send_campaign(db, campaign, build, *via(fake.url, concurrency=1))
    assert summary.sent == 10
    statuses = [r.status for r in fake.requests]
    assert statuses == [429, 202]
    reset = int(fake.requests[0].at + 1.0) + 1  # the whole second the fake announced
    assert fake.requests[1].at >= min(reset, started + 1.0) - 0.05


def test_429_without_reset_backs_off_and_retries(db, fake):
    fake.inject(Fault("status", status=429, times=3))
    campaign = new_campaign(db, 10)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert summary.sent == 10
    assert [r.status for r in fake.requests] == [429, 429, 429, 202]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(db, fake, status):
    fake.inject(Fault("status", status=status, times=2))
    campaign = new_campaign(db, 10)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert summary.sent == 10
    assert [r.status for r in fake.requests] == [status, status, 202]
    assert set(delivered(fake).values()) == {1}


def test_server_errors_past_the_limit_stop_the_run_and_leave_it_pending(db, fake):
    fake.inject(Fault("status", status=503, times=100))
    campaign = new_campaign(db, 30)
    with pytest.raises(SendError, match=r"after 3 attempts.*run the send again") as caught:
        send_campaign(db, campaign, build, *via(fake.url, retries=2, concurrency=1))
    assert caught.value.summary.sent == 0
    assert states(db, campaign) == {"pending": 30}
    assert len(fake.requests) == 3
    fake.clear_faults()
    assert send_campaign(db, campaign, build, *via(fake.url)).sent == 30


def test_refused_connections_are_retried_until_the_server_answers(db):
    port = free_port()
    campaign = new_campaign(db, 20)
    servers: list[FakeSendGrid] = []
    starter = threading.Timer(0.3, lambda: servers.append(FakeSendGrid(port).start()))
    starter.start()
    try:
        summary = send_campaign(
            db,
            campaign,
            build,
            *via(f"http://127.0.0.1:{port}", backoff_base=0.1, backoff_max=1.0, retries=8),
        )
    finally:
        starter.join()
        for server in servers:
            server.stop()
    assert summary.sent == 20
    assert len(delivered(servers[0])) == 20


def test_unreachable_sendgrid_stops_with_everyone_pending(db):
    campaign = new_campaign(db, 20)
    host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SendError, match="could not reach"):
        send_campaign(db, campaign, build, *via(host, retries=2))
    assert states(db, campaign) == {"pending": 20}


# --------------------------------------------------------------------------
# Errors that split a batch


def test_a_400_naming_one_address_fails_only_that_recipient(db, fake):
    campaign = new_campaign(db, 50)
    fake.inject(Fault("bad_address", address="person17@example.org"))
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert (summary.sent, summary.failed) == (49, 1)
    assert "person17@example.org" not in delivered(fake)
    assert len(delivered(fake)) == 49
    assert ledger_db.ledger_reasons(db, campaign) == [
        ("SendGrid 400: Does not contain a valid address.", 1)
    ]
    failed = ledger_db.ledger_recipients(db, campaign, "failed")
    assert [r.email for r in failed] == ["person17@example.org"]
    assert [r.status for r in fake.requests] == [400, 202]


def test_several_bad_addresses_in_several_batches(db, fake):
    campaign = new_campaign(db, 300)
    for n in (3, 150, 151, 299):
        fake.inject(Fault("bad_address", address=f"person{n}@example.org"))
    summary = send_campaign(db, campaign, build, *via(fake.url, batch_size=100))
    assert (summary.sent, summary.failed) == (296, 4)
    assert len(delivered(fake)) == 296 and set(delivered(fake).values()) == {1}


def test_a_400_about_the_message_itself_stops_and_fails_nobody(db, fake):
    campaign = new_campaign(db, 20)

    def bad_sender(recipients: list[Subscriber]) -> Batch:
        return build(recipients, replace(CONTENT, from_email="not-an-address"))

    with pytest.raises(SendError, match=r"rejected the message itself \(from.email"):
        send_campaign(db, campaign, bad_sender, *via(fake.url))
    assert states(db, campaign) == {"pending": 20}


def test_413_splits_the_batch_until_it_fits(db, fake):
    campaign = new_campaign(db, 1000)
    # Room for about 300 recipients (plus the custom_args and tracking the engine adds).
    body = mail_body(build(_people(db, 300)), tracking=False)
    fake.max_body_bytes = len(json.dumps(body)) + 300 * 70 + 300
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert summary.sent == 1000
    assert set(delivered(fake).values()) == {1} and len(delivered(fake)) == 1000
    assert 413 in [r.status for r in fake.requests]
    assert max(accepted_sizes(fake)) <= 300


def test_an_injected_413_splits_in_halves(db, fake):
    fake.inject(Fault("status", status=413))
    campaign = new_campaign(db, 100)
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert summary.sent == 100
    assert accepted_sizes(fake) == [50, 50]


def test_413_for_a_single_recipient_stops(db, fake):
    fake.max_body_bytes = 100
    campaign = new_campaign(db, 3)
    with pytest.raises(SendError, match="too large even for one recipient"):
        send_campaign(db, campaign, build, *via(fake.url, concurrency=1))
    assert states(db, campaign) == {"pending": 3}


# --------------------------------------------------------------------------
# Errors that stop at once


def test_a_refused_api_key_stops_at_once_and_marks_nobody_sent(db):
    campaign = new_campaign(db, 3000)
    with FakeSendGrid(api_key="SG.right") as fake:
        with pytest.raises(SendAuthError, match=r"refused the API key.*SENDGRID_API_KEY"):
            send_campaign(db, campaign, build, *via(fake.url, api_key="SG.wrong", batch_size=100))
        # 30 batches to send, but only those already out when the first 401 came went.
        assert 1 <= len(fake.requests) <= 4
    assert states(db, campaign) == {"pending": 3000}


def test_a_403_stops_at_once(db, fake):
    fake.inject(Fault("status", status=403, times=10))
    campaign = new_campaign(db, 10)
    with pytest.raises(SendAuthError, match="403"):
        send_campaign(db, campaign, build, *via(fake.url))
    assert [r.status for r in fake.requests] == [403]
    assert states(db, campaign) == {"pending": 10}


def test_a_wrong_host_path_stops_with_a_clear_message(db, fake):
    campaign = new_campaign(db, 2)
    with pytest.raises(SendError, match=r"404.*check sendgrid_host"):
        send_campaign(db, campaign, build, *via(fake.url + "/nope"))
    assert states(db, campaign) == {"pending": 2}


# --------------------------------------------------------------------------
# Unknown: the request went out, the answer did not come back


def test_a_timeout_marks_the_batch_unknown_and_it_is_not_resent(db, fake):
    fake.inject(Fault("slow", delay=1.5))
    campaign = new_campaign(db, 5)
    summary = send_campaign(db, campaign, build, *via(fake.url, timeout=0.5))
    assert (summary.sent, summary.unknown) == (0, 5)
    assert ledger_db.ledger_reasons(db, campaign, "unknown") == [
        ("no answer from SendGrid within 0.5 s", 1 * 5)
    ]
    assert len(delivered(fake)) == 5  # SendGrid did take it: that is why it is not resent
    assert send_campaign(db, campaign, build, *via(fake.url)).sent == 0
    assert len(delivered(fake)) == 5


def test_retry_unknown_sends_unknown_recipients_again(db, fake):
    fake.inject(Fault("drop_after_body"))
    campaign = new_campaign(db, 5)
    first = send_campaign(db, campaign, build, *via(fake.url))
    assert first.unknown == 5 and states(db, campaign) == {"unknown": 5}
    second = send_campaign(db, campaign, build, *via(fake.url), retry_unknown=True)
    assert (second.sent, second.unknown) == (5, 0)
    assert set(delivered(fake).values()) == {2}  # asked for: the risk was the user's call


def test_a_connection_dropped_unread_never_sends_twice(db, fake):
    # The client cannot tell whether a reset came before SendGrid read the body: a small
    # request is already written (unknown), a large one fails while writing (retried).
    fake.inject(Fault("drop_before_body"), Fault("drop_before_body"))
    campaign = new_campaign(db, 2500)
    summary = send_campaign(db, campaign, build, *via(fake.url, concurrency=1))
    counts = delivered(fake)
    assert set(counts.values()) == {1}  # at least the last batch went through, once
    assert summary.sent == len(counts) and summary.sent + summary.unknown == 2500
    sent_rows = ledger_db.ledger_recipients(db, campaign, "sent")
    assert {r.email for r in sent_rows} == set(counts)


def test_a_crashed_run_leaves_in_flight_rows_that_become_unknown(db, fake):
    campaign = new_campaign(db, 250)
    claimed, _ = ledger_db.ledger_claim(db, campaign, 100)  # the crashed run's batch
    summary = send_campaign(db, campaign, build, *via(fake.url))
    assert (summary.sent, summary.unknown) == (150, 100)
    crashed = {p.email for p in claimed}
    assert crashed.isdisjoint(delivered(fake))
    reasons = ledger_db.ledger_reasons(db, campaign, "unknown")
    assert reasons == [("a previous send stopped while its request was out", 100)]
    resent = send_campaign(db, campaign, build, *via(fake.url), retry_unknown=True)
    assert (resent.sent, resent.unknown) == (100, 0)
    assert set(delivered(fake).values()) == {1} and len(delivered(fake)) == 250


def test_ctrl_c_lets_requests_already_out_finish(db, fake):
    fake.latency = 0.3
    campaign = new_campaign(db, 300)
    calls: list[int] = []

    def interrupted_after_two(recipients: list[Subscriber]) -> Batch:
        calls.append(len(recipients))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return build(recipients)

    with pytest.raises(KeyboardInterrupt):
        send_campaign(db, campaign, interrupted_after_two, *via(fake.url, batch_size=100))
    assert states(db, campaign) == {"sent": 200, "pending": 100}


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_claiming_and_records_the_requests_out(db, fake, number):
    fake.latency = 0.2
    campaign = new_campaign(db, 300)
    signalled: list[int] = []

    def signal_after_the_first_batch(done: int, total: int) -> None:
        if done and not signalled:
            signalled.append(done)
            os.kill(os.getpid(), number)

    provider, settings = via(fake.url, batch_size=50, concurrency=2)
    handler = signal.getsignal(number)
    with pytest.raises(KeyboardInterrupt):
        send_campaign(
            db, campaign, build, provider, settings, progress=signal_after_the_first_batch
        )
    left = states(db, campaign)
    assert set(left) == {"sent", "pending"} and left["sent"] == len(delivered(fake))
    assert signal.getsignal(number) is handler  # the engine's own handler is gone again
    run = db.execute("SELECT outcome FROM send_runs ORDER BY id DESC").fetchone()
    assert run[0] == "interrupted"


# --------------------------------------------------------------------------
# Pacing


def test_rate_caps_messages_per_second(db, fake):
    campaign = new_campaign(db, 300)
    send_campaign(db, campaign, build, *via(fake.url, batch_size=50, rate=500))
    times = sorted(r.at for r in fake.requests)
    assert len(times) == 6
    # 6 requests of 50 at 500 messages/s: each may start 0.1 s after the one before.
    assert times[-1] - times[0] >= 0.5 - 0.02


def test_a_rate_below_the_batch_size_makes_smaller_requests(db, fake):
    campaign = new_campaign(db, 30)
    send_campaign(db, campaign, build, *via(fake.url, rate=20))
    assert accepted_sizes(fake) == [10, 20]
    times = sorted(r.at for r in fake.requests)
    assert times[1] - times[0] >= 1.0 - 0.02


# --------------------------------------------------------------------------
# Guards


def test_a_second_live_process_on_the_same_campaign_is_refused(db, fake):
    campaign = new_campaign(db, 5)
    ledger_db.send_run_begin(db, campaign, os.getpid(), socket.gethostname())
    with pytest.raises(SendBusy, match=f"process {os.getpid()}"):
        send_campaign(db, campaign, build, *via(fake.url))
    assert fake.requests == []


def test_a_run_whose_process_died_does_not_block(db, fake):
    campaign = new_campaign(db, 5)
    dead = _dead_pid()
    ledger_db.send_run_begin(db, campaign, dead, socket.gethostname())
    assert send_campaign(db, campaign, build, *via(fake.url)).sent == 5
    outcomes = db.execute("SELECT pid, outcome FROM send_runs ORDER BY id").fetchall()
    assert [tuple(o) for o in outcomes] == [(dead, "crashed"), (os.getpid(), "completed")]


def test_the_run_is_recorded(db, fake):
    campaign = new_campaign(db, 7)
    send_campaign(db, campaign, build, *via(fake.url))
    row = db.execute("SELECT sent, failed, unknown, outcome, finished_at FROM send_runs").fetchone()
    assert row[:4] == (7, 0, 0, "completed") and row[4]


def test_a_builder_that_misaddresses_stops_before_sending(db, fake):
    campaign = new_campaign(db, 5)

    def shuffled(recipients: list[Subscriber]) -> Batch:
        return build(list(reversed(recipients)))

    with pytest.raises(SendError, match="recipient 0 is not subscriber"):
        send_campaign(db, campaign, shuffled, *via(fake.url))
    assert fake.requests == [] and states(db, campaign) == {"pending": 5}


def test_a_builder_error_leaves_the_batch_pending(db, fake):
    campaign = new_campaign(db, 5)

    def broken(recipients: list[Subscriber]) -> Batch:
        raise SendError("template broke")

    with pytest.raises(SendError, match="template broke"):
        send_campaign(db, campaign, broken, *via(fake.url))
    assert states(db, campaign) == {"pending": 5}


# --------------------------------------------------------------------------
# Settings, test sends and the ledger functions


def test_settings_come_from_the_config_and_the_environment(tmp_path):
    path = tmp_path / "alerts.toml"
    path.write_text('sendgrid_host = "http://127.0.0.1:9"\nsendgrid_timeout = 5\n')
    env = {"ALERTS_SENDGRID_CONCURRENCY": "3", "SENDGRID_API_KEY": "SG.x"}
    config = Config.load(path, env=env)
    provider = SendGridProvider.from_config(config, env)
    provider.check_sending()
    settings = send_settings(config, rate=50)
    assert (provider.endpoint, provider.api_key) == ("http://127.0.0.1:9", "SG.x")
    assert (settings.timeout, settings.concurrency, settings.rate) == (5, 3, 50)
    assert settings.batch_size == 1000 and settings.tracking is False


def test_a_missing_api_key_is_a_config_error(tmp_path):
    config = Config.load(tmp_path / "none.toml", env={})
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY is not set"):
        SendGridProvider.from_config(config, {}).check_sending()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("batch_size", "1001", "sendgrid_batch_size must be between 1 and 1000"),
        ("batch_size", "0", "sendgrid_batch_size"),
        ("concurrency", "0", "sendgrid_concurrency"),
        ("timeout", "0", "sendgrid_timeout"),
        ("rate", "-1", "sendgrid_rate"),
        ("retries", "-1", "sendgrid_retries"),
    ],
)
def test_bad_settings_are_refused(tmp_path, name, value, message):
    config = Config.load(tmp_path / "none.toml", env={f"ALERTS_SENDGRID_{name.upper()}": value})
    with pytest.raises(ConfigError, match=message):
        send_settings(config)


def test_a_host_that_is_not_a_url_is_refused():
    with pytest.raises(ConfigError, match="sendgrid_host must be an http"):
        SendGridProvider("k", "api.sendgrid.com").check_sending()


def test_send_message_sends_one_batch_untagged(db, fake):
    add_people(db, 2)
    batch = replace(build(_people(db, 2)), campaign_id=1)
    message_id = send_message(*via(fake.url), batch)
    assert message_id == fake.accepted[0].message_id
    assert all(not d.custom_args for d in fake.deliveries())


def test_send_message_reports_a_rejection(db, fake):
    add_people(db, 1)
    fake.inject(Fault("bad_address", address="person0@example.org"))
    with pytest.raises(SendError, match="Does not contain a valid address"):
        send_message(*via(fake.url), build(_people(db, 1)))


def test_too_many_categories_stop_before_anything_is_sent(db, fake):
    campaign = new_campaign(db, 3)
    many = replace(CONTENT, categories=tuple(f"c{n}" for n in range(11)))
    with pytest.raises(SendError, match="at most 10"):
        send_campaign(db, campaign, lambda people: build(people, many), *via(fake.url))
    assert fake.requests == [] and states(db, campaign) == {"pending": 3}


def test_freezing_again_keeps_states_and_skips_the_unsubscribed(db):
    campaign = new_campaign(db)
    ids = add_people(db, 10)
    db.execute("UPDATE subscribers SET status = 'bounced' WHERE id = ?", [ids[0]])
    db.conn.commit()
    assert ledger_db.ledger_freeze_segment(db, campaign, None) == 9
    ledger_db.ledger_claim(db, campaign, 3)
    assert ledger_db.ledger_freeze_segment(db, campaign, None) == 0
    assert states(db, campaign) == {"in_flight": 3, "pending": 6}
    more = add_people(db, 2, start=10)
    assert ledger_db.ledger_freeze_segment(db, campaign, None) == 2 and len(more) == 12


def test_campaign_status_counts_every_state(db, fake):
    campaign = new_campaign(db, 4)
    fake.inject(Fault("bad_address", address="person2@example.org"))
    send_campaign(db, campaign, build, *via(fake.url))
    counts = ledger_db.ledger_counts(db, campaign)
    assert counts == {
        "pending": 0,
        "in_flight": 0,
        "sent": 3,
        "failed": 1,
        "unknown": 0,
        "skipped": 0,
    }


def _people(db: Database, count: int) -> list[Subscriber]:
    ids = [r[0] for r in db.execute("SELECT id FROM subscribers ORDER BY id LIMIT ?", [count])]
    return [subscribers_db.get_subscriber(db, i) for i in ids]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_summary_dataclass_defaults():
    assert SendSummary().as_dict() == {
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "skipped": 0,
        "seconds": 0,
    }


# --------------------------------------------------------------------------
# kill -9 in the middle of a send

SENDER = """
import sys
from alerts.db import open_db
from alerts.delivery.engine import send_campaign
from alerts.delivery.provider import Batch, Content, Recipient, SendSettings
from alerts.delivery.providers.sendgrid import SendGridProvider

CONTENT = Content(from_email="a@example.org", subject="Hi -first-", html="<p>-first-</p>",
                  text="-first-")

def build(people):
    return Batch(CONTENT, tuple(Recipient.of(p, {"-first-": p.first_name or ""}) for p in people))

db = open_db(sys.argv[1])
settings = SendSettings(batch_size=50, concurrency=3)
send_campaign(db, int(sys.argv[3]), build, SendGridProvider("k", sys.argv[2]), settings)
"""


@pytest.mark.slow
def test_a_send_killed_with_sigkill_then_rerun_sends_nobody_twice(tmp_path):
    path = tmp_path / "kill.db"
    db = open_db(path)
    campaign = new_campaign(db, 3000)
    port = free_port()
    delivered_file = tmp_path / "delivered.jsonl"
    fake = subprocess.Popen(
        [sys.executable, "-m", "alerts.delivery.providers.sendgrid.standin",
         "--port", str(port), "--store",
         str(delivered_file), "--latency-ms", "40"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    host = f"http://127.0.0.1:{port}"
    try:
        assert fake.stdout and "listening" in fake.stdout.readline()
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(path), host, str(campaign)])
        while fake_stats(host)["accepted_requests"] < 10 and sender.poll() is None:
            time.sleep(0.01)
        sender.kill()
        sender.wait()
        left = states(db, campaign)
        assert left.get("pending", 0) > 0, "the sender finished before it was killed"
        summary = send_campaign(db, campaign, build, *via(host))
    finally:
        fake.terminate()
        fake.wait()
    counts = Counter(d.email for d in iter_store(delivered_file))
    assert set(counts.values()) == {1}  # nobody got it twice
    final = ledger_db.ledger_counts(db, campaign)
    assert final["pending"] == final["in_flight"] == 0
    assert summary.unknown == final["unknown"] == left.get("in_flight", 0)
    unknown = {r.email for r in ledger_db.ledger_recipients(db, campaign, "unknown")}
    sent = {r.email for r in ledger_db.ledger_recipients(db, campaign, "sent")}
    assert sent <= set(counts) and len(sent) + len(unknown) == 3000
    assert set(counts) - sent <= unknown  # answered but not recorded: kept as unknown
    db.close()
