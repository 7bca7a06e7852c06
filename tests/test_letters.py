"""alerts.letters: the campaigns behind letter pages, and the letters and links a page shows."""

from __future__ import annotations

import shutil

import pytest

from alerts.campaigns import files as campaigns
from alerts.config import bundled_dir
from alerts.email import letter_text
from alerts.letters import page, urls
from alerts.letters.campaigns import LetterCampaigns
from alerts.models import CampaignRecord, Member, Subscriber
from alerts.pipeline import SAMPLE_REPRESENTATIVE
from alerts.tracking.recording import http_url


def test_letter_campaigns_are_parsed_again_only_when_their_file_changes(tmp_path, caplog):
    folder = tmp_path / "campaigns"
    folder.mkdir()
    shutil.copy(bundled_dir("campaigns") / "end-qualified-immunity-act.md", folder)
    path = folder / "end-qualified-immunity-act.md"
    sha = campaigns.load_campaign(path).source_sha256
    record = CampaignRecord(1, path.stem, "action", "S", sha, "2026-01-01", None, None)
    letters = LetterCampaigns(folder)
    first = letters.get(record)
    assert first is not None and letters.get(record) is first
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    second = letters.get(record)
    assert second is not None and second is not first
    assert "its file changed since it was sent" in caplog.text
    path.unlink()
    assert letters.get(record) is None
    assert "its file is gone" in caplog.text


# --------------------------------------------------------------------------
# Letters and links as the page shows them


def test_addressed_letter_starts_with_the_honorable_once():
    member = SAMPLE_REPRESENTATIVE
    assert page.addressed_letter(member, "\nDear Representative Sample,\n\nHi.\n\n") == (
        "The Honorable Jordan Sample\n\nDear Representative Sample,\n\nHi.\n"
    )
    written = "The Honorable J. Sample\nWashington, DC\n\nDear Sir,"
    assert page.addressed_letter(member, written) == written + "\n"


@pytest.mark.parametrize(
    ("phone", "url"),
    [
        ("202-225-4965", "tel:+12022254965"),
        ("(202) 224-3121", "tel:+12022243121"),
        ("1 202 224 3121", "tel:+12022243121"),
        ("224-3121", None),
        ("", None),
        (None, None),
    ],
)
def test_tel_url(phone, url):
    assert urls.tel_url(phone) == url


def test_mailto_url_encodes_everything_and_uses_crlf():
    url = urls.mailto_url("A & B?", "Dear Zoë,\n<script>&x=1#")
    assert url == (
        "mailto:?subject=A%20%26%20B%3F&body=Dear%20Zo%C3%AB%2C%0D%0A%3Cscript%3E%26x%3D1%23"
    )


def test_tweet_and_sms_urls():
    assert urls.tweet_url("Hi @Rep & all #QI") == (
        "https://twitter.com/intent/tweet?text=Hi%20%40Rep%20%26%20all%20%23QI"
    )
    assert page.addressed_tweet("Please act", "RepX") == "@RepX Please act"
    assert page.addressed_tweet("@repx please act", "RepX") == "@repx please act"
    assert page.addressed_tweet("Please act", None) == "Please act"
    assert urls.sms_url("504-09", "JUSTICE") == "sms:50409?&body=JUSTICE"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.house.gov/contact", "https://example.house.gov/contact"),
        (" https://example.house.gov/ ", "https://example.house.gov/"),
        ("javascript:alert(1)", None),
        ("//evil.example", None),
        ("hhttps://typo.example", None),
        (None, None),
    ],
)
def test_only_absolute_http_urls_become_links(url, safe):
    assert http_url(url) == safe


# --------------------------------------------------------------------------
# One name per member, and members in words


def _member(full_name: str, last_name: str, **fields: object) -> Member:
    values: dict[str, object] = {
        "bioguide": "X000001",
        "chamber": "house",
        "state": "PR",
        "district": 0,
        "title": "Resident Commissioner",
        "full_name": full_name,
        "last_name": last_name,
    }
    return Member(**{**values, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("full_name", "last_name", "surname"),
    [
        ("Pablo José Hernández", "Hernández Rivera", "Hernández"),  # the public roster's
        ("Gerald Exemplar, Jr.", "Exemplar", "Exemplar"),
        ("Chris Van Hollen", "Van Hollen", "Van Hollen"),
        ("Linda T. Sánchez", "Sanchez", "Sánchez"),  # spelled as the display name spells it
        ("Pat Doe", "Smith", "Smith"),  # nothing in common: the roster's last name
    ],
)
def test_a_members_surname_is_the_one_their_display_name_uses(full_name, last_name, surname):
    assert _member(full_name, last_name).surname == surname


def test_the_greeting_uses_the_name_in_the_address():
    campaign = campaigns.load_campaign(bundled_dir("campaigns") / "end-qualified-immunity-act.md")
    member = _member("Pablo José Hernández", "Hernández Rivera")
    subscriber = Subscriber(id=1, email="a@example.org", first_name="Ana", last_name="Ruiz")
    body = letter_text.render_letter(campaign, subscriber, member).body
    assert page.addressed_letter(member, body).startswith(
        "The Honorable Pablo José Hernández\n\nDear Resident Commissioner Hernández:\n"
    )


@pytest.mark.parametrize(
    ("fields", "role"),
    [
        ({"chamber": "senate", "state": "OH", "district": None, "state_rank": "senior"},
         "Senior senator for Ohio"),
        ({"title": "Delegate", "state": "DC"}, "Delegate for the District of Columbia"),
        ({}, "Resident Commissioner for Puerto Rico"),
        ({"title": "Representative", "state": "VT"}, "Representative for Vermont (at large)"),
        ({"title": "Representative", "state": "NY", "district": 12},
         "Representative for New York's 12th district"),
        ({"title": "Representative", "state": "TX", "district": 23},
         "Representative for Texas's 23rd district"),
    ],
)  # fmt: skip
def test_members_in_words_name_their_state(fields, role):
    assert page.member_role(_member("A B", "B", **fields)) == role
