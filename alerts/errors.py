"""Typed errors raised by the domain.

(ConfigError lives in config.py: the bottom layer imports nothing of ours.)

Every message is one line a person can act on: it names the file, line or
field at fault. The CLI prints it after "Error: " and exits non-zero; the web
server turns it into a 4xx answer.
"""


class AlertsError(Exception):
    """Base class for every error the project expects and reports to the user."""

    exit_code = 1


class InputFileError(AlertsError):
    """A file given by the user is missing, unreadable or malformed."""


class ImportFileError(InputFileError):
    """A signup export cannot be imported at all (no row is written)."""


class NotFoundError(AlertsError):
    """A subscriber, campaign or other named thing does not exist."""


class RosterError(InputFileError):
    """The roster of Congress or the ZIP map cannot be loaded."""


class LookupFailed(AlertsError):
    """A ZIP or state given for a lookup is invalid or unknown."""


class CampaignError(AlertsError):
    """A campaign file or template is invalid.

    `problems` lists every `file:line: message` found; the exception's own
    message is the first of them, with a count of the rest.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        super().__init__(message)

    @classmethod
    def collected(cls, problems: list[str]) -> "CampaignError":
        more = len(problems) - 1
        summary = problems[0] + (
            f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        )
        return cls(summary, problems)


class TokenError(AlertsError):
    """A tracking, letter or unsubscribe token is malformed, forged or altered."""


class SendError(AlertsError):
    """Sending stopped: the reason is in the message.

    `summary` holds the models.SendSummary of the run it stopped, if one had begun.
    """

    summary: object | None = None


class SendBusy(SendError):
    """Another live process is already sending the same campaign."""


class SendInterrupted(SendError):
    """Ctrl-C stopped a send after the requests already out were answered and recorded."""

    exit_code = 130

    def __init__(self, message: str, summary: object | None = None):
        super().__init__(message)
        self.summary = summary


class SendAuthError(SendError):
    """The delivery provider refused the API key: nothing more can be sent."""


class WebhookAuthError(AlertsError):
    """A webhook request is unsigned, badly signed or too old to be trusted."""


class EventPayloadError(InputFileError):
    """A webhook body or saved payload is not a JSON array of event objects."""


class StorageError(AlertsError):
    """The database could not commit: nothing was recorded, the request may be retried."""


class CongressApiError(AlertsError):
    """The Congress.gov API refused the key, failed, or answered something unreadable."""


class GeocoderError(AlertsError):
    """The geocoder timed out, answered an HTTP error, or answered something unreadable."""


class StanceFileError(InputFileError):
    """A CSV of members' stances has bad rows, so none of its rows was loaded.

    `problems` lists every `file:line: message`.
    """

    def __init__(self, message: str, problems: list[str]):
        self.problems = problems
        super().__init__(message)
