"""`alerts stats`: the all-campaigns table, one campaign's figures, CSV, JSON and HTML."""

from __future__ import annotations

import csv
import html
import io
import json
import re

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


# --------------------------------------------------------------------------
# A large action alert as staff send it: a subject with variables, about a
# hundred members written to, one person's letters on the first day.

ACTION = "end-qualified-immunity-act"
READABLE_SUBJECT = "[first name], ask [representative's full name] to end qualified immunity"
MEMBERS = 100
ORGANISATION = "Citizens Against Qualified Immunity"


@pytest.fixture
def action_project(cli, project):
    """The shipped action alert, registered by a preview, its letters to 100 members."""
    cli("preview", ACTION, "--out", "preview.html")
    db = open_db(project / "subscribers.db")
    [(cid,)] = db.execute("SELECT id FROM campaigns WHERE slug = ?", [ACTION]).fetchall()
    db.execute("UPDATE campaigns SET send_started_at = '2026-09-21T14:13:20Z' WHERE id = ?", [cid])
    db["subscribers"].insert_all(
        {"id": n, "email": f"p{n}@example.org", "created_at": "x", "updated_at": "x"}
        for n in range(1, 31)
    )
    db["send_ledger"].insert_all(
        {"campaign_id": cid, "subscriber_id": n, "state": "sent"} for n in range(1, 31)
    )
    db["members"].insert_all(
        {
            "bioguide": f"M{n:06d}",
            "chamber": "house",
            "state": "CA",
            "district": n,
            "title": "Representative",
            "full_name": f"Alexandria Bartholomew-Featherstonehaugh {n}",
            "last_name": "Featherstonehaugh",
            "party": "Independent",
        }
        for n in range(1, MEMBERS + 1)
    )
    # Person 1 writes to every member; people 2-30 each to the first few members.
    for n in range(1, MEMBERS + 1):
        add_event(db, cid, 1, "letter_sent", T0 + n * 60, target=f"M{n:06d}")
    for person in range(2, 31):
        for n in range(1, 1 + (person % 5)):
            add_event(db, cid, person, "letter_sent", T0 + 3 * 3600 + person, target=f"M{n:06d}")
    for hour, people in ((0, 30), (1, 12), (5, 3)):
        for person in range(1, people + 1):
            add_event(db, cid, person, "open", T0 + hour * 3600 + person)
    db.conn.commit()
    db.close()
    return project


def test_the_report_names_the_subject_in_words_and_the_organisation(cli, action_project):
    page = html.unescape(cli("stats", ACTION, "--format", "html").output)
    shown = READABLE_SUBJECT
    assert f"<title>{shown} · {ORGANISATION} campaign report</title>" in page
    assert f"<h1>{shown}</h1>" in page
    assert f'<p class="org">{ORGANISATION}</p>' in page
    assert "{first_name}" not in page and "{rep_full_name}" not in page
    text = cli("stats", ACTION).output
    assert text.splitlines()[0] == f"{ACTION} (action): {READABLE_SUBJECT}"
    overview = html.unescape(cli("stats", "--format", "html").output)
    assert f"<title>All campaigns · {ORGANISATION} campaign report</title>" in overview
    assert "1 campaign, newest first" in overview


def test_counts_of_one_are_singular(cli, project):
    db = open_db(project / "subscribers.db")
    cid = add_campaign(db, "one-letter", started="2026-09-21T14:13:20Z")
    db["subscribers"].insert(
        {"id": 1, "email": "p@example.org", "created_at": "x", "updated_at": "x"}
    )
    db["send_ledger"].insert({"campaign_id": cid, "subscriber_id": 1, "state": "sent"})
    db["links"].insert({"campaign_id": cid, "url": "https://example.org/a"})
    add_event(db, cid, 1, "delivered", T0, provider_id="d1")
    add_event(db, cid, 1, "open", T0 + 60)
    add_event(db, cid, 1, "click", T0 + 61, link=1)
    add_event(db, cid, 1, "letter_sent", T0 + 120, target="S000001")
    db.conn.commit()
    db.close()
    page = cli("stats", "one-letter", "--format", "html").output
    text = cli("stats", "one-letter").output
    for shown in (page, text):
        assert "by 1 person" in shown
        assert not re.search(r"\b1 (people|letters|recipients|clicks|messages)\b", shown), shown
    assert "of 1 recipient<" in page and "1 person, of delivered" in page
    assert "the 1 recipient SendGrid reported" in page
    assert "S000001: 1 letter" in page and "1 · 1 click<" in page


def test_letters_per_member_charts_the_top_15_and_tables_them_all(cli, action_project):
    page = cli("stats", ACTION, "--format", "html").output
    chart = re.search(r'<svg[^>]*aria-labelledby="members-title[^"]*">(.*?)</svg>', page, re.S)
    assert chart is not None
    height = int(re.search(r'height="(\d+)"', chart.group(0)).group(1))
    assert height <= 15 * 60
    assert chart.group(1).count('<rect class="s3"') == 15
    assert "…and 85 more members: the table lists all." in page
    table = page[page.index("<caption>Letters per member</caption>") :]
    assert table[: table.index("</table>")].count("<tr><th") == MEMBERS
    # Labels put the seat first and are cut between words, never inside one.
    labels = re.findall(r"<title>([^<]*)</title>([^<]*)</text>", chart.group(1))
    assert len(labels) == 15
    for full, shown in labels:
        assert re.fullmatch(r"CA-\d+ · Alexandria Bartholomew-Featherstonehaugh \d+", full)
        assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]))
        assert full[len(shown) - 1] == " " or shown == full, shown


def test_the_time_chart_has_y_ticks_and_gridlines(cli, action_project):
    page = cli("stats", ACTION, "--format", "html").output
    chart = re.search(r'<svg[^>]*aria-labelledby="activity-title[^"]*">(.*?)</svg>', page, re.S)
    assert chart is not None
    body = chart.group(1)
    assert re.findall(r'class="tick"[^>]*>([\d,]+)<', body)[:4] == ["0", "10", "20", "30"]
    assert body.count('<line class="grid"') >= 4 and body.count('<line class="axis"') == 3
    assert "Opens per hour" in body and "Letters per hour" in body


@pytest.mark.browser
@pytest.mark.parametrize("width", [320, 390, 1280])
def test_the_large_report_fits_every_screen(cli, action_project, browser, artifacts, width):
    cli("stats", ACTION, "--format", "html", "--out", "report.html")
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto((action_project / "report.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("innerWidth")
    assert page.locator("h1").inner_text() == READABLE_SUBJECT
    assert page.locator(".org").inner_text() == ORGANISATION
    members = page.locator('svg[aria-labelledby^="members-title"]')
    box = members.bounding_box()
    assert box is not None and box["height"] <= 15 * 60
    # No chart label runs into the figure at the other end of its line.
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll('svg[role=img]')].flatMap((svg) => {
          const texts = [...svg.querySelectorAll('text')].map((t) => t.getBBox());
          return texts.flatMap((a, i) => texts.slice(i + 1).filter((b) =>
            a.x < b.x + b.width && b.x < a.x + a.width &&
            a.y < b.y + b.height && b.y < a.y + a.height).map((b) =>
              svg.getAttribute('aria-labelledby') + ': ' + JSON.stringify([a, b])));
        })"""
    )
    assert overlaps == []
    page.screenshot(path=str(artifacts / f"stats-large-report-{width}.png"), full_page=True)
    page.close()
