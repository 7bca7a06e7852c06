"""Letter variants: each member gets the letter of their stance on the campaign's bill.

Through the CLI (`alerts bills update|load`, `alerts campaigns check`, `alerts send`
to the fake SendGrid) and the letter page (`GET /a/<token>` through Starlette's
TestClient), with the Congress.gov stand-in serving the bill.
"""

from __future__ import annotations

import csv
import html
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from send_helpers import load_sample_roster, use_fake
from starlette.testclient import TestClient
from tracking_helpers import token

from alerts.bills.congress_gov.standin import (
    CongressGovStandin,
    StandinBill,
    cosponsor_json,
    member_json,
)
from alerts.cli import send as send_cli
from alerts.config import Config
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.email.links import TokenKind
from alerts.models import BillId
from alerts.web.app import create_app

KEY = "variants-test-key"
BILL = BillId(119, "hr", 1234)
SLUG = "qi-march"
BASE_URL = "https://act.example.org"

# The sample roster's members of the subscribers below, and where each stands.
VT_REP = "Z900021"  # Rebecca Samplewell: the sponsor
VT_SENIOR = "Z900001"  # Avery Sampleton: a cosponsor since June
VT_JUNIOR = "Z900002"  # Morgan Placeholder: not named, unknown
CA_REP = "Z900027"  # Nancy Placewell: an original cosponsor
TX_REP = "Z900028"  # Lloyd Mockett: a cosponsor who withdrew
OR_REP = "Z900029"  # Suzanne Demoine: opposes, from the CSV
DC_REP = "Z900033"  # Eleanor Sampleworth-Holm: unknown
# email -> ZIP; each ZIP names one House seat of the sample roster.
PEOPLE = {
    "vt@example.org": "05401",
    "ca@example.org": "94110",
    "tx@example.org": "78701",
    "or@example.org": "97201",
    "dc@example.org": "20001",
}

VARIANTS = """\
  variants:
    cosponsor:
      subject: "Thank you for cosponsoring"
      topic: "Civil Rights"
      body: |
        Dear {{ target.title }} {{ target.last_name }},

        Thank you for standing as {{ target.stance }} of the bill.
      call_script: "Thank {{ target.last_name }} for cosponsoring."
    sponsor: cosponsor
    opposes:
      body: |
        Dear {{ target.last_name }}, please think again ({{ target.stance }}).
      tweet: "{{ target.last_name }}, please think again."
"""
CAMPAIGN = """\
---
subject: "Write to {{{{ representative.full_name }}}}"
kind: action
bill: hr1234-119
letter:
  to: [house, senate]
  subject: "Please cosponsor the Ending Qualified Immunity Act"
  topic: "Judiciary"
  body: |
    Dear {{{{ target.title }}}} {{{{ target.last_name }}}},

    Please cosponsor the bill (you stand: {{{{ target.stance }}}}).
  call_script: "Ask {{{{ target.last_name }}}} to cosponsor."
  tweet: "{{{{ target.last_name }}}}, please cosponsor."
{variants}---
Hi {{{{ subscriber.first_name }}}}, your letter is ready.
"""


def the_bill() -> StandinBill:
    sponsor = member_json(VT_REP, "Rebecca", "Samplewell", "D", "VT", 0)
    return StandinBill(
        "Ending Qualified Immunity Act",
        [sponsor],
        [
            cosponsor_json(member_json(CA_REP, "Nancy", "Placewell", "D", "CA", 11),
                           "2025-03-04", original=True),
            cosponsor_json(member_json(TX_REP, "Lloyd", "Mockett", "R", "TX", 37),
                           "2025-03-10", withdrawn="2025-04-01"),
            cosponsor_json(member_json(VT_SENIOR, "Avery", "Sampleton", "D", "VT"),
                           "2025-06-02"),
        ],
        "2025-03-04",
    )  # fmt: skip


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[CongressGovStandin]:
    with CongressGovStandin(api_key=KEY, bills={BILL: the_bill()}) as server:
        monkeypatch.setenv("CONGRESS_API_KEY", KEY)
        monkeypatch.setenv("ALERTS_CONGRESS_API_URL", server.url)
        yield server


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        use_fake(monkeypatch, server)
        yield server


def write_campaign(project: Path, variants: str = VARIANTS, slug: str = SLUG) -> Path:
    path = project / "campaigns" / f"{slug}.md"
    path.write_text(CAMPAIGN.format(variants=variants), encoding="utf-8")
    return path


@pytest.fixture
def mobilised(cli: Any, project: Path, standin: CongressGovStandin) -> Path:
    """The sample roster, five subscribers, the campaign, its bill fetched and a CSV loaded."""
    load_sample_roster(cli)
    people = project / "people.csv"
    with people.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "first_name", "zip"])
        writer.writerows([email, email[:2].upper(), zip_code] for email, zip_code in PEOPLE.items())
    cli("import", str(people))
    write_campaign(project)
    cli("bills", "update", SLUG)
    stances = project / "stances.csv"
    stances.write_text(f"bioguide,stance\n{OR_REP},opposes\n", encoding="utf-8")
    cli("bills", "load", SLUG, str(stances))
    return project


def query(project: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project / "subscribers.db") as conn:
        return conn.execute(sql, params).fetchall()


def ids(project: Path) -> tuple[int, dict[str, int]]:
    """The campaign's id and each subscriber's, by email."""
    campaign = query(project, "SELECT id FROM campaigns WHERE slug = ?", (SLUG,))[0][0]
    people = dict(query(project, "SELECT email, id FROM subscribers"))
    return campaign, people


class Pages:
    """Letter pages of the project's campaign, read as a visitor reads them."""

    def __init__(self, project: Path):
        self.config = Config.load(project / "alerts.toml", env={})
        self.campaign_id, self.people = ids(project)
        app = create_app(
            project / "subscribers.db", self.config, campaigns_dir=project / "campaigns"
        )
        self.client = TestClient(app, base_url=BASE_URL, follow_redirects=False)

    def page(self, email: str) -> str:
        signed = token(self.config, TokenKind.LETTER, self.campaign_id, self.people[email])
        answer = self.client.get(f"/a/{signed}")
        assert answer.status_code == 200, answer.text
        return html.unescape(answer.text)


def letter_of(page: str, bioguide: str) -> str:
    """The card of one member on a letter page: their subject, letter, call script, tweet."""
    start = page.index(f'id="letter-{bioguide}"')
    end = page.find('<section class="card target"', start + 1)
    return page[start : end if end != -1 else len(page)]


@contextmanager
def sent(cli: Any, project: Path) -> Iterator[Pages]:
    """Send the campaign to everyone, then serve its letter pages."""
    cli("send", SLUG, "--yes")
    pages = Pages(project)
    with pages.client:
        yield pages


# --------------------------------------------------------------------------
# The variant each member gets


def test_each_member_gets_the_letter_of_their_stance(cli, mobilised, fake) -> None:
    with sent(cli, mobilised) as pages:
        vt = pages.page("vt@example.org")
        sponsor = letter_of(vt, VT_REP)  # the sponsor reads as cosponsor: `sponsor: cosponsor`
        assert "Thank you for cosponsoring" in sponsor
        assert "Thank you for standing as sponsor of the bill." in sponsor
        assert "choose <q>Civil Rights</q>" in sponsor
        assert "Thank Samplewell for cosponsoring." in sponsor
        assert "Samplewell, please cosponsor." in sponsor  # the tweet is the default's
        cosponsor = letter_of(vt, VT_SENIOR)
        assert "Thank you for standing as cosponsor of the bill." in cosponsor
        unknown = letter_of(vt, VT_JUNIOR)
        assert "Please cosponsor the Ending Qualified Immunity Act" in unknown
        assert "Please cosponsor the bill (you stand: unknown)." in unknown
        assert "choose <q>Judiciary</q>" in unknown
        assert "Ask Placeholder to cosponsor." in unknown

        original = letter_of(pages.page("ca@example.org"), CA_REP)
        assert "Thank you for standing as cosponsor of the bill." in original

        withdrawn = letter_of(pages.page("tx@example.org"), TX_REP)
        assert "Please cosponsor the bill (you stand: unknown)." in withdrawn
        assert "Thank you" not in withdrawn

        opposes = letter_of(pages.page("or@example.org"), OR_REP)  # the CSV's stance
        assert "Please cosponsor the Ending Qualified Immunity Act" in opposes  # default subject
        assert "Dear Demoine, please think again (opposes)." in opposes
        assert "Demoine, please think again." in opposes
        assert "Ask Demoine to cosponsor." in opposes  # the default's call script

        nobody = letter_of(pages.page("dc@example.org"), DC_REP)
        assert "Please cosponsor the bill (you stand: unknown)." in nobody


def test_a_csv_row_overrides_the_api_for_its_member(cli, mobilised, fake) -> None:
    stances = mobilised / "stances.csv"
    stances.write_text(f"bioguide,stance\n{CA_REP},opposes\n", encoding="utf-8")
    cli("bills", "load", SLUG, str(stances))
    with sent(cli, mobilised) as pages:
        letter = letter_of(pages.page("ca@example.org"), CA_REP)
        assert "please think again (opposes)" in letter
        assert "you stand: unknown" in letter_of(pages.page("or@example.org"), OR_REP)


def test_the_send_freezes_the_stances_it_used(cli, mobilised, fake, standin) -> None:
    with sent(cli, mobilised) as pages:
        campaign_id = pages.campaign_id
        frozen = dict(
            query(
                mobilised,
                "SELECT bioguide, stance FROM campaign_stances WHERE campaign_id = ?",
                (campaign_id,),
            )
        )
        assert {b: frozen[b] for b in (VT_REP, VT_SENIOR, CA_REP, TX_REP, OR_REP, DC_REP)} == {
            VT_REP: "sponsor",
            VT_SENIOR: "cosponsor",
            CA_REP: "cosponsor",
            TX_REP: "unknown",
            OR_REP: "opposes",
            DC_REP: "unknown",
        }
        assert len(frozen) == 34  # every member of the sample roster
        (bill,) = query(
            mobilised,
            "SELECT congress, type, number, fetch_id IS NOT NULL FROM campaign_stance_freezes"
            " WHERE campaign_id = ?",
            (campaign_id,),
        )
        assert bill == (119, "hr", 1234, 1)
        # The withdrawn cosponsor signs again; the sent campaign keeps to what it froze.
        standin.bills[BILL].cosponsors[1].pop("sponsorshipWithdrawnDate")
        assert "Rep. Mockett, Lloyd [R-TX-37]" in cli("bills", "update", SLUG).output  # joined
        assert "you stand: unknown" in letter_of(pages.page("tx@example.org"), TX_REP)


def test_a_send_nobody_confirmed_freezes_no_stances(cli, mobilised, fake, monkeypatch) -> None:
    monkeypatch.setattr(send_cli, "on_terminal", lambda: True)
    cli("send", SLUG, input="n\n", ok=False)
    assert query(mobilised, "SELECT count(*) FROM campaign_stances") == [(0,)]
    assert query(mobilised, "SELECT count(*) FROM campaign_stance_freezes") == [(0,)]


def test_a_send_before_the_bill_was_fetched_is_refused(cli, project, fake) -> None:
    load_sample_roster(cli)
    path = write_campaign(project)
    result = cli("send", SLUG, "--yes", ok=False)
    assert result.stderr.strip() == (
        f"Error: {path.relative_to(project)}: its letter variants and stance_text:"
        " where members stand on hr1234-119 is not known yet:"
        f" run `alerts bills update {SLUG}` first"
    )


# --------------------------------------------------------------------------
# Checking the variants


def check_errors(cli: Any, project: Path, variants: str) -> list[str]:
    write_campaign(project, variants)
    result = cli("campaigns", "check", SLUG, ok=False)
    return result.stderr.strip().splitlines()[:-1]  # the last line is the summary


def test_check_prints_the_letters_of_each_variant(cli, mobilised) -> None:
    out = cli("campaigns", "check", SLUG).output
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert lines == [
        # the VT sponsor and senior senator, the CA original cosponsor
        "variant cosponsor (sponsor, cosponsor): 3 letters to 3 members",
        "variant opposes (opposes): 1 letter to 1 member",
        # VT's junior senator, CA's 2 senators, TX's rep and 2 senators, OR's 2 senators,
        # DC's delegate
        "default letter (supports, unknown): 9 letters to 9 members",
    ]


def test_variants_may_name_each_other_in_a_chain(cli, mobilised) -> None:
    chain = VARIANTS.replace(
        "    sponsor: cosponsor\n", "    sponsor: supports\n    supports: cosponsor\n"
    )
    write_campaign(mobilised, chain)
    out = cli("campaigns", "check", SLUG).output
    assert "variant cosponsor (sponsor, cosponsor, supports): 3 letters to 3 members" in out


def test_a_variant_for_an_unknown_stance_is_refused(cli, project) -> None:
    errors = check_errors(cli, project, VARIANTS.replace("    opposes:", "    opposed:"))
    assert errors == [
        "campaigns/qi-march.md:25: letter: variants: unknown key 'opposed'"
        " (known: sponsor, cosponsor, supports, opposes, unknown)"
    ]


def test_a_variant_naming_no_variant_is_refused(cli, project) -> None:
    errors = check_errors(cli, project, VARIANTS.replace("sponsor: cosponsor", "sponsor: cosponsr"))
    assert errors == [
        "campaigns/qi-march.md:24: letter: variants: sponsor: no variant"
        " named 'cosponsr' to read as (variants: cosponsor, opposes, sponsor)"
    ]


def test_variants_naming_each_other_in_a_circle_are_refused(cli, project) -> None:
    circle = VARIANTS + "    supports: unknown\n    unknown: supports\n"
    errors = check_errors(cli, project, circle)
    assert errors == [
        "campaigns/qi-march.md:29: letter: variants: supports: the variants"
        " supports -> unknown -> supports name each other in a circle: give one of them its"
        " own keys"
    ]


def test_a_variant_cannot_change_whom_the_letter_goes_to(cli, project) -> None:
    errors = check_errors(
        cli, project, VARIANTS.replace("      topic:", "      to: senate\n      topic:")
    )
    assert len(errors) == 1
    assert errors[0].endswith(
        "letter: variants: cosponsor: to cannot change per variant: whom the letter goes to"
        " decides each member's stance, so it is the same for all"
    )


def test_variants_need_the_bill(cli, project) -> None:
    path = write_campaign(project)
    path.write_text(path.read_text().replace("bill: hr1234-119\n", ""))
    errors = check_errors_of(cli, SLUG)
    assert errors == [
        "campaigns/qi-march.md:15: letter: variants needs the campaign's bill (bill: hr1234-119):"
        " stances are on that bill"
    ]


def check_errors_of(cli: Any, slug: str) -> list[str]:
    result = cli("campaigns", "check", slug, ok=False)
    return result.stderr.strip().splitlines()[:-1]


def test_a_variant_template_error_names_its_line(cli, project) -> None:
    errors = check_errors(
        cli, project, VARIANTS.replace("please think again.", "{{ target.nope }}")
    )
    assert len(errors) == 1 and ":28: tweet: target has no field 'nope'" in errors[0]
