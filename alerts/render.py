"""Rendering with Jinja: campaign emails, and the pages of `alerts serve`.

Jinja lives only in this module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

# ==========================================================================
# Pages of `alerts serve` (issue 6: the tracking server)
#
# Every page extends pages/base.html (layout, footer, the one stylesheet in
# pages/static/, nothing from third parties). The environment autoescapes
# everything and refuses undefined names, so a subscriber's values always
# reach the page escaped and a typo in a template fails loudly in the tests.

PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGE_STATIC_DIR = PAGES_DIR / "static"


@cache
def page_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(name: str, **context: Any) -> str:
    """Render pages/<name> with `context`; every value is HTML-escaped."""
    return page_environment().get_template(name).render(**context)
