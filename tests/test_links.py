import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.errors import TokenError
from alerts.links import MAX_ID, Token, TokenKind, make_token, read_token, token_key

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
