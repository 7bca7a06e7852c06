"""What a campaign says per stance on its bill: letter variants and `stance_text` sentences.

`letter.variants` maps a stance to the letter keys it changes, or to the name of
another variant it reads as (`sponsor: cosponsor`); a member whose stance has no
variant of their own gets the default letter. `stance_text` maps a stance to one
sentence for the email. Both are read here from the campaign file's YAML, every
problem as `file:line: message` (files.py calls in); `letter_for` gives the letter a
member of a stance gets, and `variant_name` names it, for the counts of
`alerts campaigns check`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import yaml

from alerts.campaigns.yaml_nodes import Entry
from alerts.models import LetterSpec, LetterVariant, SourceText, Stance

DEFAULT_VARIANT = "default"
STANCES = tuple(stance.value for stance in Stance)
VARIANT_KEYS = ("subject", "body", "topic", "call_script", "tweet")
# Letter keys a variant cannot change, and why.
FIXED_KEYS = {
    "to": "whom the letter goes to decides each member's stance, so it is the same for all",
    "text_code": "an email and a letter page show one text code, whatever each member's stance",
}
NEEDS_BILL = "needs the campaign's bill (bill: hr1234-119): stances are on that bill"


class TextReader(Protocol):
    """What reading these keys needs of the campaign file's reader (files.py)."""

    def problem(self, line: int, message: str) -> None: ...

    def line_of(self, node: yaml.Node) -> int: ...

    def value(self, node: yaml.Node) -> Any: ...

    def entries(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, Entry]: ...

    def string(self, entry: Entry, *, one_line: bool = False) -> str | None: ...

    def source_text(self, entry: Entry, *, one_line: bool = False) -> SourceText | None: ...


# --------------------------------------------------------------------------
# Reading letter.variants


def read_variants(reader: TextReader, entry: Entry) -> tuple[LetterVariant, ...]:
    """The variants under `letter: variants:`, their names checked; problems go to `reader`."""
    keys = reader.entries(entry.node, "letter: variants", STANCES)
    if not keys and isinstance(entry.node, yaml.MappingNode):
        reader.problem(entry.line, "letter: variants is empty")
    found = [_variant(reader, stance, each) for stance, each in keys.items()]
    variants = tuple(variant for variant in found if variant is not None)
    _check_names(reader, variants)
    return variants


def _variant(reader: TextReader, stance: str, entry: Entry) -> LetterVariant | None:
    where = f"letter: variants: {stance}"
    node = entry.node
    if isinstance(node, yaml.ScalarNode) and isinstance(reader.value(node), str):
        name = reader.string(entry, one_line=True)
        return LetterVariant(stance, entry.line, same_as=name) if name else None
    if not isinstance(node, yaml.MappingNode):
        reader.problem(
            entry.line,
            f"{where} must be a mapping of the letter keys it changes, or the name of another"
            " variant",
        )
        return None
    keys = reader.entries(node, where, VARIANT_KEYS + tuple(FIXED_KEYS))
    for name, why in FIXED_KEYS.items():
        if name in keys:
            reader.problem(keys.pop(name).line, f"{where}: {name} cannot change per variant: {why}")
    if not keys:
        reader.problem(entry.line, f"{where} changes nothing: give the letter keys it changes")
        return None
    texts = {
        name: reader.source_text(keys[name], one_line=name == "subject")
        for name in ("subject", "body", "call_script", "tweet")
        if name in keys
    }
    topic = reader.string(keys["topic"], one_line=True) if "topic" in keys else None
    return LetterVariant(
        stance,
        entry.line,
        subject=texts.get("subject"),
        body=texts.get("body"),
        call_script=texts.get("call_script"),
        tweet=texts.get("tweet"),
        topic=topic,
    )


def _check_names(reader: TextReader, variants: tuple[LetterVariant, ...]) -> None:
    """Every name a variant reads as must be another variant's, and never lead back to it."""
    by_stance = {variant.stance: variant for variant in variants}
    circles: set[frozenset[str]] = set()
    for variant in variants:
        name = variant.same_as
        if name is None:
            continue
        if name not in by_stance:
            written = ", ".join(sorted(by_stance)) or "none"
            reader.problem(
                variant.line,
                f"letter: variants: {variant.stance}: no variant named {name!r} to read as"
                f" (variants: {written})",
            )
            continue
        path = _path(by_stance, variant)
        if path[-1] in path[:-1]:
            circle = path[path.index(path[-1]) :]
            if frozenset(circle) not in circles:
                circles.add(frozenset(circle))
                reader.problem(
                    variant.line,
                    f"letter: variants: {variant.stance}: the variants {' -> '.join(circle)}"
                    " name each other in a circle: give one of them its own keys",
                )


def _path(by_stance: dict[str, LetterVariant], start: LetterVariant) -> list[str]:
    """The names followed from `start`; the last one repeats an earlier one in a circle."""
    path = [start.stance]
    current: LetterVariant | None = start
    while current is not None and current.same_as is not None:
        path.append(current.same_as)
        if current.same_as in path[:-1]:
            break
        current = by_stance.get(current.same_as)
    return path


# --------------------------------------------------------------------------
# Reading stance_text


def read_stance_text(reader: TextReader, entry: Entry) -> tuple[tuple[str, SourceText], ...]:
    """The sentences under `stance_text:`, one line each, by stance."""
    keys = reader.entries(entry.node, "stance_text", STANCES)
    if not keys and isinstance(entry.node, yaml.MappingNode):
        reader.problem(entry.line, "stance_text is empty")
    sentences = []
    for stance, each in keys.items():
        text = reader.source_text(each, one_line=True)
        if text is not None:
            sentences.append((stance, text))
    return tuple(sentences)


# --------------------------------------------------------------------------
# The letter a member of each stance gets


def variant_for(letter: LetterSpec, stance: str) -> LetterVariant | None:
    """The variant members of `stance` get, names followed; None for the default letter."""
    by_stance = {variant.stance: variant for variant in letter.variants}
    found = by_stance.get(stance)
    seen = {stance}
    while found is not None and found.same_as is not None and found.same_as not in seen:
        seen.add(found.same_as)
        found = by_stance.get(found.same_as)
    return found


def variant_name(letter: LetterSpec, stance: str) -> str:
    """The name of the variant members of `stance` get: a stance, or "default"."""
    found = variant_for(letter, stance)
    return found.stance if found is not None else DEFAULT_VARIANT


def letter_for(letter: LetterSpec, stance: str) -> LetterSpec:
    """The letter members of `stance` get: the default with their variant's keys in place."""
    found = variant_for(letter, stance)
    if found is None:
        return letter
    return replace(
        letter,
        subject=found.subject or letter.subject,
        body=found.body or letter.body,
        call_script=found.call_script or letter.call_script,
        tweet=found.tweet or letter.tweet,
        topic=found.topic.strip() if found.topic else letter.topic,
    )
