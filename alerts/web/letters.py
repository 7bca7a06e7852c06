"""The letter page: GET and POST /a/<token>.

GET shows the page (letters/page.py) and records a letter_visit (HEAD and
scanners as machine visits). POST is one of the page's forms: "I sent it",
"Email me a copy" (with the letter as edited), or the pick of a House member
when the ZIP spans several districts. Every answer is the page again, with a
notice at the top or under the letter it is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.email import links
from alerts.email.links import Token, TokenKind
from alerts.errors import LookupFailed
from alerts.letters import actions, copies
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.copies import CopyOutcome, CopyResult, LetterCopySender
from alerts.letters.page import HouseLookup, LetterPage, LetterTarget, letter_page
from alerts.tracking import recording
from alerts.web.common import Server, committed, read_form, same_origin, visit_of

# The letter page runs one first-party script ("Copy letter") and sends only its
# origin as Referer, never the path with the token, so that our own POSTs carry
# an Origin header to check (with no-referrer, browsers send `Origin: null`).
LETTER_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "strict-origin",
}


@dataclass(frozen=True)
class Notice:
    """A message at the top of a page or under one member's letter after a POST."""

    text: str
    target: str | None = None  # the bioguide id of the letter it is about
    error: bool = False


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
        """GET: the page. Records a letter_visit (HEAD and scanners as machine visits)."""
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
        return self._show(page, choosing="choose" in request.query_params)

    async def letter_action(self, request: Request) -> Response:
        """POST: "I sent it", "Email me a copy", or the pick of a House member."""
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
        if action == "choose":
            return await self._choose(token, page, form.get("district", ""))
        target = page.target(form.get("target", ""))
        if target is None or action not in ("sent", "email"):
            notice = Notice("That form is not one of this page's.", error=True)
            return self._show(page, 400, notice)
        bioguide = target.member.bioguide
        subject = form.get("subject", target.subject)
        page = page.edited(bioguide, subject, form.get("letter", target.letter))
        edited = page.target(bioguide)
        assert edited is not None
        if action == "sent":
            return await self._sent(request, page, edited)
        return await self._email_copy(request, page, edited)

    def _page(self, token: Token | None) -> LetterPage | None:
        if token is None:
            return None
        return letter_page(
            self.server.tracker.reader, self.letters, token.campaign_id, token.subscriber_id
        )

    def _show(
        self,
        page: LetterPage,
        status: int = 200,
        notice: Notice | None = None,
        *,
        choosing: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self.pages.html(
            "letter.html",
            status,
            {**LETTER_HEADERS, **(headers or {})},
            page=page,
            notice=notice,
            choosing=choosing or page.house is HouseLookup.CHOOSE,
            can_email=self.copy_sender is not None and copies.can_receive_copy(page),
            masked_email=recording.mask_email(page.subscriber.email),
        )

    async def _sent(self, request: Request, page: LetterPage, target: LetterTarget) -> Response:
        bioguide = target.member.bioguide
        visit = visit_of(request)
        await committed(
            self.server.tracker.submit(lambda db: actions.record_sent(db, page, bioguide, visit))
        )
        name = f"{target.member.title} {target.member.full_name}"
        notice = Notice(f"Thank you for writing to {name}!", bioguide)
        return self._show(page.marked_sent(bioguide), notice=notice)

    async def _email_copy(
        self, request: Request, page: LetterPage, target: LetterTarget
    ) -> Response:
        page_url = links.letter_url(self.server.base_url, request.path_params["token"])
        result = await run_in_threadpool(
            copies.email_copy,
            self.server.tracker.submit,
            self.copy_sender,
            page,
            target,
            page_url,
            visit_of(request),
        )
        return self._copy_answer(page, target.member.bioguide, result)

    def _copy_answer(self, page: LetterPage, bioguide: str, result: CopyResult) -> Response:
        if result.outcome is CopyOutcome.SENT:
            where = recording.mask_email(page.subscriber.email) or "your address"
            return self._show(page, notice=Notice(f"We emailed a copy to {where}.", bioguide))
        if result.outcome is CopyOutcome.INVALID:
            return self._show(page, 400, Notice(result.problem or "", bioguide, error=True))
        if result.outcome is CopyOutcome.UNAVAILABLE:
            message = "We cannot email copies from this page. Copy the letter instead."
            return self._show(page, 409, Notice(message, bioguide, error=True))
        if result.outcome is CopyOutcome.LIMITED:
            minutes = -(-result.retry_after // 60)
            message = (
                "You have asked for several copies already. You can ask for another in"
                f" {minutes} minute{'s' if minutes != 1 else ''}; until then, copy the letter."
            )
            retry = {"Retry-After": str(result.retry_after)}
            return self._show(page, 429, Notice(message, bioguide, True), headers=retry)
        message = "We could not send the copy just now. Please try again in a few minutes."
        return self._show(page, 503, Notice(message, bioguide, error=True))

    async def _choose(self, token: Token, page: LetterPage, value: str) -> Response:
        chosen = page.candidate(value.strip())
        if chosen is None or chosen.district is None:
            notice = Notice("Pick one of the members listed.", "pick", error=True)
            return self._show(page, 400, notice, choosing=True)
        district = chosen.district
        try:
            await committed(
                self.server.tracker.submit(lambda db: actions.choose_district(db, page, district))
            )
        except LookupFailed:  # the district map changed since the page was shown
            notice = Notice("That choice is no longer possible: please pick again.", "pick", True)
            return self._show(self._page(token) or page, 409, notice, choosing=True)
        page = self._page(token) or page
        name = f"{chosen.title} {chosen.full_name}"
        return self._show(page, notice=Notice(f"Thank you: we will remember {name}."))
