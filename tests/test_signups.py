"""Signing up with double opt-in: /join, the confirmation queue, /confirm, pending signups."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from send_helpers import load_sample_roster
from starlette.testclient import TestClient

from alerts.campaigns import files as campaign_files
from alerts.config import Config
from alerts.db import campaigns as campaigns_db
from alerts.db import migrations as migrations_db
from alerts.db import open_db, rate_limits
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid, Fault
from alerts.email.links import Token, TokenKind, make_token, token_key
from alerts.signups import confirm as confirm_mod
from alerts.signups import mail, tokens
from alerts.signups.form import SignupSettings, read_signup
from alerts.signups.start import Outcome, start_signup
from alerts.subscribers import lifecycle
from alerts.subscribers.normalise import email_key
from alerts.web.app import create_app

API_KEY = "SG.signup-test"
SETTINGS = {
    "secret": "test-secret-for-signups",
    "base_url": "https://act.example.org",
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
    "from_email": "updates@example.org",
    "signup_fields": "first_name,last_name,state,zip*",
    "form_origins": "https://www.example.org",
}
ORIGIN = {"Origin": "https://act.example.org"}
FORM = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "zip": "62701"}


def rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass
class Site:
    client: TestClient
    db: Path
    config: Config
    fake: FakeSendGrid

    @property
    def key(self) -> bytes:
        return token_key(self.config.require("secret"))

    def form_token(self) -> str:
        page = self.client.get("/join")
        found = re.search(r'name="token" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def join(self, headers: dict[str, str] | None = None, **values: str) -> object:
        form = {"token": self.form_token(), **FORM, **values}
        return self.client.post("/join", data=form, headers=ORIGIN if headers is None else headers)

    def send_queue(self) -> int:
        mailer = mail.confirmation_mailer(self.config, self.key, 7)
        assert mailer is not None
        database = open_db(self.db)
        try:
            return mailer.send_due(database, now=_far_future())
        finally:
            database.close()

    def confirm_links(self) -> list[str]:
        found = []
        for delivery in self.fake.deliveries():
            found += re.findall(
                r"https://act\.example\.org(/confirm/[A-Za-z0-9_-]+)", delivery.text or ""
            )
        return found


def _far_future() -> float:
    import time

    return time.time() + 10


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def site(tmp_path: Path, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    path = tmp_path / "web.db"
    open_db(path).close()
    config = Config({**SETTINGS, "sendgrid_host": fake.url})
    # Made without an API key, the in-process server's own sender stays idle: the
    # tests send the queue themselves (`send_queue`), against the fake.
    app = create_app(path, config)
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    with TestClient(app, base_url="https://act.example.org") as client:
        yield Site(client, path, config, fake)


# --------------------------------------------------------------------------
# The form


def test_the_join_form_asks_the_fields_the_setting_names_and_keeps_attribution(site: Site):
    page = site.client.get("/join?source=website&tag=qi-2026")
    assert page.status_code == 200
    for name in ("email", "first_name", "last_name", "state", "zip"):
        assert f'name="{name}"' in page.text
    assert 'name="street"' not in page.text
    assert 'name="source" value="website"' in page.text
    assert 'name="tag" value="qi-2026"' in page.text
    assert "send me occasional email updates" in page.text  # the default consent sentence


def test_a_signup_is_stored_pending_with_its_consent_and_attribution(site: Site):
    answer = site.join(source="website", tag="qi-2026")
    assert answer.status_code == 200
    assert "Check your inbox to confirm" in answer.text
    stored = rows(site.db, "SELECT email, zip, source, tags, consent, status FROM signups")
    assert stored == [
        (
            "ann@example.com",
            "62701",
            "website",
            '["qi-2026"]',
            "Yes, send me occasional email updates. I can unsubscribe at any time.",
            "pending",
        )
    ]
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers") == [(0,)]
    assert rows(site.db, "SELECT state FROM signup_mail") == [("queued",)]


def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(site: Site):
    site.join()
    site.send_queue()
    link = site.confirm_links()[0]
    site.client.post(link, headers=ORIGIN)  # ann is a subscriber now
    assert rows(site.db, "SELECT status FROM subscribers") == [("subscribed",)]
    known = site.join()
    unknown = site.join(email="zed@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert dict(known.headers) == dict(unknown.headers) | {
        "content-length": known.headers["content-length"]
    }


def test_a_filled_honeypot_gets_the_normal_answer_and_nothing_is_stored(site: Site):
    normal = site.join(email="bob@example.com")
    bot = site.join(website="http://spam.example")
    assert bot.status_code == 200
    assert bot.content == normal.content
    assert rows(site.db, "SELECT email FROM signups") == [("bob@example.com",)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "This is not a valid email address"),
        ("email", "", "Email is required"),
        ("zip", "ABCDE", "Write a 5-digit US ZIP code"),
        ("zip", "", "ZIP code is required"),
        ("state", "Atlantis", "Write a US state or its two-letter code"),
        ("first_name", "A" * 201, "First name is too long"),
    ],
)
def test_bad_input_gets_the_form_back_with_a_message_and_the_values(
    site: Site, field: str, value: str, message: str
):
    answer = site.join(**{field: value, "last_name": "<b>Lee</b>"})
    assert answer.status_code == 422
    assert message in answer.text
    assert answer.text.count('class="field-error"') == 1
    assert 'value="&lt;b&gt;Lee&lt;/b&gt;"' in answer.text  # kept, escaped
    assert "<b>Lee</b>" not in answer.text
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(0,)]


def test_every_bad_field_gets_its_own_message(site: Site):
    answer = site.join(email="nope", zip="x", state="Atlantis")
    assert answer.status_code == 422
    assert answer.text.count('class="field-error"') == 3


@pytest.mark.parametrize("token", ["", "garbage", "forged"])
def test_a_missing_or_forged_form_token_gets_the_form_back(site: Site, token: str):
    if token == "forged":
        token = make_token(token_key("another secret"), Token(TokenKind.SIGNUP_FORM, 10**9, 0))
    answer = site.client.post("/join", data={**FORM, "token": token}, headers=ORIGIN)
    assert answer.status_code == 400
    assert "press Join again" in answer.text
    assert 'value="ann@example.com"' in answer.text
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(0,)]


def test_an_expired_form_token_is_refused(site: Site):
    old = tokens.form_token(site.key, now=1_000_000)
    answer = site.client.post("/join", data={**FORM, "token": old}, headers=ORIGIN)
    assert answer.status_code == 400
    with pytest.raises(Exception, match="expired"):
        tokens.check_form_token(site.key, old)


def test_posts_from_other_sites_are_refused_unless_listed(site: Site):
    listed = site.join(headers={"Origin": "https://www.example.org"})
    assert listed.status_code == 200
    other = site.join(headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    by_referer = site.join(headers={"Referer": "https://evil.example/page"})
    assert by_referer.status_code == 403
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(1,)]


def test_odd_bodies_never_get_a_500(site: Site):
    for body, kind in (
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
        (b"email=" + b"a" * 70000, "application/x-www-form-urlencoded"),
        (b"&".join(b"f%d=1" % i for i in range(50)), "application/x-www-form-urlencoded"),
    ):
        answer = site.client.post("/join", content=body, headers={**ORIGIN, "Content-Type": kind})
        assert 400 <= answer.status_code < 500, (body[:20], answer.status_code)


def test_signups_are_rate_limited_per_client_address(site: Site):
    answers = [site.join(email=f"p{i}@example.com").status_code for i in range(22)]
    assert answers[:20] == [200] * 20
    assert answers[20:] == [429, 429]
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(20,)]


def test_one_address_gets_at_most_three_confirmations_a_day_with_the_same_answer(site: Site):
    answers = [site.join() for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(1,)]  # one pending signup
    assert rows(site.db, "SELECT COUNT(*) FROM signup_mail") == [(3,)]


def test_the_rate_limiter_stores_no_key_in_clear(tmp_path: Path):
    database = open_db(tmp_path / "r.db")
    assert rate_limits.take(database, "b", "10.0.0.1", 2, 60, now=120)
    assert rate_limits.take(database, "b", "10.0.0.1", 2, 60, now=121)
    assert not rate_limits.take(database, "b", "10.0.0.1", 2, 60, now=122)
    assert rate_limits.take(database, "b", "10.0.0.2", 2, 60, now=122)
    assert rate_limits.take(database, "b", "10.0.0.1", 2, 60, now=180)  # a new window
    dump = "\n".join(database.conn.iterdump())
    assert "10.0.0" not in dump
    assert rate_limits.purge(database, now=10_000) == 2
    database.close()


# --------------------------------------------------------------------------
# The confirmation message and confirming


def test_the_confirmation_goes_through_the_provider_and_confirming_subscribes(site: Site):
    site.join(source="website", tag="qi-2026")
    assert site.fake.deliveries() == []  # the answer did not wait for SendGrid
    assert site.send_queue() == 1
    assert site.send_queue() == 0  # sent once
    (delivery,) = site.fake.deliveries()
    assert delivery.email == "ann@example.com"
    assert delivery.subject == "Please confirm your subscription to End QI"
    assert delivery.custom_args == {}  # untagged: no campaign counts it
    assert "1 Test Street" in (delivery.html or "")
    assert "What you agreed to: Yes, send me occasional email updates." in (delivery.text or "")
    link = site.confirm_links()[0]
    page = site.client.get(link)
    assert page.status_code == 200
    assert "<button" in page.text
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers") == [(0,)]  # GET changes nothing
    done = site.client.post(link, headers=ORIGIN)
    assert done.status_code == 200
    assert "You are subscribed" in done.text
    (person,) = rows(
        site.db, "SELECT email, status, source, tags, extra, consent_at, zip FROM subscribers"
    )
    assert person[:4] == ("ann@example.com", "subscribed", "website", '["qi-2026"]')
    assert "I can unsubscribe at any time" in str(person[4])
    assert person[5] is not None and person[6] == "62701"
    again = site.client.post(link, headers=ORIGIN)  # twice is harmless
    assert again.status_code == 200
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers") == [(1,)]
    assert rows(site.db, "SELECT status, email FROM signups") == [("confirmed", None)]


def test_a_forged_or_cross_site_confirmation_does_nothing(site: Site):
    site.join()
    site.send_queue()
    link = site.confirm_links()[0]
    assert site.client.get(link[:-2] + "AA").status_code == 404
    assert site.client.post(link, headers={"Origin": "https://evil.example"}).status_code == 403
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers") == [(0,)]


def test_an_expired_confirmation_link_subscribes_nobody(site: Site):
    site.join()
    (signup_id,) = rows(site.db, "SELECT id FROM signups")[0]
    old = tokens.confirm_token(site.key, int(str(signup_id)), made=1_000_000)
    page = site.client.get(f"/confirm/{old}")
    assert page.status_code == 410
    assert site.client.post(f"/confirm/{old}", headers=ORIGIN).status_code == 410
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers") == [(0,)]


def _subscriber(path: Path, email: str, status: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO subscribers (email, email_key, status, created_at, updated_at)"
            " VALUES (?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            [email, email_key(email), status],
        )


@pytest.mark.parametrize("status", ["unsubscribed", "bounced"])
def test_someone_who_left_is_subscribed_again_and_it_is_an_event(site: Site, status: str):
    _subscriber(site.db, "ann@example.com", status)
    site.join()
    site.send_queue()
    site.client.post(site.confirm_links()[0], headers=ORIGIN)
    assert rows(site.db, "SELECT status FROM subscribers") == [("subscribed",)]
    assert rows(site.db, "SELECT kind, detail FROM events") == [("resubscribe", status)]


def test_a_complained_address_is_not_subscribed_and_is_told_to_contact_us(site: Site):
    _subscriber(site.db, "ann@example.com", "complained")
    site.join()
    site.send_queue()
    answer = site.client.post(site.confirm_links()[0], headers=ORIGIN)
    assert answer.status_code == 409
    assert "contact End QI" in answer.text
    assert rows(site.db, "SELECT status FROM subscribers") == [("complained",)]


def test_a_forgotten_address_comes_back_as_a_new_subscriber_and_imports_it_again(
    site: Site, tmp_path: Path
):
    _subscriber(site.db, "ann@example.com", "subscribed")
    database = open_db(site.db)
    lifecycle.forget(database, "ann@example.com")
    database.close()
    site.join()
    site.send_queue()
    site.client.post(site.confirm_links()[0], headers=ORIGIN)
    people = rows(site.db, "SELECT id, email, status FROM subscribers ORDER BY id")
    assert [p[1:] for p in people] == [(None, "forgotten"), ("ann@example.com", "subscribed")]
    assert rows(site.db, "SELECT COUNT(*) FROM forgotten") == [(0,)]
    assert rows(site.db, "SELECT kind, detail FROM events") == [("resubscribe", "forgotten")]


def test_forget_erases_a_pending_signup_and_its_queued_message(site: Site):
    site.join()
    database = open_db(site.db)
    assert lifecycle.forget(database, "Ann@Example.com").erased
    database.close()
    assert rows(site.db, "SELECT COUNT(*) FROM signups") == [(0,)]
    assert rows(site.db, "SELECT COUNT(*) FROM signup_mail") == [(0,)]


def test_unsent_messages_are_retried_with_backoff_and_marked_sent_once(site: Site):
    site.join()
    site.fake.inject(Fault("status", status=503, times=1))
    assert site.send_queue() == 0
    (state, attempts, next_at) = rows(site.db, "SELECT state, attempts, next_at FROM signup_mail")[
        0
    ]
    assert (state, attempts) == ("queued", 1)
    database = open_db(site.db)
    mailer = mail.confirmation_mailer(site.config, site.key, 7)
    assert mailer is not None
    assert mailer.send_due(database, now=float(str(next_at)) - 1) == 0  # not due yet
    assert mailer.send_due(database, now=float(str(next_at))) == 1
    database.close()
    assert rows(site.db, "SELECT state, attempts FROM signup_mail") == [("sent", 2)]
    assert len(site.fake.deliveries()) == 1


def test_pending_signups_expire_and_lose_their_personal_data(site: Site):
    site.join(source="website")
    database = open_db(site.db)
    assert mail.housekeeping(database, now=_far_future() + 8 * 86400) == 1
    database.close()
    assert rows(site.db, "SELECT status, email, zip, source FROM signups") == [
        ("expired", None, None, "website")
    ]
    assert rows(site.db, "SELECT state FROM signup_mail") == [("dropped",)]


def test_start_signup_can_be_called_by_another_form(tmp_path: Path):
    database = open_db(tmp_path / "s.db")
    settings = SignupSettings.of(Config({}))
    signup = read_signup(
        {"email": "Visitor@Example.com"}, settings.fields, "Send me updates", campaign="end-qi"
    )
    started = start_signup(database, signup, client="10.1.1.1", confirm_days=7)
    database.conn.commit()
    assert started.outcome is Outcome.QUEUED
    found = database.execute("SELECT email_key, campaign, consent FROM signups").fetchall()
    assert found == [("visitor@example.com", "end-qi", "Send me updates")]
    assert started.signup_id is not None
    result = confirm_mod.confirm(database, started.signup_id)
    assert result.outcome is confirm_mod.Confirmation.CONFIRMED
    database.close()


# --------------------------------------------------------------------------
# The district of a confirmed subscriber


@dataclass
class Project:
    """An `alerts init` project with the sample roster, served in-process."""

    folder: Path
    site: Site
    cli: Any

    def confirm(self, **values: str) -> None:
        """Sign up on the form, get the confirmation message, press its button."""
        before = len(self.site.confirm_links())
        assert self.site.join(**values).status_code == 200
        assert self.site.send_queue() == 1
        link = self.site.confirm_links()[before]
        assert self.site.client.post(link, headers=ORIGIN).status_code == 200

    def district(self, email: str) -> dict[str, Any]:
        shown = self.cli("subscribers", "show", email, "--format", "json")
        return dict(json.loads(shown.output)["district"])

    def letter_page(self, email: str) -> str:
        ((subscriber_id,),) = rows(self.site.db, "SELECT id FROM subscribers WHERE email = ?",
                                   (email,))  # fmt: skip
        path = self.folder / "campaigns" / "end-qualified-immunity-act.md"
        database = open_db(self.site.db)
        campaign_id = campaigns_db.register_campaign(
            database, path.stem, "action", "Write", campaign_files.load_campaign(path).source_sha256
        )
        database.conn.commit()
        database.close()
        token = make_token(self.site.key, Token(TokenKind.LETTER, campaign_id, int(subscriber_id)))
        page = self.site.client.get(f"/a/{token}")
        assert page.status_code == 200
        return page.text


@pytest.fixture
def project_site(
    project: Path, cli: Any, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    load_sample_roster(cli)
    config = Config({**SETTINGS, "sendgrid_host": fake.url, "geocoder_url": ""})
    app = create_app(project / "subscribers.db", config, campaigns_dir=project / "campaigns")
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)  # after: the server's own sender stays idle
    with TestClient(app, base_url="https://act.example.org") as client:
        yield Project(project, Site(client, project / "subscribers.db", config, fake), cli)


def test_a_confirmed_subscriber_gets_the_district_of_a_one_district_zip(project_site: Project):
    project_site.confirm(zip="05401", state="VT")
    district = project_site.district("ann@example.com")
    assert district["seat"] == "VT-AL"
    assert district["confidence"] == "exact"
    assert district["house"] == ["Representative Rebecca Samplewell"]
    page = project_site.letter_page("ann@example.com")
    assert "Rebecca Samplewell" in page


def test_a_confirmed_subscriber_in_an_ambiguous_zip_is_ambiguous(project_site: Project):
    project_site.confirm(zip="10001", state="NY")
    district = project_site.district("ann@example.com")
    assert district["seat"] is None
    assert district["confidence"] == "ambiguous"
    assert district["candidates"] == ["NY-10", "NY-12"]
    assert rows(project_site.site.db, "SELECT cd_state, cd_confidence FROM subscribers") == [
        ("NY", "ambiguous")
    ]


def test_a_returning_subscriber_who_moved_gets_the_new_district(project_site: Project):
    project_site.confirm(zip="10001", state="NY")
    project_site.cli("subscribers", "unsubscribe", "ann@example.com")
    project_site.confirm(zip="05401", state="VT")
    district = project_site.district("ann@example.com")
    assert (district["seat"], district["confidence"]) == ("VT-AL", "exact")
    assert rows(project_site.site.db, "SELECT status, zip FROM subscribers") == [
        ("subscribed", "05401")
    ]


def test_migration_131_keeps_one_pending_signup_per_address_and_makes_the_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "old.db"
    earlier = {n: m for n, m in migrations_db.MIGRATIONS.items() if n < 131}
    with monkeypatch.context() as patch:
        patch.setattr(migrations_db, "MIGRATIONS", earlier)
        open_db(path).close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO signups (email, email_key, consent, created_at, expires_at)"
            " VALUES (?, ?, 'yes', '2026-01-01T00:00:00Z', '2099-01-01T00:00:00Z')",
            [("Ann@example.com", "ann@example.com"), ("ann@example.com", "ann@example.com")],
        )
    assert rows(path, "SELECT value FROM meta WHERE key = 'rate_limit_key'") == []
    open_db(path).close()
    assert rows(path, "SELECT id, status, email FROM signups ORDER BY id") == [
        (1, "expired", None),
        (2, "pending", "ann@example.com"),
    ]
    ((salt,),) = rows(path, "SELECT value FROM meta WHERE key = 'rate_limit_key'")
    assert re.fullmatch(r"[0-9a-f]{64}", str(salt))
    with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO signups (email, email_key, consent, created_at, expires_at)"
            " VALUES ('a@b.org', 'ann@example.com', 'yes', '', '')"
        )
