"""What the client and the stand-in agree on: paths, paging, the key's header, error codes.

From the API's own documentation (LibraryOfCongress/api.congress.gov: README.md,
Documentation/BillEndpoint.md, swagger.yaml) and the api.data.gov developer manual,
which answers for the key and the rate limit.
"""

from __future__ import annotations

from alerts.models import BillId

API_ROOT = "/v3"
DEFAULT_LIMIT = 20  # results per page when `limit` is not given
MAX_LIMIT = 250  # a larger `limit` is cut to this
KEY_HEADER = "X-Api-Key"  # api.data.gov also takes ?api_key=, which would put it in URLs
KEY_PARAMETER = "api_key"
KEY_MISSING = "API_KEY_MISSING"
KEY_INVALID = "API_KEY_INVALID"
KEY_UNAUTHORIZED = "API_KEY_UNAUTHORIZED"
KEY_ERRORS = (KEY_MISSING, KEY_INVALID, KEY_UNAUTHORIZED)  # each with HTTP 403
OVER_RATE_LIMIT = "OVER_RATE_LIMIT"  # with HTTP 429
HOURLY_LIMIT = 5000  # requests per key


def bill_path(bill: BillId) -> str:
    return f"{API_ROOT}/bill/{bill.congress}/{bill.type}/{bill.number}"


def cosponsors_path(bill: BillId) -> str:
    return bill_path(bill) + "/cosponsors"
