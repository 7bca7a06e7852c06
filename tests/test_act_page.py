"""The public letter page, `GET|POST /act/<slug>`: in-process, and in Chromium, JS off and on."""

from __future__ import annotations

import html
import json
import re
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port
from starlette.testclient import TestClient
from test_web_letter import (
    API_KEY,
    BASE_URL,
    CHROME,
    FORM,
    SETTINGS,
    VT_REP,
    VT_SENIOR,
    build_project,
    textareas,
)
from tracking_helpers import SCRIPT_NAME, live_server, rows, tamper

from alerts.config import Config
from alerts.db import open_db
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.email.links import token_key
from alerts.letters import public
from alerts.letters.public import REMEMBER_DAYS
from alerts.web.app import create_app

PERSON = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.org",
    "street": "1 Main Street",
    "city": "Burlington",
    "state": "VT",
    "zip": "05401",
}
UPDATE_CAMPAIGN = "---\nsubject: News\nkind: update\n---\nHello\n"


@dataclass
class Act:
    client: TestClient
    folder: Path
    config: Config

    @property
    def db(self) -> Path:
        return self.folder / "subscribers.db"

    def form_token(self, slug: str = "letters") -> str:
        page = self.client.get(f"/act/{slug}").text
        return re.search(r'name="token" value="([^"]+)"', page).group(1)

    def post(self, data: dict[str, str], slug: str = "letters", **headers: str):
        body = urllib.parse.urlencode(data)
        return self.client.post(
            f"/act/{slug}", content=body, headers={**FORM, "Origin": BASE_URL, **headers}
        )

    def enter(self, slug: str = "letters", **fields: str):
        """Post the details form as the page does; returns the POST's answer."""
        data = {**PERSON, "token": self.form_token(slug), "action": "details", **fields}
        return self.post({k: v for k, v in data.items() if v is not None}, slug)

    def letter_page(self, slug: str = "letters", **fields: str) -> str:
        entered = self.enter(slug, **fields)
        assert entered.status_code == 303, entered.text
        page = self.client.get(f"/act/{slug}")
        assert page.status_code == 200
        return page.text

    def act(self, data: dict[str, str], slug: str = "letters"):
        """Post one of the letter page's forms (with the page's token), then follow the 303."""
        page = self.client.get(f"/act/{slug}").text
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        posted = self.post({**data, "token": token}, slug)
        assert posted.status_code == 303, posted.text
        return posted, self.client.get(posted.headers["location"])


def bioguide(act: Act, name: str) -> str:
    return rows(act.db, "SELECT bioguide FROM members WHERE full_name = ?", (name,))[0][0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("act-template")
    ids = build_project(folder)
    (folder / "campaigns" / "news.md").write_text(UPDATE_CAMPAIGN, encoding="utf-8")
    return folder, ids


def _act(folder: Path, template, **settings: str) -> Iterator[Act]:
    shutil.copytree(template[0], folder, dirs_exist_ok=True)
    config = Config({**SETTINGS, **settings})
    app = create_app(folder / "subscribers.db", config, campaigns_dir=folder / "campaigns")
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Act(client, folder, config)


@pytest.fixture
def act(tmp_path: Path, template) -> Iterator[Act]:
    yield from _act(tmp_path / "site", template)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def mailing_act(tmp_path: Path, template, fake, monkeypatch) -> Iterator[Act]:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    yield from _act(tmp_path / "site", template, sendgrid_host=fake.url)


def set_visitor_cookie(act: Act, value: str) -> None:
    act.client.cookies.clear()
    act.client.cookies.set(public.COOKIE_NAME, value, domain="act.example.org", path="/act")


def cookie_header(answer) -> str:
    [header] = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    return header


# --------------------------------------------------------------------------
# The details form


def test_the_form_asks_each_detail_with_a_signed_token_and_sets_no_cookie(act: Act):
    answer = act.client.get("/act/letters")
    assert answer.status_code == 200
    page = answer.text
    for name in PERSON:
        assert f'name="{name}"' in page
    assert "Send me infrequent updates" in page and "Remember me on this device" in page
    assert re.search(r'name="token" value="[A-Za-z0-9_-]{16,}"', page)
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"].startswith("no-store")
    assert rows(act.db, "SELECT COUNT(*) FROM visitors") == [(0,)]


def test_details_answer_303_to_the_letter_page_with_a_session_cookie(act: Act):
    entered = act.enter()
    assert entered.status_code == 303
    assert entered.headers["location"] == "/act/letters#main"
    cookie = cookie_header(entered)
    assert cookie.startswith(f"{public.COOKIE_NAME}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/act"} <= flags
    assert not any(flag.startswith(("max-age", "expires")) for flag in flags)
    for value in PERSON.values():
        assert urllib.parse.quote(value) not in entered.headers["location"]


def test_remember_me_keeps_the_cookie_for_90_days(act: Act):
    cookie = cookie_header(act.enter(remember="1"))
    assert f"Max-Age={REMEMBER_DAYS * 86400}" in cookie
    assert REMEMBER_DAYS == 90


def test_the_cookie_is_not_secure_on_a_plain_http_server(tmp_path: Path, template):
    for site in _act(tmp_path / "site", template, base_url="http://act.example.org"):
        flags = cookie_header(site.enter()).lower()
        assert "httponly" in flags and "secure" not in flags


def test_the_letter_page_is_the_subscribers_page_for_the_visitors_own_members(act: Act):
    page = act.letter_page()
    letters = textareas(page)
    assert len(letters) == 3  # VT: the representative, then both senators
    assert letters[0].startswith(f"The Honorable {VT_REP}\n\nDear Representative Samplewell,")
    assert "I am Ann Lee, and I ask you" in letters[0]
    assert page.count('value="sent"') == 3 and "Civil Rights" in page
    assert "Writing as Ann Lee, Burlington, VT." in page
    assert 'href="/act/letters/forget"' in page
    visitor = rows(act.db, "SELECT id, email, first_name, zip FROM visitors")
    assert visitor == [(visitor[0][0], "ann.lee@example.org", "Ann", "05401")]
    assert rows(act.db, "SELECT COUNT(*) FROM subscribers WHERE email = ?", (PERSON["email"],)) == [
        (0,)
    ]
    assert rows(act.db, "SELECT views FROM public_visits") == [(1,)]


def test_a_head_request_counts_no_visit(act: Act):
    act.enter()
    assert act.client.head("/act/letters").status_code == 200
    assert rows(act.db, "SELECT COUNT(*) FROM public_visits") == [(0,)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "First name is required"),
        ("email", "ann.lee@", "This is not a valid email address"),
        ("zip", "ABCDE", "Write a 5-digit US ZIP code"),
        ("state", "Atlantis", "Write a US state or its two-letter code"),
        ("street", "9" * 201, "Street address is too long"),
        ("city", "", "City is required"),
    ],
)
def test_each_bad_detail_gets_the_form_back_with_its_message_and_the_values(
    act: Act, field: str, value: str, message: str
):
    answer = act.enter(**{field: value})
    assert answer.status_code == 422
    page = answer.text
    assert message in page
    assert f'aria-invalid="true" aria-describedby="act-{field}-error"' in page
    kept = {**PERSON, field: value}
    for name, typed in kept.items():
        assert f'value="{html.escape(typed)}"' in page, name
    assert "set-cookie" not in answer.headers
    assert rows(act.db, "SELECT COUNT(*) FROM visitors") == [(0,)]


def test_hostile_details_are_escaped_on_the_form_and_the_letter_page(act: Act):
    again = act.enter(first_name=SCRIPT_NAME, zip="nope")
    assert SCRIPT_NAME not in again.text and html.escape(SCRIPT_NAME) in again.text
    page = act.letter_page(first_name=SCRIPT_NAME, last_name="O'Brien & Sons")
    assert SCRIPT_NAME not in page
    assert html.escape(SCRIPT_NAME, quote=False) in page and "O&#39;Brien &amp; Sons" in page


@pytest.mark.parametrize("token", ["", "not-a-token", "tampered", "expired"])
def test_a_missing_bad_or_old_form_token_stores_nothing(act: Act, token: str):
    from alerts.signups import tokens

    key = token_key(SETTINGS["secret"])
    value = {
        "tampered": tamper(tokens.form_token(key)),
        "expired": tokens.form_token(key, now=time.time() - 2 * 86400),
    }.get(token, token)
    answer = act.post({**PERSON, "token": value, "action": "details"})
    assert answer.status_code == 400
    assert "nothing was done" in answer.text and 'value="ann.lee@example.org"' in answer.text
    assert "set-cookie" not in answer.headers
    assert rows(act.db, "SELECT COUNT(*) FROM visitors") == [(0,)]


def test_a_post_from_another_site_is_refused(act: Act):
    data = {**PERSON, "token": act.form_token(), "action": "details"}
    answer = act.post(data, Origin="https://evil.example")
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_a_filled_honeypot_keeps_nothing(act: Act):
    answer = act.enter(website="http://spam.example")
    assert answer.status_code == 303 and "set-cookie" not in answer.headers
    assert "Write my letters" in act.client.get("/act/letters").text


@pytest.mark.parametrize(
    "body", [b"\xff\xfe", b"a=" + b"x" * 70_000, b"=&=&" * 20], ids=["utf8", "big", "fields"]
)
def test_malformed_bodies_are_4xx_never_500(act: Act, body: bytes):
    answer = act.client.post("/act/letters", content=body, headers={**FORM, "Origin": BASE_URL})
    assert 400 <= answer.status_code < 500


# --------------------------------------------------------------------------
# The cookie


def test_a_remembered_visitor_gets_the_form_filled_in_on_edit(act: Act):
    act.letter_page(remember="1")
    edit = act.client.get("/act/letters?edit").text
    assert 'value="ann.lee@example.org"' in edit and 'value="1 Main Street"' in edit


def test_a_tampered_cookie_is_ignored(act: Act):
    act.letter_page()
    good = act.client.cookies[public.COOKIE_NAME]
    set_visitor_cookie(act, tamper(good))
    page = act.client.get("/act/letters").text
    assert "Write my letters" in page and "ann.lee@example.org" not in page


def test_an_expired_cookie_is_ignored(act: Act):
    key = token_key(SETTINGS["secret"])
    visitor = public.visitor_from(PERSON["email"], PERSON)
    old = public.remembered(visitor, remember=True, now=time.time() - 91 * 86400)
    set_visitor_cookie(act, public.visitor_cookie(key, old))
    assert "Write my letters" in act.client.get("/act/letters").text
    fresh = public.remembered(visitor, remember=True, now=time.time())
    set_visitor_cookie(act, public.visitor_cookie(key, fresh))
    assert "Writing as Ann Lee" in act.client.get("/act/letters").text


def test_forget_me_on_this_device_clears_the_cookie(act: Act):
    act.letter_page(remember="1")
    forgot = act.client.get("/act/letters/forget")
    assert forgot.status_code == 303 and forgot.headers["location"] == "/act/letters"
    cleared = cookie_header(forgot)
    assert cleared.startswith(f'{public.COOKIE_NAME}=""') and "Max-Age=0" in cleared
    assert "Path=/act" in cleared
    assert "Write my letters" in act.client.get("/act/letters").text


# --------------------------------------------------------------------------
# What the visitor does on the letter page


def test_i_sent_it_records_a_public_letter_once_counted_in_the_stats(act: Act, cli, monkeypatch):
    act.letter_page()
    rep = bioguide(act, VT_REP)
    posted, shown = act.act({"action": "sent", "target": rep})
    assert f"Thank you for writing to Representative {VT_REP}!" in shown.text
    assert "?done=" in posted.headers["location"] and "ann" not in posted.headers["location"]
    act.act({"action": "sent", "target": rep})
    assert rows(act.db, "SELECT target FROM public_letters") == [(rep,)]
    assert rows(act.db, "SELECT COUNT(*) FROM events WHERE kind = 'letter_sent'") == [(0,)]
    monkeypatch.chdir(act.folder)
    figures = json.loads(cli("stats", "letters", "--format", "json").stdout)
    assert figures["public"]["visits"] == 1 and figures["public"]["letters"] == 1
    assert figures["letters"]["sent"] == 0  # subscribers' letters are apart
    text = cli("stats", "letters").stdout
    assert re.search(rf"Representative {VT_REP}\s+VT-AL\s+0\s+1", text), text


def test_a_letter_action_without_the_cookie_asks_for_the_details(act: Act):
    token = act.form_token()
    answer = act.post({"action": "sent", "target": "X000001", "token": token})
    assert answer.status_code == 400 and "enter them again" in answer.text


def test_a_letter_action_with_an_old_token_does_nothing(act: Act):
    act.letter_page()
    rep = bioguide(act, VT_REP)
    answer = act.post({"action": "sent", "target": rep, "token": "123.abc"})
    assert answer.status_code == 400 and "nothing was done" in answer.text
    assert rows(act.db, "SELECT COUNT(*) FROM public_letters") == [(0,)]


def test_a_split_zip_gets_the_picker_and_the_pick_is_kept_in_the_cookie(act: Act):
    page = act.letter_page(zip="10001", state="NY", city="New York")
    assert "Who is your representative?" in page
    _, shown = act.act({"action": "choose", "district": "10"})
    assert "we will remember Representative Daniel Testa" in shown.text
    again = act.client.get("/act/letters").text
    assert textareas(again)[0].startswith("The Honorable Daniel Testa")
    assert rows(act.db, "SELECT COUNT(*) FROM subscribers WHERE cd_choice = 10") == [(0,)]


def test_email_me_a_copy_goes_to_the_typed_address_and_is_rate_limited(
    mailing_act: Act, fake: FakeSendGrid
):
    act = mailing_act
    act.letter_page()
    senator = bioguide(act, VT_SENIOR)
    form = {"action": "email", "target": senator, "subject": "S", "letter": "My own words."}
    _, shown = act.act(form)
    assert "We emailed a copy to a…@example.org." in shown.text
    [delivery] = fake.deliveries()
    assert delivery.email == PERSON["email"] and delivery.custom_args == {}
    assert "My own words." in delivery.text
    for _ in range(2):
        act.act(form)
    _, limited = act.act(form)
    assert "You have asked for several copies already" in limited.text
    assert len(fake.deliveries()) == 3


def test_send_me_updates_starts_the_double_opt_in(act: Act):
    act.letter_page(updates="1")
    assert rows(act.db, "SELECT email, status FROM signups") == [(PERSON["email"], "pending")]
    assert rows(act.db, "SELECT COUNT(*) FROM subscribers WHERE email = ?", (PERSON["email"],)) == [
        (0,)
    ]


def test_no_updates_unticked_starts_no_signup(act: Act):
    act.letter_page()
    assert rows(act.db, "SELECT COUNT(*) FROM signups") == [(0,)]


def test_forget_erases_the_visitor_and_keeps_their_letter_counted(act: Act, cli, monkeypatch):
    act.letter_page()
    rep = bioguide(act, VT_REP)
    act.act({"action": "sent", "target": rep})
    monkeypatch.chdir(act.folder)
    assert "Forgotten" in cli("subscribers", "forget", PERSON["email"].upper()).stdout
    assert rows(act.db, "SELECT COUNT(*) FROM visitors") == [(0,)]
    assert rows(act.db, "SELECT visitor_id, target FROM public_letters") == [(None, rep)]
    figures = json.loads(cli("stats", "letters", "--format", "json").stdout)
    assert figures["public"]["letters"] == 1


# --------------------------------------------------------------------------
# Campaigns without a public page


@pytest.mark.parametrize(
    "case", ["unknown", "invalid_slug", "update", "file_gone", "sent_as_update"]
)
def test_campaigns_that_are_not_actions_or_are_gone_get_a_clear_404(act: Act, case: str):
    slug = {"unknown": "nope", "invalid_slug": "Bad..Slug", "update": "news"}.get(case, "letters")
    if case == "file_gone":
        (act.folder / "campaigns" / "letters.md").unlink()
    if case == "sent_as_update":
        db = open_db(act.db)
        db.execute("UPDATE campaigns SET kind = 'update' WHERE slug = 'letters'")
        db.conn.commit()
        db.close()
    answer = act.client.get(f"/act/{slug}")
    assert answer.status_code == 404
    assert "This action is not available" in answer.text
    assert act.post({**PERSON, "action": "details"}, slug).status_code == 404


def test_a_draft_action_campaign_has_a_public_page_and_is_registered(act: Act):
    draft = (act.folder / "campaigns" / "letters.md").read_text(encoding="utf-8")
    (act.folder / "campaigns" / "draft-letter.md").write_text(draft, encoding="utf-8")
    assert len(textareas(act.letter_page("draft-letter"))) == 3
    assert rows(act.db, "SELECT kind, send_started_at FROM campaigns WHERE slug = ?",
                ("draft-letter",)) == [("action", None)]  # fmt: skip


# --------------------------------------------------------------------------
# In Chromium, with JavaScript off and on


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("act-live")
    build_project(folder)
    port = free_port()
    settings = {**SETTINGS, "base_url": f"http://127.0.0.1:{port}"}
    (folder / "alerts.toml").write_text(
        "".join(f'{key} = "{value}"\n' for key, value in settings.items()), encoding="utf-8"
    )
    with live_server(folder, port) as base:
        yield base, folder


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_browser_fills_the_form_writes_and_shares(live, browser, artifacts: Path, javascript):
    base, folder = live
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        java_script_enabled=javascript,
        permissions=["clipboard-read", "clipboard-write"] if javascript else [],
    )
    page = context.new_page()
    page.goto(f"{base}/act/letters")
    page.get_by_label("ZIP code").fill("ABCDE")
    for name, value in PERSON.items():
        if name != "zip":
            page.locator(f"#act-{name}").fill(value)
    page.get_by_role("button", name="Write my letters").click()
    assert "Write a 5-digit US ZIP code" in page.inner_text("main")
    assert page.locator("#act-email").input_value() == PERSON["email"]
    page.get_by_label("ZIP code").fill("05401")
    page.get_by_text("Remember me on this device").click()
    page.get_by_role("button", name="Write my letters").click()
    page.wait_for_selector("text=Writing as Ann Lee")
    [cookie] = [c for c in context.cookies() if c["name"] == public.COOKIE_NAME]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > time.time()
    suffix = "js" if javascript else "no-js"
    page.screenshot(path=str(artifacts / f"act-page-{suffix}.png"), full_page=True)
    rep = rows(folder / "subscribers.db", "SELECT bioguide FROM members WHERE full_name = ?",
               (VT_REP,))[0][0]  # fmt: skip
    page.locator(f"#letter-{rep}").get_by_role("button", name="I sent it").click()
    page.wait_for_selector("text=Thank you for writing to")
    panel = page.locator("aside.share")
    assert panel.get_by_role("link", name="Share on Facebook").get_attribute("href") == (
        "/share/letters/facebook"
    )
    assert page.locator(f"#share-url-{rep}").input_value() == f"{base}/act/letters"
    copy = panel.get_by_role("button", name="Copy link")
    assert copy.is_visible() is javascript
    if javascript:
        copy.click()
        page.wait_for_selector(f"#share-copied-{rep}:has-text('Copied')")
        assert page.evaluate("navigator.clipboard.readText()") == f"{base}/act/letters"
    page.screenshot(path=str(artifacts / f"act-page-sent-{suffix}.png"), full_page=True)
    page.get_by_role("link", name="Forget me on this device").first.click()
    page.wait_for_selector("text=Write my letters")
    assert not [c for c in context.cookies() if c["name"] == public.COOKIE_NAME]
    context.close()
    db = folder / "subscribers.db"
    assert (rep,) in rows(db, "SELECT target FROM public_letters")
    if javascript:
        deadline = time.monotonic() + 10
        while not rows(db, "SELECT 1 FROM share_clicks WHERE network = 'copy'"):
            assert time.monotonic() < deadline, "the copy-link beacon was not counted"
            time.sleep(0.1)
