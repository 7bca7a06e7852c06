"""A campaign's deadline: the keys, `alerts send` before and after it, letter pages once it
has passed, and the stats of letters on each side of it.

The moment comes from alerts/clock.py: ALERTS_TODAY holds a whole moment here
(`2026-10-15T16:00:00-04:00`), and `clock.frozen_at` sets one for code in-process.
Sends go to the local SendGrid stand-in; letter pages through Starlette's TestClient.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from bill_helpers import (
    CA,
    ORIGINAL,
    VT,
    VT_REP,
    VT_SENIOR,
    build_project,
    campaign_text,
    project_db,
    register,
    site,
    write_campaign,
)
from send_helpers import use_fake

from alerts import clock
from alerts.campaigns import deadline as deadlines
from alerts.campaigns import files as campaigns
from alerts.clock import ClockError
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.reports.figures import campaign_stats
from alerts.reports.report import report_html

VOTE = "committee-vote"
DEADLINE = "2026-10-15T17:00:00-04:00"
AFTER = "The committee voted on October 15.\n\nThank you: we will write when the bill moves again."
VOTE_TEXT = campaign_text(
    f"""\
bill: hr1234-119
deadline: {DEADLINE}
send_margin: 12h
after_deadline: |
  The committee voted on October 15.

  Thank you: we will write when the bill moves again.
"""
)
CLOSED = "This action closed on October 15, 2026 at 5:00 p.m. (UTC-04:00)."


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = build_project(tmp_path / "project", {VOTE: VOTE_TEXT}, (ORIGINAL, VOTE))
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):
    """Set the moment every later command and page sees, through ALERTS_TODAY."""

    def setter(moment: str) -> None:
        monkeypatch.setenv("ALERTS_TODAY", moment)

    return setter


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    with FakeSendGrid() as server:
        use_fake(monkeypatch, server)
        yield server


def problems(cli, front: str) -> list[str]:
    write_campaign(Path.cwd(), "probe", campaign_text(front))
    *found, summary = cli("campaigns", "check", "probe", ok=False).output.strip().splitlines()
    assert summary == "Error: 1 of 1 campaign(s) failed the check"
    return found


# --------------------------------------------------------------------------
# The clock


def test_alerts_today_may_hold_a_moment_with_its_offset(at):
    at("2026-10-15T23:30:00-04:00")
    assert clock.now() == datetime(2026, 10, 16, 3, 30, tzinfo=UTC)
    assert clock.today().isoformat() == "2026-10-16"  # the UTC date, as before
    at("2026-10-15")
    assert clock.now().date().isoformat() == "2026-10-15" and clock.now().tzinfo is UTC


@pytest.mark.parametrize(
    "value", ["2026-10-15T17:00:00", "2026-10-15T25:00:00Z", "2026-10-15Tnoon"]
)
def test_a_moment_without_an_offset_or_a_bad_one_is_refused(at, value):
    at(value)
    with pytest.raises(ClockError, match=f"ALERTS_TODAY={value!r} is not a moment"):
        clock.now()


def test_frozen_at_sets_the_moment_for_the_code_inside(at):
    at("2026-01-01")
    moment = datetime(2026, 10, 15, 17, tzinfo=timezone(timedelta(hours=-4)))
    with clock.frozen_at(moment):
        assert clock.now() == moment and clock.today().isoformat() == "2026-10-15"
    assert clock.today().isoformat() == "2026-01-01"


# --------------------------------------------------------------------------
# The keys


def test_the_keys_as_read(project):
    campaign = campaigns.find_campaign(project / "campaigns", VOTE)
    assert campaign.deadline is not None
    assert campaign.deadline.isoformat() == DEADLINE  # in the file's own offset
    assert campaign.send_margin == timedelta(hours=12)
    assert campaign.after_deadline is not None and campaign.after_deadline.text.strip() == AFTER
    plain = campaigns.find_campaign(project / "campaigns", ORIGINAL)
    assert plain.deadline is None and plain.send_margin == timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "margin"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("0h", timedelta()),
    ],
)
def test_send_margin_formats(text, margin):
    assert deadlines.parse_margin(text) == margin


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-10-15T17:00:00", "'2026-10-15T17:00:00'"),  # no offset
        ("2026-10-15", "'2026-10-15'"),
        ("next tuesday", "'next tuesday'"),
        ("2026-10-15T17:00:00+25:00", "'2026-10-15T17:00:00+25:00'"),
    ],
)
def test_a_deadline_needs_a_date_a_time_and_an_offset(cli, project, value, shown):
    (line,) = problems(cli, f"deadline: {value}\n")
    assert line == (
        "campaigns/probe.md:13: deadline must be a date and time with its UTC offset, like"
        f" 2027-02-15T17:00:00-05:00, not {shown}"
    )


@pytest.mark.parametrize("value", ["12", "soon", "12 hours", "h", "-3h"])
def test_a_bad_send_margin_is_one_line(cli, project, value):
    (line,) = problems(cli, f"deadline: {DEADLINE}\nsend_margin: {value}\n")
    assert line.startswith("campaigns/probe.md:14: send_margin must be a length of time like")


def test_send_margin_and_after_deadline_need_a_deadline(cli, project):
    found = problems(cli, "send_margin: 12h\nafter_deadline: Closed.\n")
    assert found == [
        "campaigns/probe.md:13: send_margin needs a deadline",
        "campaigns/probe.md:14: after_deadline needs a deadline",
    ]


def test_the_deadline_is_for_action_alerts(cli, project):
    write_campaign(project, "probe", campaign_text(f"deadline: {DEADLINE}\n", kind="update"))
    assert (
        "deadline is only for action campaigns"
        in cli("campaigns", "check", "probe", ok=False).output
    )


# --------------------------------------------------------------------------
# alerts send


def test_send_refuses_once_the_deadline_has_passed(cli, project, fake, at):
    at("2026-10-15T17:00:00-04:00")  # the very moment
    result = cli("send", VOTE, "--yes", ok=False)
    assert result.stderr.strip().splitlines() == [
        f"Error: campaigns/{VOTE}.md: deadline: the action closed less than a minute ago,"
        " on October 15, 2026 at 5:00 p.m. (UTC-04:00): not sending"
    ]
    at("2026-10-16T09:30:00+02:00")
    assert (
        "the action closed 10 hours 30 minutes ago" in cli("send", VOTE, "--yes", ok=False).stderr
    )
    assert fake.requests == []


def test_send_warns_inside_the_margin_and_sends(cli, project, fake, at):
    at("2026-10-15T07:00:00-04:00")  # 10 hours before, inside the 12-hour margin
    result = cli("send", VOTE, "--yes")
    assert (
        "Warning: the deadline is 10 hours away (October 15, 2026 at 5:00 p.m. (UTC-04:00)),"
        " less than the send_margin of 12 hours: some recipients may read it too late."
        in result.stderr
    )
    assert len(fake.deliveries()) == 5


def test_send_says_nothing_before_the_margin(cli, project, fake, at):
    at("2026-10-14T17:00:00-04:00")
    result = cli("send", VOTE, "--yes")
    assert "deadline" not in result.stderr and len(fake.deliveries()) == 5


def test_a_dry_run_after_the_deadline_only_says_so(cli, project, at):
    at("2026-10-16T12:00:00Z")
    result = cli("send", VOTE, "--dry-run")
    assert "Note: " in result.stderr and "(a real send would be refused)" in result.stderr


def test_the_default_margin_is_24_hours(cli, project, fake, at):
    text = VOTE_TEXT.replace("send_margin: 12h\n", "")
    write_campaign(project, VOTE, text)
    at("2026-10-14T19:00:00-04:00")  # 22 hours before
    assert "less than the send_margin of 1 day:" in cli("send", VOTE, "--yes").stderr


def test_a_follow_up_keeps_to_the_deadline_of_the_letter_it_opens(cli, project, fake, at):
    write_campaign(project, "reminder", campaign_text(f"letter_campaign: {VOTE}\n", letter=False))
    at("2026-10-16T12:00:00Z")
    result = cli("send", "reminder", "--yes", ok=False)
    assert f"Error: campaigns/{VOTE}.md: deadline: the action closed" in result.stderr


# --------------------------------------------------------------------------
# Letter pages and the stats


def test_after_the_deadline_the_page_says_so_and_letters_are_late(project, at):
    vote = register(project, VOTE)
    with site(project) as web:
        at("2026-10-15T16:59:00-04:00")
        page = web.page(vote, VT)
        assert "This action closed" not in page and "The committee voted" not in page
        web.sent(vote, VT, VT_REP)
        at("2026-10-15T21:00:01Z")  # a second after 5 p.m. in the deadline's offset
        page = web.page(vote, VT)
        assert CLOSED in page
        assert "<p>The committee voted on October 15.</p>" in page
        assert "<p>Thank you: we will write when the bill moves again.</p>" in page
        assert 'value="sent"' in page  # still there: a late letter is still recorded
        web.sent(vote, VT, VT_SENIOR)
        letters = web.letters()
    assert [(target, late) for _, _, target, _, late in letters] == [(VT_REP, 0), (VT_SENIOR, 1)]


def test_a_page_without_a_deadline_never_closes(project, at):
    original = register(project, ORIGINAL)
    at("2099-01-01T00:00:00Z")
    with site(project) as web:
        assert "This action closed" not in web.page(original, CA)


def test_stats_show_letters_before_and_after_the_deadline(cli, project, at):
    vote = register(project, VOTE)
    with site(project) as web:
        at("2026-10-15T12:00:00-04:00")
        web.sent(vote, VT, VT_REP)
        web.sent(vote, CA, "Z900027")
        at("2026-10-16T12:00:00-04:00")
        web.sent(vote, VT, VT_SENIOR)
    report = json.loads(cli("stats", VOTE, "--format", "json").output)
    assert report["deadline"] == {"at": DEADLINE, "letters_before": 2, "letters_after": 1}
    assert report["letters"]["sent"] == 3  # late letters count all the same
    table = [line.split() for line in cli("stats", VOTE).output.splitlines()]
    assert ["Before", "the", "deadline", "2"] in table and [
        "After",
        "the",
        "deadline",
        "1",
    ] in table
    with project_db(project) as db:
        report_page = report_html(campaign_stats(db, VOTE))
    assert "Letters and the deadline" in report_page and "After the deadline" in report_page


def test_the_closed_sentence_is_in_the_deadlines_own_offset():
    moment = datetime(2027, 2, 15, 9, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert deadlines.closed_sentence(moment) == (
        "This action closed on February 15, 2027 at 9:05 a.m. (UTC+05:30)."
    )
    noon = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)
    assert deadlines.moment_words(noon) == "February 15, 2027 at 12:00 p.m. (UTC)"
