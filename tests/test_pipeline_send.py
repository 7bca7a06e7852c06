"""Sending a campaign through pipeline.py: plan, freeze, batches, send, dry run, status."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from send_helpers import ACTION, UPDATE, add_subscribers, load_sample_roster, use_fake

from alerts import pipeline
from alerts.config import Config
from alerts.db import Database, open_db, write_transaction
from alerts.db import campaigns as campaigns_db
from alerts.db import ledger as ledger_db
from alerts.db import segments as segments_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery.providers.sendgrid.standin import (
    Accepted,
    FakeSendGrid,
    expand,
    webhook_events,
)
from alerts.delivery.providers.sendgrid.webhook import parse_events
from alerts.delivery.providers.sendgrid.wire import mail_body
from alerts.email import personalise
from alerts.errors import SendInterrupted
from alerts.subscribers import lifecycle
from alerts.targets import lookup as targets
from alerts.tracking.ingest import ingest_events

PEOPLE = 20


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def setup(
    cli: Any, project: Path, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Database, Config]]:
    """The project's database and settings: sample roster, 20 subscribers, the fake."""
    load_sample_roster(cli)
    add_subscribers(cli, project, PEOPLE)
    use_fake(monkeypatch, fake, batch_size="5", concurrency="2")
    db = open_db(project / "subscribers.db")
    yield db, Config.load(project / "alerts.toml")
    db.close()


def plan(setup: tuple[Database, Config], slug: str = ACTION, **options: Any) -> pipeline.SendPlan:
    db, config = setup
    folder = config.path.parent if config.path else Path(".")
    return pipeline.plan_send(
        db, config, folder / "campaigns", folder / "templates", slug, **options
    )


def counts(db: Database, campaign_id: int) -> dict[str, int]:
    return {k: v for k, v in ledger_db.ledger_counts(db, campaign_id).items() if v}


def test_the_first_run_freezes_the_segment_and_marks_the_send_started(setup, fake):
    db, _ = setup
    first = plan(setup)
    assert not first.started and first.segment_size == PEOPLE
    assert first.to_send(retry_unknown=False) == PEOPLE and first.to_send(False, 7) == 7
    assert counts(db, first.campaign_id) == {}
    summary = pipeline.run_send(db, first, limit=7)
    assert summary.sent == 7
    record = campaigns_db.campaign_record(db, ACTION)
    assert record is not None and record.send_started_at and not record.send_finished_at
    again = plan(setup)
    assert again.started and again.to_send(retry_unknown=False) == PEOPLE - 7
    pipeline.run_send(db, again)
    record = campaigns_db.campaign_record(db, ACTION)
    assert record is not None and record.status == "sent"
    assert counts(db, first.campaign_id) == {"sent": PEOPLE}


def test_a_batch_carries_compiled_content_and_each_recipients_substitutions(setup, fake):
    db, _ = setup
    ready = plan(setup)
    people = subscribers_db.subscribers_by_ids(db, segments_db.segment_subscriber_ids(db, None)[:5])
    found = targets.targets_for_many(db, [p.id or 0 for p in people])
    batch = pipeline.CampaignMessages(ready.prepared, lambda batch: found)(people)
    body = mail_body(batch, tracking=False)
    compiled = ready.compiled
    assert body["subject"] == compiled.subject and "-ALRT." in compiled.subject
    assert body["content"] == [
        {"type": "text/plain", "value": compiled.text},
        {"type": "text/html", "value": compiled.html},
    ]
    assert body["categories"] == [ACTION, "action"]
    assert body["from"] == {"email": "updates@example.org", "name": "End QI"}
    for person, item in zip(people, body["personalizations"], strict=True):
        values = personalise.recipient_values(ready.prepared, person, found[person.id or 0])
        assert item["substitutions"] == values
        assert item["headers"] == personalise.recipient_headers(ready.prepared, person.id or 0)
        assert item["to"][0]["email"] == person.email
    # What SendGrid's substitution makes of the body is what personalise.personalise makes.
    delivered = expand(Accepted("id", 0.0, body))
    for person, item, message in zip(people, body["personalizations"], delivered, strict=True):
        local = personalise.personalise(compiled, item["substitutions"])
        assert (message.subject, message.html, message.text) == (
            local.subject,
            local.html,
            local.text,
        )
        assert message.email == person.email


def test_an_update_needs_no_targets(setup, fake):
    db, _ = setup
    ready = plan(setup, UPDATE)
    assert pipeline._targets_reader(db, ready.prepared)([]) == {}


def test_ctrl_c_mid_send_is_an_interruption_with_this_runs_figures(setup, fake):
    db, _ = setup
    ready = plan(setup)
    calls = 0

    def interrupt_after_two_batches(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # the initial report, then one per batch
            raise KeyboardInterrupt

    with pytest.raises(SendInterrupted) as stopped:
        pipeline.run_send(db, ready, progress=interrupt_after_two_batches)
    assert stopped.value.exit_code == 130
    summary = stopped.value.summary
    left = counts(db, ready.campaign_id)
    assert "in_flight" not in left and left["pending"] > 0
    assert summary is not None and summary.sent == left["sent"] == len(fake.deliveries())
    pipeline.run_send(db, plan(setup))
    assert Counter(Counter(d.email for d in fake.deliveries()).values()) == {1: PEOPLE}


def test_a_sigint_lets_the_requests_out_finish_and_leaves_nobody_in_flight(setup, fake):
    db, _ = setup
    fake.latency = 0.2
    ready = plan(setup)
    sent_signal = False

    def signal_once(done: int, total: int) -> None:
        nonlocal sent_signal
        if done and not sent_signal:
            sent_signal = True
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(SendInterrupted):
        pipeline.run_send(db, ready, progress=signal_once)
    left = counts(db, ready.campaign_id)
    assert "in_flight" not in left and "unknown" not in left
    assert left["sent"] == len(fake.deliveries()) and left["pending"] > 0


def test_someone_who_unsubscribes_mid_send_is_skipped(setup, fake):
    db, _ = setup
    ready = plan(setup)
    last: list[int] = []

    def unsubscribe_the_last_after_the_first_batch(done: int, total: int) -> None:
        if done and not last:
            last.append(ledger_db.ledger_ids(db, ready.campaign_id, ["pending"])[-1])
            lifecycle.apply(db, last[0], lifecycle.Change.UNSUBSCRIBE)
            db.conn.commit()

    summary = pipeline.run_send(db, ready, progress=unsubscribe_the_last_after_the_first_batch)
    assert (summary.sent, summary.skipped) == (PEOPLE - 1, 1)
    address = subscribers_db.get_subscriber(db, last[0]).email
    assert address not in {d.email for d in fake.deliveries()}
    assert ledger_db.ledger_reasons(db, ready.campaign_id, "skipped") == [
        ("status is unsubscribed", 1)
    ]


def test_unknown_recipients_with_a_sendgrid_event_count_as_sent(setup, fake):
    db, _ = setup
    ready = plan(setup)
    ledger_db.ledger_freeze_segment(db, ready.campaign_id, None)
    claimed, _ = ledger_db.ledger_claim(db, ready.campaign_id, 5)  # a run that died with these out
    build = pipeline.CampaignMessages(ready.prepared, lambda b: targets.targets_for_many(db, []))
    batch = replace(build(claimed[:3]), campaign_id=ready.campaign_id)
    accepted = Accepted("lost-answer", 0.0, mail_body(batch, False))  # SendGrid got three
    events = webhook_events(expand(accepted), "delivered")
    with write_transaction(db):
        ingest_events(db, "sendgrid", parse_events(json.dumps(events).encode(), "test"))
    summary = pipeline.run_send(db, plan(setup))
    assert (summary.sent, summary.unknown) == (PEOPLE - 5, 2)
    retried = pipeline.run_send(db, plan(setup), retry_unknown=True)
    assert (retried.sent, retried.unknown) == (2, 0)
    got = {d.email for d in fake.deliveries()}
    assert got.isdisjoint(p.email for p in claimed[:3]) and len(got) == PEOPLE - 3


def test_a_dry_run_touches_neither_the_ledger_nor_the_runs(setup, fake, tmp_path):
    db, _ = setup
    ready = plan(setup, dry_run=True)
    assert ready.settings is None
    result = pipeline.dry_run(db, ready, outbox_path=tmp_path / "out.mbox", limit=8)
    assert (result.messages, result.summary.sent) == (8, 0)
    assert counts(db, ready.campaign_id) == {}
    assert ledger_db.send_run_history(db, ready.campaign_id) == []
    record = campaigns_db.campaign_record(db, ACTION)
    assert record is not None and record.send_started_at is None
    assert fake.requests == []


def test_a_dry_run_counts_who_would_be_skipped(setup, fake):
    db, _ = setup
    first = plan(setup)
    pipeline.run_send(db, first, limit=5)
    pending = ledger_db.ledger_ids(db, first.campaign_id, ["pending"])
    lifecycle.apply(db, pending[0], lifecycle.Change.UNSUBSCRIBE)
    db.conn.commit()
    result = pipeline.dry_run(db, plan(setup, dry_run=True))
    assert (result.messages, result.summary.skipped) == (PEOPLE - 6, 1)
    assert counts(db, first.campaign_id) == {"sent": 5, "pending": PEOPLE - 5}


def test_a_campaign_file_changed_after_the_send_started_is_noticed(setup, fake):
    db, config = setup
    pipeline.run_send(db, plan(setup), limit=3)
    assert not plan(setup).changed
    path = (config.path or Path()).parent / "campaigns" / f"{ACTION}.md"
    path.write_text(path.read_text().replace("Hi {{", "Hello {{", 1))
    assert plan(setup).changed


def test_send_status_of_a_sent_campaign(setup, fake):
    db, config = setup
    pipeline.run_send(db, plan(setup), limit=4)
    folder = (config.path or Path()).parent / "campaigns"
    status = pipeline.send_status(db, folder, ACTION, list_state="sent")
    assert status.status == "sending" and status.counts["sent"] == 4
    assert len(status.listed) == 4 and len(status.runs) == 1
    assert status.runs[0]["outcome"] == "completed" and status.runs[0]["sent"] == 4
    data = status.as_dict(listed_state="sent")
    assert set(data) == {
        "slug", "status", "started_at", "finished_at", "counts", "failures", "skips", "runs",
        "sent",
    }  # fmt: skip
