"""The signup forms: GET and POST /join, GET and POST /confirm/<token>.

GET /join shows the signup form (`?source=NAME&tag=TAG` are carried along as
its attribution) with a signed form token; POST /join checks it and answers
the same "Check your inbox" page whoever the address belongs to, with the
confirmation message queued for the server's sender (signups/mail.py), never
sent while the visitor waits. A filled honeypot gets that page too, and
nothing is stored. Bad input gets the form back: one message per field, the
values kept. Posts from other sites are taken only from the `form_origins`
setting's origins (the embed snippet of `alerts forms snippet`), others 403.

GET /confirm/<token> shows a button, because link scanners open links; only
its POST confirms (signups/confirm.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.db import signups as signups_db
from alerts.errors import TokenError
from alerts.signups import tokens
from alerts.signups.confirm import Confirmation
from alerts.signups.confirm import confirm as confirm_signup
from alerts.signups.form import (
    MAX_ATTRIBUTION,
    SignupInvalid,
    SignupSettings,
    attribution,
    read_signup,
)
from alerts.signups.snippet import HONEYPOT
from alerts.signups.start import Outcome, Started, start_signup
from alerts.web.common import (
    FORM_BODY_LIMIT,
    Server,
    committed,
    origin_of,
    read_body,
    read_form,
    same_origin,
)

# Like the letter page: only the origin as Referer, so our own POSTs carry an Origin.
FORM_HEADERS = {"Referrer-Policy": "strict-origin"}
_CONFIRM_PAGES = {
    Confirmation.CONFIRMED: ("confirmed.html", 200),
    Confirmation.DONE: ("confirmed.html", 200),
    Confirmation.COMPLAINED: ("confirm_refused.html", 409),
    Confirmation.EXPIRED: ("confirm_expired.html", 410),
}


class FormRoutes:
    """The signup form and the confirmation page."""

    def __init__(
        self, server: Server, settings: SignupSettings, queued: Callable[[], None]
    ) -> None:
        self.server = server
        self.pages = server.pages
        self.settings = settings
        self.queued = queued  # wakes the confirmation sender
        self._inbox: Response | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/join", self.join_page, methods=["GET", "HEAD"]),
            Route("/join", self.join, methods=["POST"]),
            Route("/confirm/{token}", self.confirm_page, methods=["GET", "HEAD"]),
            Route("/confirm/{token}", self.confirm, methods=["POST"]),
        ]

    # ----------------------------------------------------------------------
    # /join

    async def join_page(self, request: Request) -> Response:
        return self._form(
            {},
            {},
            source=attribution(request.query_params.get("source")),
            tag=attribution(request.query_params.get("tag")),
        )

    async def join(self, request: Request) -> Response:
        if not self._allowed_origin(request):
            return self.pages.error(
                403,
                "This form cannot be sent from there",
                "Sign up on our own page instead.",
            )
        form = await read_form(request)
        source, tag = _attribution(form)
        if form.get(HONEYPOT, ""):
            return self._check_inbox()
        problem = self._token_problem(request, form.get("token", ""))
        try:
            signup = read_signup(
                form,
                self.settings.fields,
                self.settings.consent,
                source=source,
                tags=[tag] if tag else [],
            )
        except SignupInvalid as invalid:
            return self._form(form, invalid.errors, source=source, tag=tag, problem=problem)
        if problem is not None:
            return self._form(form, {}, source=source, tag=tag, problem=problem)
        client = request.client.host if request.client else None
        started: Started = await committed(
            self.server.tracker.submit(
                lambda db: start_signup(
                    db, signup, client=client, confirm_days=self.settings.confirm_days
                )
            )
        )
        if started.outcome is Outcome.LIMITED:
            return self.pages.error(
                429,
                "Too many signups from here",
                "Please wait a few minutes and try again.",
            )
        self.queued()
        return self._check_inbox()

    def _check_inbox(self) -> Response:
        """The neutral answer: one page for everyone, so it is rendered once and sent as copies."""
        if self._inbox is None:
            self._inbox = self.pages.html("check_inbox.html", headers=FORM_HEADERS)
        answer = copy.copy(self._inbox)
        answer.raw_headers = list(self._inbox.raw_headers)
        return answer

    def _form(
        self,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        *,
        source: str | None,
        tag: str | None,
        problem: str | None = None,
    ) -> Response:
        status = 200 if not errors and problem is None else (422 if errors else 400)
        return self.pages.html(
            "join.html",
            status,
            headers=FORM_HEADERS,
            fields=self.settings.fields,
            values=values,
            errors=errors,
            problem=problem,
            consent=self.settings.consent,
            token=tokens.form_token(self.server.key),
            source=source,
            tag=tag,
            honeypot=HONEYPOT,
        )

    def _allowed_origin(self, request: Request) -> bool:
        """Our own pages, and the websites `form_origins` names; a post without either passes."""
        return same_origin(request, self.server.base_url) or self._listed_origin(request)

    def _listed_origin(self, request: Request) -> bool:
        claimed = request.headers.get("origin") or origin_of(request.headers.get("referer", ""))
        return claimed.strip().lower() in self.settings.origins

    def _token_problem(self, request: Request, text: str) -> str | None:
        """Why the form's token is not good, for the visitor; None when it is.

        The snippet's token does not expire, so it counts only from a listed website.
        """
        try:
            embedded = tokens.check_form_token(self.server.key, text)
        except TokenError:
            embedded = None
        if embedded is None or (embedded and not self._listed_origin(request)):
            return "This form was too old or incomplete. Check your details and press Join again."
        return None

    # ----------------------------------------------------------------------
    # /confirm/<token>

    async def confirm_page(self, request: Request) -> Response:
        link = self._link(request)
        if link is None:
            return self.pages.not_found()
        if link.expired:
            return self._confirmed(Confirmation.EXPIRED)
        row = signups_db.get_signup(self.server.tracker.reader, link.signup_id)
        if row is None or row.status != signups_db.PENDING:
            outcome = _closed_outcome(row)
            return self._confirmed(outcome)
        return self.pages.html("confirm.html", headers=FORM_HEADERS, consent=row.consent)

    async def confirm(self, request: Request) -> Response:
        link = self._link(request)
        if link is None:
            return self.pages.not_found()
        if not same_origin(request, self.server.base_url):
            return self.pages.error(
                403, "This form cannot be sent from there", "Open the link in the email again."
            )
        await read_body(request, FORM_BODY_LIMIT)
        if link.expired:
            return self._confirmed(Confirmation.EXPIRED)
        result = await committed(
            self.server.tracker.submit(lambda db: confirm_signup(db, link.signup_id))
        )
        return self._confirmed(result.outcome)

    def _link(self, request: Request) -> tokens.ConfirmLink | None:
        try:
            return tokens.read_confirm_token(
                self.server.key, request.path_params["token"], self.settings.confirm_days
            )
        except TokenError:
            return None

    def _confirmed(self, outcome: Confirmation, **context: Any) -> Response:
        name, status = _CONFIRM_PAGES[outcome]
        return self.pages.html(name, status, headers=FORM_HEADERS, **context)


def _closed_outcome(row: signups_db.SignupRow | None) -> Confirmation:
    if row is None or row.status == signups_db.EXPIRED:
        return Confirmation.EXPIRED
    if row.status == signups_db.REFUSED:
        return Confirmation.COMPLAINED
    return Confirmation.DONE


def _attribution(form: Mapping[str, str]) -> tuple[str | None, str | None]:
    source, tag = form.get("source", ""), form.get("tag", "")
    if len(source) > MAX_ATTRIBUTION or len(tag) > MAX_ATTRIBUTION:
        return None, None
    return attribution(source), attribution(tag)
