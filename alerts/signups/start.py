"""Starting a signup: rate limits, the pending signup, its queued confirmation message.

Nothing here tells whether the address is already known: the answer is the
same for a new address, a subscriber, someone who left and someone who
complained (each gets a confirmation message; confirming decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts import clock
from alerts.db import Database, rate_limits
from alerts.db import signups as signups_db
from alerts.db.connection import utc_at
from alerts.signups.form import Signup
from alerts.subscribers.normalise import email_key

# Per client address (behind the proxy, the address it forwards): a form posted
# this often from one place is a script.
CLIENT_LIMIT = 20
CLIENT_WINDOW = 600
# Per email address: confirmation messages one address can be sent in a day.
EMAIL_LIMIT = 3
EMAIL_WINDOW = 24 * 3600
CLIENT_BUCKET = "signup.client"
EMAIL_BUCKET = "signup.email"


class Outcome(StrEnum):
    QUEUED = "queued"  # a confirmation message is queued
    QUIET = "quiet"  # the address had its share of messages today: nothing more is sent
    LIMITED = "limited"  # this client posted too often: answer 429, nothing stored


@dataclass(frozen=True)
class Started:
    outcome: Outcome
    signup_id: int | None = None


def iso(seconds: float) -> str:
    """Unix seconds as the stored UTC form, YYYY-MM-DDTHH:MM:SSZ (to the second, floored)."""
    return utc_at(seconds)


def start_signup(
    db: Database,
    signup: Signup,
    *,
    client: str | None,
    confirm_days: int,
    now: float | None = None,
) -> Started:
    """Start the double opt-in for `signup`: store it as pending and queue its confirmation.

    Takes the database inside the caller's write transaction (on the server, a
    group-commit job: `tracker.submit(lambda db: start_signup(db, ...))`), a
    checked `Signup` (signups.form.read_signup builds one from form values and
    raises SignupInvalid with a message per bad field; give it `campaign=` the
    /act page's slug to attribute the signup to that campaign), the client's
    address for its rate limit (None: not limited by client, e.g. the command
    line) and the `signup_confirm_days` setting (SignupSettings.confirm_days).

    One address has one pending signup: signing up again updates it, extends
    its expiry and queues another message. Returns the outcome; every outcome
    but LIMITED gets the same "check your inbox" answer.
    """
    at = clock.now().timestamp() if now is None else now
    if client is not None and not rate_limits.take(
        db, CLIENT_BUCKET, client, CLIENT_LIMIT, CLIENT_WINDOW, now=at
    ):
        return Started(Outcome.LIMITED)
    key = email_key(signup.email)
    if not rate_limits.take(db, EMAIL_BUCKET, key, EMAIL_LIMIT, EMAIL_WINDOW, now=at):
        return Started(Outcome.QUIET)
    created_at = iso(at)
    values = {
        "email": signup.email,
        "email_key": key,
        **signup.fields,
        "source": signup.source,
        "tags": list(signup.tags),
        "campaign": signup.campaign,
        "consent": signup.consent,
        "created_at": created_at,
        "expires_at": iso(at + confirm_days * 24 * 3600),
    }
    signup_id = signups_db.save_pending(db, values)
    signups_db.queue_mail(db, signup_id, int(at), created_at)
    return Started(Outcome.QUEUED, signup_id)
