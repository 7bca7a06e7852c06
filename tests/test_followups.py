"""Segments by stance and by campaign, and follow-ups that share another campaign's letter.

Segments are read from campaign files and selected from a real database (the
sample roster, hr1234-119's sponsors as `alerts bills update` stores them);
bad ones go through `alerts campaigns check`. Follow-ups' letters are written
through the letter page of the tracking server (Starlette's TestClient).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest
from bill_helpers import (
    BASE_URL,
    CA,
    DC,
    OR,
    ORIGINAL,
    TX,
    VT,
    VT_REP,
    VT_SENIOR,
    add_event,
    build_project,
    campaign_text,
    project_db,
    register,
    site,
    write_campaign,
)
from send_helpers import use_fake

from alerts.campaigns import files as campaigns
from alerts.campaigns.segments import describe_segment
from alerts.db import segments as segments_db
from alerts.db.districts import resolve_districts
from alerts.delivery.providers.sendgrid.standin import Delivery, FakeSendGrid
from alerts.reports.figures import all_campaigns, campaign_stats

FOLLOW_UP = "qi-march-reminder"
FOLLOW_UP_TEXT = campaign_text(
    f"""\
letter_campaign: {ORIGINAL}
button: "Write your letter"
segment:
  clicked: {{campaign: {ORIGINAL}}}
  not: {{acted: {{campaign: {ORIGINAL}}}}}
""",
    letter=False,
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = build_project(tmp_path / "project", {FOLLOW_UP: FOLLOW_UP_TEXT}, (ORIGINAL, "probe"))
    monkeypatch.chdir(folder)
    return folder


def selected(project: Path, segment_yaml: str, slug: str = "probe", bill: bool = True) -> list[int]:
    """The subscribers a segment written in a campaign file selects now."""
    front = ("bill: hr1234-119\n" if bill else "") + "segment:\n" + segment_yaml
    path = write_campaign(project, slug, campaign_text(front))
    campaign = campaigns.load_campaign(path)
    with project_db(project) as db:
        return segments_db.segment_subscriber_ids(db, campaign.segment)


def check_error(cli, project: Path, front: str, *, letter: bool = True) -> str:
    """The one problem `alerts campaigns check` finds in campaign `probe`, in one line."""
    write_campaign(project, "probe", campaign_text(front, letter=letter))
    result = cli("campaigns", "check", "probe", ok=False)
    *problems, summary = result.output.strip().splitlines()
    assert summary == "Error: 1 of 1 campaign(s) failed the check", result.output
    assert len(problems) == 1, result.output
    assert problems[0].startswith("campaigns/probe.md:"), result.output
    return problems[0]


# --------------------------------------------------------------------------
# member_stance


def test_house_selects_by_the_representatives_stance(project):
    # VT's representative sponsors, CA's cosponsors, TX's withdrew (unknown),
    # OR's opposes (the CSV), DC's is named nowhere (unknown).
    assert selected(project, "  member_stance: {house: [unknown, opposes]}\n") == [TX, OR, DC]
    assert selected(project, "  member_stance: {house: [sponsor, cosponsor]}\n") == [VT, CA]
    assert selected(project, "  member_stance: {house: cosponsor}\n") == [CA]


def test_senate_means_either_senator_and_any_any_member(project):
    # VT's senior senator cosponsors; no other senator is named anywhere.
    assert selected(project, "  member_stance: {senate: [cosponsor]}\n") == [VT]
    # DC has no senators: only its delegate, unknown, can match.
    assert selected(project, "  member_stance: {senate: [unknown]}\n") == [VT, CA, TX, OR]
    assert selected(project, "  member_stance: {any: [cosponsor]}\n") == [VT, CA]
    assert selected(project, "  member_stance: {any: [opposes, sponsor]}\n") == [VT, OR]


def test_keys_of_member_stance_must_all_hold_and_mix_with_other_rules(project):
    both = "  member_stance: {house: [sponsor], senate: [unknown]}\n"
    assert selected(project, both) == [VT]  # VT's junior senator is unknown
    assert selected(project, "  member_stance: {house: [unknown]}\n  state: TX\n") == [TX]
    assert selected(project, "  not: {member_stance: {any: [cosponsor]}}\n") == [TX, OR, DC]


def test_someone_whose_member_is_not_known_matches_no_stance_but_its_negation(project):
    with project_db(project) as db:
        db["subscribers"].insert(
            {"id": 6, "email": "nozip@example.org", "email_key": "nozip@example.org"}
            | {"status": "subscribed", "created_at": "2026-01-01", "updated_at": "2026-01-01"}
        )
        db.conn.commit()
        resolve_districts(db)
        db.conn.commit()
    assert 6 not in selected(project, "  member_stance: {any: [unknown]}\n")
    assert 6 in selected(project, "  not: {member_stance: {house: [cosponsor]}}\n")
    assert 6 in selected(project, "  not: {member_stance: {any: [sponsor]}}\n")


def test_a_csv_stance_wins_and_stances_follow_a_new_fetch(project):
    with project_db(project) as db:
        db.execute("DELETE FROM bill_stance_overrides")
        db.conn.commit()
    assert selected(project, "  member_stance: {house: [opposes]}\n") == []
    assert selected(project, "  member_stance: {house: [unknown]}\n") == [TX, OR, DC]


def test_member_stance_in_words(project):
    path = write_campaign(
        project,
        "probe",
        campaign_text(
            "bill: hr1234-119\nsegment:\n  member_stance: {senate: [opposes, unknown]}\n"
        ),
    )
    segment = campaigns.load_campaign(path).segment
    assert describe_segment(segment) == "stance of either senator: opposes or unknown"


def test_member_stance_needs_the_campaigns_bill(cli, project):
    line = check_error(cli, project, "segment:\n  member_stance: {house: [opposes]}\n")
    assert line == (
        "campaigns/probe.md:14: member_stance needs the campaign's bill (bill: hr1234-119):"
        " stances are on that bill"
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{house: [opposed]}", "member_stance: house: unknown stance 'opposed'"),
        ("{house: []}", "house is an empty list"),
        ("{congress: [opposes]}", "member_stance: unknown key 'congress'"),
        ("{}", "member_stance needs house, senate or any"),
        ("opposes", "member_stance must be a mapping"),
    ],
)
def test_a_bad_member_stance_is_one_line_naming_it(cli, project, rule, message):
    line = check_error(cli, project, f"bill: hr1234-119\nsegment:\n  member_stance: {rule}\n")
    assert message in line


# --------------------------------------------------------------------------
# opened, clicked and acted in one campaign


def test_engagement_in_one_campaign(project):
    original = register(project, ORIGINAL)
    add_event(project, original, VT, "open")
    add_event(project, original, CA, "click")
    add_event(project, original, TX, "letter_sent")
    assert selected(project, f"  opened: {{campaign: {ORIGINAL}}}\n") == [VT, CA]
    assert selected(project, f"  clicked: {{campaign: {ORIGINAL}}}\n") == [CA]
    assert selected(project, f"  acted: {{campaign: {ORIGINAL}}}\n") == [TX]


def test_a_follow_up_segment_selects_who_clicked_and_did_not_write(project):
    original = register(project, ORIGINAL)
    for person in (VT, CA, TX):
        add_event(project, original, person, "click")
    add_event(project, original, CA, "letter_sent")
    campaign = campaigns.find_campaign(project / "campaigns", FOLLOW_UP)
    with project_db(project) as db:
        assert segments_db.segment_subscriber_ids(db, campaign.segment) == [VT, TX]
    assert describe_segment(campaign.segment) == (
        f"clicked in campaign {ORIGINAL} and not acted in campaign {ORIGINAL}"
    )


def test_machine_clicks_and_other_campaigns_do_not_count(project):
    original = register(project, ORIGINAL)
    write_campaign(project, "other", campaign_text(""))
    other = register(project, "other")
    add_event(project, other, VT, "click")
    with project_db(project) as db:
        db.execute(
            "INSERT INTO events (kind, campaign_id, subscriber_id, at, machine)"
            " VALUES ('click', ?, ?, 1, 1)",
            [original, CA],
        )
        db.conn.commit()
    assert selected(project, f"  clicked: {{campaign: {ORIGINAL}}}\n") == []


def test_a_campaign_never_sent_selects_nobody(project):
    assert selected(project, f"  clicked: {{campaign: {ORIGINAL}}}\n") == []
    assert selected(project, f"  not: {{acted: {{campaign: {ORIGINAL}}}}}\n") == [
        VT,
        CA,
        TX,
        OR,
        DC,
    ]


@pytest.mark.parametrize("rule", ["opened", "clicked", "acted"])
def test_an_unknown_campaign_is_one_line_naming_the_rule(cli, project, rule):
    line = check_error(cli, project, f"segment:\n  {rule}: {{campaign: qi-marhc}}\n")
    assert f"{rule}: campaign 'qi-marhc' is unknown" in line


def test_campaign_with_another_engagement_key_is_refused(cli, project):
    line = check_error(
        cli, project, f"segment:\n  clicked: {{campaign: {ORIGINAL}, within_days: 3}}\n"
    )
    assert "clicked needs exactly one of" in line


# --------------------------------------------------------------------------
# letter_campaign: the follow-up's letter is the original's


def test_a_follow_ups_page_is_the_original_letter_and_counts_there(project):
    original, follow_up = register(project, ORIGINAL), register(project, FOLLOW_UP)
    with site(project) as web:
        page = web.page(follow_up, VT)
        assert "Please cosponsor the Ending Qualified Immunity Act" in page
        assert page.count('value="sent"') == 3  # the original's letter: house and senate
        web.sent(follow_up, VT, VT_REP)
        web.sent(follow_up, VT, VT_REP)  # pressed twice: one letter
        web.sent(original, CA, "Z900027")  # from the original's own email
        letters = web.letters()
    assert letters == [(original, VT, VT_REP, follow_up, 0), (original, CA, "Z900027", None, 0)]
    with project_db(project) as db:
        first, second = campaign_stats(db, ORIGINAL), campaign_stats(db, FOLLOW_UP)
        overview = {row.campaign.slug: row.funnel.letters_sent for row in all_campaigns(db)}
    assert first.funnel.letters_sent == 2 and second.funnel.letters_sent == 0
    assert overview == {ORIGINAL: 2, FOLLOW_UP: 0}  # counted once, for the original
    by_email = [
        {"email": FOLLOW_UP, "counted_in": ORIGINAL, "letters": 1},
    ]
    assert first.as_json()["letters_by_email"] == [
        {"email": ORIGINAL, "counted_in": ORIGINAL, "letters": 1},
        *by_email,
    ]
    assert second.as_json()["letters_by_email"] == by_email


def test_the_follow_ups_letters_show_in_both_reports(cli, project):
    register(project, ORIGINAL)
    follow_up = register(project, FOLLOW_UP)
    with site(project) as web:
        web.sent(follow_up, VT, VT_SENIOR)
    for slug in (ORIGINAL, FOLLOW_UP):
        output = cli("stats", slug).output
        assert "Letters by the email that brought them" in output
        assert [FOLLOW_UP, ORIGINAL, "1"] in [line.split() for line in output.splitlines()]
    counted = [
        json.loads(cli("stats", s, "--format", "json").output) for s in (ORIGINAL, FOLLOW_UP)
    ]
    assert [each["letters"]["sent"] for each in counted] == [1, 0]


def test_someone_who_wrote_from_the_original_is_thanked_not_asked_again(project):
    original, follow_up = register(project, ORIGINAL), register(project, FOLLOW_UP)
    with site(project) as web:
        web.sent(original, VT, VT_REP)
        page = web.page(follow_up, VT)
        assert "Thank you for writing" in page and "You already wrote to" in page
        assert "<textarea" not in page and 'value="sent"' not in page
        # Someone who has not written is asked; their own follow-up letters do not thank them.
        web.sent(follow_up, CA, "Z900027")
        again = web.page(follow_up, CA)
        assert "Thank you for writing" not in again and "<textarea" in again
        assert "You sent this letter" in again


def test_a_follow_up_before_its_original_was_sent_shows_no_letter(project):
    follow_up = register(project, FOLLOW_UP)
    with site(project) as web:
        assert "This letter is no longer available" in web.page(follow_up, VT)


def test_a_follow_up_passes_the_check(cli, project):
    output = cli("campaigns", "check", FOLLOW_UP).output
    assert output.split()[:2] == ["ok", f"{FOLLOW_UP}:"], output


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("letter_campaign: qi-marhc\n", "letter_campaign: campaign 'qi-marhc' is unknown"),
        ("letter_campaign: probe\n", "letter_campaign names this campaign itself"),
        ("letter_campaign: [qi-march]\n", "letter_campaign must be text"),
    ],
)
def test_a_bad_letter_campaign_is_one_line(cli, project, front, message):
    assert message in check_error(cli, project, front, letter=False)


def test_a_follow_up_has_no_letter_of_its_own(cli, project):
    line = check_error(cli, project, f"letter_campaign: {ORIGINAL}\n")
    assert "letter: a campaign with letter_campaign has no letter of its own" in line


def test_the_letter_campaign_must_be_an_action_alert_with_a_letter(cli, project):
    write_campaign(project, "news", campaign_text("", kind="update"))
    line = check_error(cli, project, "letter_campaign: news\n", letter=False)
    assert line.endswith("letter_campaign: news is an update, not an action alert with a letter")
    line = check_error(cli, project, f"letter_campaign: {FOLLOW_UP}\n", letter=False)
    assert line.endswith(
        f"letter_campaign: {FOLLOW_UP} has no letter of its own (it opens {ORIGINAL}'s)"
    )


def test_letter_campaign_is_only_for_action_alerts(cli, project):
    write_campaign(project, "probe", campaign_text(f"letter_campaign: {ORIGINAL}\n", kind="update"))
    result = cli("campaigns", "check", "probe", ok=False)
    assert "letter_campaign is only for action campaigns" in result.output


# --------------------------------------------------------------------------
# Sending a follow-up


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALERTS_TODAY", "2026-10-01T12:00:00Z")  # the sample roster is current
    with FakeSendGrid() as server:
        use_fake(monkeypatch, server)
        yield server


def letter_path(delivery: Delivery) -> str:
    """The path of the letter page the message's button opens."""
    found = re.search(r'href="https://act\.example\.org(/a/[^"]+)"', delivery.html or "")
    assert found is not None, delivery.html
    return found.group(1)


def test_a_follow_up_goes_to_who_clicked_and_did_not_write_and_opens_the_letter(cli, project, fake):
    cli("send", ORIGINAL, "--yes")
    with project_db(project) as db:
        original = int(
            db.execute("SELECT id FROM campaigns WHERE slug = ?", [ORIGINAL]).fetchone()[0]
        )
    for person in (VT, CA, TX):
        add_event(project, original, person, "click")
    with site(project) as web:
        web.sent(original, CA, "Z900027")  # CA wrote from the first email
        sent_before = len(fake.deliveries())
        cli("send", FOLLOW_UP, "--yes")
        reminders = fake.deliveries()[sent_before:]
        assert sorted(d.subscriber_id for d in reminders) == [VT, TX]
        vt = next(d for d in reminders if d.subscriber_id == VT)
        page = web.client.get(letter_path(vt)).text
        assert "Please cosponsor the Ending Qualified Immunity Act" in page
        body = {"action": "sent", "target": VT_REP}
        posted = web.client.post(
            letter_path(vt),
            content=urllib.parse.urlencode(body),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE_URL},
        )
        assert posted.status_code == 303
        follow_up = web.letters()[-1][3]
    assert web.letters()[-1][:3] == (original, VT, VT_REP) and follow_up is not None
    with project_db(project) as db:
        assert campaign_stats(db, ORIGINAL).funnel.letters_sent == 2


def test_a_segment_by_stance_is_not_sent_before_its_bill_is_fetched(cli, project, fake):
    write_campaign(
        project,
        "unfetched",
        campaign_text("bill: hr1234-119\nsegment:\n  member_stance: {house: [opposes]}\n"),
    )
    result = cli("send", "unfetched", "--yes", ok=False)
    assert result.stderr.strip().splitlines() == [
        "Error: campaigns/unfetched.md: segment: member_stance: where members stand on"
        " hr1234-119 is not known yet: run `alerts bills update unfetched` first"
    ]
