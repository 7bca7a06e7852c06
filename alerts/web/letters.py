"""The letter page: GET and POST /a/<token>.

GET shows the page (letters/page.py) and records a letter_visit (HEAD and
scanners as machine visits). POST is one of the page's forms: "I sent it",
"Email me a copy" (with the letter as edited), the pick of a House member
when the ZIP spans several districts, or a street address to find the House
district from (letters/address.py: a lookup that does not find it shows the page
again, with the picker and the reason). A POST does what it asks and answers
303 with the page's URL and a signed `done` outcome (letters/outcomes.py), so
that the GET shows what happened and reloading it never repeats the action.
Only a request that is no form of the page's (another site, a bad token, a
malformed or unknown form) gets an error answer instead.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alerts.email import links
from alerts.email.links import Token, TokenKind
from alerts.errors import LookupFailed
from alerts.letters import actions, address, copies, outcomes, sharing
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.copies import CopyOutcome, CopyResult, LetterCopySender
from alerts.letters.outcomes import Done, Notice, Outcome
from alerts.letters.page import HouseLookup, LetterPage, LetterTarget, letter_page
from alerts.tracking import recording
from alerts.web.common import Server, committed, read_form, same_origin, visit_of

# The letter page runs one first-party script ("Copy letter") and sends only its
# origin as Referer, never the path with the token, so that our own POSTs carry
# an Origin header to check (with no-referrer, browsers send `Origin: null`).
LETTER_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "strict-origin",
}

_COPY_DONE = {
    CopyOutcome.SENT: Done.EMAILED,
    CopyOutcome.INVALID: Done.COPY_INVALID,
    CopyOutcome.UNAVAILABLE: Done.COPY_UNAVAILABLE,
    CopyOutcome.LIMITED: Done.COPY_LIMITED,
    CopyOutcome.FAILED: Done.COPY_FAILED,
}
_PICKING = (Done.PICK_INVALID, Done.PICK_GONE)


class LetterRoutes:
    def __init__(
        self, server: Server, letters: LetterCampaigns, copy_sender: LetterCopySender | None
    ) -> None:
        self.server = server
        self.pages = server.pages
        self.letters = letters
        self.copy_sender = copy_sender

    def routes(self) -> list[Route]:
        return [
            Route("/a/{token}", self.letter_page, methods=["GET", "HEAD"]),
            Route("/a/{token}", self.letter_action, methods=["POST"]),
        ]

    async def letter_page(self, request: Request) -> Response:
        """GET: the page, with the outcome of the form just posted. Records a letter_visit."""
        token = self.server.token(request, TokenKind.LETTER)
        page = self._page(token)
        if token is None or page is None:
            return self.pages.not_found()
        visit = visit_of(request)
        await committed(
            self.server.tracker.submit(
                lambda db: recording.record_letter_visit(
                    db, token.campaign_id, token.subscriber_id, visit
                )
            )
        )
        outcome = self._outcome(token, request.query_params.get("done", ""))
        notice = outcomes.notice(page, outcome) if outcome else None
        choosing = is_choosing(page, outcome, "choose" in request.query_params)
        return self._show(page, notice=notice, choosing=choosing)

    async def letter_action(self, request: Request) -> Response:
        """POST: "I sent it", "Email me a copy", or the pick of a House member; 303 to the page."""
        token = self.server.token(request, TokenKind.LETTER)
        page = self._page(token)
        if token is None or page is None:
            return self.pages.not_found()
        if not same_origin(request, self.server.base_url):
            return self.pages.error(
                403,
                "This form came from another site",
                "Nothing was changed. Open the link in our email again to use your letter page.",
            )
        form = await read_form(request)
        action = form.get("action", "")
        if action == "choose" and page.candidates:
            return self._done(request, token, await self._choose(page, form.get("district", "")))
        if action == "address" and address.offered(page, choosing=True):
            return await self._address(request, token, page, form)
        target = page.target(form.get("target", ""))
        if target is None or action not in ("sent", "email"):
            notice = Notice("That form is not one of this page's.", error=True)
            return self._show(page, 400, notice, choosing=page.house is HouseLookup.CHOOSE)
        bioguide = target.member.bioguide
        if action == "sent":
            visit = visit_of(request)
            await committed(
                self.server.tracker.submit(
                    lambda db: actions.record_sent(db, page, bioguide, visit)
                )
            )
            return self._done(request, token, Outcome(Done.SENT, bioguide))
        subject = form.get("subject", target.subject)
        edited = page.edited(bioguide, subject, form.get("letter", target.letter))
        edited_target = edited.target(bioguide)
        assert edited_target is not None
        result = await self._email_copy(request, edited, edited_target)
        return self._done(request, token, copy_outcome(bioguide, result))

    def _page(self, token: Token | None) -> LetterPage | None:
        if token is None:
            return None
        return letter_page(
            self.server.tracker.reader, self.letters, token.campaign_id, token.subscriber_id
        )

    def _outcome(self, token: Token, value: str) -> Outcome | None:
        if not value:
            return None
        return outcomes.read_outcome(
            self.server.key, token.campaign_id, token.subscriber_id, value, time.time()
        )

    def _done(self, request: Request, token: Token, outcome: Outcome) -> Response:
        """303 to the page showing `outcome`: a reload shows it again and repeats nothing."""
        done = outcomes.outcome_token(
            self.server.key, token.campaign_id, token.subscriber_id, outcome, time.time()
        )
        url = f"{request.url.path}?done={done}#{outcome.anchor}"
        return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})

    def _show(
        self,
        page: LetterPage,
        status: int = 200,
        notice: Notice | None = None,
        *,
        choosing: bool = False,
        typed: address.TypedAddress | None = None,
        reason: str | None = None,
    ) -> Response:
        geocoding = self.server.geocoder is not None
        return self.pages.html(
            "letter.html",
            status,
            LETTER_HEADERS,
            page=page,
            notice=notice,
            choosing=choosing,
            address=address.section(
                page, choosing=choosing, geocoding=geocoding, typed=typed, reason=reason
            ),
            can_email=self.copy_sender is not None and copies.can_receive_copy(page),
            masked_email=recording.mask_email(page.subscriber.email),
            share=sharing.page_share_panel(page, self.server.base_url),
        )

    async def _email_copy(
        self, request: Request, page: LetterPage, target: LetterTarget
    ) -> CopyResult:
        page_url = links.letter_url(self.server.base_url, request.path_params["token"])
        return await run_in_threadpool(
            copies.email_copy,
            self.server.tracker.submit,
            self.copy_sender,
            page,
            target,
            page_url,
            visit_of(request),
        )

    async def _address(
        self, request: Request, token: Token, page: LetterPage, form: dict[str, str]
    ) -> Response:
        """The address form: 303 to the page addressed from it, or the page again with
        the typed address, the picker and a one-line reason."""
        result = await run_in_threadpool(
            address.look_up_subscriber,
            self.server.tracker.submit,
            self.server.geocoder,
            page.subscriber_id,
            form,
            request.client.host if request.client else None,
        )
        if result.lookup is address.Lookup.FOUND:
            url = f"{request.url.path}#address-result"
            return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})
        fresh = self._page(token) or page
        typed = address.TypedAddress.from_form(form)
        return self._show(
            fresh, result.lookup.status, choosing=True, typed=typed, reason=result.reason
        )

    async def _choose(self, page: LetterPage, value: str) -> Outcome:
        if value == "none":
            if page.picked_district is not None:
                await committed(
                    self.server.tracker.submit(lambda db: actions.forget_choice(db, page))
                )
            return Outcome(Done.NONE_OF_THESE)
        chosen = page.candidate(value.strip())
        if chosen is None:
            return Outcome(Done.PICK_INVALID)
        district = chosen.district
        try:
            await committed(
                self.server.tracker.submit(lambda db: actions.choose_district(db, page, district))
            )
        except LookupFailed:  # the district map changed since the page was shown
            return Outcome(Done.PICK_GONE)
        bioguide = chosen.member.bioguide if chosen.member else ""
        return Outcome(Done.CHOSEN, bioguide, str(district))


def is_choosing(page: LetterPage, outcome: Outcome | None, asked: bool) -> bool:
    """Whether the page opens its House picker: asked for (`?choose`), a failed pick, or needed."""
    done = outcome.done if outcome else None
    if done is Done.NONE_OF_THESE:
        return False
    return asked or done in _PICKING or page.house is HouseLookup.CHOOSE


def copy_outcome(bioguide: str, result: CopyResult) -> Outcome:
    """The outcome "Email me a copy" shows."""
    detail = ""
    if result.outcome is CopyOutcome.INVALID and result.problem is not None:
        detail = result.problem.value
    elif result.outcome is CopyOutcome.LIMITED:
        detail = str(-(-result.retry_after // 60))
    return Outcome(_COPY_DONE[result.outcome], bioguide, detail)
