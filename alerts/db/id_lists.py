"""Lists of row ids passed to SQL as one JSON array parameter.

One statement per batch instead of one per row, and no limit on how many ids
a list may hold (SQLite caps the number of `?` parameters, not their length).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

# f"... WHERE id {IN_ID_LIST}", with id_list(ids) as the statement's parameter.
IN_ID_LIST = "IN (SELECT value FROM json_each(?))"


def id_list(ids: Iterable[int]) -> str:
    return json.dumps([int(i) for i in ids])
