"""Segments: who a campaign goes to, as written under `segment:` in its file, and in words.

`read_segment` turns the YAML into the rule objects of models.py (TagIn,
StateIn, AllOf...), reporting each problem with its line; db/segments.py
turns those rules into SQL. `describe_segment` says a segment in words for
the commands that show one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from alerts.campaigns.stances import NEEDS_BILL, STANCES
from alerts.campaigns.yaml_nodes import Entry, NodeReader
from alerts.models import (
    AllOf,
    AnyOf,
    DistrictIn,
    Engaged,
    Engagement,
    MemberStance,
    Not,
    Segment,
    SignedUp,
    SourceIn,
    Stance,
    StanceChamber,
    StateIn,
    TagIn,
)

# fmt: off
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
})
# fmt: on
DISTRICT_RE = re.compile(r"^([A-Za-z]{2})-?(\d{1,2}|AL|al)$")


ENGAGEMENT_KEYS = ("last_campaigns", "within_days", "campaign")
CHAMBER_KEYS = tuple(chamber.value for chamber in StanceChamber)


@dataclass(frozen=True)
class SegmentContext:
    """What rules about other things than the subscriber need from the campaign file."""

    bill_of: str | None = None  # the campaign's slug when it names a bill, else None
    is_campaign: Callable[[str], bool] = lambda slug: True  # whether a slug names a campaign


def read_segment(
    nodes: NodeReader, node: yaml.Node, context: SegmentContext | None = None
) -> Segment | None:
    """The segment under `node`; None for everyone. Problems go to `nodes`."""
    return _SegmentReader(nodes, context or SegmentContext()).segment(node)


class _SegmentReader:
    def __init__(self, nodes: NodeReader, context: SegmentContext):
        self.nodes = nodes
        self.context = context

    def segment(self, node: yaml.Node) -> Segment | None:
        if isinstance(node, yaml.ScalarNode) and self.nodes.value(node) in (None, "everyone"):
            return None
        return self.rules(node, "segment")

    def rules(self, node: yaml.Node, where: str) -> Segment | None:
        keys = self.nodes.entries(node, where, tuple(_RULES))
        if not keys and isinstance(node, yaml.MappingNode):
            self.nodes.problem(self.nodes.line_of(node), f"{where} has no rules")
        parts = [_RULES[key](self, entry) for key, entry in keys.items()]
        kept = tuple(p for p in parts if p is not None)
        if len(kept) != len(parts) or not kept:
            return None
        return kept[0] if len(kept) == 1 else AllOf(kept)

    def rule_list(self, entry: Entry) -> tuple[Segment, ...] | None:
        if not isinstance(entry.node, yaml.SequenceNode) or not entry.node.value:
            self.nodes.problem(entry.line, f"{entry.key} must be a list of rule groups")
            return None
        parts = [self.rules(item, f"segment {entry.key}") for item in entry.node.value]
        if any(p is None for p in parts):
            return None
        return tuple(p for p in parts if p is not None)

    def any_rule(self, entry: Entry) -> Segment | None:
        parts = self.rule_list(entry)
        return AnyOf(parts) if parts else None

    def all_rule(self, entry: Entry) -> Segment | None:
        parts = self.rule_list(entry)
        return AllOf(parts) if parts else None

    def not_rule(self, entry: Entry) -> Segment | None:
        part = self.rules(entry.node, "segment not")
        return Not(part) if part else None

    def tag_rule(self, entry: Entry) -> Segment | None:
        tags = self.nodes.words(entry)
        return TagIn(tuple(tags)) if tags else None

    def source_rule(self, entry: Entry) -> Segment | None:
        sources = self.nodes.words(entry)
        return SourceIn(tuple(sources)) if sources else None

    def state_rule(self, entry: Entry) -> Segment | None:
        states = self.nodes.words(entry)
        if not states:
            return None
        unknown = [s for s in states if s.upper() not in US_STATES]
        if unknown:
            self.nodes.problem(
                entry.line, f"state: unknown state code {unknown[0]!r} (use two letters, e.g. CA)"
            )
            return None
        return StateIn(tuple(s.upper() for s in states))

    def district_rule(self, entry: Entry) -> Segment | None:
        names = self.nodes.words(entry)
        if not names:
            return None
        districts: list[tuple[str, int]] = []
        for name in names:
            match = DISTRICT_RE.match(name)
            if not match or match.group(1).upper() not in US_STATES:
                self.nodes.problem(entry.line, f"district: {name!r} is not like CA-12 or AK-AL")
                return None
            number = match.group(2)
            districts.append((match.group(1).upper(), 0 if number.upper() == "AL" else int(number)))
        return DistrictIn(tuple(districts))

    def signed_up_rule(self, entry: Entry) -> Segment | None:
        keys = self.nodes.entries(entry.node, "signed_up", ("after", "before", "within_days"))
        if not keys and isinstance(entry.node, yaml.MappingNode):
            self.nodes.problem(entry.line, "signed_up needs after, before or within_days")
        after = self.nodes.day(keys["after"]) if "after" in keys else None
        before = self.nodes.day(keys["before"]) if "before" in keys else None
        within = self.nodes.positive_int(keys["within_days"]) if "within_days" in keys else None
        if after and before and after >= before:
            self.nodes.problem(
                entry.line, f"signed_up: after ({after}) must come before before ({before})"
            )
            return None
        if not (after or before or within):
            return None
        return SignedUp(after, before, within)

    def engagement_rule(self, entry: Entry) -> Segment | None:
        keys = self.nodes.entries(entry.node, entry.key, ENGAGEMENT_KEYS)
        if len(keys) != 1:
            if isinstance(entry.node, yaml.MappingNode):
                self.nodes.problem(
                    entry.line,
                    f"{entry.key} needs exactly one of last_campaigns or within_days,"
                    " or campaign: SLUG",
                )
            return None
        ((name, inner),) = keys.items()
        if name == "campaign":
            slug = self.campaign_slug(entry.key, inner)
            return Engaged(Engagement(entry.key), campaign=slug) if slug else None
        count = self.nodes.positive_int(inner)
        if count is None:
            return None
        what = Engagement(entry.key)
        if name == "last_campaigns":
            return Engaged(what, last_campaigns=count)
        return Engaged(what, within_days=count)

    def campaign_slug(self, rule: str, entry: Entry) -> str | None:
        value = self.nodes.value(entry.node) if isinstance(entry.node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.nodes.problem(entry.line, f"{rule}: campaign must be a campaign's slug")
            return None
        slug = value.strip()
        if not self.context.is_campaign(slug):
            self.nodes.problem(
                entry.line, f"{rule}: campaign {slug!r} is unknown: no campaign file has this slug"
            )
            return None
        return slug

    def member_stance_rule(self, entry: Entry) -> Segment | None:
        keys = self.nodes.entries(entry.node, "member_stance", CHAMBER_KEYS)
        if not keys:
            if isinstance(entry.node, yaml.MappingNode) and not entry.node.value:
                self.nodes.problem(entry.line, "member_stance needs house, senate or any")
            return None
        if self.context.bill_of is None:
            self.nodes.problem(entry.line, f"member_stance {NEEDS_BILL}")
            return None
        parts = [self.stances_of(StanceChamber(name), each) for name, each in keys.items()]
        kept = tuple(part for part in parts if part is not None)
        if len(kept) != len(parts):
            return None
        return kept[0] if len(kept) == 1 else AllOf(kept)

    def stances_of(self, chamber: StanceChamber, entry: Entry) -> Segment | None:
        words = self.nodes.words(entry)
        if not words:
            return None
        unknown = [word for word in words if word.lower() not in STANCES]
        if unknown:
            self.nodes.problem(
                entry.line,
                f"member_stance: {chamber}: unknown stance {unknown[0]!r}"
                f" (known: {', '.join(STANCES)})",
            )
            return None
        stances = tuple(dict.fromkeys(Stance(word.lower()) for word in words))
        assert self.context.bill_of is not None
        return MemberStance(chamber, stances, self.context.bill_of)


_RULES: dict[str, Callable[[_SegmentReader, Entry], Segment | None]] = {
    "tag": _SegmentReader.tag_rule,
    "state": _SegmentReader.state_rule,
    "district": _SegmentReader.district_rule,
    "source": _SegmentReader.source_rule,
    "signed_up": _SegmentReader.signed_up_rule,
    "opened": _SegmentReader.engagement_rule,
    "clicked": _SegmentReader.engagement_rule,
    "acted": _SegmentReader.engagement_rule,
    "member_stance": _SegmentReader.member_stance_rule,
    "any": _SegmentReader.any_rule,
    "all": _SegmentReader.all_rule,
    "not": _SegmentReader.not_rule,
}


def uses_member_stance(segment: Segment | None) -> bool:
    """Whether any rule of the segment selects by members' stances on the bill."""
    if isinstance(segment, AllOf | AnyOf):
        return any(uses_member_stance(part) for part in segment.parts)
    if isinstance(segment, Not):
        return uses_member_stance(segment.part)
    return isinstance(segment, MemberStance)


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
    if isinstance(segment, MemberStance):
        whose = {
            StanceChamber.HOUSE: "House member",
            StanceChamber.SENATE: "either senator",
            StanceChamber.ANY: "any of their members",
        }[segment.chamber]
        return f"stance of {whose}: {' or '.join(segment.stances)}"
    if isinstance(segment, Engaged):
        if segment.campaign:
            return f"{segment.what} in campaign {segment.campaign}"
        if segment.last_campaigns:
            return f"{segment.what} in one of the last {segment.last_campaigns} campaigns"
        return f"{segment.what} in the last {segment.within_days} days"
    raise TypeError(f"unknown segment rule {segment!r}")


def _nested(segment: Segment) -> str:
    text = _describe(segment)
    return f"({text})" if isinstance(segment, AllOf | AnyOf) and len(segment.parts) > 1 else text
