"""The "Email me a copy" message of the letter page: templates/letter_copy.{txt,html}.

One message to the subscriber's own address with the letter as they left it
on the page, where to send it, and a link back to the page. The HTML part
escapes every value; the text part is plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from alerts.email.personalise import one_line
from alerts.models import Member

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class LetterCopy:
    subject: str
    text: str
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_letter_copy(
    *,
    first_name: str,
    member: Member,
    contact_url: str | None,
    contact_is_form: bool,
    phone: str | None,
    page_url: str,
    letter_subject: str,
    letter: str,
    org_name: str | None,
    postal_address: str | None,
) -> LetterCopy:
    """The copy of `letter` to `member`; its subject is "Your letter to <title> <name>"."""
    subject = one_line(f"Your letter to {member.title} {member.full_name}")
    context = {
        "first_name": first_name,
        "member": member,
        "contact_url": contact_url,
        "contact_is_form": contact_is_form,
        "phone": phone,
        "page_url": page_url,
        "letter_subject": letter_subject,
        "letter": letter,
        "org_name": org_name,
        "postal_address": postal_address,
    }
    environment = _environment()
    text = environment.get_template("letter_copy.txt").render(context)
    document = environment.get_template("letter_copy.html").render(subject=subject, **context)
    return LetterCopy(subject, text, document)
