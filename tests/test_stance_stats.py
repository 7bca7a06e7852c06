"""The stats of a campaign's letters on its bill: letters per stance, and wins.

`alerts stats SLUG` (JSON, table and HTML) over a real database: the sample
roster, hr1234-119's sponsors as `alerts bills update` stores them, letters as
the letter page records them. One test sends through the local SendGrid
stand-in, so that the send freezes the stances the stats then use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bill_helpers import (
    CA,
    CA_REP,
    OR,
    OR_REP,
    ORIGINAL,
    TX,
    TX_REP,
    VT,
    VT_REP,
    VT_SENIOR,
    build_project,
    campaign_text,
    project_db,
    register,
    write_campaign,
)
from send_helpers import use_fake

from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.reports.figures import campaign_stats
from alerts.reports.report import report_html

SENT = "2026-05-01T12:00:00Z"  # the first send; VT's senior senator cosponsored on 2026-06-01
MAY_20 = 1_779_235_200  # 2026-05-20 00:00:00 UTC
JUNE_1 = 1_780_272_000  # 2026-06-01 00:00:00 UTC


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = build_project(tmp_path / "project")
    monkeypatch.chdir(folder)
    return folder


def letter(project: Path, campaign: int, subscriber: int, target: str, at: int) -> None:
    """A letter as "I sent it" records it."""
    with project_db(project) as db:
        db.execute(
            "INSERT INTO events (kind, campaign_id, subscriber_id, at, target)"
            " VALUES ('letter_sent', ?, ?, ?, ?)",
            [campaign, subscriber, at, target],
        )
        db.conn.commit()


def roster_size(project: Path) -> int:
    with project_db(project) as db:
        return int(db.execute("SELECT COUNT(*) FROM members").fetchone()[0])


def write_letters(project: Path) -> int:
    cid = register(project, ORIGINAL, started=SENT)
    letter(project, cid, VT, VT_REP, MAY_20)  # the sponsor
    letter(project, cid, VT, VT_SENIOR, MAY_20)  # a win: cosponsor since June 1
    letter(project, cid, CA, VT_SENIOR, MAY_20 + 86400)
    letter(project, cid, OR, VT_SENIOR, JUNE_1)  # on the day itself: not before it
    letter(project, cid, CA, CA_REP, MAY_20)  # cosponsor since January: no win
    letter(project, cid, OR, OR_REP, MAY_20)  # opposes, from the CSV
    letter(project, cid, TX, TX_REP, MAY_20)  # withdrew: unknown, and no win
    return cid


def test_letters_per_stance_and_wins_in_the_json(cli, project):
    write_letters(project)
    report = json.loads(cli("stats", ORIGINAL, "--format", "json").output)
    assert report["stances"] == {
        "sponsor": {"members": 1, "letters": 1},
        "cosponsor": {"members": 2, "letters": 4},
        "supports": {"members": 0, "letters": 0},
        "opposes": {"members": 1, "letters": 1},
        "unknown": {"members": roster_size(project) - 4, "letters": 1},
    }
    assert report["wins"] == [
        {
            "bioguide": VT_SENIOR,
            "name": "Senator Avery Sampleton",
            "since": "2026-06-01",
            "letters_before": 2,
        }
    ]
    assert report["letters"]["sent"] == 7


def test_the_table_and_the_report_show_them(cli, project):
    write_letters(project)
    output = cli("stats", ORIGINAL).output
    lines = [line.split() for line in output.splitlines()]
    assert "Letters per stance on the bill." in output and "now (the send froze none)" in output
    assert ["cosponsor", "2", "4"] in lines and ["opposes", "1", "1"] in lines
    assert "Wins: cosponsors since the first send." in output
    assert ["Senator", "Avery", "Sampleton", "2026-06-01", "2"] in lines
    with project_db(project) as db:
        page = report_html(campaign_stats(db, ORIGINAL))
    assert (
        "Letters per stance on the bill" in page and "Wins: cosponsors since the first send" in page
    )
    assert (
        '<tr><th scope="row">Senator Avery Sampleton</th><td class="num">2026-06-01</td>'
        '<td class="num">2</td></tr>'
    ) in page


def test_no_wins_before_the_first_send_or_without_a_fetch(cli, project):
    cid = register(project, ORIGINAL, started=None)
    letter(project, cid, VT, VT_SENIOR, MAY_20)
    assert json.loads(cli("stats", ORIGINAL, "--format", "json").output)["wins"] == []
    with project_db(project) as db:
        db.execute("UPDATE campaigns SET send_started_at = ?", ["2026-06-02T00:00:00Z"])
        db.conn.commit()
    # Cosponsored the day before the first send: no win.
    assert json.loads(cli("stats", ORIGINAL, "--format", "json").output)["wins"] == []


def test_a_campaign_without_a_bill_has_no_stances(cli, project):
    write_campaign(project, "news", campaign_text(""))
    cid = register(project, "news")
    letter(project, cid, VT, VT_REP, MAY_20)
    report = json.loads(cli("stats", "news", "--format", "json").output)
    assert report["stances"] == {} and report["wins"] == []
    assert "Letters per stance" not in cli("stats", "news").output


def test_stances_are_those_the_send_froze(cli, project, monkeypatch):
    monkeypatch.setenv("ALERTS_TODAY", "2026-10-01T12:00:00Z")
    with FakeSendGrid() as fake:
        use_fake(monkeypatch, fake)
        cli("send", ORIGINAL, "--yes")
        assert len(fake.deliveries()) == 5
    with project_db(project) as db:
        cid = int(db.execute("SELECT id FROM campaigns WHERE slug = ?", [ORIGINAL]).fetchone()[0])
    letter(project, cid, OR, OR_REP, MAY_20)
    # After the send, OR's representative says they support the bill.
    (project / "stances.csv").write_text(f"bioguide,stance\n{OR_REP},supports\n", encoding="utf-8")
    cli("bills", "load", ORIGINAL, "stances.csv")
    report = json.loads(cli("stats", ORIGINAL, "--format", "json").output)
    assert report["stances"]["opposes"] == {"members": 1, "letters": 1}
    assert report["stances"]["supports"] == {"members": 0, "letters": 0}
    assert "Where members stood when the send started" in cli("stats", ORIGINAL).output
