"""The confirmation message of a signup: templates/signup_confirm.{txt,html}.

One message to the address someone typed on a signup form, with the link that
confirms it (double opt-in) and the consent sentence they were shown. Both are
per-recipient placeholders, so one rendering serves every message of a batch. The HTML part
escapes every value.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.email.letter_copy import _environment
from alerts.email.personalise import one_line
from alerts.models import HTML_CONTEXT, TEXT_CONTEXT, placeholder

CONFIRM_URL = placeholder("confirm_url")  # URL-safe: the same in both parts
CONSENT_HTML = placeholder("consent", HTML_CONTEXT)  # the sentence, HTML-escaped
CONSENT_TEXT = placeholder("consent", TEXT_CONTEXT)


@dataclass(frozen=True)
class ConfirmMessage:
    subject: str
    text: str
    html: str


def render_signup_confirm(
    *,
    days: int,
    org_name: str | None,
    postal_address: str | None,
) -> ConfirmMessage:
    """The message asking to confirm a signup within `days` days, the link a placeholder."""
    subject = one_line(f"Please confirm your subscription{f' to {org_name}' if org_name else ''}")
    context = {
        "confirm_url": CONFIRM_URL,
        "days": days,
        "org_name": org_name,
        "postal_address": postal_address,
    }
    environment = _environment()
    text = environment.get_template("signup_confirm.txt").render(consent=CONSENT_TEXT, **context)
    document = environment.get_template("signup_confirm.html").render(
        subject=subject, consent=CONSENT_HTML, **context
    )
    return ConfirmMessage(subject, text, document)
