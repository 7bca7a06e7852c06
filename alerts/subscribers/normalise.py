"""Values as signup exports hold them, made into what the database stores.

The email identity lives here: `email_key` says when two addresses are one
person. Everything that matches people by address (imports, lookups by the
command line, forget, provider events) goes through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from alerts.models import Status


class InvalidValue(ValueError):
    """A cell that cannot be used; the message says why."""


# Plain ASCII addresses that email-validator certainly accepts, checked without calling
# it (it takes ~20 µs an address). Anything else goes to the library, which decides.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_DOMAINS = frozenset(SPECIAL_USE_DOMAIN_NAMES)
_DOTTED_SPECIAL = any("." in name for name in _SPECIAL_DOMAINS)
_MAX_EMAIL = 254


def normalise_email(raw: str) -> str:
    """The address as it should be stored: trimmed, domain lower-cased. Raises InvalidValue.

    Syntax only, no DNS. Agrees with email-validator (check_deliverability=False).
    """
    text = raw.strip()
    match = _PLAIN_EMAIL.fullmatch(text)
    if match and len(text) <= _MAX_EMAIL:
        domain = match.group(1).lower()
        if (
            "--" not in domain
            and not (_DOTTED_SPECIAL and _is_special_use(domain))
            and (domain[domain.rfind(".") + 1 :] not in _SPECIAL_DOMAINS)
        ):
            local = text[: match.start(1) - 1]
            if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
                local = local.lower()
            return f"{local}@{domain}"
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue(str(exc)) from None


def _is_special_use(domain: str) -> bool:
    """True when the domain is, or is under, a special-use name such as .test or .local."""
    if domain[domain.rfind(".") + 1 :] in _SPECIAL_DOMAINS:
        return True
    labels = domain.split(".")
    return any(".".join(labels[i:]) in _SPECIAL_DOMAINS for i in range(len(labels) - 1))


def email_key(address: str) -> str:
    """Who an address belongs to: two addresses are one person exactly when their keys are equal.

    `address` is a normalised one (normalise_email). The key is its canonical caseless
    form (Unicode, section 3.13): letter case is folded for every script, not only
    ASCII, so `JOSÉ@…` is `josé@…`, `ΟΔΥΣΣΕΑΣ@…` is `οδυσσεας@…` and `STRASSE@…` is
    `straße@…`; a letter typed composed (é) or decomposed (e + ◌́) is one letter.
    The database keeps the key beside the address and is unique on it
    (subscribers.email_key); changing this rule needs a migration that recomputes it.
    """
    if address.isascii():
        return address.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", address).casefold())


def lookup_key(typed: str) -> str:
    """The key of an address someone typed or a provider reported, valid or not."""
    try:
        return email_key(normalise_email(typed))
    except InvalidValue:
        return email_key(typed.strip())


def same_person(address: str, other: str) -> bool:
    return lookup_key(address) == lookup_key(other)


_ZIP = re.compile(r"(\d{3,5})(?:[-\s]?(\d{4}))?")


def normalise_zip(raw: str) -> str:
    """5-digit ZIP from `raw`: restores leading zeros spreadsheets drop, drops the +4.

    Raises InvalidValue for anything that is not a US ZIP code.
    """
    text = raw.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width digits typed on some keyboards
    if len(text) == 5 and text.isdigit() and text.isascii() and text != "00000":
        return text
    match = _ZIP.fullmatch(text)
    if match is None or not text.isascii():
        raise InvalidValue(f"ZIP {text!r} is not a US ZIP code")
    zip5 = match.group(1).zfill(5)
    if zip5 == "00000":
        raise InvalidValue(f"ZIP {text!r} is not a US ZIP code")
    return zip5


STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "DC": "District of Columbia", "PR": "Puerto Rico", "GU": "Guam",
    "VI": "U.S. Virgin Islands", "AS": "American Samoa", "MP": "Northern Mariana Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
    "FM": "Micronesia", "MH": "Marshall Islands", "PW": "Palau",
}  # fmt: skip

# Other spellings people type, keyed like _letters() keys them.
_STATE_SPELLINGS = {
    "washingtondc": "DC", "washingtondistrictofcolumbia": "DC", "virginislands": "VI",
    "usvirginislands": "VI", "unitedstatesvirginislands": "VI",
    "commonwealthofpuertorico": "PR", "federatedstatesofmicronesia": "FM",
    # AP style abbreviations
    "ala": "AL", "ariz": "AZ", "ark": "AR", "calif": "CA", "cal": "CA", "colo": "CO",
    "conn": "CT", "del": "DE", "fla": "FL", "ill": "IL", "ind": "IN", "kan": "KS",
    "kans": "KS", "mass": "MA", "mich": "MI", "minn": "MN", "miss": "MS", "mont": "MT",
    "neb": "NE", "nebr": "NE", "nev": "NV", "okla": "OK", "ore": "OR", "oreg": "OR",
    "penn": "PA", "penna": "PA", "tenn": "TN", "tex": "TX", "wash": "WA", "wva": "WV",
    "wis": "WI", "wisc": "WI", "wyo": "WY",
}  # fmt: skip


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalpha())


_STATES = {
    **_STATE_SPELLINGS,
    **{_letters(name): code for code, name in STATE_NAMES.items()},
    **{code.lower(): code for code in STATE_NAMES},
}


def normalise_state(raw: str) -> str:
    """USPS code for a state code, name or common abbreviation. Raises InvalidValue."""
    text = raw.strip()
    code = text.upper()
    if code in STATE_NAMES:
        return code
    found = _STATES.get(_letters(text))
    if found is None:
        raise InvalidValue(f"state {text!r} is not a US state or territory")
    return found


# Control characters (C0, DEL, C1): NUL, BEL, ESC and the like have no place in a
# name or an address, and must never reach an email header.
_CONTROLS_TO_SPACE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")


def strip_controls(text: str) -> str:
    """`text` with each run of control characters and whitespace made one space, trimmed.

    The one rule for text that comes from outside (a CSV cell, a stored name)
    and goes into a header: what is printable is returned as it is.
    """
    if text.isprintable():
        return text
    return " ".join(text.translate(_CONTROLS_TO_SPACE).split())


def clean_text(raw: str) -> str:
    """Trimmed, inner runs of whitespace made one space, control characters removed, NFC."""
    text = strip_controls(" ".join(raw.split()))
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "esq"}


@dataclass(frozen=True)
class FullName:
    first: str
    last: str  # "" when the name is one word


def split_name(full: str) -> FullName:
    """First and last name from a full name: "Ana María López" or "López, Ana María"."""
    text = clean_text(full)
    if "," in text:
        last, _, first = text.partition(",")
        if _letters(first) not in _NAME_SUFFIXES:
            return FullName(first.strip(), last.strip())
    words = text.replace(",", "").split()
    if len(words) <= 1:
        return FullName(text, "")
    last_start = len(words) - 1
    while last_start > 1 and _letters(words[last_start]) in _NAME_SUFFIXES:
        last_start -= 1
    return FullName(" ".join(words[:last_start]), " ".join(words[last_start:]))


_TIME_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
)


def normalise_time(raw: str) -> str:
    """ISO 8601 UTC text for a signup time; times without a zone are taken as UTC."""
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
        for fmt in _TIME_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        raise InvalidValue(f"signup time {text!r} is not a date")
    if moment.tzinfo is None and len(text) == 19 and text[10] in " T":
        return f"{text[:10]}T{text[11:]}Z"  # already the stored form, less the T and Z
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_STATUS_WORDS = {
    "subscribed": Status.SUBSCRIBED,
    "unsubscribed": Status.UNSUBSCRIBED,
    "bounced": Status.BOUNCED,
    "cleaned": Status.BOUNCED,  # Mailchimp's word for addresses that bounced
    "complained": Status.COMPLAINED,
}


def normalise_status(raw: str) -> str:
    found = _STATUS_WORDS.get(raw.strip().lower())
    if found is None:
        raise InvalidValue(f"status {raw.strip()!r} is not one of {', '.join(_STATUS_WORDS)}")
    return str(found)


def split_tags(raw: str) -> list[str]:
    """Tags from a cell: `a, b`, `a; b` or Mailchimp's `"a","b"`."""
    parts = re.split(r"[,;]", raw)
    return [tag for tag in (clean_text(p).strip("\"'").strip() for p in parts) if tag]


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, non-blank, each once, in the order given."""
    return list(dict.fromkeys(t for t in (clean_text(tag) for tag in tags) if t))


_COUNTRIES_US = {"us", "usa", "unitedstates", "unitedstatesofamerica"}


@dataclass
class PostalAddress:
    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""


def split_mailchimp_address(raw: str) -> PostalAddress:
    """Mailchimp's one-column address: street, [line 2,] city, state, ZIP, country.

    Mailchimp separates the parts with two spaces.

    Parts are taken from the end, so a missing line 2 or country is fine. A cell
    without two-space separators is taken as the street alone.
    """
    parts = [p.strip() for p in re.split(r" {2,}|\t", raw.strip()) if p.strip()]
    result = PostalAddress()
    if len(parts) <= 1:
        result.street = clean_text(raw)
        return result
    last_is_zip = _looks_like_zip(parts[-1])
    if _letters(parts[-1]) in _COUNTRIES_US or (
        not last_is_zip and (len(parts) >= 5 or _looks_like_zip(parts[-2]))
    ):
        result.country = parts.pop()
    if parts and (_looks_like_zip(parts[-1]) or (result.country and len(parts) >= 4)):
        result.zip = parts.pop()
    if len(parts) >= 3:
        result.state = parts.pop()
    if len(parts) >= 2:
        result.city = parts.pop()
    result.street = clean_text(", ".join(parts))
    return result


def _looks_like_zip(text: str) -> bool:
    return _ZIP.fullmatch(text.strip()) is not None
