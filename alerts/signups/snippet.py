"""The HTML signup form of `alerts forms snippet`: plain HTML that works without JavaScript.

It posts to <base_url>/join with a signed token that does not expire (the
server takes it only from the websites `form_origins` lists), the source and
tag given, and the honeypot field, hidden by an inline style so that it needs
no stylesheet of the website's.
"""

from __future__ import annotations

from html import escape

from alerts.signups.form import SignupSettings, attribution
from alerts.signups.tokens import form_token

HONEYPOT = "website"
_AUTOCOMPLETE = {
    "email": "email",
    "first_name": "given-name",
    "last_name": "family-name",
    "street": "street-address",
    "city": "address-level2",
    "state": "address-level1",
    "zip": "postal-code",
}


def signup_snippet(
    base_url: str,
    settings: SignupSettings,
    key: bytes,
    *,
    source: str | None = None,
    tag: str | None = None,
) -> str:
    """The form's HTML, every value escaped."""
    action = escape(f"{base_url.rstrip('/')}/join")
    lines = [
        f'<form method="post" action="{action}" class="alerts-signup">',
        f'  <input type="hidden" name="token" value="{form_token(key, embedded=True)}">',
    ]
    for name, value in (("source", attribution(source)), ("tag", attribution(tag))):
        if value:
            lines.append(f'  <input type="hidden" name="{name}" value="{escape(value)}">')
    for field in settings.fields:
        kind = "email" if field.name == "email" else "text"
        complete = _AUTOCOMPLETE[field.name]
        required = " required" if field.required else ""
        lines += [
            f'  <label for="alerts-{field.name}">{escape(field.label)}</label>',
            f'  <input type="{kind}" id="alerts-{field.name}" name="{field.name}"'
            f' maxlength="{field.max_length}" autocomplete="{complete}"{required}>',
        ]
    lines += [
        '  <div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;'
        'height:1px;overflow:hidden">',
        f'    <label for="alerts-{HONEYPOT}">Leave this empty</label>',
        f'    <input type="text" id="alerts-{HONEYPOT}" name="{HONEYPOT}" tabindex="-1"'
        ' autocomplete="off">',
        "  </div>",
        f"  <p>{escape(settings.consent)}</p>",
        '  <button type="submit">Join</button>',
        "</form>",
    ]
    return "\n".join(lines) + "\n"
