"""alerts.tracking: machine rules, recording and group commit (provider events: test_webhooks)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from tracking_helpers import rows, seed

from alerts.db import Database, open_db
from alerts.db import events as events_db
from alerts.errors import StorageError
from alerts.models import Event, EventKind
from alerts.tracking import committer as committing
from alerts.tracking import machines
from alerts.tracking import recording as tracking
from alerts.tracking.committer import GroupCommitter, Tracker
from alerts.tracking.machines import Visit

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
T0 = 1_767_225_600


@pytest.fixture
def seeded(tmp_path: Path) -> Database:
    database = open_db(tmp_path / "t.db")
    seed(database)
    yield database
    database.close()


# --------------------------------------------------------------------------
# Machine rules


@pytest.mark.parametrize(
    ("visit", "delivered", "reason"),
    [
        (Visit(T0 + 3600, CHROME, "203.0.113.9"), T0, None),
        (Visit(T0 + 3600, "Mozilla/5.0", "203.0.113.9"), T0, "apple_privacy_proxy"),
        (Visit(T0 + 3600, CHROME, "17.58.1.2"), T0, "apple_privacy_proxy"),
        (Visit(T0 + 3600, None, "203.0.113.9"), T0, "no_user_agent"),
        (Visit(T0 + 3600, "python-requests/2.32", None), T0, "automated_user_agent"),
        (Visit(T0 + 3, CHROME, "203.0.113.9"), T0, "soon_after_delivery"),
        (Visit(T0 + 3, CHROME, "203.0.113.9"), None, None),
        (Visit(T0 + 3600, CHROME, "203.0.113.9", head=True), T0, "head_request"),
        (Visit(T0 + 3600, f"{CHROME} (via ggpht.com GoogleImageProxy)", None), T0, None),
    ],
)
def test_open_machine_rules(visit: Visit, delivered: int | None, reason: str | None):
    assert machines.open_machine_reason(visit, delivered) == reason


@pytest.mark.parametrize(
    ("visit", "delivered", "burst", "reason"),
    [
        (Visit(T0 + 600, CHROME), T0, False, None),
        (Visit(T0 + 600, CHROME, head=True), T0, False, "head_request"),
        (Visit(T0 + 600, "Mozilla/5.0 (compatible; Barracuda Sentinel)"), T0, False,
         "automated_user_agent"),
        (Visit(T0 + 600, "curl/8.5.0"), T0, False, "automated_user_agent"),
        (Visit(T0 + 2, CHROME), T0, False, "soon_after_delivery"),
        (Visit(T0 + 600, CHROME), T0, True, "link_burst"),
        (Visit(T0 + 600, CHROME, "17.1.1.1"), T0, False, None),  # Apple's network clicks are people
    ],
)  # fmt: skip
def test_click_machine_rules(visit: Visit, delivered: int, burst: bool, reason: str | None):
    assert machines.click_machine_reason(visit, delivered, burst) == reason


def test_delivery_time_prefers_the_delivered_event_then_the_ledger(seeded: Database):
    assert events_db.delivery_time(seeded, 1, 1) is None
    seeded.execute(
        "INSERT INTO send_ledger (campaign_id, subscriber_id, state, updated_at)"
        " VALUES (1, 1, 'sent', '2026-01-01T00:00:00Z')"
    )
    assert events_db.delivery_time(seeded, 1, 1) == T0
    events_db.insert_event(seeded, Event(EventKind.DELIVERED, 1, 1, at=T0 + 40))
    assert events_db.delivery_time(seeded, 1, 1) == T0 + 40


def test_open_soon_after_delivery_is_flagged(seeded: Database):
    events_db.insert_event(seeded, Event(EventKind.DELIVERED, 1, 1, at=T0))
    early = tracking.record_open(seeded, 1, 1, Visit(T0 + 2, CHROME))
    late = tracking.record_open(seeded, 1, 1, Visit(T0 + 900, CHROME))
    assert early is not None and early.machine and "soon_after_delivery" in early.detail
    assert late is not None and not late.machine


def test_open_for_a_missing_campaign_records_nothing(seeded: Database):
    assert tracking.record_open(seeded, 99, 1, Visit(T0, CHROME)) is None
    assert seeded.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_burst_over_many_links_flags_every_click_of_it(seeded: Database):
    seeded.execute("INSERT INTO links (id, campaign_id, url) VALUES (4, 1, 'https://e.org/4')")
    first = tracking.record_click(seeded, 1, 1, 1, Visit(T0 + 600, CHROME))
    second = tracking.record_click(seeded, 1, 1, 3, Visit(T0 + 601, CHROME))
    third = tracking.record_click(seeded, 1, 1, 4, Visit(T0 + 601, CHROME))
    assert not first.machine and not second.machine and third.machine
    flags = seeded.execute("SELECT machine, detail FROM events ORDER BY id").fetchall()
    assert [flag for flag, _ in flags] == [1, 1, 1]
    assert all("link_burst" in detail for _, detail in flags)


def test_repeated_clicks_on_one_link_are_not_a_burst(seeded: Database):
    for second in range(5):
        event = tracking.record_click(seeded, 1, 1, 1, Visit(T0 + 600 + second, CHROME))
        assert not event.machine


# --------------------------------------------------------------------------
# Unsubscribe


def test_unsubscribe_is_idempotent_and_records_one_event(seeded: Database):
    assert tracking.unsubscribe(seeded, 1, 1, T0) is True
    assert tracking.unsubscribe(seeded, 1, 1, T0 + 5) is False
    events = seeded.execute("SELECT kind, campaign_id, subscriber_id FROM events").fetchall()
    assert events == [("unsubscribe", 1, 1)]
    assert seeded.execute("SELECT status FROM subscribers WHERE id = 1").fetchone()[0] == (
        "unsubscribed"
    )


def test_unsubscribe_leaves_a_bounced_subscriber_bounced(seeded: Database):
    seeded.execute("UPDATE subscribers SET status = 'bounced' WHERE id = 2")
    assert tracking.unsubscribe(seeded, 1, 2, T0) is False
    assert seeded.execute("SELECT status FROM subscribers WHERE id = 2").fetchone()[0] == "bounced"


# --------------------------------------------------------------------------
# Letter pages


def test_letter_visits_follow_the_click_rules(seeded: Database):
    tracking.record_letter_visit(seeded, 1, 1, Visit(T0, CHROME))
    tracking.record_letter_visit(seeded, 1, 1, Visit(T0, CHROME, head=True))
    tracking.record_letter_visit(seeded, 1, 2, Visit(T0, "curl/8.5"))
    assert rows_of(seeded, "SELECT subscriber_id, machine, detail FROM events") == [
        (1, 0, None),
        (1, 1, '{"machine": "head_request"}'),
        (2, 1, '{"machine": "automated_user_agent"}'),
    ]


def test_letter_sent_is_recorded_once_per_campaign_and_target(seeded: Database):
    assert tracking.record_letter_sent(seeded, 1, 1, "A000001", Visit(T0, CHROME)) is True
    assert tracking.record_letter_sent(seeded, 1, 1, "A000001", Visit(T0 + 9, CHROME)) is False
    assert tracking.record_letter_sent(seeded, 1, 1, "B000002", Visit(T0, CHROME)) is True
    assert tracking.record_letter_sent(seeded, 2, 1, "A000001", Visit(T0, CHROME)) is True
    assert tracking.record_letter_sent(seeded, 1, 2, "A000001", Visit(T0, CHROME)) is True
    assert rows_of(
        seeded, "SELECT campaign_id, subscriber_id, target, at FROM events ORDER BY id"
    ) == [
        (1, 1, "A000001", T0),
        (1, 1, "B000002", T0),
        (2, 1, "A000001", T0),
        (1, 2, "A000001", T0),
    ]


def test_letter_copies_are_limited_per_window(seeded: Database):
    limits = ((60, 2), (3600, 3))

    def ask(at: int, subscriber: int = 1) -> tracking.CopyPermit:
        visit = Visit(at, CHROME)
        return tracking.reserve_letter_copy(seeded, 1, subscriber, "A000001", visit, limits)

    assert ask(T0).granted and ask(T0 + 10).granted
    refused = ask(T0 + 20)
    assert not refused.granted and refused.retry_after == 40  # the first copy expires at T0+60
    assert ask(T0 + 20, subscriber=2).granted  # another subscriber's own allowance
    assert ask(T0 + 61).granted  # the minute has passed; the hour now holds three
    refused = ask(T0 + 200)
    assert not refused.granted and refused.retry_after == 3400
    assert ask(T0 + 3601).granted


def test_a_released_copy_no_longer_counts(seeded: Database):
    limits = ((3600, 1),)
    permit = tracking.reserve_letter_copy(seeded, 1, 1, "A000001", Visit(T0, CHROME), limits)
    assert permit.event_id is not None
    assert not tracking.reserve_letter_copy(seeded, 1, 1, "A", Visit(T0, CHROME), limits).granted
    tracking.release_letter_copy(seeded, permit.event_id)
    assert tracking.reserve_letter_copy(seeded, 1, 1, "A", Visit(T0, CHROME), limits).granted
    assert rows_of(seeded, "SELECT kind, target FROM events") == [("letter_emailed", "A")]


def rows_of(db: Database, sql: str) -> list[tuple]:
    return [tuple(row) for row in db.execute(sql).fetchall()]


# --------------------------------------------------------------------------
# Group commit


def test_group_commit_shares_transactions_and_commits_before_answering(tmp_path: Path):
    path = tmp_path / "g.db"
    seed(open_db(path))
    committer = GroupCommitter(lambda: open_db(path))
    committer.start()
    seen_at_completion: list[int] = []
    lock = threading.Lock()

    def click(n: int) -> None:
        future = committer.submit(
            lambda db: tracking.record_click(db, 1, 1 + n % 2, 1, Visit(T0 + 3600, CHROME))
        )
        event = future.result(timeout=30)
        assert event.kind == "click"
        # Another connection sees the row by the time the future completes.
        count = rows(path, "SELECT COUNT(*) FROM events WHERE kind = 'click'")[0][0]
        with lock:
            seen_at_completion.append(count)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()
    assert rows(path, "SELECT COUNT(*) FROM events")[0][0] == 200
    assert committer.jobs == 200
    assert committer.transactions < 200  # batched
    assert min(seen_at_completion) >= 1


def test_a_failing_job_undoes_only_itself(tmp_path: Path):
    path = tmp_path / "g.db"
    seed(open_db(path))
    committer = GroupCommitter(lambda: open_db(path))
    committer.start()

    def half_then_fail(db: Database) -> None:
        events_db.insert_event(db, Event(EventKind.OPEN, 1, 1, at=T0))
        raise ValueError("broken job")

    gate = threading.Event()
    blocker = committer.submit(lambda db: gate.wait(5))  # holds the writer so the next two batch
    bad = committer.submit(half_then_fail)
    good = committer.submit(
        lambda db: events_db.insert_event(db, Event(EventKind.OPEN, 1, 2, at=T0))
    )
    gate.set()
    assert blocker.result(timeout=10) is True
    with pytest.raises(ValueError, match="broken job"):
        bad.result(timeout=10)
    assert good.result(timeout=10) is True
    committer.close()
    assert rows(path, "SELECT subscriber_id FROM events") == [(2,)]


def test_a_failed_commit_fails_every_job_of_the_batch(tmp_path: Path, monkeypatch):
    path = tmp_path / "g.db"
    seed(open_db(path))
    committer = GroupCommitter(lambda: open_db(path))
    committer.start()

    def locked(db: Database):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(committing, "write_transaction", locked)
    future = committer.submit(
        lambda db: events_db.insert_event(db, Event(EventKind.OPEN, 1, 1, at=T0))
    )
    with pytest.raises(StorageError, match="database is locked"):
        future.result(timeout=10)
    committer.close()
    assert rows(path, "SELECT COUNT(*) FROM events")[0][0] == 0


def test_submitted_jobs_cannot_be_cancelled(tmp_path: Path):
    path = tmp_path / "g.db"
    seed(open_db(path))
    committer = GroupCommitter(lambda: open_db(path))
    committer.start()
    future = committer.submit(
        lambda db: events_db.insert_event(db, Event(EventKind.OPEN, 1, 1, at=T0))
    )
    assert future.cancel() is False
    committer.close()
    assert rows(path, "SELECT COUNT(*) FROM events")[0][0] == 1


def test_clicks_only_redirect_to_http_links_of_the_campaign(tmp_path: Path):
    path = tmp_path / "t.db"
    seed(open_db(path))
    tracker = Tracker(path)
    tracker.start()
    links = tracking.LinkTargets()
    try:
        assert links.url(tracker.reader, 1, 1) == "https://example.org/act"
        assert links.url(tracker.reader, 1, 2) is None  # link 2 belongs to campaign 2
        assert links.url(tracker.reader, 1, 3) is None  # javascript: is never a target
        assert links.url(tracker.reader, 1, 99) is None
    finally:
        tracker.close()


@pytest.mark.parametrize(
    ("email", "masked"),
    [("ada@example.org", "a…@example.org"), (None, None), ("broken", None)],
)
def test_mask_email(email: str | None, masked: str | None):
    assert tracking.mask_email(email) == masked
