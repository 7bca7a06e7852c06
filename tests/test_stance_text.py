"""`stance_text`: one sentence per stance, printed per recipient as their representative's.

Through the CLI: `alerts send` to the fake SendGrid (the messages as SendGrid
would deliver them, rebuilt from the request's substitutions), `alerts preview`,
and `alerts campaigns check`, with the Congress.gov stand-in serving the bill.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_variants import (
    SLUG,
    TX_REP,
    fake,  # noqa: F401 (a fixture)
    mobilised,  # noqa: F401 (a fixture)
    query,
    standin,  # noqa: F401 (a fixture)
)

from alerts.delivery.providers.sendgrid.standin import FakeSendGrid

STANCE_TEXT = """\
stance_text:
  sponsor: "{{ target.title }} {{ target.last_name }} wrote the bill: thank them & share it."
  cosponsor: "{{ target.title }} {{ target.last_name }} already cosponsors the bill: thank them."
  unknown: "{{ target.title }} {{ target.last_name }} has not said ({{ target.stance }})."
"""
CAMPAIGN = """\
---
subject: "{{{{ subscriber.first_name }}}}, write to {{{{ representative.full_name }}}}"
kind: action
bill: hr1234-119
{stance_text}letter:
  to: [house]
  subject: "Please cosponsor"
  body: "Dear {{{{ target.last_name }}}}, please cosponsor."
---
Hi {{{{ subscriber.first_name }}}},

{body}
{links}"""
SENTENCE = "{{ representative.stance_text }}"


def write_campaign(
    project: Path, *, stance_text: str = STANCE_TEXT, body: str = SENTENCE, links: int = 0
) -> Path:
    path = project / "campaigns" / f"{SLUG}.md"
    listed = "".join(f"- [Read part {n}](https://example.org/part-{n})\n" for n in range(links))
    text = CAMPAIGN.format(stance_text=stance_text, body=body, links=listed)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def written(mobilised: Path) -> Path:  # noqa: F811 (the fixture imported above)
    write_campaign(mobilised)
    return mobilised


def by_email(fake: FakeSendGrid) -> dict[str, Any]:  # noqa: F811
    return {delivery.email: delivery for delivery in fake.deliveries()}


def test_each_recipient_reads_their_representatives_sentence(cli, written, fake) -> None:  # noqa: F811
    cli("send", SLUG, "--yes")
    got = by_email(fake)
    vt, ca, tx = got["vt@example.org"], got["ca@example.org"], got["tx@example.org"]
    assert "Representative Samplewell wrote the bill: thank them & share it." in vt.text
    assert "Representative Samplewell wrote the bill: thank them &amp; share it." in vt.html
    assert "Representative Placewell already cosponsors the bill: thank them." in ca.text
    assert "Representative Placewell already cosponsors the bill: thank them." in ca.html
    assert "Representative Mockett has not said (unknown)." in tx.text  # withdrew
    assert "Delegate Sampleworth-Holm has not said (unknown)." in got["dc@example.org"].text
    opposes = got["or@example.org"]  # no sentence for opposes: nothing is printed
    assert re.search(r"Hi OR,\n\s*Your letter to", opposes.text)
    assert "has not said" not in opposes.html and "thank them" not in opposes.html
    # The request carries the sentence as one more substitution, per recipient.
    body = fake.accepted[0].body
    values = [p["substitutions"] for p in body["personalizations"]]
    keys = {key for each in values for key in each if "stance_text" in key}
    assert keys == {"-ALRT.rep_stance_text.h-", "-ALRT.rep_stance_text.t-"}
    assert "rep_stance_text" not in body["content"][0]["value"].replace("-ALRT.rep_stance_text", "")


def test_the_senators_sentences_follow_one_another(cli, mobilised, fake) -> None:  # noqa: F811
    write_campaign(mobilised, body=f"{SENTENCE}\n\nYour senators: {{{{ senators.stance_text }}}}")
    cli("send", SLUG, "--yes")
    got = by_email(fake)
    assert (
        "Your senators: Senator Sampleton already cosponsors the bill: thank them."
        " Senator Placeholder has not said (unknown)."
    ) in " ".join(got["vt@example.org"].text.split())
    assert re.search(r"Your senators:\s*</p>", got["dc@example.org"].html)  # DC has none


def test_the_sentences_follow_the_frozen_stances(cli, written, fake, standin) -> None:  # noqa: F811
    cli("send", SLUG, "--yes", "--limit", "1")  # freezes everyone, sends the first
    standin.bills[next(iter(standin.bills))].cosponsors[1].pop("sponsorshipWithdrawnDate")
    cli("bills", "update", SLUG)  # Mockett (TX) cosponsors again
    cli("send", SLUG, "--yes")
    assert "Representative Mockett has not said (unknown)." in by_email(fake)["tx@example.org"].text
    frozen = query(
        written,
        "SELECT stance FROM campaign_stances WHERE bioguide = ?",
        (TX_REP,),
    )
    assert frozen == [("unknown",)]


def test_the_preview_shows_the_subscribers_sentence(cli, written) -> None:
    out = cli("preview", SLUG, "--email", "ca@example.org", "--text").output
    assert "Representative Placewell already cosponsors the bill: thank them." in out
    sample = cli("preview", SLUG, "--text").output  # the sample representative: unknown
    assert "Representative Sample has not said (unknown)." in sample


def test_a_test_send_shows_the_samples_sentence(cli, written, fake) -> None:  # noqa: F811
    cli("send", SLUG, "--test", "me@example.org")
    (delivery,) = fake.deliveries()
    assert "Representative Sample has not said (unknown)." in delivery.text


def test_the_sentence_counts_in_the_substitution_size(cli, project) -> None:
    # Enough links that the sentence, counted at up to 300 characters (in HTML, where
    # each may take 6 bytes, and in text), tips the message over SendGrid's 10,000 bytes
    # of substitutions; counted like a name (100 characters) it would not.
    write_campaign(project, body="No sentence here.", links=LINKS)
    cli("campaigns", "check", SLUG)
    write_campaign(project, links=LINKS)
    result = cli("campaigns", "check", SLUG, ok=False)
    assert "bytes of substitutions, over SendGrid's 10,000" in result.stderr


LINKS = 29


# --------------------------------------------------------------------------
# Checks


def check_error(cli: Any, project: Path, **kwargs: Any) -> str:
    write_campaign(project, **kwargs)
    result = cli("campaigns", "check", SLUG, ok=False)
    return result.stderr.strip().splitlines()[0]


def test_the_sentence_needs_the_stance_text_key(cli, project) -> None:
    error = check_error(cli, project, stance_text="")
    assert error == (
        "campaigns/qi-march.md:12: body: representative.stance_text needs the campaign's"
        " stance_text key"
    )


def test_stance_text_needs_the_bill(cli, project) -> None:
    path = write_campaign(project)
    path.write_text(path.read_text().replace("bill: hr1234-119\n", ""))
    result = cli("campaigns", "check", SLUG, ok=False)
    assert result.stderr.splitlines()[0] == (
        "campaigns/qi-march.md:4: stance_text needs the campaign's bill (bill: hr1234-119):"
        " stances are on that bill"
    )


def test_stance_text_of_an_unknown_stance_is_refused(cli, project) -> None:
    error = check_error(cli, project, stance_text=STANCE_TEXT.replace("  sponsor:", "  sponsors:"))
    assert error == (
        "campaigns/qi-march.md:6: stance_text: unknown key 'sponsors'"
        " (known: sponsor, cosponsor, supports, opposes, unknown)"
    )


def test_a_sentence_cannot_be_tested(cli, project) -> None:
    error = check_error(cli, project, body="{% if representative.stance_text %}x{% endif %}")
    assert "representative.stance_text differs per recipient" in error


def test_a_sentence_is_a_template_over_the_member_only(cli, project) -> None:
    error = check_error(
        cli, project, stance_text=STANCE_TEXT.replace("thank them.", "{{ subscriber.first_name }}")
    )
    assert error == (
        "campaigns/qi-march.md:7: stance_text: cosponsor: undefined variable 'subscriber'"
    )


def test_a_sentence_longer_than_the_limit_is_refused(cli, project) -> None:
    long = STANCE_TEXT.replace("thank them.", "thank them " + "again " * 60 + ".")
    error = check_error(cli, project, stance_text=long)
    assert error.startswith("campaigns/qi-march.md:7: stance_text: cosponsor: ")
    assert error.endswith("characters for Jordan Sample, over the limit of 150")
