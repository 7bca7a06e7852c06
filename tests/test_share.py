"""Sharing after "I sent it": the panel on both letter pages, /share/<slug>/<network>, counts."""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_act_page import Act, _act, bioguide
from test_act_page import template as template
from test_web_letter import BASE_URL, FORM, LETTER_CAMPAIGN, VT_REP
from tracking_helpers import rows, token

from alerts.email.links import TokenKind

SHARE_TEXT = 'Write to Congress & say "end it" <now> — ¡ya!'
SHARE_URL = "https://example.org/take-action?from=letter&x=1"
WITH_SHARE = LETTER_CAMPAIGN.replace(
    "kind: action\n", f"kind: action\nshare:\n  text: '{SHARE_TEXT}'\n  url: {SHARE_URL}\n"
)


@pytest.fixture
def act(tmp_path: Path, template) -> Iterator[Act]:
    yield from _act(tmp_path / "site", template)


def subscriber_page(act: Act, data: dict[str, str] | None = None) -> str:
    """The subscriber's letter page (/a/<token>), after posting `data` when given."""
    path = "/a/" + token(act.config, TokenKind.LETTER, 1, 1)
    if data is None:
        return act.client.get(path).text
    posted = act.client.post(
        path, content=urllib.parse.urlencode(data), headers={**FORM, "Origin": BASE_URL}
    )
    assert posted.status_code == 303
    return act.client.get(posted.headers["location"]).text


def shares(act: Act) -> dict[str, int]:
    return dict(rows(act.db, "SELECT network, SUM(clicks) FROM share_clicks GROUP BY network"))


def test_the_subscribers_page_shows_the_share_panel_only_after_i_sent_it(act: Act):
    assert "Share on Facebook" not in subscriber_page(act)
    page = subscriber_page(act, {"action": "sent", "target": bioguide(act, VT_REP)})
    assert "Ask your friends to write too" in page
    for network in ("facebook", "x", "email"):
        assert f'href="/share/letters/{network}"' in page
    assert f'value="{BASE_URL}/act/letters" readonly' in page
    assert 'data-count="/share/letters/copy"' in page
    assert '<script src="https://' not in page and "<img" not in page


def test_the_public_page_shows_the_panel_after_i_sent_it(act: Act):
    assert "Share on Facebook" not in act.letter_page()
    _, shown = act.act({"action": "sent", "target": bioguide(act, VT_REP)})
    assert 'href="/share/letters/facebook"' in shown.text


def test_share_links_redirect_to_the_documented_addresses_and_count_each_click(act: Act):
    page = f"{BASE_URL}/act/letters"
    quoted = urllib.parse.quote(page, safe="")
    expected = {
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={quoted}",
        "x": "https://x.com/intent/tweet?text=I%20just%20wrote%20to%20my%20members%20of"
        f"%20Congress.%20Will%20you%20write%20to%20yours%3F&url={quoted}",
    }
    for network, location in expected.items():
        answer = act.client.get(f"/share/letters/{network}")
        assert answer.status_code == 303 and answer.headers["location"] == location
        assert answer.headers["cache-control"] == "no-store"
    mail = act.client.get("/share/letters/email").headers["location"]
    assert mail.startswith("mailto:?subject=I%20just%20wrote")
    assert f"%0D%0A%0D%0A{quoted}" in mail
    act.client.get("/share/letters/x")
    assert shares(act) == {"facebook": 1, "x": 2, "email": 1}


def test_a_head_request_follows_nothing_and_counts_nothing(act: Act):
    assert act.client.head("/share/letters/facebook").status_code == 303
    assert shares(act) == {}


@pytest.mark.parametrize("path", ["/share/nope/x", "/share/letters/myspace", "/share/news/x"])
def test_unknown_campaigns_and_networks_are_404(act: Act, path: str):
    assert act.client.get(path).status_code == 404
    assert shares(act) == {}


def test_share_text_and_url_from_the_campaign_are_escaped_in_the_page_and_the_links(act: Act):
    (act.folder / "campaigns" / "letters.md").write_text(WITH_SHARE, encoding="utf-8")
    page = subscriber_page(act, {"action": "sent", "target": bioguide(act, VT_REP)})
    assert f'value="{html.escape(SHARE_URL)}" readonly' in page
    x = act.client.get("/share/letters/x").headers["location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(x).query)
    assert query == {"text": [SHARE_TEXT], "url": [SHARE_URL]}
    assert "&x=1" not in x and " " not in x and "<" not in x
    facebook = act.client.get("/share/letters/facebook").headers["location"]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(facebook).query) == {"u": [SHARE_URL]}
    mail = act.client.get("/share/letters/email").headers["location"]
    assert "%3Cnow%3E" in mail and "%26" in mail


def test_the_copy_button_is_counted_from_our_own_pages_only(act: Act):
    assert act.client.post("/share/letters/copy", headers={"Origin": BASE_URL}).status_code == 204
    refused = act.client.post("/share/letters/copy", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert shares(act) == {"copy": 1}


def test_stats_show_share_clicks_per_network_and_in_total(act: Act, cli, monkeypatch):
    for network in ("x", "x", "email"):
        act.client.get(f"/share/letters/{network}")
    monkeypatch.chdir(act.folder)
    figures = json.loads(cli("stats", "letters", "--format", "json").stdout)
    assert figures["shares"] == {"facebook": 0, "x": 2, "email": 1, "copy": 0, "total": 3}
    assert list(figures["public"]) == ["visits", "letters", "signups"]
    text = cli("stats", "letters").stdout
    assert "Public page /act/letters and sharing" in text and "Shared: x" in text
    report = cli("stats", "letters", "--format", "html").stdout
    assert "Public page and sharing" in report and "Shared: email" in report


# --------------------------------------------------------------------------
# `campaigns check` of the share keys


def _campaign_with(share: str) -> str:
    return LETTER_CAMPAIGN.replace("kind: action\n", f"kind: action\n{share}")


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        ("share:\n  text: 'Hi {{ subscriber.first_name }}'\n", ":5: share.text is plain text"),
        ("share:\n  text: '" + "x" * 251 + "'\n", ":5: share.text is over 250 characters"),
        ("share:\n  text: |\n    one\n    two\n", ":5: share.text must be a single line"),
        ("share:\n  url: javascript:alert(1)\n", ":5: share.url must be an http(s) address"),
        ("share:\n  url: example.org/act\n", ":5: share.url must be an http(s) address"),
        ("share:\n  url: 'https://example.org/a b'\n", ":5: share.url must be an http(s)"),
        ("share:\n  title: Hi\n", ":5: share: unknown key 'title'"),
        ("share: {}\n", ":4: share needs text, url or both"),
    ],
)
def test_campaigns_check_refuses_bad_share_keys(cli, project, share: str, expected: str):
    (project / "campaigns" / "bad.md").write_text(_campaign_with(share), encoding="utf-8")
    result = cli("campaigns", "check", "bad", ok=False)
    assert expected in result.output, result.output


def test_campaigns_check_accepts_share_keys_and_refuses_them_on_updates(cli, project):
    good = _campaign_with(f"share:\n  text: 'Write too'\n  url: {SHARE_URL}\n")
    (project / "campaigns" / "good.md").write_text(good, encoding="utf-8")
    assert "ok" in cli("campaigns", "check", "good").stdout
    update = "---\nsubject: News\nkind: update\nshare:\n  text: Hi\n---\nHello\n"
    (project / "campaigns" / "news.md").write_text(update, encoding="utf-8")
    result = cli("campaigns", "check", "news", ok=False)
    assert ":4: share is only for action campaigns" in result.output
