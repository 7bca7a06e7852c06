"""The Jinja sandbox that campaign files' texts run in: strict, with errors as file:line.

A campaign's subject, body and letter are written by people, not by the
project: they run in Jinja's immutable sandbox, an undefined name is an
error that names what the author wrote, and every error becomes one
`path:line: label: message` (`TemplateProblem`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from alerts.models import SourceText


class Fields(dict[str, Any]):
    """A namespace of fields (`subscriber`, `target`...), named in error messages."""

    def __init__(self, label: str, values: Mapping[str, Any]):
        super().__init__(values)
        self.label = label


class NamedUndefined(jinja2.StrictUndefined):
    """StrictUndefined with messages that name the variable a person wrote."""

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:
            return self._undefined_hint
        if isinstance(obj, Fields):
            known = ", ".join(sorted(obj))
            return f"{obj.label} has no field {name!r} (known: {known})"
        if obj is jinja2.utils.missing:
            return f"undefined variable {name!r}"
        return str(super()._undefined_message)


def sandbox_environment(
    loader: jinja2.BaseLoader | None = None, autoescape: bool = False
) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=NamedUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_TEXT_ENV = sandbox_environment()


class TemplateProblem(Exception):
    """One `file:line: message`, collected by callers that report every problem at once."""


def error_line(exc: BaseException, filename: str) -> int | None:
    """The template line of the innermost traceback frame that ran `filename`."""
    line = getattr(exc, "lineno", None) if isinstance(exc, jinja2.TemplateSyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def error_message(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in a campaign: {exc}"
    if isinstance(exc, jinja2.UndefinedError | jinja2.TemplateRuntimeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@lru_cache(maxsize=256)
def _compile_text(text: str, filename: str) -> jinja2.Template:
    code = _TEXT_ENV.compile(text, name=filename, filename=filename)
    template: jinja2.Template = _TEXT_ENV.template_class.from_code(
        _TEXT_ENV, code, _TEXT_ENV.make_globals(None)
    )
    return template


def render_source(source: SourceText, path: Path, label: str, context: Mapping[str, Any]) -> str:
    """Render one text of a campaign file; errors become `path:line: label: message`."""
    filename = f"{path}#{label}"
    try:
        return _compile_text(source.text, filename).render(context)
    except Exception as exc:  # user templates can fail in many ways; all are reported
        line = error_line(exc, filename)
        where = source.line + (line - 1 if line else 0)
        raise TemplateProblem(f"{path}:{where}: {label}: {error_message(exc)}") from None
