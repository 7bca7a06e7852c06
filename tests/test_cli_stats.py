"""`alerts stats`: the all-campaigns table, one campaign's figures, CSV, JSON and HTML."""

from __future__ import annotations

import csv
import io
import json

import pytest
from stats_data import EXPECTED_JSON, T0, add_campaign, add_event, build_letter_campaign

from alerts.db import ledger as ledger_db
from alerts.db import open_db
from alerts.db.stats import rebuild_stats_summaries

SUMMARIES = ("stats_kind_totals", "stats_detail_totals", "stats_state_totals", "stats_hourly")


@pytest.fixture
def letter_project(project):
    """A working folder whose database holds the hand-built `qi-letter` campaign."""
    db = open_db(project / "subscribers.db")
    build_letter_campaign(db)
    add_campaign(db, "spring-update", started="2026-05-01T10:00:00Z", kind="update")
    db.conn.commit()
    db.close()
    return project


def test_table_lists_campaigns_newest_first_with_their_base(cli, letter_project):
    lines = cli("stats").output.splitlines()
    assert lines[0].split() == [
        "campaign", "kind", "sent", "on", "sent", "delivered", "opened", "clicked", "rates", "of",
        "letters", "unsubscribed",
    ]  # fmt: skip
    assert lines[2].split() == [
        "qi-letter", "action", "2026-09-21", "8", "7", "42.9%", "42.9%", "delivered", "3", "2",
    ]  # fmt: skip
    assert lines[3].split()[:2] == ["spring-update", "update"]
    assert lines[3].split()[-5:] == ["–", "–", "sent", "0", "0"]


def test_json_for_one_campaign_has_exactly_the_promised_keys(cli, letter_project):
    assert json.loads(cli("stats", "qi-letter", "--format", "json").output) == EXPECTED_JSON


def test_json_for_all_campaigns_is_a_list_of_rows(cli, letter_project):
    rows = json.loads(cli("stats", "--format", "json").output)
    assert [row["slug"] for row in rows] == ["qi-letter", "spring-update"]
    assert rows[0]["unique_click_rate_pct"] == 42.9 and rows[0]["rate_denominator"] == "delivered"


def test_csv_is_the_per_campaign_table(cli, letter_project):
    rows = list(csv.DictReader(io.StringIO(cli("stats", "--format", "csv").output)))
    assert [row["slug"] for row in rows] == ["qi-letter", "spring-update"]
    assert rows[0] == {
        "slug": "qi-letter",
        "kind": "action",
        "sent_on": "2026-09-21",
        "sent": "8",
        "delivered": "7",
        "unique_opens": "3",
        "unique_open_rate_pct": "42.9",
        "unique_clicks": "3",
        "unique_click_rate_pct": "42.9",
        "rate_denominator": "delivered",
        "letters_sent": "3",
        "unsubscribes": "2",
    }
    assert rows[1]["unique_open_rate_pct"] == ""
    one = list(csv.DictReader(io.StringIO(cli("stats", "qi-letter", "--format", "csv").output)))
    assert one == rows[:1]


def test_one_campaign_as_a_table_names_every_base(cli, letter_project):
    output = cli("stats", "qi-letter").output
    assert "Rates are of delivered (7)" in output
    lines = {line.split("  ")[0]: line for line in output.splitlines()}
    assert "3      42.9% of delivered" in lines["Opened"]
    assert "80.0% of recipients" in lines["Sent"]
    assert "12.5% of sent" in lines["Bounced"]
    assert lines["Machine-made opens"].split()[-5:] == [
        "3",
        "privacy",
        "proxies",
        "and",
        "scanners",
    ]
    assert "57.1% of delivered" in lines["Opened, machine-made opens included"]
    for heading in ("Clicks per link", "Letters per member", "By state", "Activity per hour"):
        assert heading in output
    assert "Senator Alex Padilla" in output


def test_out_writes_the_file_whole(cli, letter_project):
    result = cli("stats", "qi-letter", "--format", "json", "--out", "figures.json")
    assert json.loads((letter_project / "figures.json").read_text()) == EXPECTED_JSON
    assert "Wrote figures.json" in result.output
    assert [p.name for p in letter_project.iterdir() if p.name.startswith(".figures")] == []


def test_out_in_a_missing_folder_is_a_one_line_error(cli, letter_project):
    result = cli("stats", "--format", "csv", "--out", "nowhere/stats.csv", ok=False)
    assert result.output.strip().splitlines() == [
        "Error: --out nowhere/stats.csv: folder nowhere does not exist"
    ]


def test_unknown_slug_is_a_one_line_error(cli, letter_project):
    result = cli("stats", "no-such-campaign", "--format", "json", ok=False)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: campaign 'no-such-campaign'")


def test_an_empty_database(cli, project):
    assert cli("stats").output == "No campaigns yet.\n"
    assert json.loads(cli("stats", "--format", "json").output) == []
    assert cli("stats", "--format", "csv").output.startswith("slug,kind,sent_on,")


def test_an_empty_campaign(cli, project):
    db = open_db(project / "subscribers.db")
    add_campaign(db, "draft", started=None)
    db.conn.commit()
    db.close()
    figures = json.loads(cli("stats", "draft", "--format", "json").output)
    assert figures["recipients"] == 0 and figures["links"] == []
    assert "No delivery events yet: rates are of sent (0)." in cli("stats", "draft").output
    assert "<h1>Subject of draft</h1>" in cli("stats", "draft", "--format", "html").output


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_in_chromium(cli, letter_project, browser, artifacts, width):
    cli("stats", "qi-letter", "--format", "html", "--out", "report.html")
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    page.goto((letter_project / "report.html").as_uri())
    assert requests == [(letter_project / "report.html").as_uri()]  # nothing else fetched
    assert errors == []
    assert page.locator("h1").inner_text() == "Subject of qi-letter"
    assert page.locator("svg[role=img]").count() == 4
    for chart in page.locator("svg[role=img]").all():
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 40
    funnel = page.get_by_role("table", name="People at each stage")
    assert "42.9% of delivered" in funnel.inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways"
    page.screenshot(path=str(artifacts / f"stats-report-{width}.png"), full_page=True)
    page.close()


@pytest.mark.browser
def test_overview_html_in_chromium(cli, letter_project, browser, artifacts):
    cli("stats", "--format", "html", "--out", "all.html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((letter_project / "all.html").as_uri())
    table = page.get_by_role("table", name="Campaigns, newest first")
    assert "qi-letter" in table.inner_text() and "spring-update" in table.inner_text()
    assert page.locator("svg[role=img]").count() == 1
    page.screenshot(path=str(artifacts / "stats-overview.png"), full_page=True)
    page.close()


def test_retention_delete_after_a_move_and_a_forget_leaves_no_stray_counts(cli, project):
    """People move (a re-import) or are forgotten between their opens and the retention
    DELETE of docs/privacy.md: the summaries still equal a rebuild, state by state."""
    (project / "a.csv").write_text(
        "email,state,zip\nana@example.org,CA,94110\nbo@example.org,CA,94110\n", encoding="utf-8"
    )
    cli("import", "a.csv")
    db = open_db(project / "subscribers.db")
    cid = add_campaign(db, "spring", started=None)
    db.conn.commit()
    ledger_db.ledger_freeze_segment(db, cid, None)
    db.execute("UPDATE send_ledger SET state = 'sent'")
    for subscriber_id in (1, 2):
        add_event(db, cid, subscriber_id, "open", T0)
    db.conn.commit()
    (project / "b.csv").write_text("email,state,zip\nana@example.org,TX,73301\n", encoding="utf-8")
    cli("import", "b.csv")
    cli("subscribers", "forget", "bo@example.org")
    by_state = _state_lines(cli("stats", "spring").output)
    assert by_state == {"CA": "1 1 1 (100.0%)", "unknown": "1 1 1 (100.0%)"}
    db.execute("DELETE FROM events WHERE at < ?", [T0 + 1])
    db.conn.commit()
    kept = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in SUMMARIES}
    rebuild_stats_summaries(db)
    assert kept == {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in SUMMARIES}
    assert kept["stats_state_totals"] == []
    db.close()


def _state_lines(output: str) -> dict[str, str]:
    """The By state table of `alerts stats SLUG`: state -> "recipients sent opened"."""
    section = output.split("By state", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    return {line.split()[0]: " ".join(line.split()[1:5]) for line in section}
