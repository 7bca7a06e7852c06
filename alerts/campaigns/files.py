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
from typing import Any
from urllib.parse import urlsplit

import yaml
from email_validator import EmailNotValidError, validate_email

from alerts.campaigns import deadline as deadlines
from alerts.campaigns import stances
from alerts.campaigns.segments import SegmentContext, read_segment
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
    ShareSpec,
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
    "stance_text",
    "share",
    "letter_campaign",
    "deadline",
    "send_margin",
    "after_deadline",
)
ACTION_ONLY_KEYS = (
    "letter",
    "call_script",
    "tweet",
    "text_code",
    "button",
    "bill",
    "stance_text",
    "share",
    "letter_campaign",
    "deadline",
    "send_margin",
    "after_deadline",
)
LETTER_KEYS = ("to", "subject", "body", "topic", "call_script", "tweet", "text_code", "variants")
LETTER_EXTRAS = ("call_script", "tweet", "text_code")
# What a follow-up (letter_campaign) takes from the campaign whose letter it opens.
SHARED_LETTER_KEYS = ("letter", *LETTER_EXTRAS)
DEADLINE_KEYS = ("send_margin", "after_deadline")  # keys that mean something only with a deadline
SHARE_KEYS = ("text", "url")
# A post's text with the page's address (23 characters on X) stays within 280.
SHARE_TEXT_LIMIT = 250
SHARE_URL_LIMIT = 2000


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


def has_campaign_file(campaigns_dir: Path, slug: str) -> bool:
    """Whether `slug` is a campaign's slug with its file in the folder."""
    return is_valid_slug(slug) and (campaigns_dir / f"{slug}{SUFFIX}").is_file()


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


def _is_web_address(url: str) -> bool:
    """An absolute http(s) address with a host and nothing that needs quoting."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and len(url) <= SHARE_URL_LIMIT
        and url.isascii()
        and not any(c.isspace() or c in '<>"' for c in url)
    )


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
        segment = (
            read_segment(self, keys["segment"].node, self.segment_context(path, keys))
            if "segment" in keys
            else None
        )
        letter_campaign = self.letter_campaign(path, keys)
        deadline = self.deadline(keys)
        bill = self.bill(keys["bill"]) if "bill" in keys else None
        share = self.share(keys["share"]) if "share" in keys else None
        stance_text = self.stance_text(keys, letter) if kind is CampaignKind.ACTION else ()
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
            share=share,
            stance_text=stance_text,
            letter_campaign=letter_campaign,
            **deadline,
        )

    def segment_context(self, path: Path, keys: dict[str, Entry]) -> SegmentContext:
        """What the segment's rules about bills and other campaigns read from this file."""
        return SegmentContext(
            bill_of=path.stem if "bill" in keys else None,
            is_campaign=lambda slug: has_campaign_file(path.parent, slug),
        )

    def letter_campaign(self, path: Path, keys: dict[str, Entry]) -> str | None:
        """A follow-up's letter_campaign: another campaign file beside this one."""
        if "letter_campaign" not in keys:
            return None
        entry = keys["letter_campaign"]
        slug = self.string(entry, one_line=True)
        if slug is None:
            return None
        if slug == path.stem:
            self.problem(entry.line, "letter_campaign names this campaign itself")
            return None
        if not has_campaign_file(path.parent, slug):
            self.problem(
                entry.line, f"letter_campaign: campaign {slug!r} is unknown: no {slug}{SUFFIX} here"
            )
            return None
        return slug

    def deadline(self, keys: dict[str, Entry]) -> dict[str, Any]:
        """deadline, send_margin and after_deadline, as Campaign's keyword arguments."""
        found: dict[str, Any] = {}
        if "deadline" in keys:
            found["deadline"] = deadlines.read_deadline(self, keys["deadline"])
        else:
            for name in DEADLINE_KEYS:
                if name in keys:
                    self.problem(keys[name].line, f"{name} needs a deadline")
        if "send_margin" in keys:
            margin = deadlines.read_margin(self, keys["send_margin"])
            if margin is not None:
                found["send_margin"] = margin
        if "after_deadline" in keys:
            found["after_deadline"] = self.source_text(keys["after_deadline"])
        return found

    def stance_text(
        self, keys: dict[str, Entry], letter: LetterSpec | None
    ) -> tuple[tuple[str, SourceText], ...]:
        """The stance_text sentences; it and letter variants need the campaign's bill."""
        found = stances.read_stance_text(self, keys["stance_text"]) if "stance_text" in keys else ()
        if "bill" not in keys:
            if found:
                self.problem(keys["stance_text"].line, f"stance_text {stances.NEEDS_BILL}")
            if letter is not None and letter.variants:
                line = min(variant.line for variant in letter.variants)
                self.problem(line, f"letter: variants {stances.NEEDS_BILL}")
        return found

    def share(self, entry: Entry) -> ShareSpec | None:
        """`share`: text and url for the share panel, plain text the same for everyone."""
        keys = self.entries(entry.node, "share", SHARE_KEYS)
        if not keys:
            self.problem(entry.line, "share needs text, url or both")
        text = self.share_value(keys, "text")
        url = self.share_value(keys, "url")
        if text is not None and ("{{" in text or "{%" in text):
            self.problem(keys["text"].line, "share.text is plain text, the same for all: no {{ }}")
        elif text is not None and len(text) > SHARE_TEXT_LIMIT:
            self.problem(keys["text"].line, f"share.text is over {SHARE_TEXT_LIMIT} characters")
        if url is not None and not _is_web_address(url):
            self.problem(keys["url"].line, f"share.url must be an http(s) address, not {url!r}")
        return ShareSpec(text, url)

    def share_value(self, keys: dict[str, Entry], name: str) -> str | None:
        if name not in keys:
            return None
        given = keys[name]
        return self.string(Entry(f"share.{name}", given.line, given.node), one_line=True)

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
        if "letter_campaign" in keys:
            for name in SHARED_LETTER_KEYS:
                if name in keys:
                    self.problem(
                        keys[name].line,
                        f"{name}: a campaign with letter_campaign has no letter of its own",
                    )
            return None
        if "letter" not in keys:
            self.problem(
                1,
                "an action campaign needs a letter (to, subject, body), or a letter_campaign"
                " whose letter it opens",
            )
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
        variants = stances.read_variants(self, keys["variants"]) if "variants" in keys else ()
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
            variants,
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


def letter_campaign_problems(campaign: Campaign) -> list[str]:
    """Why a follow-up's letter_campaign cannot lend it a letter: [] when it can.

    The named campaign must load, be an action alert and have a letter of its own.
    """
    slug = campaign.letter_campaign
    if slug is None:
        return []
    where = f"{campaign.path}: letter_campaign: {slug}"
    try:
        lender = load_campaign(campaign_path(campaign.path.parent, slug))
    except (CampaignError, NotFoundError) as exc:
        return [f"{where} does not load: {exc}"]
    if lender.kind is not CampaignKind.ACTION:
        return [f"{where} is an update, not an action alert with a letter"]
    if lender.letter is None:
        return [f"{where} has no letter of its own (it opens {lender.letter_campaign}'s)"]
    return []


def letter_holder(campaign: Campaign) -> Campaign | None:
    """The campaign whose letter the emails of `campaign` open.

    Itself, unless it is a follow-up: then the campaign its letter_campaign names,
    or None when that one does not load.
    """
    if campaign.letter_campaign is None:
        return campaign
    try:
        return load_campaign(campaign_path(campaign.path.parent, campaign.letter_campaign))
    except (CampaignError, NotFoundError):  # reported by letter_campaign_problems
        return None


def deadline_holder(campaign: Campaign) -> Campaign:
    """The campaign whose deadline a send of `campaign` keeps to.

    Itself, unless it is a follow-up without a deadline of its own: then the
    campaign whose letter it opens, when that one loads.
    """
    if campaign.deadline is not None:
        return campaign
    return letter_holder(campaign) or campaign


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
