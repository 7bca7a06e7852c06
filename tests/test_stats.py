"""Campaign figures on hand-built events, and the summaries that make them fast."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stats_data import EXPECTED_JSON, T0, add_campaign, add_event, build_letter_campaign

from alerts.db import ledger as ledger_db
from alerts.db import migrations as migrations_db
from alerts.db import open_db, utc_now
from alerts.db import stats as stats_db
from alerts.db import subscribers as subscribers_db
from alerts.db.migrations import MIGRATIONS
from alerts.db.stats import rebuild_stats_summaries
from alerts.errors import NotFoundError
from alerts.reports.figures import all_campaigns, campaign_stats
from alerts.reports.report import overview_html, report_html

SUMMARIES = ("stats_kind_totals", "stats_detail_totals", "stats_state_totals", "stats_hourly")


def summaries(db) -> dict[str, list[tuple]]:
    return {table: sorted(map(tuple, db.execute(f"SELECT * FROM {table}"))) for table in SUMMARIES}


def test_hand_built_campaign_gives_the_known_figures(db):
    build_letter_campaign(db)
    assert campaign_stats(db, "qi-letter").as_json() == EXPECTED_JSON


def test_funnel_rates_name_delivered_as_their_base_once_deliveries_arrive(db):
    build_letter_campaign(db)
    f = campaign_stats(db, "qi-letter").funnel
    assert (f.base_name, f.base) == ("delivered", 7)
    assert str(f.rate(f.opens.unique)) == "42.9% of delivered"
    assert f.opens.raw_unique == 4  # person 3 was only ever opened by a proxy
    assert (f.unknown, f.in_progress, f.skipped) == (1, 0, 0)
    assert (f.letter_writers, f.letter_page_views, f.letters_sent) == (2, 3, 3)
    assert (f.provider_opens.unique, f.provider_opens.total) == (1, 1)


def test_without_delivery_events_rates_are_of_sent(db):
    build_letter_campaign(db, delivery_events=False)
    stats = campaign_stats(db, "qi-letter")
    f = stats.funnel
    assert (f.delivered, f.bounced, f.base_name, f.base) == (0, 0, "sent", 8)
    assert str(f.rate(f.clicks.unique)) == "37.5% of sent"
    assert stats.as_json()["opens"] == EXPECTED_JSON["opens"]


def test_letters_per_member_count_each_recipient_once_per_member(db):
    build_letter_campaign(db)
    members = campaign_stats(db, "qi-letter").members
    assert [(m.target, m.name, m.seat, m.letters) for m in members] == [
        ("S000001", "Senator Alex Padilla", "CA", 2),
        ("R000012", "Representative Lateefah Simon", "CA-12", 1),
    ]


def test_breakdown_by_state(db):
    build_letter_campaign(db)
    states = {s.state: s for s in campaign_stats(db, "qi-letter").states}
    assert list(states) == ["CA", "TX", "NY", "unknown"]  # most recipients first
    ca, tx = states["CA"], states["TX"]
    assert (ca.recipients, ca.sent, ca.delivered, ca.opened, ca.clicked) == (4, 4, 4, 3, 2)
    assert ca.letter_writers == 2
    assert (tx.opened, tx.clicked) == (0, 1)  # person 3's proxy open is no open
    assert (states["unknown"].recipients, states["unknown"].sent) == (1, 0)


def test_unsubscribing_after_clicking_still_counts_the_click(db):
    db["subscribers"].insert(
        {"id": 1, "email": "a@example.org", "created_at": "", "updated_at": ""}
    )
    cid = add_campaign(db, "one", started="2026-09-21T00:00:00Z")
    link = db["links"].insert({"campaign_id": cid, "url": "https://example.org/"}).last_pk
    db["send_ledger"].insert({"campaign_id": cid, "subscriber_id": 1, "state": "sent"})
    add_event(db, cid, 1, "click", T0, link=link)
    add_event(db, cid, 1, "unsubscribe", T0 + 60)
    db["subscribers"].update(1, {"status": "unsubscribed"})
    db.conn.commit()
    figures = campaign_stats(db, "one").as_json()
    assert (figures["clicks"]["unique"], figures["unsubscribes"]) == (1, 1)
    assert figures["links"] == [{"url": "https://example.org/", "unique": 1, "total": 1}]


def test_a_campaign_with_nothing_yet(db):
    add_campaign(db, "draft", started=None, kind="update")
    db.conn.commit()
    stats = campaign_stats(db, "draft")
    assert stats.as_json() == {
        "campaign": "draft",
        "recipients": 0,
        "sent": 0,
        "failed": 0,
        "delivered": 0,
        "bounced": 0,
        "opens": {"unique": 0, "total": 0, "machine": 0},
        "clicks": {"unique": 0, "total": 0, "machine": 0},
        "letters": {"visits": 0, "sent": 0},
        "unsubscribes": 0,
        "spam_reports": 0,
        "links": [],
        "stances": {},
        "wins": [],
        "letters_by_email": [],
        "deadline": {"at": None, "letters_before": 0, "letters_after": 0},
        "public": {
            "visits": 0,
            "letters": 0,
            "signups": {
                "totals": {"confirmed": 0, "pending": 0, "expired": 0, "refused": 0},
                "by_source": [],
                "by_day": [],
            },
        },
        "shares": {"facebook": 0, "x": 0, "email": 0, "copy": 0, "total": 0},
    }
    assert str(stats.funnel.rate(0)) == "– of sent"
    assert stats.timeline.buckets == [] and stats.states == [] and stats.members == []
    page = report_html(stats)
    assert "No activity yet." in page and "Not sent yet" in page


def test_unknown_slug_is_a_one_line_error(db):
    with pytest.raises(NotFoundError, match="campaign 'nope'") as caught:
        campaign_stats(db, "nope")
    assert "\n" not in str(caught.value)


def test_all_campaigns_newest_first_with_their_own_bases(db):
    build_letter_campaign(db)
    add_campaign(db, "older", started="2026-05-01T10:00:00Z", kind="update")
    add_campaign(db, "draft", started=None)  # created 2026-09-01, never sent
    db.conn.commit()
    rows = [row.as_dict() for row in all_campaigns(db)]
    assert [r["slug"] for r in rows] == ["qi-letter", "draft", "older"]
    first = rows[0]
    assert first == {
        "slug": "qi-letter",
        "kind": "action",
        "sent_on": "2026-09-21",
        "sent": 8,
        "delivered": 7,
        "unique_opens": 3,
        "unique_open_rate_pct": 42.9,
        "unique_clicks": 3,
        "unique_click_rate_pct": 42.9,
        "rate_denominator": "delivered",
        "letters_sent": 3,
        "unsubscribes": 2,
    }
    assert rows[1]["unique_open_rate_pct"] is None and rows[1]["rate_denominator"] == "sent"
    assert rows[1]["sent_on"] == ""


def test_timeline_picks_hours_days_or_weeks(db):
    build_letter_campaign(db)
    hourly = campaign_stats(db, "qi-letter").timeline
    assert hourly.unit == "hour" and len(hourly.buckets) == 4
    assert sum(b.opens for b in hourly.buckets) == 5  # human open events
    assert sum(b.letters for b in hourly.buckets) == 4  # letter events, before de-duplication
    cid = db.execute("SELECT id FROM campaigns").fetchone()[0]
    add_event(db, cid, 1, "open", T0 + 9 * 86_400)
    daily = campaign_stats(db, "qi-letter").timeline
    assert daily.unit == "day" and len(daily.buckets) == 10
    assert daily.label(daily.buckets[0]) == "2026-09-21"
    add_event(db, cid, 1, "click", T0 + 200 * 86_400)
    weekly = campaign_stats(db, "qi-letter").timeline
    assert weekly.unit == "week"
    assert all(datetime.fromtimestamp(b.start, UTC).weekday() == 0 for b in weekly.buckets)
    assert sum(b.clicks for b in weekly.buckets) == 6


def test_report_is_self_contained_and_escapes_what_it_shows(db):
    build_letter_campaign(db)
    db["campaigns"].update(1, {"subject": "<script>alert(1)</script> & more"})
    db["links"].insert({"campaign_id": 1, "url": 'https://example.org/?a="><img src=x>'})
    db.conn.commit()
    page = report_html(campaign_stats(db, "qi-letter"))
    tags = Tags()
    tags.feed(page)
    assert not {"script", "img", "link", "iframe", "object"} & tags.names
    assert not tags.fetching  # no src, href or CSS url(): nothing to load
    assert "url(" not in page and "@import" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert tags.names >= {"svg", "table", "h1", "h2"} and page.count('role="img"') == 4


def test_overview_page_lists_every_campaign_escaped(db):
    build_letter_campaign(db)
    add_campaign(db, "<b>older</b>", started="2026-05-01T10:00:00Z", kind="update")
    db.conn.commit()
    page = overview_html(all_campaigns(db))
    assert page.count('role="img"') == 1 and "&lt;b&gt;older&lt;/b&gt;" in page
    assert "<b>" not in page
    assert "No campaigns yet." in overview_html([])


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.fetching: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.fetching += [(k, v) for k, v in attrs if k in ("src", "href", "xlink:href")]


# --------------------------------------------------------------------------
# The summaries kept by triggers always equal a rebuild from the events and the ledger

SUBSCRIBER = st.sampled_from([1, 2, 3])
EVENT = st.tuples(
    st.sampled_from([1, 2, None]),  # campaign
    st.sampled_from([1, 2, 3, None]),  # subscriber
    st.sampled_from(["open", "click", "delivered", "letter_sent", "unsubscribe"]),
    st.sampled_from([1, 2, None]),  # link
    st.sampled_from(["S000001", "R000012", None]),  # target
    st.integers(T0, T0 + 5 * 3600),  # at
    st.sampled_from([0, 1]),  # machine
)
CHANGE = st.one_of(
    st.tuples(st.just("insert"), EVENT),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("update"), st.integers(0, 30), EVENT),
    # What a re-import does to someone who moved; what `forget` does.
    st.tuples(st.just("move"), SUBSCRIBER, st.sampled_from(["CA", "TX", None])),
    st.tuples(st.just("forget"), SUBSCRIBER),
    # Ledger rows that come after their events, go, or change hands.
    st.tuples(st.just("freeze"), st.sampled_from([1, 2])),
    st.tuples(st.just("unfreeze"), st.sampled_from([1, 2]), SUBSCRIBER),
    st.tuples(st.just("reassign"), st.sampled_from([1, 2]), SUBSCRIBER, SUBSCRIBER),
)
EVENT_COLUMNS = ["campaign_id", "subscriber_id", "kind", "link_id", "target", "at", "machine"]


def apply_change(db, change: tuple) -> None:
    ids = [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]
    kind, *args = change
    if kind == "insert":
        db.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", args[0]
        )
    elif kind == "delete" and ids:
        db.execute("DELETE FROM events WHERE id = ?", [ids[args[0] % len(ids)]])
    elif kind == "update" and ids:
        sets = ", ".join(f"{column} = ?" for column in EVENT_COLUMNS)
        db.execute(f"UPDATE events SET {sets} WHERE id = ?", [*args[1], ids[args[0] % len(ids)]])
    elif kind == "move":
        db.execute(
            "UPDATE subscribers SET state = ? WHERE id = ? AND status = 'subscribed'", args[::-1]
        )
    elif kind == "forget":
        subscribers_db.erase_subscriber(db, args[0], utc_now())
    elif kind == "freeze":
        ledger_db.ledger_freeze_segment(db, args[0], None)
    elif kind == "unfreeze":
        db.execute("DELETE FROM send_ledger WHERE campaign_id = ? AND subscriber_id = ?", args)
    elif kind == "reassign":
        db.execute(
            "UPDATE OR IGNORE send_ledger SET subscriber_id = ?"
            " WHERE campaign_id = ? AND subscriber_id = ?",
            [args[2], args[0], args[1]],
        )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENT, max_size=12), st.lists(CHANGE, max_size=30))
# Random lists seldom line a change of someone up with their own events; these do.
@example([(1, 1, "open", None, None, T0, 0)], [("move", 1, "TX"), ("forget", 1), ("delete", 0)])
@example(
    [(2, 1, "click", 2, None, T0, 0), (2, 2, "delivered", None, None, T0, 0)],
    [("freeze", 2), ("unfreeze", 2, 1), ("reassign", 2, 2, 3), ("delete", 1)],
)
@example(
    [(1, 2, "letter_sent", None, "S000001", T0, 0)],
    [
        ("update", 0, (1, 1, "letter_sent", None, "R000012", T0, 0)),
        ("unfreeze", 1, 3),
        ("reassign", 1, 1, 3),
        ("forget", 2),
        ("delete", 0),
    ],
)
def test_triggers_agree_with_a_rebuild_after_any_changes(events, changes):
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "t.db")
        for n, state in ((1, "CA"), (2, "CA"), (3, None)):
            db["subscribers"].insert(
                {"id": n, "email": f"{n}@x.org", "state": state, "created_at": "", "updated_at": ""}
            )
        for cid in (1, 2):
            add_campaign(db, f"c{cid}", started=None)
        db["links"].insert_all(
            [{"id": 1, "campaign_id": 1, "url": "a"}, {"id": 2, "campaign_id": 2, "url": "b"}]
        )
        db.conn.commit()
        ledger_db.ledger_freeze_segment(db, 1, None)  # campaign 2's recipients come later
        for change in [("insert", event) for event in events] + changes:
            apply_change(db, change)
        kept = summaries(db)
        rebuild_stats_summaries(db)
        assert kept == summaries(db)
        db.close()


def test_a_move_or_forget_leaves_past_figures_and_deletes_exact(db):
    """The retention DELETE of docs/privacy.md, after people moved or were forgotten."""
    build_letter_campaign(db)  # 1-4 live in CA when it is sent; 1, 2 and 4 open it
    db.execute("UPDATE subscribers SET state = 'OR' WHERE id IN (1, 2)")  # a re-import
    subscribers_db.erase_subscriber(db, 4, utc_now())
    db.conn.commit()
    states = {s.state: s for s in campaign_stats(db, "qi-letter").states}
    assert (states["CA"].recipients, states["CA"].opened) == (3, 2)  # 4 is unknown now
    assert "OR" not in states
    db.execute("DELETE FROM events WHERE kind = 'open'")
    db.conn.commit()
    kept = summaries(db)
    rebuild_stats_summaries(db)
    assert kept == summaries(db)
    assert all(s.opened == 0 for s in campaign_stats(db, "qi-letter").states)


@pytest.mark.parametrize("before", [60, 90])
def test_migrations_count_events_recorded_before_them(tmp_path, monkeypatch, before):
    """60 adds the summaries, 90 the state frozen in the ledger (the state people have now)."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(
        migrations_db, "MIGRATIONS", {n: f for n, f in MIGRATIONS.items() if n < before}
    )
    old = open_db(path)
    build_letter_campaign(old)
    old.close()
    monkeypatch.undo()
    upgraded = open_db(path)
    stats = campaign_stats(upgraded, "qi-letter")
    assert stats.as_json() == EXPECTED_JSON
    assert [(s.state, s.recipients, s.opened) for s in stats.states] == [
        ("CA", 4, 3),
        ("TX", 3, 0),
        ("NY", 2, 0),
        ("unknown", 1, 0),
    ]
    kept = summaries(upgraded)
    rebuild_stats_summaries(upgraded)
    assert kept == summaries(upgraded)
    upgraded.close()


def test_paused_summaries_are_rebuilt_and_triggers_restored(db):
    triggers = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
        " AND name <> 'subscribers_address_moved' ORDER BY name"
    )  # every trigger but the one that is not a summary's
    before = db.execute(triggers).fetchall()
    assert [name for name, _ in before] == sorted(stats_db.STATS_TRIGGERS)
    with stats_db.stats_summaries_paused(db):
        build_letter_campaign(db)
        assert db.execute("SELECT COUNT(*) FROM stats_kind_totals").fetchone()[0] == 0
        assert db.execute(triggers).fetchall() == []
    assert db.execute(triggers).fetchall() == before
    assert campaign_stats(db, "qi-letter").as_json() == EXPECTED_JSON
    add_event(db, 1, 5, "open", T0 + 600)
    assert campaign_stats(db, "qi-letter").funnel.opens.unique == 4
