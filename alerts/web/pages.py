"""The server's HTML pages: Jinja templates in web/pages/, one stylesheet in web/pages/static/.

Every page extends pages/base.html (layout, the organisation's footer,
nothing from third parties). The environment autoescapes everything and
refuses undefined names, so a subscriber's values always reach the page
escaped and a typo in a template fails loudly in the tests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from alerts.config import Config

PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_DIR = PAGES_DIR / "static"
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}


@cache
def page_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    """Renders the server's pages with the organisation's footer; never cached."""

    def __init__(self, config: Config) -> None:
        self.footer = {
            "org_name": config.get("org_name"),
            "postal_address": config.get("postal_address"),
        }

    def html(
        self,
        name: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render pages/<name> with `context`; every value is HTML-escaped."""
        body = page_environment().get_template(name).render(**self.footer, **context)
        return HTMLResponse(body, status, headers={**NO_STORE, **(headers or {})})

    def error(self, status: int, heading: str, message: str) -> HTMLResponse:
        return self.html("error.html", status, heading=heading, message=message)

    def not_found(self) -> HTMLResponse:
        return self.error(
            404,
            "This link does not work",
            "It may have been copied incompletely. Try the link in the email again.",
        )
