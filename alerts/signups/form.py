"""What a visitor typed on a signup form, checked: one clear message per bad field.

The fields besides the email address are those the `signup_fields` setting
lists (a trailing `*` makes one required). Values are cleaned and checked with
the same rules as imports (subscribers/normalise.py), so a signup stores what an
import of the same person would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerts.config import Config, ConfigError
from alerts.subscribers.normalise import (
    InvalidValue,
    clean_tags,
    clean_text,
    normalise_email,
    normalise_state,
    normalise_zip,
)

EMAIL = "email"
OPTIONAL_FIELDS = ("first_name", "last_name", "street", "city", "state", "zip")
LABELS = {
    EMAIL: "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "street": "Street address",
    "city": "City",
    "state": "State",
    "zip": "ZIP code",
}
MAX_LENGTHS = {EMAIL: 254, "state": 40, "zip": 10}
MAX_TEXT = 200  # any other field
MAX_ATTRIBUTION = 100  # source, tag, campaign
MAX_TAGS = 10


@dataclass(frozen=True)
class FormField:
    name: str
    required: bool

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def max_length(self) -> int:
        return MAX_LENGTHS.get(self.name, MAX_TEXT)


def parse_fields(text: str, setting: str = "signup_fields") -> tuple[FormField, ...]:
    """The form's fields, email first, from the setting's comma list. Raises ConfigError."""
    fields = [FormField(EMAIL, True)]
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name = part.rstrip("*").strip()
        if name not in OPTIONAL_FIELDS:
            raise ConfigError(
                f"{setting}: {name!r} is not a signup field (use {', '.join(OPTIONAL_FIELDS)})"
            )
        if name in (f.name for f in fields):
            raise ConfigError(f"{setting}: {name} is listed twice")
        fields.append(FormField(name, part.endswith("*")))
    return tuple(fields)


@dataclass(frozen=True)
class SignupSettings:
    """How signing up works on this server, from the settings."""

    fields: tuple[FormField, ...]
    consent: str
    confirm_days: int
    origins: frozenset[str]

    @classmethod
    def of(cls, config: Config) -> SignupSettings:
        days = config.get("signup_confirm_days")
        if days < 1:
            raise ConfigError("signup_confirm_days must be at least 1")
        consent = clean_text(config.get("signup_consent"))
        if not consent:
            raise ConfigError("signup_consent is empty: write the sentence people agree to")
        origins = frozenset(
            o.strip().rstrip("/").lower()
            for o in config.get("form_origins").split(",")
            if o.strip()
        )
        return cls(parse_fields(config.get("signup_fields")), consent, days, origins)


@dataclass(frozen=True)
class Signup:
    """A checked signup: the normalised address and fields, attribution, and the consent given."""

    email: str
    consent: str
    fields: Mapping[str, str] = field(default_factory=dict)  # name -> value, only those given
    source: str | None = None
    tags: tuple[str, ...] = ()
    campaign: str | None = None  # the /act page it came from


class SignupInvalid(ValueError):
    """Some fields are bad: `errors` maps each to one message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = dict(errors)


def attribution(value: str | None) -> str | None:
    """A source, tag or campaign name as stored: cleaned; None when blank or too long."""
    text = clean_text(value or "")
    return text if text and len(text) <= MAX_ATTRIBUTION else None


def read_signup(
    values: Mapping[str, str],
    fields: Iterable[FormField],
    consent: str,
    *,
    source: str | None = None,
    tags: Iterable[str] = (),
    campaign: str | None = None,
) -> Signup:
    """Check what was typed into `fields`. Raises SignupInvalid naming every bad field."""
    errors: dict[str, str] = {}
    kept: dict[str, str] = {}
    for form_field in fields:
        try:
            value = _check(form_field, values.get(form_field.name, ""))
        except InvalidValue as exc:
            errors[form_field.name] = str(exc)
            continue
        if value:
            kept[form_field.name] = value
    if errors:
        raise SignupInvalid(errors)
    email = kept.pop(EMAIL)
    tag_list = [t for t in (attribution(tag) for tag in tags) if t]
    return Signup(
        email,
        consent,
        kept,
        attribution(source),
        tuple(clean_tags(tag_list)[:MAX_TAGS]),
        attribution(campaign),
    )


def _check(form_field: FormField, raw: str) -> str:
    if len(raw) > form_field.max_length:
        raise InvalidValue(f"{form_field.label} is too long (at most {form_field.max_length})")
    text = clean_text(raw)
    if not text:
        if form_field.required:
            raise InvalidValue(f"{form_field.label} is required")
        return ""
    if form_field.name == EMAIL:
        try:
            return normalise_email(text)
        except InvalidValue:
            raise InvalidValue("This is not a valid email address") from None
    if form_field.name == "zip":
        try:
            return normalise_zip(text)
        except InvalidValue:
            raise InvalidValue("Write a 5-digit US ZIP code") from None
    if form_field.name == "state":
        try:
            return normalise_state(text)
        except InvalidValue:
            raise InvalidValue("Write a US state or its two-letter code") from None
    return text
