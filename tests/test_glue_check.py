"""`alerts campaigns check` warns, without failing, of a campaign `alerts send` refuses
until its bill has been fetched (`alerts bills update SLUG`): letter variants,
`stance_text`, or a segment by members' stances.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bill_helpers import BILL, SPONSORSHIPS, build_project, campaign_text, project_db

from alerts.db import bills as bills_db
from alerts.models import BillDetails

SLUG = "unfetched"
STANCE_TEXT = 'stance_text:\n  cosponsor: "{{ target.last_name }} cosponsors the bill."\n'
VARIANTS = """\
letter:
  to: [house, senate]
  subject: "Please cosponsor"
  body: |
    Dear {{ target.title }} {{ target.last_name }}, please cosponsor.
  variants:
    cosponsor:
      subject: "Thank you"
"""
SEGMENT = "segment:\n  member_stance: {house: [opposes]}\n"
WHY = f"where members stand on hr1234-119 is not known yet: run `alerts bills update {SLUG}` first"
THEN = "; `alerts send` refuses it until then."
TEXTS = f"Warning: campaigns/{SLUG}.md: its letter variants and stance_text: {WHY}{THEN}"
BY_STANCE = f"Warning: campaigns/{SLUG}.md: segment: member_stance: {WHY}{THEN}"


def write(folder: Path, front: str, *, letter: bool = True) -> None:
    text = campaign_text(f"bill: hr1234-119\n{front}", letter=letter)
    (folder / "campaigns" / f"{SLUG}.md").write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = build_project(tmp_path / "project", bill_of=())  # no bill fetched
    monkeypatch.chdir(folder)
    return folder


def warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning:")]


@pytest.mark.parametrize(
    ("front", "letter", "expected"),
    [
        (STANCE_TEXT, True, [TEXTS]),
        (VARIANTS, False, [TEXTS]),
        (SEGMENT, True, [BY_STANCE]),
        (STANCE_TEXT + SEGMENT, True, [TEXTS, BY_STANCE]),
    ],
    ids=["stance_text", "variants", "member_stance", "both"],
)
def test_check_warns_of_an_unfetched_bill_and_passes(
    cli, project: Path, front: str, letter: bool, expected: list[str]
):
    write(project, front, letter=letter)
    result = cli("campaigns", "check", SLUG)
    assert result.exit_code == 0
    assert f"ok       {SLUG}:" in result.stdout
    assert warnings(result) == expected


def test_the_warning_goes_once_the_bill_is_fetched(cli, project: Path):
    write(project, STANCE_TEXT + SEGMENT)
    with project_db(project) as db:
        bills_db.record_fetch(db, SLUG, BillDetails(BILL, "Ending QI Act", SPONSORSHIPS))
        db.conn.commit()
    assert warnings(cli("campaigns", "check", SLUG)) == []


def test_a_campaign_that_does_not_vary_by_stance_gets_no_warning(cli, project: Path):
    write(project, "")
    assert warnings(cli("campaigns", "check", SLUG)) == []


def test_send_refuses_what_check_warned_of(cli, project: Path):
    write(project, SEGMENT)
    warned = warnings(cli("campaigns", "check", SLUG))
    refused = cli("send", SLUG, "--dry-run", "--yes", ok=False)
    assert refused.stderr.strip().splitlines() == [
        "Error: " + warned[0].removeprefix("Warning: ").removesuffix(THEN)
    ]
