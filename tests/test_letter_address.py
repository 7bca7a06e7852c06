"""Finding the House district from a street address typed on a letter page.

The letter page (`/a/<token>`) and the public page (`/act/<slug>`) send a typed
address to the geocoder: here the local Census Geocoder stand-in, which knows the
sample signups' addresses (alerts/data), and a small block file of the 119th
Congress (alerts/data/sample-blocks-119.txt) loaded for NY and MA only, so an
Illinois block has no file. ZIP 10001 spans NY-10 and NY-12; 330 W 34th St is in
a block of NY-12 (Representative Gerald Exemplar, Jr.); 1 Brattle Sq ties.
In-process through Starlette's TestClient, and in Chromium with JavaScript off and on.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port
from starlette.testclient import TestClient
from test_act_page import PERSON
from test_web_letter import (
    BASE_URL,
    CHROME,
    FORM,
    LETTER_CAMPAIGN,
    SETTINGS,
    build_project,
    textareas,
)
from tracking_helpers import live_server, rows, token

from alerts.config import Config
from alerts.db import campaigns as campaigns_db
from alerts.db import open_db
from alerts.db.districts import resolve_districts
from alerts.email.links import TokenKind
from alerts.letters import address
from alerts.subscribers.normalise import lookup_key
from alerts.targets.blocks import load_blocks
from alerts.targets.geocoder import AddressQuery
from alerts.targets.geocoder.census.standin import CensusGeocoderStandin, Fault, KnownAddress
from alerts.targets.geocoder.census.standin import sample_table as standin_sample
from alerts.targets.roster import load_roster
from alerts.web.app import create_app

DATA = Path(__file__).resolve().parent.parent / "alerts" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "changeover"
NY_12_REP = "Representative Gerald Exemplar, Jr."
NY_10_REP = "Representative Daniel Testa"
FOUND = "Your address is in NY-12: Representative Gerald Exemplar, Jr."
NY_12_ADDRESS = {"street": "330 W 34th St", "city": "New York", "state": "NY", "zip": "10001"}
NY_12_BLOCK = "360610103001000"
TIE_ADDRESS = {"street": "1 Brattle Sq", "city": "Cambridge", "state": "MA", "zip": "02138"}
IL_ADDRESS = {"street": "2235 N Lincoln Ave", "city": "Chicago", "state": "IL", "zip": "60614"}
NOWHERE = {"street": "1 Nowhere Lane", "city": "New York", "state": "NY", "zip": "10001"}
UT_BLOCK = "490351140001000"
UT_ADDRESS = {"street": "50 S Main St", "city": "Salt Lake City", "state": "UT", "zip": "84101"}

# id -> the record: (first name, street, city, state, zip, district picked)
PEOPLE = {
    1: ("Ann", None, None, "NY", "10001", None),  # ambiguous, no street on record
    2: ("Bo", "9 Old Street", "Old Town", "NY", "10001", None),  # ambiguous, a street on record
    3: ("Cy", None, None, "MA", "02138", None),  # ambiguous
    4: ("Di", None, None, "IL", "60614", None),  # ambiguous; IL has no block file
    5: ("Ed", None, None, "VT", "05401", None),  # exact by ZIP: nothing to look up
    6: ("Flo", None, None, "NY", "10001", 10),  # picked NY-10 earlier
    7: ("Gus", None, None, "NY", "10001", None),
    8: ("Hal", None, None, None, None, None),  # no ZIP, no state: unknown
}


def insert_people(db_path: Path) -> None:
    db = open_db(db_path)
    for sid, (first, street, city, state, zip_code, choice) in PEOPLE.items():
        email = f"person{sid}@example.org"
        db["subscribers"].insert(
            {"id": sid, "email": email, "email_key": lookup_key(email), "first_name": first}
            | {"last_name": "Lee", "street": street, "city": city, "state": state}
            | {"zip": zip_code, "cd_choice": choice, "status": "subscribed"}
            | {"created_at": "2026-01-01", "updated_at": "2026-01-01"}
        )
    load_blocks(db, [DATA / "sample-blocks-119.txt"], congress=119, states=["NY", "MA"])
    with db.conn:
        resolve_districts(db)
    db.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("address-template")
    ids = build_project(folder, people={})
    insert_people(folder / "subscribers.db")
    return folder, ids


@pytest.fixture
def standin() -> Iterator[CensusGeocoderStandin]:
    table = [*standin_sample(), KnownAddress(**UT_ADDRESS, block=UT_BLOCK)]
    with CensusGeocoderStandin(table=table) as server:
        yield server


@dataclass
class Site:
    client: TestClient
    folder: Path
    config: Config
    campaigns: dict[str, int]

    @property
    def db(self) -> Path:
        return self.folder / "subscribers.db"

    def path(self, subscriber: int, campaign: str = "letters") -> str:
        return "/a/" + token(self.config, TokenKind.LETTER, self.campaigns[campaign], subscriber)

    def page(self, subscriber: int) -> str:
        answer = self.client.get(self.path(subscriber))
        assert answer.status_code == 200
        return answer.text

    def look_up(self, subscriber: int, typed: dict[str, str], **headers: str):
        body = urllib.parse.urlencode({**typed, "action": "address"})
        return self.client.post(
            self.path(subscriber), content=body, headers={**FORM, "Origin": BASE_URL, **headers}
        )

    def geo(self, subscriber: int) -> tuple:
        return rows(
            self.db,
            "SELECT geo_block, geo_outcome, geo_address_sha256, geo_at IS NOT NULL,"
            " cd_district, cd_confidence, cd_flags, cd_choice FROM subscribers WHERE id = ?",
            (subscriber,),
        )[0]


def make_site(folder: Path, template, **settings: str) -> Iterator[Site]:
    source, ids = template
    shutil.copytree(source, folder, dirs_exist_ok=True)
    config = Config({**SETTINGS, **settings})
    app = create_app(folder / "subscribers.db", config, campaigns_dir=folder / "campaigns")
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Site(client, folder, config, ids)


@pytest.fixture
def site(tmp_path: Path, template, standin: CensusGeocoderStandin) -> Iterator[Site]:
    yield from make_site(tmp_path / "site", template, geocoder_url=standin.url)


def sha(typed: dict[str, str]) -> str:
    return AddressQuery.of(0, **typed).sha256


def reason_of(page: str) -> str:
    found = re.search(r'<p class="notice error" role="alert">([^<]*)</p>', page)
    assert found is not None, "no reason on the page"
    return found.group(1).replace("&#39;", "'")


def has_picker(page: str) -> bool:
    return 'value="choose"' in page and 'id="pick"' in page


# --------------------------------------------------------------------------
# The form


def test_an_ambiguous_or_unknown_page_offers_the_address_form_prefilled(site: Site):
    page = site.page(2)
    assert "Enter your street address" in page and has_picker(page)
    for name, value in (("street", "9 Old Street"), ("city", "Old Town"), ("zip", "10001")):
        assert f'name="{name}" value="{value}"' in page
    assert 'value="address"' in site.page(8)  # unknown district: no ZIP
    assert "Enter your street address" not in site.page(5)  # exact by ZIP


def test_an_exact_page_refuses_the_address_form(site: Site, standin: CensusGeocoderStandin):
    answer = site.look_up(5, NY_12_ADDRESS)
    assert answer.status_code == 400
    assert standin.requests == []


# --------------------------------------------------------------------------
# A lookup that finds the district


def test_a_typed_address_makes_the_district_exact_and_addresses_the_letter(
    site: Site, standin: CensusGeocoderStandin
):
    answer = site.look_up(1, NY_12_ADDRESS)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location == site.path(1) + "#address-result"
    assert "34th" not in location and "10001" not in location
    page = site.client.get(location).text
    assert f'role="status">{FOUND}</p>' in page
    assert textareas(page)[0].startswith("The Honorable Gerald Exemplar, Jr.")
    assert "Enter your street address" not in page and not has_picker(page)
    assert site.geo(1) == (NY_12_BLOCK, "matched", sha(NY_12_ADDRESS), 1, 12, "exact",
                           "address", None)  # fmt: skip
    # The record had no street: the typed address is kept, as typed.
    assert rows(site.db, "SELECT street, city, state, zip FROM subscribers WHERE id = 1") == [
        ("330 W 34th St", "New York", "NY", "10001")
    ]
    [request] = standin.requests
    assert [(r.street, r.zip) for r in request.rows] == [("330 W 34th St", "10001")]
    assert request.rows[0].id == "1"  # the place in the batch, not the subscriber's id


def test_a_street_on_record_is_kept_and_the_typed_one_only_looked_up(site: Site):
    assert site.look_up(2, NY_12_ADDRESS).status_code == 303
    assert rows(site.db, "SELECT street, city, state, zip FROM subscribers WHERE id = 2") == [
        ("9 Old Street", "Old Town", "NY", "10001")
    ]
    assert site.geo(2)[:3] == (NY_12_BLOCK, "matched", sha(NY_12_ADDRESS))
    assert FOUND in site.page(2)


def test_missing_fields_of_a_record_are_filled_in_only_where_missing(site: Site):
    typed = {**NY_12_ADDRESS, "state": "new york"}
    assert site.look_up(8, typed).status_code == 303
    assert rows(site.db, "SELECT street, city, state, zip FROM subscribers WHERE id = 8") == [
        ("330 W 34th St", "New York", "NY", "10001")
    ]
    assert FOUND in site.page(8)


def test_the_address_wins_over_an_earlier_pick(site: Site):
    assert NY_10_REP in site.page(6)
    assert site.look_up(6, NY_12_ADDRESS).status_code == 303
    assert site.geo(6)[4:] == (12, "exact", "address", None)
    page = site.page(6)
    assert FOUND in page and NY_10_REP not in page


# --------------------------------------------------------------------------
# Lookups that do not find it: the picker stays, with a reason


@pytest.mark.parametrize(
    ("subscriber", "typed", "reason", "stored"),
    [
        (7, NOWHERE, address.REASONS[address.Lookup.NO_MATCH], (None, "no_match")),
        (3, TIE_ADDRESS, address.REASONS[address.Lookup.TIE], (None, "tie")),
        (4, IL_ADDRESS, address.REASONS[address.Lookup.NO_BLOCKS], ("170310709001000", "matched")),
    ],
    ids=["no-match", "tie", "no-block-file"],
)
def test_an_address_without_a_district_keeps_the_picker_with_a_reason(
    site: Site, subscriber: int, typed: dict[str, str], reason: str, stored: tuple
):
    before = site.geo(subscriber)[4:]
    answer = site.look_up(subscriber, typed)
    assert answer.status_code == 200
    assert reason_of(answer.text) == reason
    assert has_picker(answer.text)
    assert f'name="street" value="{typed["street"]}"' in answer.text  # kept to correct
    assert site.geo(subscriber)[:3] == (*stored, sha(typed))
    assert site.geo(subscriber)[4:] == before  # still ambiguous, by ZIP


def test_a_geocoder_that_is_down_changes_nothing(site: Site, standin: CensusGeocoderStandin):
    standin.inject(Fault("status", status=503))
    answer = site.look_up(1, NY_12_ADDRESS)
    assert answer.status_code == 503
    assert reason_of(answer.text) == address.REASONS[address.Lookup.DOWN]
    assert has_picker(answer.text)
    assert site.geo(1)[:4] == (None, None, None, 0)
    assert rows(site.db, "SELECT street FROM subscribers WHERE id = 1") == [(None,)]


def test_a_geocoder_that_times_out_is_down(
    site: Site, standin: CensusGeocoderStandin, monkeypatch: pytest.MonkeyPatch
):
    server_geocoder = _server_geocoder(site)
    monkeypatch.setattr(server_geocoder, "timeout", 0.2)
    standin.inject(Fault("slow", delay=2))
    answer = site.look_up(1, NY_12_ADDRESS)
    assert answer.status_code == 503
    assert reason_of(answer.text) == address.REASONS[address.Lookup.DOWN]
    assert site.geo(1)[0] is None


def _server_geocoder(site: Site):
    """The geocoder the running app holds (the letter routes' server)."""
    for route in site.client.app.routes:
        endpoint = getattr(route, "endpoint", None)
        owner = getattr(endpoint, "__self__", None)
        server = getattr(owner, "server", None)
        if server is not None and server.geocoder is not None:
            return server.geocoder
    raise AssertionError("no geocoder in the app")


def test_geocoding_off_offers_no_form_and_a_post_gets_the_reason(tmp_path: Path, template):
    for off in make_site(tmp_path / "off", template, geocoder_url=""):
        page = off.page(1)
        assert "Enter your street address" not in page and has_picker(page)
        answer = off.look_up(1, NY_12_ADDRESS)
        assert answer.status_code == 503
        assert reason_of(answer.text) == address.REASONS[address.Lookup.OFF]
        assert has_picker(answer.text) and 'name="street"' not in answer.text
        assert off.geo(1)[0] is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({**NY_12_ADDRESS, "street": "  "}, "Street address: enter the number and street"),
        ({**NY_12_ADDRESS, "state": "Atlantis"}, "State: write a US state"),
        ({**NY_12_ADDRESS, "zip": "ABCDE"}, "ZIP code: write a 5-digit US ZIP code."),
        ({**NY_12_ADDRESS, "street": "1" * 201}, "Street address: at most 200 characters."),
    ],
    ids=["no-street", "state", "zip", "long-street"],
)
def test_bad_fields_get_one_line_naming_the_field(
    site: Site, standin: CensusGeocoderStandin, typed: dict[str, str], message: str
):
    answer = site.look_up(1, typed)
    assert answer.status_code == 422
    assert reason_of(answer.text).startswith(message)
    assert has_picker(answer.text)
    assert standin.requests == []


def test_a_hostile_address_is_text_on_the_page(site: Site):
    answer = site.look_up(7, {**NOWHERE, "street": "<script>alert(1)</script> St"})
    assert "<script>alert(1)</script> St" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; St" in answer.text


def test_a_post_from_another_site_is_refused(site: Site, standin: CensusGeocoderStandin):
    answer = site.look_up(1, NY_12_ADDRESS, Origin="https://evil.example")
    assert answer.status_code == 403
    assert standin.requests == [] and site.geo(1)[0] is None


# --------------------------------------------------------------------------
# Limits


def test_lookups_are_limited_per_subscriber(
    site: Site, standin: CensusGeocoderStandin, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(address, "LIMITS_PER_SUBSCRIBER", (("address.subscriber.hour", 2, 3600),))
    for _ in range(2):
        assert site.look_up(7, NOWHERE).status_code == 200
    answer = site.look_up(7, NY_12_ADDRESS)
    assert answer.status_code == 429
    assert reason_of(answer.text) == address.REASONS[address.Lookup.LIMITED]
    assert has_picker(answer.text)
    assert len(standin.requests) == 2
    assert site.look_up(1, NY_12_ADDRESS).status_code == 303  # someone else may
    stored = rows(site.db, "SELECT key_hash FROM rate_limits")
    assert stored and all(re.fullmatch("[0-9a-f]{64}", key) for (key,) in stored)  # hashes


def test_lookups_are_limited_per_client_address(
    site: Site, standin: CensusGeocoderStandin, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(address, "LIMITS_PER_CLIENT", (("address.client.hour", 2, 3600),))
    assert site.look_up(7, NOWHERE).status_code == 200
    assert site.look_up(3, TIE_ADDRESS).status_code == 200
    answer = site.look_up(1, NY_12_ADDRESS)
    assert answer.status_code == 429
    assert reason_of(answer.text) == address.REASONS[address.Lookup.LIMITED]
    assert len(standin.requests) == 2 and site.geo(1)[0] is None


# --------------------------------------------------------------------------
# A redrawn state whose ZIP map is being updated


@pytest.fixture
def redrawn(tmp_path: Path, standin: CensusGeocoderStandin) -> Iterator[tuple[Site, int]]:
    folder = tmp_path / "redrawn"
    campaigns_dir = folder / "campaigns"
    campaigns_dir.mkdir(parents=True)
    (campaigns_dir / "letters.md").write_text(LETTER_CAMPAIGN, encoding="utf-8")
    db = open_db(folder / "subscribers.db")
    load_roster(db, FIXTURES / "legislators-119.yaml", FIXTURES / "tab20_cd11920_zcta520_natl.txt")
    email = "ut@example.org"
    utah = (
        db["subscribers"]
        .insert(
            {"email": email, "email_key": lookup_key(email), "first_name": "Uma", "zip": "84101"}
            | {"state": "UT", "created_at": "", "updated_at": ""}
        )
        .last_pk
    )
    load_roster(db, FIXTURES / "legislators-120.yaml")
    load_blocks(db, [_write(folder, "ut.txt", f"BLOCKID|DISTRICT\n{UT_BLOCK}|04\n")], congress=120)
    cid = campaigns_db.register_campaign(db, "letters", "action", "Write", "")
    db.conn.commit()
    db.close()
    config = Config({**SETTINGS, "geocoder_url": standin.url})
    app = create_app(folder / "subscribers.db", config, campaigns_dir=campaigns_dir)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Site(client, folder, config, {"letters": cid}), int(utah)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_map_being_redrawn_offers_the_address_and_the_block_gives_the_new_district(redrawn):
    site, utah = redrawn
    page = site.page(utah)
    assert "drew new House districts" in page and "Enter your street address" in page
    answer = site.look_up(utah, UT_ADDRESS)
    assert answer.status_code == 303
    page = site.client.get(answer.headers["location"]).text
    assert "Your address is in UT-4: Representative Burke Saltson." in page
    assert textareas(page)[0].startswith("The Honorable Burke Saltson")
    assert "drew new House districts" not in page
    assert site.geo(utah)[:2] == (UT_BLOCK, "matched")
    assert site.geo(utah)[4:7] == (4, "exact", "address")


# --------------------------------------------------------------------------
# The public page: the visitor's address, nothing stored but in their cookie


def act_enter(site: Site, **fields: str):
    form = site.client.get("/act/letters").text
    form_token = re.search(r'name="token" value="([^"]+)"', form).group(1)
    data = {**PERSON, **fields, "token": form_token, "action": "details"}
    return site.client.post(
        "/act/letters",
        content=urllib.parse.urlencode(data),
        headers={**FORM, "Origin": BASE_URL},
    )


def test_a_visitors_address_gives_their_district_without_storing_a_subscriber(
    site: Site, standin: CensusGeocoderStandin
):
    entered = act_enter(site, **NY_12_ADDRESS)
    assert entered.status_code == 303
    assert "34th" not in entered.headers["location"]
    page = site.client.get("/act/letters").text
    assert FOUND in page
    assert textareas(page)[0].startswith("The Honorable Gerald Exemplar, Jr.")
    assert not has_picker(page)
    assert len(standin.requests) == 1
    assert rows(
        site.db, "SELECT count(*) FROM subscribers WHERE email = ?", (PERSON["email"],)
    ) == [(0,)]
    assert rows(site.db, "SELECT street, zip FROM visitors") == [("330 W 34th St", "10001")]


@pytest.mark.parametrize("fault", ["no-match", "down"])
def test_a_visitor_whose_address_gives_nothing_gets_the_zip_and_the_picker(
    site: Site, standin: CensusGeocoderStandin, fault: str
):
    if fault == "down":
        standin.inject(Fault("status", status=500))
    typed = NY_12_ADDRESS if fault == "down" else NOWHERE
    assert act_enter(site, **typed).status_code == 303
    page = site.client.get("/act/letters").text
    assert has_picker(page) and "Your address is in" not in page


def test_a_visitor_in_a_state_without_block_file_gets_the_zip_answer(site: Site):
    assert act_enter(site, **IL_ADDRESS).status_code == 303
    page = site.client.get("/act/letters").text
    assert has_picker(page) and "Your address is in" not in page


def visitor_page(site: Site, **typed: str) -> str:
    """The details form posted; the letter page its 303 names."""
    entered = act_enter(site, **typed)
    assert entered.status_code == 303
    location = entered.headers["location"]
    assert typed.get("street", PERSON["street"]) not in urllib.parse.unquote(location)
    return site.client.get(location).text


@pytest.mark.parametrize(
    ("typed", "fault", "lookup"),
    [
        (NOWHERE, None, address.Lookup.NO_MATCH),
        (TIE_ADDRESS, None, address.Lookup.TIE),
        (IL_ADDRESS, None, address.Lookup.NO_BLOCKS),
        (NY_12_ADDRESS, Fault("status", status=500), address.Lookup.DOWN),
    ],
    ids=["no-match", "tie", "no-block-file", "down"],
)
def test_a_visitor_whose_address_gives_nothing_is_told_why_beside_the_picker(
    site: Site, standin: CensusGeocoderStandin, typed: dict[str, str], fault, lookup
):
    if fault is not None:
        standin.inject(fault)
    page = visitor_page(site, **typed)
    assert has_picker(page) and "Your address is in" not in page
    assert reason_of(page) == address.REASONS[lookup]
    assert 'name="street"' not in page  # the details form is where the address changes
    assert "notice error" not in site.client.get("/act/letters").text  # told once


def test_a_visitor_is_told_when_addresses_cannot_be_looked_up(tmp_path: Path, template):
    for off in make_site(tmp_path / "off", template, geocoder_url=""):
        page = visitor_page(off, **NOWHERE)
        assert has_picker(page)
        assert reason_of(page) == address.REASONS[address.Lookup.OFF]


def test_a_visitor_needs_no_reason_when_the_zip_or_the_address_gives_the_district(site: Site):
    exact = visitor_page(site)  # PERSON: an unknown street in VT, exact by ZIP
    assert "notice error" not in exact and "Your street address" not in exact
    found = visitor_page(site, **NY_12_ADDRESS, email="found@example.org")
    assert FOUND in found and "notice error" not in found


def test_visitor_lookups_are_limited_per_client(
    site: Site, standin: CensusGeocoderStandin, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(address, "LIMITS_PER_CLIENT", (("address.client.hour", 1, 3600),))
    act_enter(site, **NOWHERE)
    act_enter(site, **NY_12_ADDRESS, email="other@example.org")
    assert len(standin.requests) == 1
    assert has_picker(site.client.get("/act/letters").text)


# --------------------------------------------------------------------------
# In Chromium, JavaScript off and on, against `alerts serve`


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, template) -> Iterator[tuple[str, Path, Config]]:
    folder = tmp_path_factory.mktemp("address-live")
    shutil.copytree(template[0], folder, dirs_exist_ok=True)
    table = [*standin_sample()]
    with CensusGeocoderStandin(table=table) as geocoder:
        settings = folder / "alerts.toml"
        text = settings.read_text(encoding="utf-8").replace(
            'geocoder_url = ""', f'geocoder_url = "{geocoder.url}"'
        )
        settings.write_text(text, encoding="utf-8")
        config = Config.load(folder / "alerts.toml", env={})
        with live_server(folder, free_port()) as base:
            yield base, folder, config


def live_url(live, subscriber: int, campaigns: dict[str, int]) -> str:
    base, _, config = live
    return f"{base}/a/{token(config, TokenKind.LETTER, campaigns['letters'], subscriber)}"


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize(
    ("javascript", "subscriber", "other"), [(False, 1, 7), (True, 6, 3)], ids=["js-off", "js-on"]
)
def test_browser_types_an_address_and_gets_the_letter_addressed(
    live, template, browser, artifacts: Path, javascript: bool, subscriber: int, other: int
):
    _, folder, _ = live
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=javascript
    )
    page = context.new_page()
    # Subscriber 6 picked NY-10 earlier: "Choose again" offers the address too.
    choose_again = "?choose#pick" if subscriber == 6 else ""
    page.goto(live_url(live, subscriber, template[1]) + choose_again)
    section = page.locator("#address")
    section.get_by_label("Street address").fill(NY_12_ADDRESS["street"])
    section.get_by_label("City").fill(NY_12_ADDRESS["city"])
    section.get_by_label("State").fill("NY")
    section.get_by_label("ZIP code").fill("10001")
    section.get_by_role("button", name="Find my representative").click()
    page.wait_for_selector("#address-result")
    assert page.inner_text("#address-result") == FOUND
    assert (
        page.locator("textarea")
        .first.input_value()
        .startswith("The Honorable Gerald Exemplar, Jr.")
    )
    suffix = "js" if javascript else "no-js"
    page.screenshot(path=str(artifacts / f"letter-address-{suffix}.png"), full_page=True)
    # Someone whose address is not found keeps the picker, told why.
    page.goto(live_url(live, other, template[1]))
    typed = TIE_ADDRESS if other == 3 else NOWHERE
    section = page.locator("#address")
    section.get_by_label("Street address").fill(typed["street"])
    section.get_by_label("City").fill(typed["city"])
    section.get_by_role("button", name="Find my representative").click()
    page.wait_for_selector("#address [role=alert]")
    reason = address.Lookup.TIE if other == 3 else address.Lookup.NO_MATCH
    assert page.inner_text("#address [role=alert]") == address.REASONS[reason]
    assert page.locator("#pick").is_visible()
    assert page.locator("#address-street").input_value() == typed["street"]
    page.screenshot(path=str(artifacts / f"letter-address-not-found-{suffix}.png"), full_page=True)
    context.close()
    with sqlite3.connect(folder / "subscribers.db") as conn:
        stored = conn.execute(
            "SELECT geo_block, geo_address_sha256, cd_district, cd_flags FROM subscribers"
            " WHERE id = ?",
            (subscriber,),
        ).fetchone()
    assert stored == (NY_12_BLOCK, sha(NY_12_ADDRESS), 12, "address")
    log = (folder / "server.log").read_text(encoding="utf-8")
    assert "34th" not in log and "Brattle" not in log and "Nowhere" not in log
