"""Campaign files: `campaigns/<slug>.md`, YAML front matter then a Markdown body.

`load_campaign` reads and validates one file into a `models.Campaign`. Every
problem is reported as `file:line: message`, all of them at once, and unknown
keys are errors. Jinja inside the texts is checked later by render.py (which
owns Jinja); here only the structure is. The `segment` key is parsed into the
rule objects of models.py, whose SQL lives in db.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from email_validator import EmailNotValidError, validate_email

from alerts.errors import CampaignError, NotFoundError
from alerts.models import (
    PLACEHOLDER_MARK,
    AllOf,
    AnyOf,
    Campaign,
    CampaignKind,
    CampaignRecord,
    Chamber,
    DistrictIn,
    Engaged,
    Engagement,
    LetterSpec,
    Not,
    Segment,
    SignedUp,
    SourceIn,
    SourceText,
    StateIn,
    TagIn,
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
)
ACTION_ONLY_KEYS = ("letter", "call_script", "tweet", "text_code", "button")
LETTER_KEYS = ("to", "subject", "body", "topic", "call_script", "tweet", "text_code")
LETTER_EXTRAS = ("call_script", "tweet", "text_code")

# fmt: off
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
})
# fmt: on
DISTRICT_RE = re.compile(r"^([A-Za-z]{2})-?(\d{1,2}|AL|al)$")


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
    reader = _Reader(path, front_line)
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


@dataclass
class _Entry:
    key: str
    line: int
    node: yaml.Node


class _Reader:
    def __init__(self, path: Path, first_line: int):
        self.path = path
        self.first_line = first_line
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    # -- helpers

    def problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.path}:{line}: {message}")

    def line_of(self, node: yaml.Node) -> int:
        return self.first_line + node.start_mark.line

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def entries(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> dict[str, _Entry]:
        """The keys of a mapping node; reports duplicates and unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(self.line_of(node), f"{where} must be a mapping of keys to values")
            return {}
        found: dict[str, _Entry] = {}
        for key_node, value_node in node.value:
            line = self.line_of(key_node)
            key = self.value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(line, f"{where}: keys must be words, not {key!r}")
                continue
            if key in found:
                self.problem(line, f"{where}: {key!r} is given twice")
                continue
            if key not in allowed:
                self.problem(line, f"{where}: unknown key {key!r} (known: {', '.join(allowed)})")
                continue
            found[key] = _Entry(key, line, value_node)
        return found

    def string(self, entry: _Entry, *, one_line: bool = False) -> str | None:
        node = entry.node
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            self.problem(entry.line, f"{entry.key} must be text")
            return None
        text = str(value)
        if not text.strip():
            self.problem(entry.line, f"{entry.key} is empty")
            return None
        if one_line and ("\n" in text.strip() or "\r" in text):
            self.problem(entry.line, f"{entry.key} must be a single line")
            return None
        return text.strip() if one_line else text

    def source_text(self, entry: _Entry, *, one_line: bool = False) -> SourceText | None:
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

    def email(self, entry: _Entry) -> str | None:
        text = self.string(entry, one_line=True)
        if text is None:
            return None
        try:
            return valid_address(text, entry.key)
        except CampaignError as exc:
            self.problem(entry.line, str(exc))
            return None

    def words(self, entry: _Entry) -> list[str] | None:
        """A value that may be one word or a list of them."""
        node = entry.node
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[str] = []
        for item in items:
            value = self.value(item) if isinstance(item, yaml.ScalarNode) else None
            if (
                isinstance(value, bool)
                or not isinstance(value, str | int)
                or not str(value).strip()
            ):
                self.problem(self.line_of(item), f"{entry.key} must be a word or a list of words")
                return None
            out.append(str(value).strip())
        if not out:
            self.problem(entry.line, f"{entry.key} is an empty list")
            return None
        return out

    def positive_int(self, entry: _Entry) -> int | None:
        value = self.value(entry.node) if isinstance(entry.node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(entry.line, f"{entry.key} must be a whole number of 1 or more")
            return None
        return value

    def day(self, entry: _Entry) -> str | None:
        value = self.value(entry.node) if isinstance(entry.node, yaml.ScalarNode) else None
        if isinstance(value, date):
            return value.isoformat()[:10]
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            self.problem(entry.line, f"{entry.key} must be a date like 2025-01-31, not {value!r}")
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
        segment = self.segment(keys["segment"].node) if "segment" in keys else None
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
        )

    def kind(self, keys: dict[str, _Entry]) -> CampaignKind | None:
        if "kind" not in keys:
            self.problem(1, "kind is required (update or action)")
            return None
        value = self.string(keys["kind"], one_line=True)
        try:
            return CampaignKind(value)
        except ValueError:
            self.problem(keys["kind"].line, f"kind must be update or action, not {value!r}")
            return None

    def letter_for(self, kind: CampaignKind | None, keys: dict[str, _Entry]) -> LetterSpec | None:
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

    def letter(self, entry: _Entry, top_level: dict[str, _Entry]) -> LetterSpec | None:
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

    def chambers(self, entry: _Entry) -> tuple[Chamber, ...] | None:
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

    def text_code(self, entry: _Entry) -> TextCode | None:
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

    # -- segments

    def segment(self, node: yaml.Node) -> Segment | None:
        if isinstance(node, yaml.ScalarNode) and self.value(node) in (None, "everyone"):
            return None
        return self.rules(node, "segment")

    def rules(self, node: yaml.Node, where: str) -> Segment | None:
        keys = self.entries(node, where, tuple(_RULES))
        if not keys and isinstance(node, yaml.MappingNode):
            self.problem(self.line_of(node), f"{where} has no rules")
        parts = [_RULES[key](self, entry) for key, entry in keys.items()]
        kept = tuple(p for p in parts if p is not None)
        if len(kept) != len(parts) or not kept:
            return None
        return kept[0] if len(kept) == 1 else AllOf(kept)

    def rule_list(self, entry: _Entry) -> tuple[Segment, ...] | None:
        if not isinstance(entry.node, yaml.SequenceNode) or not entry.node.value:
            self.problem(entry.line, f"{entry.key} must be a list of rule groups")
            return None
        parts = [self.rules(item, f"segment {entry.key}") for item in entry.node.value]
        if any(p is None for p in parts):
            return None
        return tuple(p for p in parts if p is not None)

    def any_rule(self, entry: _Entry) -> Segment | None:
        parts = self.rule_list(entry)
        return AnyOf(parts) if parts else None

    def all_rule(self, entry: _Entry) -> Segment | None:
        parts = self.rule_list(entry)
        return AllOf(parts) if parts else None

    def not_rule(self, entry: _Entry) -> Segment | None:
        part = self.rules(entry.node, "segment not")
        return Not(part) if part else None

    def tag_rule(self, entry: _Entry) -> Segment | None:
        tags = self.words(entry)
        return TagIn(tuple(tags)) if tags else None

    def source_rule(self, entry: _Entry) -> Segment | None:
        sources = self.words(entry)
        return SourceIn(tuple(sources)) if sources else None

    def state_rule(self, entry: _Entry) -> Segment | None:
        states = self.words(entry)
        if not states:
            return None
        unknown = [s for s in states if s.upper() not in US_STATES]
        if unknown:
            self.problem(
                entry.line, f"state: unknown state code {unknown[0]!r} (use two letters, e.g. CA)"
            )
            return None
        return StateIn(tuple(s.upper() for s in states))

    def district_rule(self, entry: _Entry) -> Segment | None:
        names = self.words(entry)
        if not names:
            return None
        districts: list[tuple[str, int]] = []
        for name in names:
            match = DISTRICT_RE.match(name)
            if not match or match.group(1).upper() not in US_STATES:
                self.problem(entry.line, f"district: {name!r} is not like CA-12 or AK-AL")
                return None
            number = match.group(2)
            districts.append((match.group(1).upper(), 0 if number.upper() == "AL" else int(number)))
        return DistrictIn(tuple(districts))

    def signed_up_rule(self, entry: _Entry) -> Segment | None:
        keys = self.entries(entry.node, "signed_up", ("after", "before", "within_days"))
        if not keys and isinstance(entry.node, yaml.MappingNode):
            self.problem(entry.line, "signed_up needs after, before or within_days")
        after = self.day(keys["after"]) if "after" in keys else None
        before = self.day(keys["before"]) if "before" in keys else None
        within = self.positive_int(keys["within_days"]) if "within_days" in keys else None
        if after and before and after >= before:
            self.problem(
                entry.line, f"signed_up: after ({after}) must come before before ({before})"
            )
            return None
        if not (after or before or within):
            return None
        return SignedUp(after, before, within)

    def engagement_rule(self, entry: _Entry) -> Segment | None:
        keys = self.entries(entry.node, entry.key, ("last_campaigns", "within_days"))
        if len(keys) != 1:
            if isinstance(entry.node, yaml.MappingNode):
                self.problem(
                    entry.line, f"{entry.key} needs exactly one of last_campaigns or within_days"
                )
            return None
        ((name, inner),) = keys.items()
        count = self.positive_int(inner)
        if count is None:
            return None
        what = Engagement(entry.key)
        if name == "last_campaigns":
            return Engaged(what, last_campaigns=count)
        return Engaged(what, within_days=count)


_RULES: dict[str, Callable[[_Reader, _Entry], Segment | None]] = {
    "tag": _Reader.tag_rule,
    "state": _Reader.state_rule,
    "district": _Reader.district_rule,
    "source": _Reader.source_rule,
    "signed_up": _Reader.signed_up_rule,
    "opened": _Reader.engagement_rule,
    "clicked": _Reader.engagement_rule,
    "acted": _Reader.engagement_rule,
    "any": _Reader.any_rule,
    "all": _Reader.all_rule,
    "not": _Reader.not_rule,
}


def describe_segment(segment: Segment | None) -> str:
    """A segment in words, e.g. `tag volunteer and (state CA or opened one of the last 3)`."""
    if segment is None:
        return "every subscriber"
    return _describe(segment)


def _describe(segment: Segment) -> str:
    if isinstance(segment, AllOf | AnyOf):
        joiner = " and " if isinstance(segment, AllOf) else " or "
        return joiner.join(_nested(part) for part in segment.parts)
    if isinstance(segment, Not):
        return f"not {_nested(segment.part)}"
    if isinstance(segment, TagIn):
        return "tag " + " or ".join(segment.tags)
    if isinstance(segment, StateIn):
        return "state " + " or ".join(segment.states)
    if isinstance(segment, DistrictIn):
        return "district " + " or ".join(f"{s}-{d if d else 'AL'}" for s, d in segment.districts)
    if isinstance(segment, SourceIn):
        return "source " + " or ".join(segment.sources)
    if isinstance(segment, SignedUp):
        parts = [
            f"on or after {segment.after}" if segment.after else "",
            f"before {segment.before}" if segment.before else "",
        ]
        if segment.within_days:
            parts.append(f"in the last {segment.within_days} days")
        return "signed up " + " and ".join(p for p in parts if p)
    if isinstance(segment, Engaged):
        if segment.last_campaigns:
            return f"{segment.what} in one of the last {segment.last_campaigns} campaigns"
        return f"{segment.what} in the last {segment.within_days} days"
    raise TypeError(f"unknown segment rule {segment!r}")


def _nested(segment: Segment) -> str:
    text = _describe(segment)
    return f"({text})" if isinstance(segment, AllOf | AnyOf) and len(segment.parts) > 1 else text


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
