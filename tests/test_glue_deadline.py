"""The public letter page, /act/<slug>, once the campaign's deadline has passed: the page
says so as a subscriber's does, "I sent it" is recorded late, and the stats' deadline
figures count the public page's letters beside subscribers'.

The moment comes from ALERTS_TODAY (alerts/clock.py); pages through Starlette's TestClient.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest
from bill_helpers import BASE_URL, ORIGINAL, VT, VT_REP, VT_SENIOR, build_project, site
from test_act_page import PERSON
from test_deadline import AFTER, CLOSED, DEADLINE, VOTE, VOTE_TEXT
from tracking_helpers import rows

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE_URL}
BEFORE = "2026-10-15T16:00:00-04:00"
LATE = "2026-10-15T21:00:01Z"  # a second after 5 p.m. in the deadline's offset


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = build_project(tmp_path / "project", {VOTE: VOTE_TEXT}, (ORIGINAL, VOTE))
    monkeypatch.chdir(folder)
    return folder


def campaign_id(project: Path) -> int:
    """The id the public page registered the campaign under (it was never sent)."""
    found = rows(project / "subscribers.db", "SELECT id FROM campaigns WHERE slug = ?", (VOTE,))
    return int(found[0][0])


def post(client, data: dict[str, str]):
    """Post a form of /act/<VOTE> with the page's own token; the 303's target, followed."""
    page = client.get(f"/act/{VOTE}").text
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({**data, "token": token})
    posted = client.post(f"/act/{VOTE}", content=body, headers=FORM)
    assert posted.status_code == 303, posted.text
    return client.get(posted.headers["location"]).text


def test_after_the_deadline_the_public_page_says_so_and_its_letters_are_late(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch
):
    with site(project) as web:
        monkeypatch.setenv("ALERTS_TODAY", BEFORE)
        page = post(web.client, {**PERSON, "action": "details", "remember": "1"})
        assert "This action closed" not in page and "The committee voted" not in page
        post(web.client, {"action": "sent", "target": VT_REP})
        monkeypatch.setenv("ALERTS_TODAY", LATE)
        public_page = web.client.get(f"/act/{VOTE}").text
        # The subscriber's page of the same campaign, to compare the closing notice with.
        subscriber_page = web.page(campaign_id(project), VT)
        post(web.client, {"action": "sent", "target": VT_SENIOR})
    closing = re.compile(r'<div class="notice closed" role="status">.*?</div>', re.S)
    assert CLOSED in public_page
    for paragraph in AFTER.split("\n\n"):
        assert f"<p>{paragraph}</p>" in public_page
    assert closing.search(public_page).group(0) == closing.search(subscriber_page).group(0)
    assert 'value="sent"' in public_page  # still there: a late letter is still recorded
    late = rows(project / "subscribers.db", "SELECT target, late FROM public_letters ORDER BY id")
    assert late == [(VT_REP, 0), (VT_SENIOR, 1)]
    report = json.loads(cli("stats", VOTE, "--format", "json").output)
    assert report["deadline"] == {"at": DEADLINE, "letters_before": 1, "letters_after": 1}
    assert report["public"]["letters"] == 2 and report["letters"]["sent"] == 0


def test_the_deadline_figures_count_subscribers_and_visitors_letters_together(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch
):
    with site(project) as web:
        monkeypatch.setenv("ALERTS_TODAY", BEFORE)
        post(web.client, {**PERSON, "action": "details", "remember": "1"})
        post(web.client, {"action": "sent", "target": VT_REP})
        monkeypatch.setenv("ALERTS_TODAY", LATE)
        web.sent(campaign_id(project), VT, VT_REP)
        web.sent(campaign_id(project), VT, VT_SENIOR)
    report = json.loads(cli("stats", VOTE, "--format", "json").output)
    assert report["deadline"] == {"at": DEADLINE, "letters_before": 1, "letters_after": 2}
    table = [line.split() for line in cli("stats", VOTE).output.splitlines()]
    assert ["Before", "the", "deadline", "1"] in table
    assert ["After", "the", "deadline", "2"] in table
