"""Campaign files: `campaigns/<slug>.md`, YAML front matter then a Markdown body.

`load_campaign` reads and validates one file into a `models.Campaign`. Every
problem is reported as `file:line: message`, all of them at once, and unknown
keys are errors. Jinja inside the texts is checked later by email/compile.py
(which owns Jinja); here only the structure is. The `segment` key is read by
segments.py. Also here: the scaffold of a new campaign and the list of them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from email_validator import EmailNotValidError, validate_email

from alerts.campaigns.segments import read_segment
from alerts.campaigns.yaml_nodes import Entry, NodeReader
from alerts.errors import CampaignError, NotFoundError
from alerts.models import (
    PLACEHOLDER_MARK,
    BillId,
    Campaign,
    CampaignKind,
    CampaignRecord,
    Chamber,
    LetterSpec,
    SourceText,
    TextCode,
)

SUFFIX = ".md"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FENCE = "---"

TOP_KEYS = (
    "subject",
    "kind",
    "preheader",
    "from_email",
    "from_name",
    "reply_to",
    "segment",
    "letter",
    "call_script",
    "tweet",
    "text_code",
    "button",
    "first_name_fallback",
    "bill",
)
ACTION_ONLY_KEYS = ("letter", "call_script", "tweet", "text_code", "button", "bill")
LETTER_KEYS = ("to", "subject", "body", "topic", "call_script", "tweet", "text_code")
LETTER_EXTRAS = ("call_script", "tweet", "text_code")


# --------------------------------------------------------------------------
# Finding campaign files


def is_valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.match(slug))


def campaign_path(campaigns_dir: Path, slug: str) -> Path:
    if not is_valid_slug(slug):
        raise CampaignError(
            f"{slug!r} is not a valid campaign slug: use lowercase letters, digits and hyphens"
        )
    return campaigns_dir / f"{slug}{SUFFIX}"


def find_campaign(campaigns_dir: Path, slug: str) -> Campaign:
    """Load `campaigns_dir/<slug>.md`; a slug that names an existing .md file also works."""
    direct = Path(slug)
    if slug.endswith(SUFFIX) and direct.is_file():
        return load_campaign(direct)
    path = campaign_path(campaigns_dir, slug)
    if not path.is_file():
        raise NotFoundError(f"no campaign {slug!r}: {path} does not exist")
    return load_campaign(path)


def valid_address(text: str, where: str) -> str:
    """An email address in its normal form; CampaignError naming `where` if it is not one."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise CampaignError(f"{where}: {text!r} is not a valid email address ({exc})") from None


def campaign_files(campaigns_dir: Path) -> list[Path]:
    """The campaign files in a folder, by slug."""
    if not campaigns_dir.is_dir():
        return []
    return sorted(p for p in campaigns_dir.glob(f"*{SUFFIX}") if p.is_file())


# --------------------------------------------------------------------------
# Reading a file


def load_campaign(path: Path | str) -> Campaign:
    """Read and validate a campaign file. Raises CampaignError listing every problem."""
    path = Path(path)
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CampaignError(f"{path}:{line}: not UTF-8 text") from None
    text = text.replace("\r\n", "\n")
    front, front_line, body, body_line = _split_front_matter(path, text)
    root = _compose(path, front, front_line)
    reader = _CampaignReader(path, front_line)
    if not is_valid_slug(path.stem):
        reader.problem(
            1,
            f"the file name must be <slug>{SUFFIX}, the slug made of lowercase letters,"
            " digits and hyphens",
        )
    campaign = reader.campaign(root, path, body, body_line, hashlib.sha256(raw).hexdigest())
    if reader.problems:
        raise CampaignError.collected(reader.problems)
    assert campaign is not None
    return campaign


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such campaign file") from None
    except IsADirectoryError:
        raise CampaignError(f"{path}: is a folder, not a campaign file") from None
    except OSError as exc:
        raise CampaignError(f"{path}: {exc.strerror}") from None


def _split_front_matter(path: Path, text: str) -> tuple[str, int, str, int]:
    """(front matter, its first file line, body, its first file line)."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != FENCE:
        raise CampaignError(
            f"{path}:1: a campaign file starts with YAML front matter between two --- lines"
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() in (FENCE, "..."):
            front = "\n".join(lines[1:index])
            body = "\n".join(lines[index + 1 :])
            return front, 2, body, index + 2
    raise CampaignError(f"{path}:1: the front matter is not closed by a --- line")


def _compose(path: Path, front: str, first_line: int) -> yaml.Node | None:
    try:
        return yaml.compose(front, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        what = exc.problem or exc.context or "invalid YAML"
        raise CampaignError(f"{path}:{line}: YAML error: {what}") from None
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}:{first_line}: YAML error: {exc}") from None


# --------------------------------------------------------------------------
# Validation: a reader walks the YAML nodes and collects problems


class _CampaignReader(NodeReader):
    def source_text(self, entry: Entry, *, one_line: bool = False) -> SourceText | None:
        text = self.string(entry, one_line=one_line)
        if text is None:
            return None
        node = entry.node
        line = self.line_of(node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            line += 1  # a block scalar's text starts on the line after its indicator
        if PLACEHOLDER_MARK.lower() in text.lower():
            self.problem(
                line, f"{entry.key} contains {PLACEHOLDER_MARK!r}, reserved for placeholders"
            )
        return SourceText(text, line)

    def email(self, entry: Entry) -> str | None:
        text = self.string(entry, one_line=True)
        if text is None:
            return None
        try:
            return valid_address(text, entry.key)
        except CampaignError as exc:
            self.problem(entry.line, str(exc))
            return None

    # -- the campaign

    def campaign(
        self, root: yaml.Node | None, path: Path, body: str, body_line: int, sha: str
    ) -> Campaign | None:
        if root is None:
            self.problem(
                self.first_line, "the front matter is empty: subject and kind are required"
            )
            return None
        keys = self.entries(root, "front matter", TOP_KEYS)
        kind = self.kind(keys)
        subject = self.source_text(keys["subject"], one_line=True) if "subject" in keys else None
        if "subject" not in keys:
            self.problem(1, "subject is required")
        if not body.strip():
            self.problem(body_line, "the body (Markdown after the front matter) is empty")
        elif PLACEHOLDER_MARK.lower() in body.lower():
            self.problem(
                body_line, f"the body contains {PLACEHOLDER_MARK!r}, reserved for placeholders"
            )
        letter = self.letter_for(kind, keys)
        optional = {
            name: self.string(keys[name], one_line=True)
            for name in ("from_name", "button", "first_name_fallback")
            if name in keys
        }
        emails = {
            name: self.email(keys[name]) for name in ("from_email", "reply_to") if name in keys
        }
        preheader = (
            self.source_text(keys["preheader"], one_line=True) if "preheader" in keys else None
        )
        segment = read_segment(self, keys["segment"].node) if "segment" in keys else None
        bill = self.bill(keys["bill"]) if "bill" in keys else None
        if self.problems or kind is None or subject is None:
            return None
        return Campaign(
            slug=path.stem,
            path=path,
            kind=kind,
            subject=subject,
            body=SourceText(body, body_line),
            source_sha256=sha,
            preheader=preheader,
            from_email=emails.get("from_email"),
            from_name=optional.get("from_name"),
            reply_to=emails.get("reply_to"),
            segment=segment,
            letter=letter,
            button=optional.get("button"),
            first_name_fallback=optional.get("first_name_fallback") or "friend",
            bill=bill,
        )

    def bill(self, entry: Entry) -> BillId | None:
        try:
            return BillId.parse(self.value(entry.node))
        except ValueError as exc:
            self.problem(entry.line, str(exc))
            return None

    def kind(self, keys: dict[str, Entry]) -> CampaignKind | None:
        if "kind" not in keys:
            self.problem(1, "kind is required (update or action)")
            return None
        value = self.string(keys["kind"], one_line=True)
        if value is None:  # not text: already a problem
            return None
        try:
            return CampaignKind(value)
        except ValueError:
            self.problem(keys["kind"].line, f"kind must be update or action, not {value!r}")
            return None

    def letter_for(self, kind: CampaignKind | None, keys: dict[str, Entry]) -> LetterSpec | None:
        if kind is CampaignKind.UPDATE:
            for name in ACTION_ONLY_KEYS:
                if name in keys:
                    self.problem(keys[name].line, f"{name} is only for action campaigns")
            return None
        if kind is not CampaignKind.ACTION:
            return None
        if "letter" not in keys:
            self.problem(1, "an action campaign needs a letter (to, subject, body)")
            return None
        return self.letter(keys["letter"], {k: keys[k] for k in LETTER_EXTRAS if k in keys})

    def letter(self, entry: Entry, top_level: dict[str, Entry]) -> LetterSpec | None:
        keys = self.entries(entry.node, "letter", LETTER_KEYS)
        for name, outer in top_level.items():
            if name in keys:
                self.problem(outer.line, f"{name} is given both in letter and at the top level")
            else:
                keys[name] = outer
        for name in ("to", "subject", "body"):
            if name not in keys:
                self.problem(entry.line, f"letter: {name} is required")
        to = self.chambers(keys["to"]) if "to" in keys else None
        subject = self.source_text(keys["subject"], one_line=True) if "subject" in keys else None
        body = self.source_text(keys["body"]) if "body" in keys else None
        extras = {n: self.source_text(keys[n]) for n in ("call_script", "tweet") if n in keys}
        text_code = self.text_code(keys["text_code"]) if "text_code" in keys else None
        topic = self.string(keys["topic"], one_line=True) if "topic" in keys else None
        if to is None or subject is None or body is None:
            return None
        return LetterSpec(
            to,
            subject,
            body,
            extras.get("call_script"),
            extras.get("tweet"),
            text_code,
            topic.strip() if topic else None,
        )

    def chambers(self, entry: Entry) -> tuple[Chamber, ...] | None:
        names = self.words(entry)
        if names is None:
            return None
        chambers: list[Chamber] = []
        for name in names:
            try:
                chamber = Chamber(name.lower())
            except ValueError:
                self.problem(entry.line, f"letter: to must list house and/or senate, not {name!r}")
                return None
            if chamber not in chambers:
                chambers.append(chamber)
        return tuple(chambers)

    def text_code(self, entry: Entry) -> TextCode | None:
        if isinstance(entry.node, yaml.ScalarNode):
            text = self.string(entry, one_line=True) or ""
            match = re.match(r"^(\S+)\s+(?:to\s+)?(\+?[\d -]{3,20})$", text, re.IGNORECASE)
            if not match:
                self.problem(
                    entry.line,
                    "text_code must be like 'JUSTICE to 50409' or a mapping of keyword and number",
                )
                return None
            return TextCode(match.group(1), match.group(2).strip())
        keys = self.entries(entry.node, "text_code", ("keyword", "number"))
        keyword = self.string(keys["keyword"], one_line=True) if "keyword" in keys else None
        number = self.string(keys["number"], one_line=True) if "number" in keys else None
        if keyword is None or number is None:
            if not ("keyword" in keys and "number" in keys):
                self.problem(entry.line, "text_code needs both keyword and number")
            return None
        if not re.fullmatch(r"\+?[\d -]{3,20}", number):
            self.problem(
                keys["number"].line, f"text_code: {number!r} is not a phone number or short code"
            )
            return None
        return TextCode(keyword, number)


# --------------------------------------------------------------------------
# New campaigns and the list

_SCAFFOLD_UPDATE = """\
---
subject: "News from the campaign"
kind: update
preheader: "A short line shown after the subject in the inbox."
# from_name, from_email and reply_to default to alerts.toml.
# segment: who receives it; leave it out to mail every subscriber.
# segment:
#   state: [CA, NY]
---
Hi {{ subscriber.first_name }},

Write your update here in Markdown. Links such as
[the campaign's site](https://example.org) are tracked; write
`notrack:https://...` for one that should not be.

Thank you for standing with us,

The {{ org.name }} team
"""

_SCAFFOLD_ACTION = """\
---
subject: "{{ subscriber.first_name }}, one letter can make the difference"
kind: action
preheader: "Your letter is written: it takes two minutes to send."
button: "Send your letter"
letter:
  to: [house]
  subject: "Please support this bill"
  topic: "Judiciary"  # what to pick if a contact form asks for a topic
  body: |
    Dear {{ target.title }} {{ target.last_name }},

    As your constituent, I ask you to support this bill.

    Sincerely,
    {{ subscriber.full_name }}
    {{ subscriber.city }}, {{ subscriber.state }}
  call_script: |
    Hello, my name is {{ subscriber.full_name }} and I live in {{ subscriber.city }}.
    I am calling to ask {{ target.title }} {{ target.last_name }} to support this bill.
  tweet: "{{ target.title }} {{ target.last_name }}, please support this bill."
---
Hi {{ subscriber.first_name }},

Say what the bill does and why it matters, in a few short paragraphs.
The button below opens a letter to {{ representative.full_name }},
already written and addressed.

Thank you,

The {{ org.name }} team
"""


def scaffold(kind: CampaignKind) -> str:
    """The text of a new campaign file of this kind; it passes `alerts campaigns check`."""
    return _SCAFFOLD_ACTION if kind is CampaignKind.ACTION else _SCAFFOLD_UPDATE


def create_campaign(campaigns_dir: Path, slug: str, kind: CampaignKind) -> Path:
    """Write a new campaign file from the scaffold; never replaces an existing one."""
    path = campaign_path(campaigns_dir, slug)
    campaigns_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(scaffold(kind))
    except FileExistsError:
        raise CampaignError(f"{path} already exists: pick another slug or edit it") from None
    return path


@dataclass(frozen=True)
class CampaignSummary:
    slug: str
    kind: str
    subject: str
    status: str  # draft, sending, sent, invalid; "file missing" is added when it is gone
    problem: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "slug": self.slug,
            "kind": self.kind,
            "subject": self.subject,
            "status": self.status,
        }


def summaries(campaigns_dir: Path, records: list[CampaignRecord]) -> list[CampaignSummary]:
    """Every campaign file, with its status from the database, and sent ones whose file is gone."""
    by_slug = {record.slug: record for record in records}
    found: list[CampaignSummary] = []
    for path in campaign_files(campaigns_dir):
        record = by_slug.pop(path.stem, None)
        status = record.status if record else "draft"
        try:
            campaign = load_campaign(path)
        except (CampaignError, NotFoundError) as exc:
            found.append(CampaignSummary(path.stem, "", "", "invalid", str(exc)))
            continue
        found.append(
            CampaignSummary(campaign.slug, str(campaign.kind), campaign.subject.text, status)
        )
    for record in by_slug.values():
        if record.send_started_at:
            found.append(
                CampaignSummary(
                    record.slug, record.kind, record.subject, f"{record.status}, file missing"
                )
            )
    return sorted(found, key=lambda s: s.slug)
