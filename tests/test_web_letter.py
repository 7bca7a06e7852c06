"""The letter page, `GET|POST /a/<token>`: in-process, against `alerts serve`, and in Chromium."""

from __future__ import annotations

import html
import re
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SHARED_DATA, free_port
from starlette.testclient import TestClient
from tracking_helpers import SCRIPT_NAME, live_server, rows, tamper, token

from alerts.campaigns import files as campaigns
from alerts.config import Config, bundled_dir
from alerts.db import campaigns as campaigns_db
from alerts.db import open_db
from alerts.db.districts import resolve_districts
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid, Fault
from alerts.email.links import TokenKind, token_key
from alerts.errors import LookupFailed
from alerts.letters import actions, outcomes
from alerts.targets.roster import load_roster, sample_files
from alerts.tracking.recording import LETTER_COPY_LIMITS
from alerts.web.app import create_app

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
BASE_URL = "https://act.example.org"
SETTINGS = {
    "secret": "letter-test-secret",
    "base_url": BASE_URL,
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
    "from_email": "letters@example.org",
    "from_name": "End QI",
    "geocoder_url": "",  # no test sends an address to the Census Bureau
}
API_KEY = "SG.letter-test-key"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

LETTER_CAMPAIGN = """\
---
subject: "Write to {{ representative.full_name }}"
kind: action
letter:
  to: [house, senate]
  subject: "Please cosponsor the Ending Qualified Immunity Act"
  topic: "Civil Rights"
  body: |
    Dear {{ target.title }} {{ target.last_name }},

    I am {{ subscriber.full_name }}, and I ask you to end qualified immunity.

    Sincerely,
    {{ subscriber.full_name }}
  call_script: |
    Hello, I am {{ subscriber.full_name }}.
    Please ask {{ target.title }} {{ target.last_name }} to cosponsor.
  tweet: "{{ target.title }} {{ target.last_name }}, please end qualified immunity."
  text_code: "JUSTICE to 50409"
---
Hi {{ subscriber.first_name }}, your letter is ready.
"""
HOUSE_CAMPAIGN = LETTER_CAMPAIGN.replace("to: [house, senate]", "to: [house]")
SHIPPED_CAMPAIGN = bundled_dir("campaigns") / "end-qualified-immunity-act.md"  # `alerts init`'s

LONG_NAME = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaft"
# Subscribers of the sample roster (alerts/data): id -> (first, last, zip, state, status).
PEOPLE = {
    1: (SCRIPT_NAME, "O'Brien & Sons", "05401", "VT", "subscribed"),  # VT-AL, 2 senators
    2: ("Zoë", "Ñúñez", "10001", "NY", "subscribed"),  # ambiguous: NY-10 or NY-12
    3: ("Gale", "Vacant", "30303", "GA", "subscribed"),  # GA-5 is vacant
    4: ("Una", "Known", "99999", "IL", "subscribed"),  # ZIP not in the map
    5: ("José", "Peña", "00901", "PR", "subscribed"),  # Resident Commissioner, no senators
    6: ("Bea", "Bounced", "05401", "VT", "bounced"),
    7: ("Fay", "Forgotten", "05401", "VT", "forgotten"),
    8: (LONG_NAME, "Long", "05401", "VT", "subscribed"),  # one word wider than a phone
}
VT_REP, VT_SENIOR, VT_JUNIOR = "Rebecca Samplewell", "Avery Sampleton", "Morgan Placeholder"


def build_project(
    folder: Path, people: dict[int, tuple[str, ...]] = PEOPLE, roster: dict[str, Path] | None = None
) -> dict[str, int]:
    """alerts.toml, three action campaigns in campaigns/, and subscribers.db; returns their ids.

    The roster is the sample one (alerts/data) unless `roster` names other files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alerts.toml").write_text(
        "".join(f'{key} = "{value}"\n' for key, value in SETTINGS.items()), encoding="utf-8"
    )
    (folder / "campaigns").mkdir(exist_ok=True)
    ids = {}
    db = open_db(folder / "subscribers.db")
    files = roster or sample_files()
    load_roster(db, files["legislators"], files["zip_districts"], files["social"], congress=119)
    for sid, (first, last, zip_code, state, status) in people.items():
        db["subscribers"].insert(
            {"id": sid, "email": f"person{sid}@example.org", "first_name": first}
            | {"last_name": last, "zip": zip_code, "state": state, "status": status}
            | {"city": "Burlington", "created_at": "2026-01-01", "updated_at": "2026-01-01"}
        )
    with db.conn:
        resolve_districts(db)
    for slug, text in (
        ("letters", LETTER_CAMPAIGN),
        ("house-letter", HOUSE_CAMPAIGN),
        ("shipped", SHIPPED_CAMPAIGN.read_text(encoding="utf-8")),
    ):
        path = folder / "campaigns" / f"{slug}.md"
        path.write_text(text, encoding="utf-8")
        campaign = campaigns.load_campaign(path)
        ids[slug] = campaigns_db.register_campaign(
            db, slug, "action", "Write to your representative", campaign.source_sha256
        )
    db.conn.commit()
    db.close()
    return ids


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("letter-template")
    return folder, build_project(folder)


@dataclass
class Site:
    client: TestClient
    folder: Path
    config: Config
    campaigns: dict[str, int]

    @property
    def db(self) -> Path:
        return self.folder / "subscribers.db"

    def path(self, subscriber: int = 1, campaign: str = "letters") -> str:
        return "/a/" + self.token(subscriber, campaign)

    def token(self, subscriber: int = 1, campaign: str = "letters") -> str:
        return token(self.config, TokenKind.LETTER, self.campaigns[campaign], subscriber)

    def get(self, subscriber: int = 1, campaign: str = "letters", **kwargs):
        return self.client.get(self.path(subscriber, campaign), **kwargs)

    def post(self, data: dict[str, str], subscriber: int = 1, campaign: str = "letters", **kw):
        headers = {**FORM, "Origin": BASE_URL, **kw.pop("headers", {})}
        body = urllib.parse.urlencode(data)
        return self.client.post(
            self.path(subscriber, campaign), content=body, headers=headers, **kw
        )

    def submit(self, data: dict[str, str], subscriber: int = 1, campaign: str = "letters", **kw):
        """POST a form as the page does, then follow its 303 to the page showing the outcome."""
        posted = self.post(data, subscriber, campaign, **kw)
        assert posted.status_code == 303, posted.text
        return self.client.get(posted.headers["location"])

    def events(self, kind: str) -> list[tuple]:
        return rows(
            self.db,
            "SELECT subscriber_id, target, machine FROM events WHERE kind = ? ORDER BY id",
            (kind,),
        )


def _site(folder: Path, template: tuple[Path, dict[str, int]], **settings: str) -> Iterator[Site]:
    source, ids = template
    shutil.copytree(source, folder, dirs_exist_ok=True)
    config = Config({**SETTINGS, **settings})
    app = create_app(folder / "subscribers.db", config, campaigns_dir=folder / "campaigns")
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Site(client, folder, config, ids)


@pytest.fixture
def site(tmp_path: Path, template) -> Iterator[Site]:
    yield from _site(tmp_path / "site", template)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def mailing_site(tmp_path: Path, template, fake, monkeypatch) -> Iterator[Site]:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    yield from _site(tmp_path / "site", template, sendgrid_host=fake.url)


def textareas(page: str) -> list[str]:
    """The text of every textarea, unescaped as a browser shows it."""
    parts = page.split("<textarea")[1:]
    return [html.unescape(p.split(">", 1)[1].split("</textarea>", 1)[0]) for p in parts]


def sent_form(bioguide: str, **fields: str) -> dict[str, str]:
    return {"action": "sent", "target": bioguide, **fields}


def bioguide_of(site: Site, name: str) -> str:
    return rows(site.db, "SELECT bioguide FROM members WHERE full_name = ?", (name,))[0][0]


# --------------------------------------------------------------------------
# The page


def test_the_page_has_a_prefilled_letter_for_each_target_and_records_a_visit(site: Site):
    answer = site.get()
    assert answer.status_code == 200
    page = answer.text
    letters = textareas(page)
    assert len(letters) == 3  # the representative, then both senators, as letter.to says
    assert letters[0].startswith(f"The Honorable {VT_REP}\n\nDear Representative Samplewell,")
    assert letters[1].startswith(f"The Honorable {VT_SENIOR}\n\nDear Senator Sampleton,")
    assert letters[2].startswith(f"The Honorable {VT_JUNIOR}\n\nDear Senator Placeholder,")
    assert f"I am {SCRIPT_NAME} O'Brien & Sons, and I ask" in letters[0]
    assert 'href="https://samplewell.house.example/contact"' in page
    assert 'href="tel:+12025550120"' in page and "Civil Rights" in page
    assert 'href="https://twitter.com/intent/tweet?text=%40SmplSamplewell%20' in page
    assert 'href="sms:50409?&amp;body=JUSTICE"' in page
    assert page.count('value="sent"') == 3 and 'name="letter"' in page
    assert site.events("letter_visit") == [(1, None, 0)]
    assert answer.headers["cache-control"].startswith("no-store")


def test_the_letter_page_allows_its_own_script_and_sends_no_path_as_referer(site: Site):
    answer = site.get()
    csp = answer.headers.get_list("content-security-policy")
    assert len(csp) == 1 and "script-src 'self'" in csp[0] and "default-src 'none'" in csp[0]
    assert answer.headers.get_list("referrer-policy") == ["strict-origin"]
    assert '<script src="/static/letter.js" defer></script>' in answer.text
    script = site.client.get("/static/letter.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text
    # Other routes keep the strict policy of part 1.
    assert site.client.get("/healthz").headers["referrer-policy"] == "no-referrer"


def test_a_hostile_name_is_text_everywhere(site: Site):
    page = site.get().text
    assert SCRIPT_NAME not in page
    assert html.escape(SCRIPT_NAME, quote=False) in page
    assert "O&#39;Brien &amp; Sons" in page
    mailto = page.split('href="mailto:', 1)[1].split('"', 1)[0]
    assert "<" not in mailto and "%3Cscript%3E" in mailto


def test_accented_names_and_a_territory_without_senators(site: Site):
    page = site.get(subscriber=5).text
    letters = textareas(page)
    assert len(letters) == 1
    assert letters[0].startswith("The Honorable Pablo José Hernández Ejemplo\n\nDear Resident")
    assert "I am José Peña," in letters[0]
    assert "<h1>Write to your Resident Commissioner</h1>" in page
    assert (
        "Residents of Puerto Rico have no senators: in Congress, they are represented by"
        " their Resident Commissioner in the House."
    ) in page


@pytest.mark.parametrize(
    ("method", "agent", "reason"),
    [
        ("HEAD", CHROME, "head_request"),
        ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "automated_user_agent"),
        ("GET", "", "no_user_agent"),
    ],
)
def test_heads_and_scanners_are_machine_visits(site: Site, method: str, agent: str, reason: str):
    answer = site.client.request(method, site.path(), headers={"User-Agent": agent})
    assert answer.status_code == 200
    assert rows(site.db, "SELECT machine, detail FROM events WHERE kind = 'letter_visit'") == [
        (1, f'{{"machine": "{reason}"}}')
    ]


@pytest.mark.parametrize(
    "variant", ["tampered", "click_token", "unknown_campaign", "unknown_subscriber", "forgotten"]
)
def test_bad_tokens_get_404_and_record_nothing(site: Site, variant: str):
    good = site.token()
    letters = site.campaigns["letters"]
    bad = {
        "tampered": tamper(good),
        "click_token": token(site.config, TokenKind.CLICK, letters, 1, 1),
        "unknown_campaign": token(site.config, TokenKind.LETTER, 999, 1),
        "unknown_subscriber": token(site.config, TokenKind.LETTER, letters, 999),
        "forgotten": token(site.config, TokenKind.LETTER, letters, 7),
    }[variant]
    assert site.client.get(f"/a/{bad}").status_code == 404
    posted = site.client.post(
        f"/a/{bad}",
        content=f"action=sent&target={bioguide_of(site, VT_REP)}",
        headers={**FORM, "Origin": BASE_URL},
    )
    assert posted.status_code == 404
    assert rows(site.db, "SELECT COUNT(*) FROM events")[0][0] == 0


def test_get_never_changes_anything(site: Site):
    rep = bioguide_of(site, VT_REP)
    site.client.get(f"{site.path()}?action=sent&target={rep}")
    site.client.get(f"{site.path(2)}?action=choose&district=12")
    assert site.events("letter_sent") == []
    assert rows(site.db, "SELECT cd_choice FROM subscribers WHERE id = 2") == [(None,)]


# --------------------------------------------------------------------------
# "I sent it"


def test_i_sent_it_records_one_action_per_target_and_thanks(site: Site):
    rep, senior = bioguide_of(site, VT_REP), bioguide_of(site, VT_SENIOR)
    edited = "The Honorable Rebecca Samplewell\n\nMy own words."
    first = site.submit(sent_form(rep, letter=edited.replace("\n", "\r\n")))
    assert first.status_code == 200
    assert f"Thank you for writing to Representative {VT_REP}!" in first.text
    assert thanks(first.text) == 1
    site.post(sent_form(rep))
    site.post(sent_form(senior))
    assert site.events("letter_sent") == [(1, rep, 0), (1, senior, 0)]
    later = site.get().text
    assert later.count("You sent this letter") == 2
    assert "You have sent all your letters" not in later
    site.post(sent_form(bioguide_of(site, VT_JUNIOR)))
    assert "You have sent all your letters" in site.get().text


def test_i_sent_it_for_a_member_not_on_the_page_is_refused(site: Site):
    other = bioguide_of(site, "Daniel Testa")  # NY-10: not subscriber 1's
    answer = site.post(sent_form(other))
    assert answer.status_code == 400
    assert site.events("letter_sent") == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://act.example.org"}, 403),  # another scheme is another origin
        ({"Origin": None, "Referer": "https://evil.example/page"}, 403),
        ({"Origin": None, "Referer": f"{BASE_URL}/"}, 303),
        ({"Origin": None}, 303),  # neither header: the token is the credential
        ({"Origin": "https://ACT.example.org"}, 303),
    ],
)
def test_posts_from_other_origins_are_refused(site: Site, headers: dict, status: int):
    rep = bioguide_of(site, VT_REP)
    body = urllib.parse.urlencode(sent_form(rep))
    sent = {**FORM, "Origin": BASE_URL, **headers}
    sent = {k: v for k, v in sent.items() if v is not None}
    answer = site.client.post(site.path(), content=body, headers=sent)
    assert answer.status_code == status
    assert len(site.events("letter_sent")) == (1 if status == 303 else 0)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"action=sent", "multipart/form-data; boundary=x", 415),
        (b"action=sent&target=%ff%fe", FORM["Content-Type"], 400),
        (b"a=1&" * 30, FORM["Content-Type"], 400),
        (b"letter=" + b"x" * (65 * 1024), FORM["Content-Type"], 413),
        (b"action=delete-everything&target=x", FORM["Content-Type"], 400),
        (b"", FORM["Content-Type"], 400),
    ],
)
def test_malformed_forms_get_4xx(site: Site, body: bytes, content_type: str, status: int):
    answer = site.client.post(
        site.path(), content=body, headers={"Content-Type": content_type, "Origin": BASE_URL}
    )
    assert answer.status_code == status
    assert rows(site.db, "SELECT COUNT(*) FROM events")[0][0] == 0


# --------------------------------------------------------------------------
# Ambiguous ZIP, vacant seat, unknown district


def test_an_ambiguous_zip_offers_a_picker_and_remembers_the_choice(site: Site):
    page = site.get(subscriber=2).text
    assert "Who is your representative?" in page
    assert page.count('type="radio" name="district"') == 3  # both members, "None of these"
    assert "Daniel Testa" in page and "Gerald Exemplar, Jr." in page
    assert [t.split("\n")[0] for t in textareas(page)] == [
        "The Honorable Chuck Exampleby",
        "The Honorable Dana Demoster",
    ]  # the senators' letters do not wait for the pick
    chosen = site.submit({"action": "choose", "district": "12"}, subscriber=2)
    assert "we will remember Representative Gerald Exemplar, Jr." in chosen.text
    assert textareas(chosen.text)[0].startswith("The Honorable Gerald Exemplar, Jr.\n")
    assert rows(site.db, "SELECT cd_choice FROM subscribers WHERE id = 2") == [(12,)]
    later = site.get(subscriber=2).text
    assert "Who is your representative?" not in later and "Choose again" in later
    again = site.client.get(site.path(2) + "?choose").text
    assert "Who is your representative?" in again
    assert 'value="12" required checked' in again


@pytest.mark.parametrize(("subscriber", "district"), [(2, "11"), (2, "x"), (1, "0")])
def test_a_pick_outside_the_candidates_is_refused(site: Site, subscriber: int, district: str):
    form = {"action": "choose", "district": district}
    if subscriber == 1:  # a page without a picker: the form is not one of the page's
        assert site.post(form, subscriber=subscriber).status_code == 400
    else:
        assert "Pick one of the members listed." in site.submit(form, subscriber=subscriber).text
    assert rows(site.db, "SELECT COUNT(*) FROM subscribers WHERE cd_choice IS NOT NULL") == [(0,)]


def test_a_pick_the_district_map_no_longer_allows_is_a_409(site: Site, monkeypatch):
    def changed(db, page, district):
        raise LookupFailed(f"district: {district} is not a district of this ZIP")

    monkeypatch.setattr(actions, "choose_district", changed)
    answer = site.submit({"action": "choose", "district": "12"}, subscriber=2)
    assert "please pick again" in answer.text and "Who is your representative?" in answer.text
    assert rows(site.db, "SELECT cd_choice FROM subscribers WHERE id = 2") == [(None,)]


def test_a_vacant_seat_says_so_and_offers_no_letter_to_nobody(site: Site):
    page = site.get(subscriber=3).text
    assert "The House seat for GA-5 is vacant" in page
    assert len(textareas(page)) == 2  # the senators only
    house_only = site.get(subscriber=3, campaign="house-letter").text
    assert "The House seat for GA-5 is vacant" in house_only
    assert textareas(house_only) == [] and 'value="sent"' not in house_only


def test_an_unknown_district_says_what_we_know_and_where_to_look(site: Site):
    page = site.get(subscriber=4).text
    assert "We could not tell which House district you live in" in page
    assert "your ZIP code is not in our district map" in page
    assert "https://www.house.gov/representatives/find-your-representative" in page
    assert [t.split("\n")[0] for t in textareas(page)] == [
        "The Honorable Lee Testwood",
        "The Honorable Tamsin Mockridge",
    ]


# --------------------------------------------------------------------------
# The campaign file: gone or changed since sending


def test_a_campaign_file_that_is_gone_shows_no_letter_but_counts_the_visit(site: Site, caplog):
    (site.folder / "campaigns" / "letters.md").unlink()
    answer = site.get()
    assert answer.status_code == 200
    assert "This letter is no longer available" in answer.text
    assert textareas(answer.text) == []
    assert site.events("letter_visit") == [(1, None, 0)]
    assert "campaign letters: its file is gone" in caplog.text
    assert site.post(sent_form(bioguide_of(site, VT_REP))).status_code == 400


def test_a_campaign_file_edited_since_sending_shows_the_edited_letter(site: Site, caplog):
    path = site.folder / "campaigns" / "letters.md"
    site.get()
    path.write_text(path.read_text().replace("end qualified immunity.", "act now."))
    letters = textareas(site.get().text)
    assert "and I ask you to act now." in letters[0]
    assert "its file changed since it was sent" in caplog.text


def test_a_broken_campaign_file_shows_no_letter(site: Site, caplog):
    (site.folder / "campaigns" / "letters.md").write_text("---\nkind: action\n---\n")
    assert "This letter is no longer available" in site.get().text
    assert "its file does not load" in caplog.text


# --------------------------------------------------------------------------
# "Email me a copy"


def test_email_me_a_copy_sends_the_edited_letter_without_tracking(
    mailing_site: Site, fake: FakeSendGrid
):
    site = mailing_site
    rep = bioguide_of(site, VT_REP)
    edited = "The Honorable Rebecca Samplewell\n\nWords of my own, ünïcode & <b>all</b>."
    answer = site.submit({"action": "email", "target": rep, "letter": edited, "subject": "Mine"})
    assert "We emailed a copy to p…@example.org." in answer.text
    [delivery] = fake.deliveries()
    assert delivery.email == "person1@example.org"
    assert delivery.subject == f"Your letter to Representative {VT_REP}"
    assert edited in delivery.text and "Subject: Mine" in delivery.text
    assert html.escape(edited, quote=False) in delivery.html and "<b>all</b>" not in delivery.html
    assert f"{BASE_URL}/a/{site.token()}" in delivery.text
    assert delivery.custom_args == {} and delivery.categories == ["letter-copy"]
    body = fake.accepted[0].body
    assert body["tracking_settings"]["open_tracking"] == {"enable": False}
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert "/o/" not in delivery.html and "/c/" not in delivery.html
    assert site.events("letter_emailed") == [(1, rep, 0)]


def test_email_me_a_copy_is_rate_limited_per_subscriber(mailing_site: Site, fake: FakeSendGrid):
    site = mailing_site
    rep = bioguide_of(site, VT_REP)
    hourly = dict((seconds, most) for seconds, most in LETTER_COPY_LIMITS)[3600]
    for _ in range(hourly):
        assert "We emailed a copy" in site.submit({"action": "email", "target": rep}).text
    refused = site.submit({"action": "email", "target": bioguide_of(site, VT_SENIOR)})
    assert "You can ask for another in 60 minutes" in refused.text
    assert len(fake.deliveries()) == hourly == len(site.events("letter_emailed"))
    other = site.submit({"action": "email", "target": bioguide_of(site, "Raphael Specimen")}, 3)
    assert "We emailed a copy" in other.text  # the limit is per subscriber


def test_a_copy_that_cannot_be_sent_is_not_counted(mailing_site: Site, fake: FakeSendGrid):
    site = mailing_site
    fake.inject(Fault("status", status=500, times=5))
    answer = site.submit({"action": "email", "target": bioguide_of(site, VT_REP)})
    assert "We could not send the copy just now" in answer.text
    assert site.events("letter_emailed") == []


def test_an_empty_or_huge_letter_is_not_emailed(mailing_site: Site, fake: FakeSendGrid):
    rep = bioguide_of(mailing_site, VT_REP)
    empty = mailing_site.submit({"action": "email", "target": rep, "letter": " "})
    assert "The letter is empty" in empty.text
    huge = {"action": "email", "target": rep, "letter": "x" * 20_001}
    assert "The letter is longer than 20,000 characters" in mailing_site.submit(huge).text
    assert fake.deliveries() == [] and mailing_site.events("letter_emailed") == []


def test_no_copies_without_sendgrid_or_to_a_bounced_address(site: Site, mailing_site: Site):
    assert "Email me a copy" not in site.get().text  # no SENDGRID_API_KEY
    refused = site.submit({"action": "email", "target": bioguide_of(site, VT_REP)})
    assert "We cannot email copies from this page" in refused.text
    assert "Email me a copy" in mailing_site.get().text
    assert "Email me a copy" not in mailing_site.get(subscriber=6).text


# --------------------------------------------------------------------------
# A real server and a real browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Config, dict]]:
    folder = tmp_path_factory.mktemp("letter-live")
    ids = build_project(folder)
    with FakeSendGrid(api_key=API_KEY) as fake:
        with (folder / "alerts.toml").open("a", encoding="utf-8") as config_file:
            config_file.write(f'sendgrid_host = "{fake.url}"\n')
        config = Config.load(folder / "alerts.toml", env={})
        with live_server(folder, free_port(), env={"SENDGRID_API_KEY": API_KEY}) as base:
            yield base, folder, config, {**ids, "fake": fake}


def live_path(live, subscriber: int, campaign: str = "letters") -> str:
    base, _, config, ids = live
    return f"{base}/a/{token(config, TokenKind.LETTER, ids[campaign], subscriber)}"


def live_rows(live, sql: str, params: tuple = ()) -> list[tuple]:
    return rows(live[1] / "subscribers.db", sql, params)


def member_id(live, name: str) -> str:
    return live_rows(live, "SELECT bioguide FROM members WHERE full_name = ?", (name,))[0][0]


def server_log(live, waiting_for: str) -> str:
    """The server's log once it has a line (written just after the answer went out)."""
    deadline = time.monotonic() + 10
    while True:
        log = (live[1] / "server.log").read_text(encoding="utf-8")
        if waiting_for in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


@pytest.mark.slow
def test_live_server_records_visits_and_actions(live):
    url = live_path(live, 5)
    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": CHROME})) as r:
        assert r.status == 200 and "Hernández" in r.read().decode()
    assert live_rows(live, "SELECT machine FROM events WHERE kind = 'letter_visit'") == [(0,)]
    target = member_id(live, "Pablo José Hernández Ejemplo")
    body = urllib.parse.urlencode(sent_form(target)).encode()
    request = urllib.request.Request(url, body, {**FORM, "User-Agent": CHROME})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    assert live_rows(live, "SELECT subscriber_id, target FROM events WHERE kind = 'letter_sent'")[
        -1
    ] == (5, target)
    log = server_log(live, "POST /a/{token} 303")
    assert "GET /a/{token} 200" in log
    assert url.rsplit("/", 1)[1] not in log


def _browser_page(browser, width: int, height: int, **options):
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return context, page, dialogs


@pytest.mark.slow
@pytest.mark.browser
def test_browser_edits_the_letter_and_presses_i_sent_it(live, browser, artifacts: Path):
    rep = member_id(live, VT_REP)
    context, page, dialogs = _browser_page(
        browser, 390, 844, permissions=["clipboard-read", "clipboard-write"]
    )
    page.goto(live_path(live, 1))
    assert SCRIPT_NAME in page.inner_text("main")  # shown as text, never run
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "letter-page-phone.png"), full_page=True)
    letter = page.locator(f"#text-{rep}")
    letter.fill(letter.input_value() + "\nP.S. This matters to my family.")
    copy = page.locator(f"#letter-{rep}").get_by_role("button", name="Copy letter")
    assert copy.is_visible()
    copy.click()
    page.wait_for_selector(f"#copied-{rep}:has-text('Copied')")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard.endswith("P.S. This matters to my family.")
    mailto = page.locator(f"[data-mailto='{rep}']").get_attribute("href")
    assert "P.S.%20This%20matters" in mailto  # the fallback link follows the edit
    page.locator(f"#letter-{rep}").get_by_role("button", name="I sent it").click()
    page.wait_for_selector("text=Thank you for writing to")
    assert page.locator(f"#text-{rep}").input_value().endswith("This matters to my family.")
    page.screenshot(path=str(artifacts / "letter-page-sent-phone.png"), full_page=True)
    context.close()
    assert dialogs == []
    assert live_rows(
        live,
        "SELECT subscriber_id, target, machine FROM events WHERE kind = 'letter_sent'"
        " AND subscriber_id = 1",
    ) == [(1, rep, 0)]


@pytest.mark.slow
@pytest.mark.browser
def test_browser_desktop_screenshot_and_email_me_a_copy(live, browser, artifacts: Path):
    fake: FakeSendGrid = live[3]["fake"]
    senator = member_id(live, VT_SENIOR)
    context, page, _ = _browser_page(browser, 1280, 900)
    page.goto(live_path(live, 1))
    page.screenshot(path=str(artifacts / "letter-page-desktop.png"), full_page=True)
    page.locator(f"#text-{senator}").fill("Dear Senator Sampleton,\n\nEdited in the browser.")
    page.locator(f"#letter-{senator}").get_by_role("button", name="Email me a copy").click()
    page.wait_for_selector("text=We emailed a copy to")
    context.close()
    [delivery] = [d for d in fake.deliveries() if "Edited in the browser." in (d.text or "")]
    assert delivery.email == "person1@example.org" and delivery.custom_args == {}


@pytest.mark.slow
@pytest.mark.browser
def test_browser_picks_a_representative(live, browser, artifacts: Path):
    context, page, _ = _browser_page(browser, 390, 844)
    page.goto(live_path(live, 2))
    page.screenshot(path=str(artifacts / "letter-page-picker-phone.png"), full_page=True)
    page.get_by_label("Daniel Testa").check()
    page.get_by_role("button", name="This is my representative").click()
    page.wait_for_selector("text=we will remember Representative Daniel Testa")
    page.goto(live_path(live, 2))
    assert page.locator("textarea").first.input_value().startswith("The Honorable Daniel Testa")
    context.close()
    assert live_rows(live, "SELECT cd_choice FROM subscribers WHERE id = 2") == [(10,)]


@pytest.mark.slow
@pytest.mark.browser
def test_browser_vacant_and_unknown_pages(live, browser, artifacts: Path):
    context, page, _ = _browser_page(browser, 390, 844)
    page.goto(live_path(live, 3, "house-letter"))
    assert "The House seat for GA-5 is vacant" in page.inner_text("main")
    page.screenshot(path=str(artifacts / "letter-page-vacant-phone.png"), full_page=True)
    page.goto(live_path(live, 4))
    assert "We could not tell which House district" in page.inner_text("main")
    page.screenshot(path=str(artifacts / "letter-page-unknown-phone.png"), full_page=True)
    context.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_without_javascript_can_still_say_i_sent_it(live, browser, artifacts: Path):
    senator = member_id(live, "Chuck Exampleby")
    context, page, _ = _browser_page(browser, 390, 844, java_script_enabled=False)
    page.goto(live_path(live, 2))
    section = page.locator(f"#letter-{senator}")
    assert not section.get_by_role("button", name="Copy letter").is_visible()
    section.get_by_role("button", name="I sent it").click()
    page.wait_for_selector("text=Thank you for writing to")
    page.screenshot(path=str(artifacts / "letter-page-no-js-phone.png"), full_page=True)
    context.close()
    assert live_rows(
        live, "SELECT target FROM events WHERE kind = 'letter_sent' AND subscriber_id = 2"
    ) == [(senator,)]


# --------------------------------------------------------------------------
# Every form answers with a redirect to the page showing what happened


def done_of(location: str) -> str:
    return location.split("?done=", 1)[1].split("#", 1)[0]


def test_reloading_after_email_me_a_copy_sends_no_second_copy(
    mailing_site: Site, fake: FakeSendGrid
):
    site = mailing_site
    rep = bioguide_of(site, VT_REP)
    edited = "The Honorable Rebecca Samplewell\n\nMy own words, for my own records."
    posted = site.post({"action": "email", "target": rep, "letter": edited})
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith(site.path() + "?done=") and location.endswith(f"#letter-{rep}")
    for personal in ("person1", "example.org", "own words", "Samplewell", SCRIPT_NAME):
        assert personal not in urllib.parse.unquote(location)
    for _ in range(3):  # the visitor reloads the page they landed on
        shown = site.client.get(location)
        assert shown.status_code == 200
        assert "We emailed a copy to p…@example.org." in shown.text
    assert len(fake.deliveries()) == 1 and len(site.events("letter_emailed")) == 1


@pytest.mark.parametrize(
    ("form", "subscriber"),
    [
        ({"action": "sent", "target": "rep"}, 1),
        ({"action": "email", "target": "rep"}, 1),  # copies are off here: still a redirect
        ({"action": "choose", "district": "12"}, 2),
        ({"action": "choose", "district": "11"}, 2),  # not a candidate
        ({"action": "choose", "district": "none"}, 2),
    ],
)
def test_every_form_of_the_page_answers_with_a_redirect_to_it(site: Site, form, subscriber):
    form = {k: bioguide_of(site, VT_REP) if v == "rep" else v for k, v in form.items()}
    answer = site.post(form, subscriber)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(site.path(subscriber) + "?done=")
    assert answer.headers["cache-control"] == "no-store"


def test_an_outcome_shows_only_on_its_own_page_and_only_while_it_is_fresh(site: Site):
    location = site.post(sent_form(bioguide_of(site, VT_REP))).headers["location"]
    done = done_of(location)
    thanks = "Thank you for writing to"
    assert thanks in site.client.get(location).text
    assert thanks not in site.client.get(f"{site.path(1, 'house-letter')}?done={done}").text
    assert thanks not in site.client.get(f"{site.path()}?done={tamper(done)}").text
    assert thanks not in site.client.get(f"{site.path()}?done=x.y").text
    key, campaign = token_key(site.config.require("secret")), site.campaigns["letters"]
    outcome = outcomes.Outcome(outcomes.Done.SENT, "A000001")
    made = outcomes.outcome_token(key, campaign, 1, outcome, now=1000.0)
    assert outcomes.read_outcome(key, campaign, 1, made, 1000.0 + outcomes.OUTCOME_TTL) == outcome
    assert outcomes.read_outcome(key, campaign, 1, made, 1001.0 + outcomes.OUTCOME_TTL) is None
    assert outcomes.read_outcome(key, campaign, 2, made, 1000.0) is None  # someone else's page


# --------------------------------------------------------------------------
# The shipped example campaign


def test_the_shipped_campaign_writes_to_house_and_senate_as_its_diy_letter_does(site: Site):
    page = site.get(campaign="shipped").text
    letters = textareas(page)
    assert [letter.split("\n")[0] for letter in letters] == [
        f"The Honorable {name}" for name in (VT_REP, VT_SENIOR, VT_JUNIOR)
    ]
    assert [letter.split("\n")[2] for letter in letters] == [
        "Dear Representative Samplewell:",
        "Dear Senator Sampleton:",
        "Dear Senator Placeholder:",
    ]
    assert "choose <q>Judiciary</q>" in page and "<q>Civil Rights</q>" not in page
    assert "<h1>Write to your members of Congress</h1>" in page


# --------------------------------------------------------------------------
# The page against the public roster (../shared/data)

REAL_PEOPLE = {
    11: ("Ana", "Rivera", "00901", "PR", "subscribed"),  # the Resident Commissioner
    12: ("Cal", "North", "96001", "CA", "subscribed"),  # CA-1: no phone or website on file
    13: ("Dee", "Split", "94505", "CA", "subscribed"),  # CA-9, CA-10 and the vacant CA-14
    14: ("Eli", "Capitol", "20001", "DC", "subscribed"),  # the Delegate, no senators
}


@pytest.fixture(scope="module")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    if not (SHARED_DATA / "legislators-current.yaml").exists():
        pytest.skip(f"public data files not found in {SHARED_DATA}")
    roster = {
        "legislators": SHARED_DATA / "legislators-current.yaml",
        "zip_districts": SHARED_DATA / "zccd.csv",
        "social": SHARED_DATA / "legislators-social-media.yaml",
    }
    folder = tmp_path_factory.mktemp("letter-real")
    return folder, build_project(folder, REAL_PEOPLE, roster)


@pytest.fixture
def real_site(tmp_path: Path, real_template) -> Iterator[Site]:
    yield from _site(tmp_path / "real-site", real_template)


def cards(page: str) -> list[str]:
    """Each member's section of the page, unescaped, in the page's order."""
    return [html.unescape(part) for part in page.split('<section class="card target"')[1:]]


def test_a_member_has_one_name_in_the_address_the_greeting_and_the_links(real_site: Site):
    page = real_site.get(11, "shipped").text
    [letter] = textareas(page)
    assert letter.startswith(
        "The Honorable Pablo José Hernández\n\nDear Resident Commissioner Hernández:\n"
    )
    [card] = cards(page)
    assert "Open Resident Commissioner Hernández's website" in card
    assert "ask Resident Commissioner Hernández to cosponsor" in card  # the call script
    assert "Hernández Rivera" not in html.unescape(page)


def test_a_member_without_phone_or_website_is_found_in_the_chambers_own_directory(
    real_site: Site,
):
    page = real_site.get(12, "shipped").text
    house, *senators = cards(page)
    assert "James Gallagher" in house
    assert "Search the web" not in house
    assert '<a href="https://www.house.gov/representatives"' in house
    assert "We have no direct number for this office" in house
    assert (
        'href="tel:+12022243121"' in house and "ask for Representative Gallagher's office" in house
    )
    assert "What to say:" in house
    assert len(senators) == 2
    assert all("Call 202-" in card and "Capitol switchboard" not in card for card in senators)


def test_a_split_zip_lists_its_vacant_seat_and_none_of_these(real_site: Site):
    page = real_site.get(13, "shipped").text
    picker = page.split('id="pick"', 1)[1].split("</section>", 1)[0]
    assert "Josh Harder" in picker and "Mark DeSaulnier" in picker
    assert '<strong>CA-14</strong> <span class="meta">seat vacant' in picker
    assert picker.count('type="radio" name="district"') == 4
    assert 'value="none"' in picker and "None of these" in picker
    vacant = real_site.submit({"action": "choose", "district": "14"}, 13, "shipped")
    assert "we will remember that you live in CA-14" in vacant.text
    assert "The House seat for CA-14 is vacant" in vacant.text and "Choose again" in vacant.text
    assert len(textareas(vacant.text)) == 2  # the senators still get their letters
    assert rows(real_site.db, "SELECT cd_choice FROM subscribers WHERE id = 13") == [(14,)]
    none = real_site.submit({"action": "choose", "district": "none"}, 13, "shipped")
    assert "Then we cannot tell from your ZIP code who your representative is" in none.text
    assert "Who is your representative?" not in none.text and "is vacant" not in none.text
    assert rows(real_site.db, "SELECT cd_choice FROM subscribers WHERE id = 13") == [(None,)]


def test_titles_and_places_by_name_for_dc_and_puerto_rico(real_site: Site, site: Site):
    dc = html.unescape(real_site.get(14, "shipped").text)
    assert "<h1>Write to your delegate</h1>" in dc
    assert "Delegate for the District of Columbia" in dc
    assert (
        "Residents of the District of Columbia have no senators: in Congress, they are"
        " represented by their delegate in the House."
    ) in dc
    pr = html.unescape(real_site.get(11, "shipped").text)
    assert "<h1>Write to your Resident Commissioner</h1>" in pr
    assert "Resident Commissioner for Puerto Rico" in pr and "Residents of Puerto Rico" in pr
    vt = html.unescape(site.get().text)
    assert "Senior senator for Vermont" in vt and "Representative for Vermont (at large)" in vt


# --------------------------------------------------------------------------
# A page like the campaign's, and shorter


def test_the_page_opens_with_the_organisation_and_a_summary_of_the_letters(site: Site):
    page = site.get(campaign="shipped").text
    assert '<header class="masthead"><p>End QI</p></header>' in page
    ids = [bioguide_of(site, name) for name in (VT_REP, VT_SENIOR, VT_JUNIOR)]
    summary = page.split('<nav class="summary"', 1)[1].split("</nav>", 1)[0]
    assert "Your 3 letters:" in summary
    for bioguide, surname in zip(ids, ("Samplewell", "Sampleton", "Placeholder"), strict=True):
        assert f'<a href="#letter-{bioguide}">{surname}</a>' in summary
    letter = textareas(page)[0]
    rows_attr = int(page.split('rows="', 1)[1].split('"', 1)[0])
    wrapped = sum(max(1, -(-len(line) // 60)) for line in letter.split("\n"))
    assert rows_attr >= wrapped > 14  # the box fits the nine paragraphs, not 14 rows


def thanks(page: str) -> int:
    """How many of the page's messages thank the visitor (call scripts thank offices)."""
    return len(re.findall(r'<p class="(?:notice|done)[^"]*"[^>]*>[^<]*Thank you', page))


def test_i_sent_it_offers_the_next_letter_and_thanks_once(site: Site):
    rep, senior, junior = (bioguide_of(site, name) for name in (VT_REP, VT_SENIOR, VT_JUNIOR))
    first = site.submit(sent_form(rep), campaign="shipped").text
    assert f'<a class="button" href="#letter-{senior}">Next letter: Senator Sampleton</a>' in first
    assert thanks(first) == 1
    site.submit(sent_form(senior), campaign="shipped")
    last = site.submit(sent_form(junior), campaign="shipped").text
    assert "Thank you for writing to Senator Morgan Placeholder!" in last
    assert "Next letter" not in last and thanks(last) == 1
    later = site.get(campaign="shipped").text
    assert "You have sent all your letters. Thank you!" in later and thanks(later) == 1


# --------------------------------------------------------------------------
# In Chromium at phone and desktop widths

# What a visitor taps: buttons, button-like links, the summary's jump links, the picker's rows.
TAP_TARGETS = "main button, main a.button, main a.tap, .summary a, .choice, main summary"
OPEN_ALL = "() => document.querySelectorAll('details').forEach((d) => { d.open = true; })"
SMALL_TAP_TARGETS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.offsetParent !== null)
  .map((e) => [e.textContent.trim().slice(0, 40), e.getBoundingClientRect()])
  .filter(([, r]) => r.width < 44 || r.height < 44)
  .map(([text, r]) => `${text}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""
SCROLLING_BOXES = """() => [...document.querySelectorAll("textarea")]
  .filter((t) => t.scrollHeight > t.clientHeight + 1).map((t) => t.id)"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", [320, 390, 1280])
def test_browser_letter_pages_fit_the_width_with_big_tap_targets(
    live, browser, artifacts: Path, width: int
):
    context, page, dialogs = _browser_page(browser, width, 800)
    pages = {"shipped": (1, "shipped"), "long-name": (8, "letters"), "picker": (2, "letters")}
    for name, (subscriber, campaign) in pages.items():
        page.goto(live_path(live, subscriber, campaign))
        page.evaluate(OPEN_ALL)  # "Or call" and "Or post" open, as a visitor taps them
        page.screenshot(path=str(artifacts / f"letter-{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        assert page.evaluate(SMALL_TAP_TARGETS, TAP_TARGETS) == [], name
        assert page.evaluate(SCROLLING_BOXES) == [], name  # each letter box fits its text
    page.goto(live_path(live, 1))
    page.evaluate(OPEN_ALL)
    for label in ("Post it on X", "Open the letter there", "Text JUSTICE to 50409"):
        box = page.get_by_role("link", name=label).first.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, label
    context.close()
    assert dialogs == []


@pytest.mark.slow
@pytest.mark.browser
def test_browser_masthead_and_focus_ring_are_the_campaigns_not_the_error_red(live, browser):
    context, page, _ = _browser_page(browser, 390, 844)
    page.goto(live_path(live, 1, "shipped"))
    masthead = page.locator(".masthead")
    assert masthead.inner_text() == "End QI"
    assert masthead.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(20, 33, 61)"
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineColor]; }"
    )
    error = page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--error').trim()"
    )
    assert focused[0] == "A" and focused[1] == "solid"
    assert error == "#b3261e" and focused[2] != "rgb(179, 38, 30)"
    context.close()
