"""Campaign files: front matter, validation with file:line messages, segments."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.campaigns import files as campaigns
from alerts.campaigns.segments import describe_segment
from alerts.config import bundled_dir
from alerts.db import segments as segments_db
from alerts.errors import CampaignError, NotFoundError
from alerts.models import (
    AllOf,
    AnyOf,
    CampaignKind,
    Chamber,
    DistrictIn,
    Engaged,
    Engagement,
    Not,
    SignedUp,
    StateIn,
    TagIn,
    TextCode,
)

EXAMPLES = bundled_dir("campaigns")

LETTER = """\
letter:
  to: [house, senate]
  subject: "Please act"
  body: |
    Dear {{ target.title }} {{ target.last_name }},
    Sincerely, {{ subscriber.full_name }}
"""


def write(tmp_path: Path, text: str, name: str = "test-campaign.md") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CampaignError) as caught:
        campaigns.load_campaign(path)
    return caught.value.problems


def test_examples_load():
    update = campaigns.find_campaign(EXAMPLES, "progress-report")
    action = campaigns.find_campaign(EXAMPLES, "end-qualified-immunity-act")
    assert update.kind is CampaignKind.UPDATE and update.letter is None
    assert action.kind is CampaignKind.ACTION
    assert action.letter is not None and action.letter.to == (Chamber.HOUSE, Chamber.SENATE)
    assert "Ending Qualified Immunity Act" in action.letter.body.text
    assert "§ 1983" in action.body.text
    assert action.letter.call_script is not None and action.letter.tweet is not None


def test_texts_keep_their_file_lines(tmp_path):
    path = write(
        tmp_path,
        """\
        ---
        subject: Hello
        kind: update
        preheader: A line
        ---
        Body starts here.
        """,
    )
    campaign = campaigns.load_campaign(path)
    assert campaign.subject.line == 2
    assert campaign.preheader is not None and campaign.preheader.line == 4
    assert campaign.body.line == 6
    assert campaign.body.text.startswith("Body starts here.")
    assert campaign.slug == "test-campaign"
    assert campaign.first_name_fallback == "friend"


def test_block_scalar_lines_start_after_the_indicator(tmp_path):
    path = write(
        tmp_path,
        "---\nsubject: S\nkind: action\n" + LETTER + "---\nBody\n",
    )
    letter = campaigns.load_campaign(path).letter
    assert letter is not None
    assert letter.to == (Chamber.HOUSE, Chamber.SENATE)
    assert letter.subject.line == 6
    assert letter.body.line == 8  # `body: |` is line 7


def test_missing_front_matter(tmp_path):
    path = write(tmp_path, "Just a body\n")
    assert problems_of(path) == [
        f"{path}:1: a campaign file starts with YAML front matter between two --- lines"
    ]


def test_unclosed_front_matter(tmp_path):
    path = write(tmp_path, "---\nsubject: x\n")
    assert "not closed" in problems_of(path)[0]


def test_yaml_error_names_the_line(tmp_path):
    path = write(tmp_path, "---\nsubject: Hi\nkind: update\nfrom_name: [unclosed\n---\nBody\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:5: YAML error") or problem.startswith(
        f"{path}:4: YAML error"
    )


def test_unknown_and_duplicate_keys_are_errors(tmp_path):
    path = write(
        tmp_path,
        """\
        ---
        subject: Hi
        kind: update
        sujbect: typo
        subject: again
        ---
        Body
        """,
    )
    found = problems_of(path)
    assert f"{path}:4: front matter: unknown key 'sujbect'" in found[0]
    assert f"{path}:5: front matter: 'subject' is given twice" in found[1]


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        """\
        ---
        kind: newsletter
        from_email: not-an-address
        ---
        """,
    )
    found = problems_of(path)
    text = "\n".join(found)
    assert f"{path}:2: kind must be update or action, not 'newsletter'" in text
    assert f"{path}:1: subject is required" in text
    assert f"{path}:3: from_email: 'not-an-address' is not a valid email address" in text
    assert "the body (Markdown after the front matter) is empty" in text
    with pytest.raises(CampaignError, match=r"and 3 more problems"):
        campaigns.load_campaign(path)


def test_subject_must_be_one_line(tmp_path):
    path = write(tmp_path, '---\nsubject: "two\\nlines"\nkind: update\n---\nBody\n')
    assert problems_of(path) == [f"{path}:2: subject must be a single line"]


def test_action_only_keys_refused_in_update(tmp_path):
    path = write(tmp_path, "---\nsubject: S\nkind: update\nbutton: Go\n" + LETTER + "---\nBody\n")
    found = problems_of(path)
    assert f"{path}:4: button is only for action campaigns" in found
    assert f"{path}:5: letter is only for action campaigns" in found


def test_action_needs_a_complete_letter(tmp_path):
    path = write(tmp_path, "---\nsubject: S\nkind: action\n---\nBody\n")
    assert "an action campaign needs a letter" in problems_of(path)[0]
    path = write(tmp_path, "---\nsubject: S\nkind: action\nletter:\n  to: [congress]\n---\nBody\n")
    found = "\n".join(problems_of(path))
    assert "letter: subject is required" in found
    assert "letter: body is required" in found
    assert f"{path}:5: letter: to must list house and/or senate, not 'congress'" in found


def test_letter_topic_is_one_line_of_plain_text(tmp_path):
    good = write(
        tmp_path, "---\nsubject: S\nkind: action\n" + LETTER + "  topic: ' Civil Rights '\n---\nB\n"
    )
    letter = campaigns.load_campaign(good).letter
    assert letter is not None and letter.topic == "Civil Rights"
    bad = write(
        tmp_path, "---\nsubject: S\nkind: action\n" + LETTER + "  topic: ''\n---\nB\n", "bad.md"
    )
    assert any("topic is empty" in p for p in problems_of(bad))


def test_letter_extras_inside_or_at_top_level(tmp_path):
    inside = write(
        tmp_path,
        "---\nsubject: S\nkind: action\n"
        + LETTER
        + "  text_code: {keyword: JUSTICE, number: '50409'}\n  tweet: Hi\n---\nBody\n",
        "inside.md",
    )
    letter = campaigns.load_campaign(inside).letter
    assert letter is not None and letter.text_code == TextCode("JUSTICE", "50409")
    outside = write(
        tmp_path,
        "---\nsubject: S\nkind: action\ntext_code: JUSTICE to 50409\ncall_script: Call\n"
        + LETTER
        + "---\nBody\n",
        "outside.md",
    )
    letter = campaigns.load_campaign(outside).letter
    assert letter is not None and letter.text_code == TextCode("JUSTICE", "50409")
    assert letter.call_script is not None and letter.call_script.text == "Call"
    both = write(
        tmp_path,
        "---\nsubject: S\nkind: action\ntweet: A\n" + LETTER + "  tweet: B\n---\nBody\n",
        "both.md",
    )
    assert f"{both}:4: tweet is given both in letter and at the top level" in problems_of(both)


@pytest.mark.parametrize("value", ["'JUSTICE'", "{keyword: JUSTICE}", "{keyword: J, number: abc}"])
def test_bad_text_code(tmp_path, value):
    path = write(
        tmp_path, f"---\nsubject: S\nkind: action\ntext_code: {value}\n" + LETTER + "---\nB\n"
    )
    assert any("text_code" in p for p in problems_of(path))


def test_placeholder_mark_is_reserved(tmp_path):
    path = write(tmp_path, "---\nsubject: S\nkind: update\n---\nHello -ALRT.x.n- there\n")
    assert "reserved for placeholders" in problems_of(path)[0]


def test_bad_slug_and_missing_file(tmp_path):
    path = write(tmp_path, "---\nsubject: S\nkind: update\n---\nB\n", "Bad Name.md")
    assert "the file name must be <slug>.md" in problems_of(path)[0]
    with pytest.raises(NotFoundError, match="no campaign 'nope'"):
        campaigns.find_campaign(tmp_path, "nope")
    with pytest.raises(CampaignError, match="not a valid campaign slug"):
        campaigns.find_campaign(tmp_path, "../etc/passwd")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.md"
    path.write_bytes(b"---\nsubject: caf\xe9\nkind: update\n---\nB\n")
    assert problems_of(path) == [f"{path}:2: not UTF-8 text"]


def test_scaffolds_load(tmp_path):
    for kind in CampaignKind:
        path = campaigns.create_campaign(tmp_path, f"new-{kind}", kind)
        assert campaigns.load_campaign(path).kind is kind
    with pytest.raises(CampaignError, match="already exists"):
        campaigns.create_campaign(tmp_path, "new-update", CampaignKind.UPDATE)


# --------------------------------------------------------------------------
# Segments


def segment_of(tmp_path: Path, yaml_text: str):
    path = write(tmp_path, "---\nsubject: S\nkind: update\nsegment:\n" + yaml_text + "---\nB\n")
    return campaigns.load_campaign(path).segment


def test_segment_rules_parse(tmp_path):
    segment = segment_of(
        tmp_path,
        """\
  tag: [volunteer, Donor]
  state: ca
  district: [CA-12, ak-al, NY10]
  signed_up: {after: 2025-01-01, before: "2025-07-01"}
  any:
    - opened: {last_campaigns: 3}
    - clicked: {within_days: 90}
  not:
    acted: {last_campaigns: 1}
""",
    )
    assert segment == AllOf(
        (
            TagIn(("volunteer", "Donor")),
            StateIn(("CA",)),
            DistrictIn((("CA", 12), ("AK", 0), ("NY", 10))),
            SignedUp(after="2025-01-01", before="2025-07-01"),
            AnyOf(
                (
                    Engaged(Engagement.OPENED, last_campaigns=3),
                    Engaged(Engagement.CLICKED, within_days=90),
                )
            ),
            Not(Engaged(Engagement.ACTED, last_campaigns=1)),
        )
    )
    assert describe_segment(segment).startswith(
        "tag volunteer or Donor and state CA and district CA-12 or AK-AL or NY-10"
    )


def test_segment_everyone(tmp_path):
    assert segment_of(tmp_path, "") is None
    path = write(tmp_path, "---\nsubject: S\nkind: update\nsegment: everyone\n---\nB\n")
    assert campaigns.load_campaign(path).segment is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("  state: [CA, XX]\n", ":5: state: unknown state code 'XX'"),
        ("  district: CA-twelve\n", ":5: district: 'CA-twelve' is not like CA-12 or AK-AL"),
        ("  signed_up: {after: soon}\n", ":5: after must be a date like 2025-01-31"),
        ("  signed_up: {after: 2025-02-01, before: 2025-01-01}\n", "must come before"),
        (
            "  opened: {last_campaigns: 0}\n",
            ":5: last_campaigns must be a whole number of 1 or more",
        ),
        ("  opened: {}\n", "opened needs exactly one of last_campaigns or within_days"),
        ("  opened: {last_campaigns: 2, within_days: 3}\n", "exactly one of"),
        ("  colour: blue\n", ":5: segment: unknown key 'colour'"),
        ("  any: {tag: x}\n", ":5: any must be a list of rule groups"),
        ("  not: {weekday: monday}\n", ":5: segment not: unknown key 'weekday'"),
        ("  tag: []\n", "tag is an empty list"),
    ],
)
def test_segment_errors(tmp_path, rule, message):
    path = write(tmp_path, "---\nsubject: S\nkind: update\nsegment:\n" + rule + "---\nB\n")
    assert any(message in p for p in problems_of(path)), problems_of(path)


NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = 86400


def add_subscriber(db, email: str, **values) -> int:
    row = {
        "email": email,
        "status": "subscribed",
        "tags": "[]",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        **values,
    }
    if isinstance(row["tags"], list):
        row["tags"] = json.dumps(row["tags"])
    return db["subscribers"].insert(row).last_pk


def add_sent_campaign(db, slug: str, started: str) -> int:
    return (
        db["campaigns"]
        .insert(
            {
                "slug": slug,
                "kind": "update",
                "subject": slug,
                "created_at": started,
                "send_started_at": started,
            }
        )
        .last_pk
    )


def add_event(db, campaign_id: int, subscriber_id: int, kind: str, days_ago: int, machine: int = 0):
    at = int(NOW.timestamp()) - days_ago * DAY
    db["events"].insert(
        {
            "campaign_id": campaign_id,
            "subscriber_id": subscriber_id,
            "kind": kind,
            "at": at,
            "machine": machine,
        }
    )


@pytest.fixture
def people(db):
    ann = {
        "tags": ["volunteer"],
        "state": "CA",
        "source": "petition",
        "cd_state": "CA",
        "cd_district": 12,
        "cd_confidence": "exact",
        "consent_at": "2024-05-01T10:00:00Z",
    }
    bob = {
        "tags": ["Donor"],
        "state": "ny",
        "source": "Rally",
        "consent_at": "2025-05-20T10:00:00Z",
    }
    cy = {
        "state": "NY",
        "cd_state": "NY",
        "cd_confidence": "ambiguous",
        "cd_choice": 10,
        "created_at": "2025-03-01T00:00:00Z",
    }
    gone = {"tags": ["volunteer"], "state": "CA", "status": "unsubscribed"}
    ids = {
        name: add_subscriber(db, f"{name}@example.org", **values)
        for name, values in (("ann", ann), ("bob", bob), ("cy", cy), ("gone", gone))
    }  # fmt: skip
    old = add_sent_campaign(db, "old", "2025-01-01T00:00:00Z")
    mid = add_sent_campaign(db, "mid", "2025-03-01T00:00:00Z")
    new = add_sent_campaign(db, "new", "2025-05-01T00:00:00Z")
    add_event(db, old, ids["ann"], "open", 150)
    add_event(db, new, ids["bob"], "click", 20)
    add_event(db, mid, ids["cy"], "open", 80, machine=1)  # a proxy: ignored
    add_event(db, new, ids["gone"], "open", 5)
    add_event(db, mid, ids["cy"], "letter_sent", 80)
    return ids, {"old": old, "mid": mid, "new": new}


def selected(db, tmp_path, people, rule: str) -> set[str]:
    ids, _ = people
    segment = segment_of(tmp_path, rule)
    found = segments_db.segment_subscriber_ids(db, segment, now=NOW)
    assert segments_db.segment_count(db, segment, now=NOW) == len(found)
    return {name for name, sid in ids.items() if sid in found}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("", {"ann", "bob", "cy"}),
        ("  tag: VOLUNTEER\n", {"ann"}),
        ("  tag: [volunteer, donor]\n", {"ann", "bob"}),
        ("  state: NY\n", {"bob", "cy"}),
        ("  district: CA-12\n", {"ann"}),
        ("  district: NY-10\n", {"cy"}),
        ("  source: petition\n", {"ann"}),
        ("  signed_up: {after: 2025-01-01}\n", {"bob", "cy"}),
        ("  signed_up: {before: 2025-03-01}\n", {"ann"}),
        ("  signed_up: {within_days: 30}\n", {"bob"}),
        ("  opened: {last_campaigns: 1}\n", {"bob"}),
        ("  opened: {last_campaigns: 3}\n", {"ann", "bob"}),
        ("  opened: {within_days: 100}\n", {"bob"}),
        ("  clicked: {within_days: 365}\n", {"bob"}),
        ("  acted: {last_campaigns: 2}\n", {"cy"}),
        ("  not: {tag: volunteer}\n", {"bob", "cy"}),
        ("  any:\n    - state: CA\n    - source: rally\n", {"ann", "bob"}),
        ("  state: NY\n  not:\n    opened: {last_campaigns: 5}\n", {"cy"}),
    ],
)
def test_segment_selects(db, tmp_path, people, rule, expected):
    assert selected(db, tmp_path, people, rule) == expected


def test_segment_can_leave_out_the_campaign_being_sent(db, tmp_path, people):
    _, sent = people
    segment = segment_of(tmp_path, "  opened: {last_campaigns: 1}\n")
    found = segments_db.segment_subscriber_ids(
        db, segment, now=NOW, exclude_campaign_id=sent["new"]
    )
    assert found == []  # the last campaign before "new" is "mid", opened only by a machine


def test_segment_problems_are_reported_with_the_others(tmp_path):
    path = write(
        tmp_path, "---\nsubject: S\nkind: update\nfrom_name: [x]\nsegment:\n  state: ZZ\n---\nB\n"
    )
    found = problems_of(path)
    assert found == [
        f"{path}:4: from_name must be text",
        f"{path}:6: state: unknown state code 'ZZ' (use two letters, e.g. CA)",
    ]
