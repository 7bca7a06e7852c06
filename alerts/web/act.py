"""A campaign's public letter page, GET and POST /act/<slug>, and the share links of letter pages.

GET shows the details form (name, email, address) until the visitor's
signed cookie holds their details; then it shows the letter page a
subscriber gets (web/letters.py's template, letters/public.py builds the
page) and counts a visit. POST is the details form, or one of the letter
page's forms ("I sent it", "Email me a copy", the pick of a House member),
checked with a signed form token and the page's origin. Like the subscriber's
page, each form answers 303 with a signed `done` outcome, so reloading
repeats nothing. The visitor's details are never in a URL: they travel in
the cookie (letters/public.py), for the browser session or, with "Remember
me on this device", for 90 days; GET /act/<slug>/forget clears it. The
street address of the details form is looked up once (letters/address.py)
and only its census block joins the cookie; without one, the ZIP decides, and
where the page then needs the picker it gives the lookup's one-line reason, as
a subscriber's page does (the `done` outcome of the details form carries it).

GET /share/<slug>/<network> counts a click of the share panel and redirects
to the network (letters/sharing.py); POST /share/<slug>/copy counts the
copy-link button (the page's script sends it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alerts import clock
from alerts.campaigns.files import is_valid_slug
from alerts.db import Database
from alerts.db import visitors as visitors_db
from alerts.db.visitors import Visitor
from alerts.errors import TokenError
from alerts.letters import address, copies, outcomes, public, sharing
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.copies import LetterCopySender
from alerts.letters.outcomes import Done, Notice, Outcome
from alerts.letters.page import LetterPage
from alerts.letters.public import PublicIds, Remembered
from alerts.models import Campaign
from alerts.models import ShareNetwork as Network
from alerts.signups import tokens
from alerts.signups.form import FormField, SignupInvalid, SignupSettings, read_signup
from alerts.signups.snippet import HONEYPOT
from alerts.signups.start import start_signup
from alerts.tracking import recording
from alerts.web.common import Server, committed, read_form, same_origin, visit_of
from alerts.web.letters import LETTER_HEADERS, copy_outcome, is_choosing

# The details form: every field required, in the order the form asks them.
DETAIL_FIELDS = tuple(FormField(name, True) for name in public.FIELDS)
AUTOCOMPLETE = {
    "first_name": "given-name",
    "last_name": "family-name",
    "email": "email",
    "street": "street-address",
    "city": "address-level2",
    "state": "address-level1",
    "zip": "postal-code",
}
STALE_FORM = "This page was open a long time, so nothing was done. Please try again."
_LETTER_ACTIONS = ("sent", "email", "choose")


@dataclass(frozen=True)
class VisitorBar:
    """What the public letter page adds for the visitor: who they are, their form token."""

    name: str
    place: str
    form_token: str
    forget_url: str
    remembered: bool


class ActRoutes:
    def __init__(
        self,
        server: Server,
        letters: LetterCampaigns,
        copy_sender: LetterCopySender | None,
        signups: SignupSettings,
        queued: Callable[[], None],
    ) -> None:
        self.server = server
        self.pages = server.pages
        self.letters = letters
        self.copy_sender = copy_sender
        self.signups = signups
        self.queued = queued
        self.outcome_key = public.outcome_key(server.key)
        self.members = public.VisitorTargets()
        self.secure = server.base_url.lower().startswith("https://")

    def routes(self) -> list[Route]:
        return [
            Route("/act/{slug}", self.act_page, methods=["GET", "HEAD"]),
            Route("/act/{slug}", self.act_post, methods=["POST"]),
            Route("/act/{slug}/forget", self.forget, methods=["GET", "HEAD"]),
            Route("/share/{slug}/copy", self.share_copied, methods=["POST"]),
            Route("/share/{slug}/{network}", self.share, methods=["GET", "HEAD"]),
        ]

    # ----------------------------------------------------------------------
    # GET /act/<slug>

    async def act_page(self, request: Request) -> Response:
        campaign = self._campaign(request)
        if campaign is None:
            return self._gone()
        held = self._held(request)
        if held is None or "edit" in request.query_params:
            return self._form(campaign, public.form_values(held.visitor if held else None), {})
        ids = await self._visit(campaign, held.visitor, counted=request.method == "GET")
        page = self._page(campaign, ids, held)
        if not page.available:
            return self._gone()
        outcome = self._outcome(ids, request.query_params.get("done", ""))
        notice = outcomes.notice(page, outcome) if outcome else None
        choosing = is_choosing(page, outcome, "choose" in request.query_params)
        street = address.visitor_section(page, choosing=choosing, lookup=_lookup_of(outcome))
        return self._show(request, page, held, notice=notice, choosing=choosing, street=street)

    # ----------------------------------------------------------------------
    # POST /act/<slug>

    async def act_post(self, request: Request) -> Response:
        campaign = self._campaign(request)
        if campaign is None:
            return self._gone()
        if not same_origin(request, self.server.base_url):
            return self.pages.error(
                403,
                "This form came from another site",
                "Nothing was changed. Open our page again to write your letters.",
            )
        form = await read_form(request)
        if form.get("action", "") in _LETTER_ACTIONS:
            return await self._letter_action(request, campaign, form)
        return await self._details(request, campaign, form)

    async def _details(
        self, request: Request, campaign: Campaign, form: dict[str, str]
    ) -> Response:
        """The details form: 303 to the letter page with the cookie set, or the form again."""
        values = {field.name: form.get(field.name, "") for field in DETAIL_FIELDS}
        if form.get(HONEYPOT, ""):
            return self._see_page(campaign)  # the usual answer, and nothing kept
        try:
            signup = read_signup(form, DETAIL_FIELDS, self.signups.consent, campaign=campaign.slug)
        except SignupInvalid as invalid:
            return self._form(campaign, values, invalid.errors, form, 422)
        if not self._token_ok(form):
            return self._form(campaign, values, {}, form, 400, problem=STALE_FORM)
        visitor = public.visitor_from(signup.email, signup.fields)
        held = public.remembered(
            visitor, remember=bool(form.get("remember")), now=clock.now().timestamp()
        )
        found = await self._look_up(request, visitor)
        held = held.with_block(found.block)
        if form.get("updates"):
            client = request.client.host if request.client else None
            days = self.signups.confirm_days
            await committed(
                self.server.tracker.submit(
                    lambda db: start_signup(db, signup, client=client, confirm_days=days)
                )
            )
            self.queued()
        return self._with_cookie(await self._after_details(campaign, held, found.lookup), held)

    async def _letter_action(
        self, request: Request, campaign: Campaign, form: dict[str, str]
    ) -> Response:
        held = self._held(request)
        if held is None:
            problem = "Your details are no longer on this device: please enter them again."
            return self._form(campaign, public.form_values(None), {}, None, 400, problem=problem)
        ids = await self._visit(campaign, held.visitor, counted=False)
        page = self._page(campaign, ids, held)
        if not page.available:
            return self._gone()
        if not self._token_ok(form):
            notice = Notice(STALE_FORM, error=True)
            return self._show(request, page, held, 400, notice, choosing=False)
        action = form["action"]
        if action == "choose" and page.candidates:
            outcome, held = self._choose(page, held, form.get("district", "").strip())
            return self._with_cookie(self._done(campaign, ids, outcome), held)
        target = page.target(form.get("target", ""))
        if target is None or action == "choose":
            notice = Notice("That form is not one of this page's.", error=True)
            return self._show(request, page, held, 400, notice, choosing=False)
        bioguide = target.member.bioguide
        if action == "sent":
            at = clock.now().timestamp()
            await committed(
                self.server.tracker.submit(lambda db: public.record_sent(db, page, bioguide, at))
            )
            return self._done(campaign, ids, Outcome(Done.SENT, bioguide))
        edited = page.edited(bioguide, form.get("subject", target.subject), form.get("letter", ""))
        result = await self._email_copy(request, edited, bioguide, campaign)
        return self._done(campaign, ids, copy_outcome(bioguide, result))

    async def _look_up(self, request: Request, visitor: Visitor) -> address.VisitorLookup:
        """The census block of the visitor's street address (None: then the ZIP decides),
        and what came of the lookup."""
        return await run_in_threadpool(
            address.look_up_visitor,
            self.server.tracker.submit,
            self.server.geocoder,
            visitor.email_key,
            address.TypedAddress.prefilled(visitor),
            request.client.host if request.client else None,
        )

    def _choose(self, page: LetterPage, held: Remembered, value: str) -> tuple[Outcome, Remembered]:
        """The pick of a House member, kept in the visitor's cookie."""
        if value == "none":
            return Outcome(Done.NONE_OF_THESE), held.with_choice(None)
        chosen = page.candidate(value)
        if chosen is None:
            return Outcome(Done.PICK_INVALID), held
        bioguide = chosen.member.bioguide if chosen.member else ""
        return Outcome(Done.CHOSEN, bioguide, str(chosen.district)), held.with_choice(
            chosen.district
        )

    async def _email_copy(
        self, request: Request, page: LetterPage, bioguide: str, campaign: Campaign
    ) -> copies.CopyResult:
        target = page.target(bioguide)
        assert target is not None
        client = request.client.host if request.client else None
        allowance = public.PublicAllowance(
            page.subscriber.email or "", client, clock.now().timestamp()
        )
        return await run_in_threadpool(
            copies.email_copy,
            self.server.tracker.submit,
            self.copy_sender,
            page,
            target,
            sharing.public_page_url(self._base(request), campaign.slug),
            visit_of(request),
            allowance,
        )

    # ----------------------------------------------------------------------
    # GET /act/<slug>/forget

    async def forget(self, request: Request) -> Response:
        """Clear the visitor's cookie: this device no longer knows them."""
        slug = request.path_params["slug"]
        if not is_valid_slug(slug):
            return self._gone()
        answer = RedirectResponse(f"/act/{slug}", 303, headers={"Cache-Control": "no-store"})
        answer.delete_cookie(
            public.COOKIE_NAME,
            path=public.COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        return answer

    # ----------------------------------------------------------------------
    # Share links

    async def share(self, request: Request) -> Response:
        """Count a share and redirect to the network's own share address."""
        campaign = self._campaign(request)
        try:
            network = Network(request.path_params["network"])
        except ValueError:
            network = Network.COPY
        if campaign is None or network not in sharing.LINKED:
            return self.pages.not_found()
        panel = sharing.share_panel(campaign.slug, campaign.share, self._base(request))
        destination = panel.destination(network)
        assert destination is not None
        if request.method == "GET":
            await self._count_share(campaign, network)
        return RedirectResponse(destination, 303, headers={"Cache-Control": "no-store"})

    async def share_copied(self, request: Request) -> Response:
        """The copy-link button was pressed (the page's script tells us): count it."""
        campaign = self._campaign(request)
        if campaign is None:
            return self.pages.not_found()
        if not same_origin(request, self.server.base_url):
            return Response(status_code=403)
        await self._count_share(campaign, Network.COPY)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    async def _count_share(self, campaign: Campaign, network: Network) -> None:
        day = datetime.fromtimestamp(clock.now().timestamp(), UTC).strftime("%Y-%m-%d")

        def job(db: Database) -> None:
            cid = public.campaign_id(db, campaign)
            visitors_db.record_share_click(db, cid, network, day)

        await committed(self.server.tracker.submit(job))

    # ----------------------------------------------------------------------
    # Helpers

    def _campaign(self, request: Request) -> Campaign | None:
        slug = request.path_params["slug"]
        if not is_valid_slug(slug):
            return None
        return public.public_campaign(self.server.tracker.reader, self.letters, slug)

    def _held(self, request: Request) -> Remembered | None:
        value = request.cookies.get(public.COOKIE_NAME)
        if not value:
            return None
        return public.read_visitor_cookie(self.server.key, value, clock.now().timestamp())

    async def _visit(self, campaign: Campaign, visitor: Visitor, *, counted: bool) -> PublicIds:
        """The campaign's and the visitor's ids, storing the visitor; a counted visit on GET."""
        at = clock.now().timestamp()

        def job(db: Database) -> PublicIds:
            if counted:
                return public.record_visit(db, campaign, visitor, at)
            return public.visitor_ids(db, campaign, visitor)

        ids: PublicIds = await committed(self.server.tracker.submit(job))
        return ids

    def _page(self, campaign: Campaign, ids: PublicIds, held: Remembered) -> LetterPage:
        reader = self.server.tracker.reader
        return public.public_page(reader, self.letters, campaign, ids, held, self.members)

    def _token_ok(self, form: Mapping[str, str]) -> bool:
        try:
            tokens.check_form_token(self.server.key, form.get("token", ""))
        except TokenError:
            return False
        return True

    def _base(self, request: Request) -> str:
        return self.server.base_url or str(request.base_url)

    def _outcome(self, ids: PublicIds, value: str) -> Outcome | None:
        if not value:
            return None
        return outcomes.read_outcome(
            self.outcome_key, ids.campaign_id, ids.visitor_id, value, clock.now().timestamp()
        )

    def _done(self, campaign: Campaign, ids: PublicIds, outcome: Outcome) -> Response:
        done = outcomes.outcome_token(
            self.outcome_key, ids.campaign_id, ids.visitor_id, outcome, clock.now().timestamp()
        )
        url = f"/act/{campaign.slug}?done={done}#{outcome.anchor}"
        return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})

    async def _after_details(
        self, campaign: Campaign, held: Remembered, lookup: address.Lookup | None
    ) -> Response:
        """303 to the letter page; with the reason the street gave no district, when the
        page then needs the House picker (or cannot tell the district)."""
        if lookup is None or lookup not in address.REASONS:
            return self._see_page(campaign)
        ids = await self._visit(campaign, held.visitor, counted=False)
        page = self._page(campaign, ids, held)
        if not address.offered(page, is_choosing(page, None, asked=False)):
            return self._see_page(campaign)
        return self._done(campaign, ids, Outcome(Done.ADDRESS, detail=lookup.value))

    def _see_page(self, campaign: Campaign) -> Response:
        return RedirectResponse(
            f"/act/{campaign.slug}#main", 303, headers={"Cache-Control": "no-store"}
        )

    def _with_cookie(self, answer: Response, held: Remembered) -> Response:
        answer.set_cookie(
            public.COOKIE_NAME,
            public.visitor_cookie(self.server.key, held),
            max_age=held.max_age,
            path=public.COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        return answer

    def _gone(self) -> Response:
        return self.pages.error(
            404,
            "This action is not available",
            "It may have ended, or the address may be mistyped. Thank you for wanting to act:"
            " look on our website for the actions open now.",
        )

    def _form(
        self,
        campaign: Campaign,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        form: Mapping[str, str] | None = None,
        status: int = 200,
        *,
        problem: str | None = None,
    ) -> Response:
        held_form = form or {}
        return self.pages.html(
            "act.html",
            status,
            LETTER_HEADERS,
            slug=campaign.slug,
            fields=DETAIL_FIELDS,
            autocomplete=AUTOCOMPLETE,
            values=values,
            errors=errors,
            problem=problem,
            updates=bool(held_form.get("updates")),
            remember=bool(held_form.get("remember")),
            consent=self.signups.consent,
            token=tokens.form_token(self.server.key),
            honeypot=HONEYPOT,
        )

    def _show(
        self,
        request: Request,
        page: LetterPage,
        held: Remembered,
        status: int = 200,
        notice: Notice | None = None,
        *,
        choosing: bool = False,
        street: address.AddressSection | None = None,
    ) -> Response:
        person, base = held.visitor, self._base(request)
        slug = request.path_params["slug"]
        bar = VisitorBar(
            name=" ".join(p for p in (person.first_name, person.last_name) if p),
            place=", ".join(p for p in (person.city, person.state) if p),
            form_token=tokens.form_token(self.server.key),
            forget_url=f"/act/{slug}/forget",
            remembered=held.remember,
        )
        return self.pages.html(
            "letter.html",
            status,
            LETTER_HEADERS,
            page=page,
            notice=notice,
            choosing=choosing,
            address=street,
            can_email=self.copy_sender is not None,
            masked_email=recording.mask_email(person.email),
            share=sharing.share_panel(slug, page.share, base),
            visitor=bar,
        )


def _lookup_of(outcome: Outcome | None) -> address.Lookup | None:
    """The lookup an ADDRESS outcome tells of, or None."""
    if outcome is None or outcome.done is not Done.ADDRESS:
        return None
    try:
        return address.Lookup(outcome.detail)
    except ValueError:
        return None
