"""For the tests of segments by stance, follow-ups, deadlines and the stats of letters on a bill.

A project folder with the sample roster, subscribers in one House seat each, a
campaign that names hr1234-119 and the bill's sponsor and cosponsors stored as
`alerts bills update` stores them; and a tracking server over it (Starlette's
TestClient) to write letters through the letter page, as visitors do.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from tracking_helpers import rows, token

from alerts.campaigns import files as campaigns
from alerts.config import Config
from alerts.db import Database, open_db
from alerts.db import bills as bills_db
from alerts.db import campaigns as campaigns_db
from alerts.db.bills import StanceOverride
from alerts.db.districts import resolve_districts
from alerts.email.links import TokenKind
from alerts.models import BillDetails, BillId, Sponsorship, Stance
from alerts.targets.roster import load_roster, sample_files
from alerts.web.app import create_app

BASE_URL = "https://act.example.org"
SETTINGS = {
    "secret": "bill-test-secret",
    "base_url": BASE_URL,
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
    "from_email": "letters@example.org",
    "from_name": "End QI",
}
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
BILL = BillId(119, "hr", 1234)
ORIGINAL = "qi-march"

# The sample roster's members of the subscribers below.
VT_REP = "Z900021"  # the sponsor
VT_SENIOR = "Z900001"  # a cosponsor
VT_JUNIOR = "Z900002"  # not named: unknown
CA_REP = "Z900027"  # an original cosponsor
TX_REP = "Z900028"  # a cosponsor who withdrew: unknown
OR_REP = "Z900029"  # opposes, from the CSV
DC_REP = "Z900033"  # not named: unknown
# subscriber id -> (email, ZIP, state); each ZIP names one House seat of the sample roster.
PEOPLE = {
    1: ("vt@example.org", "05401", "VT"),
    2: ("ca@example.org", "94110", "CA"),
    3: ("tx@example.org", "78701", "TX"),
    4: ("or@example.org", "97201", "OR"),
    5: ("dc@example.org", "20001", "DC"),
}
VT, CA, TX, OR, DC = 1, 2, 3, 4, 5

LETTER = """\
letter:
  to: [house, senate]
  subject: "Please cosponsor the Ending Qualified Immunity Act"
  body: |
    Dear {{ target.title }} {{ target.last_name }},

    Please end qualified immunity.

    {{ subscriber.full_name }}
"""


def campaign_text(front: str, *, kind: str = "action", letter: bool = True) -> str:
    """A campaign file: a subject, `kind`, the letter (for an action) and `front`."""
    parts = ["---", 'subject: "Write to {{ representative.full_name }}"', f"kind: {kind}"]
    if kind == "action" and letter:
        parts.append(LETTER.rstrip("\n"))
    if front:
        parts.append(front.rstrip("\n"))
    parts += ["---", "Hi {{ subscriber.first_name }}, your letter is ready.", ""]
    return "\n".join(parts)


ORIGINAL_TEXT = campaign_text("bill: hr1234-119")


def sponsorship(bioguide: str, **fields: Any) -> Sponsorship:
    return Sponsorship(bioguide=bioguide, name=f"Rep. {bioguide}", is_sponsor=False, **fields)


# hr1234-119 as the latest fetch has it, and the CSV's stance for OR's representative.
SPONSORSHIPS = (
    Sponsorship(VT_REP, "Rep. Samplewell", True, sponsorship_date="2026-01-05"),
    sponsorship(CA_REP, sponsorship_date="2026-01-05", is_original=True),
    sponsorship(VT_SENIOR, sponsorship_date="2026-06-01"),
    sponsorship(TX_REP, sponsorship_date="2026-02-01", withdrawn_date="2026-03-01"),
)
OVERRIDES = (StanceOverride(OR_REP, Stance.OPPOSES, 2),)


def build_project(
    folder: Path, files: dict[str, str] | None = None, bill_of: tuple[str, ...] = (ORIGINAL,)
) -> Path:
    """alerts.toml, campaigns/ (qi-march and `files`), subscribers.db with the roster.

    The campaigns `bill_of` names have hr1234-119 fetched and its CSV loaded.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alerts.toml").write_text(
        "".join(f'{key} = "{value}"\n' for key, value in SETTINGS.items()), encoding="utf-8"
    )
    (folder / "campaigns").mkdir(exist_ok=True)
    for slug, text in {ORIGINAL: ORIGINAL_TEXT, **(files or {})}.items():
        write_campaign(folder, slug, text)
    db = open_db(folder / "subscribers.db")
    roster = sample_files()
    load_roster(db, roster["legislators"], roster["zip_districts"], roster["social"], congress=119)
    for sid, (email, zip_code, state) in PEOPLE.items():
        db["subscribers"].insert(
            {"id": sid, "email": email, "email_key": email, "first_name": f"P{sid}"}
            | {"last_name": "Tester", "zip": zip_code, "state": state, "status": "subscribed"}
            | {"city": "Town", "created_at": "2026-01-01", "updated_at": "2026-01-01"}
        )
    with db.conn:
        resolve_districts(db)
    for slug in bill_of:
        bills_db.record_fetch(db, slug, BillDetails(BILL, "Ending QI Act", SPONSORSHIPS))
        bills_db.replace_stance_overrides(db, slug, OVERRIDES, "stances.csv")
    db.conn.commit()
    db.close()
    return folder


def write_campaign(folder: Path, slug: str, text: str) -> Path:
    path = folder / "campaigns" / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


def register(folder: Path, slug: str, started: str | None = "2026-05-01T12:00:00Z") -> int:
    """The campaign's row, as a send makes it (sending started at `started`)."""
    campaign = campaigns.load_campaign(folder / "campaigns" / f"{slug}.md")
    db = open_db(folder / "subscribers.db")
    try:
        cid = campaigns_db.register_campaign(
            db, slug, str(campaign.kind), campaign.subject.text, campaign.source_sha256
        )
        campaigns_db.record_deadline(db, cid, campaign.deadline)
        if started:
            db.execute("UPDATE campaigns SET send_started_at = ? WHERE id = ?", [started, cid])
        db.conn.commit()
        return cid
    finally:
        db.close()


def add_event(
    folder: Path, campaign_id: int, subscriber: int, kind: str, at: int = 1_780_000_000
) -> None:
    db = open_db(folder / "subscribers.db")
    try:
        db.execute(
            "INSERT INTO events (kind, campaign_id, subscriber_id, at) VALUES (?, ?, ?, ?)",
            [kind, campaign_id, subscriber, at],
        )
        db.conn.commit()
    finally:
        db.close()


@contextmanager
def project_db(folder: Path) -> Iterator[Database]:
    db = open_db(folder / "subscribers.db")
    try:
        yield db
    finally:
        db.close()


@dataclass
class Site:
    """The tracking server of a project, in-process."""

    client: TestClient
    folder: Path
    config: Config

    def path(self, campaign_id: int, subscriber: int) -> str:
        return "/a/" + token(self.config, TokenKind.LETTER, campaign_id, subscriber)

    def page(self, campaign_id: int, subscriber: int) -> str:
        answer = self.client.get(self.path(campaign_id, subscriber))
        assert answer.status_code == 200, answer.text
        return answer.text

    def sent(self, campaign_id: int, subscriber: int, bioguide: str) -> str:
        """Press "I sent it" for `bioguide`'s letter; the page it then shows."""
        body = urllib.parse.urlencode({"action": "sent", "target": bioguide})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE_URL}
        posted = self.client.post(self.path(campaign_id, subscriber), content=body, headers=headers)
        assert posted.status_code == 303, posted.text
        return self.client.get(posted.headers["location"]).text

    def letters(self) -> list[tuple[Any, ...]]:
        """(campaign, subscriber, target, via, late) of every letter, in order."""
        return rows(
            self.folder / "subscribers.db",
            "SELECT campaign_id, subscriber_id, target, via_campaign_id, late FROM events"
            " WHERE kind = 'letter_sent' ORDER BY id",
        )


@contextmanager
def site(folder: Path) -> Iterator[Site]:
    config = Config(dict(SETTINGS))
    app = create_app(folder / "subscribers.db", config, campaigns_dir=folder / "campaigns")
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Site(client, folder, config)
