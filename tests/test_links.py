import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.email.links import (
    MAX_ID,
    NO_TRACK,
    Token,
    TokenKind,
    TokenMaker,
    make_token,
    read_token,
    token_key,
    track_links,
)
from alerts.errors import TokenError
from alerts.models import CampaignKind, CompiledCampaign

KEY = token_key("test secret")
ids = st.integers(min_value=0, max_value=MAX_ID)


@given(st.sampled_from(TokenKind), ids, ids, ids)
def test_round_trip(kind, campaign, subscriber, link):
    token = Token(kind, campaign, subscriber, link)
    text = make_token(KEY, token)
    assert read_token(KEY, text) == token
    assert read_token(KEY, text, kind) == token


def test_tokens_are_short_and_url_safe():
    text = make_token(KEY, Token(TokenKind.CLICK, 12345, 987654, 7))
    assert len(text) <= 24
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_token_holds_no_personal_data():
    text = make_token(KEY, Token(TokenKind.LETTER, 1, 2))
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert raw[:4] == bytes([TokenKind.LETTER, 1, 2, 0])


@given(st.sampled_from(TokenKind), ids, ids, ids)
def test_token_maker_makes_the_same_tokens(kind, campaign, subscriber, link):
    maker = TokenMaker(KEY, campaign)
    expected = make_token(KEY, Token(kind, campaign, subscriber, link))
    assert maker.make(kind, subscriber, link) == expected
    assert maker.make(kind, subscriber, link) == expected  # again, from its cache


@given(st.data())
def test_any_single_character_change_is_refused(data):
    text = make_token(KEY, Token(TokenKind.CLICK, 3, 44, 5))
    pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    char = data.draw(st.sampled_from([c for c in alphabet if c != text[pos]]))
    altered = text[:pos] + char + text[pos + 1 :]
    with pytest.raises(TokenError):
        read_token(KEY, altered)


def test_forged_with_another_secret_is_refused():
    forged = make_token(token_key("guess"), Token(TokenKind.UNSUBSCRIBE, 1, 1))
    with pytest.raises(TokenError, match="signature"):
        read_token(KEY, forged)


def test_wrong_kind_is_refused():
    text = make_token(KEY, Token(TokenKind.OPEN, 1, 1))
    with pytest.raises(TokenError, match="expected a click token"):
        read_token(KEY, text, TokenKind.CLICK)


@pytest.mark.parametrize(
    "text", ["", "a", "!!!!", "é" * 20, "A" * 65, "AAAA====", "AAAAAAAAAAAAAAAAAAAAAA"]
)
def test_garbage_is_refused(text):
    with pytest.raises(TokenError):
        read_token(KEY, text)


def test_empty_secret_is_refused():
    with pytest.raises(TokenError, match="secret is empty"):
        token_key("")


# --------------------------------------------------------------------------
# Link rewriting


def compiled_with(html: str, text: str = "") -> CompiledCampaign:
    return CompiledCampaign(
        slug="s", kind=CampaignKind.UPDATE, subject="S", html=html, text=text, source_sha256="x"
    )


def test_http_links_become_tracked_placeholders():
    compiled = track_links(
        compiled_with(
            '<a href="https://example.org/a?x=1&amp;y=2">A</a> <a href="HTTP://example.org/b">B</a>'
            ' <a class="x" href="https://example.org/a?x=1&amp;y=2">again</a>',
            "See <https://example.org/a?x=1&y=2> and <https://example.org/c>.",
        )
    )
    assert compiled.links == (
        "https://example.org/a?x=1&y=2",
        "HTTP://example.org/b",
        "https://example.org/c",
    )
    assert compiled.html == (
        '<a href="-ALRT.link.0.h-">A</a> <a href="-ALRT.link.1.h-">B</a>'
        ' <a class="x" href="-ALRT.link.0.h-">again</a>'
    )
    assert compiled.text == "See <-ALRT.link.0.t-> and <-ALRT.link.2.t->."


def test_other_links_and_notrack_are_left_alone():
    html = (
        '<a href="mailto:team@example.org">m</a> <a href="tel:+15555550100">t</a>'
        f' <a href="{NO_TRACK}https://example.org/private">p</a> <a href="#top">top</a>'
        ' <a href="-ALRT.letter_url.h-">letter</a> <img src="https://example.org/i.png">'
        ' <link href="https://example.org/s.css" rel="stylesheet">'
    )
    text = (
        f"<{NO_TRACK}https://example.org/private> <mailto:team@example.org> <-ALRT.letter_url.t->"
    )
    compiled = track_links(compiled_with(html, text))
    assert compiled.links == ()
    assert compiled.html == html.replace(NO_TRACK, "")
    assert compiled.text == text.replace(NO_TRACK, "")


def test_tokens_in_a_built_message_name_ids_only_and_resist_tampering(db):
    from alerts import pipeline
    from alerts.campaigns import files as campaigns
    from alerts.config import bundled_dir
    from alerts.email.personalise import build_message
    from alerts.models import SiteSettings, Subscriber

    campaign = campaigns.find_campaign(bundled_dir("campaigns"), "end-qualified-immunity-act")
    site = SiteSettings("Org", "1 Street, Town")
    compiled = pipeline.compile_campaign(campaign, site, bundled_dir("templates"))
    prepared = pipeline.prepare_campaign(
        db, compiled, secret="test secret", base_url="https://act.example.org/"
    )
    subscriber = Subscriber(id=4242, email="someone@example.org", first_name="Sam")
    message = build_message(prepared, subscriber, None)
    found = dict(
        re.findall(
            r'(?:href|src)="https://act\.example\.org/([cua])/([A-Za-z0-9_-]+)', message.html
        )
    )
    key = token_key("test secret")
    click = read_token(key, found["c"], TokenKind.CLICK)
    assert (click.campaign_id, click.subscriber_id) == (prepared.campaign_id, 4242)
    assert click.link_id == prepared.link_ids[0]
    assert read_token(key, found["a"], TokenKind.LETTER).subscriber_id == 4242
    assert read_token(key, found["u"], TokenKind.UNSUBSCRIBE).subscriber_id == 4242
    pixel = re.search(r'src="https://act\.example\.org/o/([A-Za-z0-9_-]+)\.gif"', message.html)
    assert pixel and read_token(key, pixel.group(1), TokenKind.OPEN).subscriber_id == 4242
    for text in found.values():
        assert "someone" not in text and "Sam" not in text
        for pos in range(len(text)):
            swapped = "A" if text[pos] != "A" else "B"
            with pytest.raises(TokenError):
                read_token(key, text[:pos] + swapped + text[pos + 1 :])
    with pytest.raises(TokenError, match="signature"):
        read_token(token_key("another secret"), found["c"])
