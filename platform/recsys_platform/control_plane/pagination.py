"""Pagination of the control plane's lists: ``?limit=`` and an opaque ``?cursor=`` (the
``next_cursor`` of the previous page; absent on the last page).

The lists are small (a platform's tenants, a tenant's keys, deployments, experiments), so
a page is cut from the service's list in its order; the cursor names the last item shown,
so a page is stable when items are added or removed before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from recsys_platform.errors import FieldError, InvalidInput

T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Most items on one page.")]
CursorQuery = Annotated[
    str | None, Query(max_length=400, description="The `next_cursor` of the previous page.")
]


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInput("cursor: not a cursor of this list", [FieldError("cursor", "malformed")]) from None
    if not isinstance(after, str):
        raise InvalidInput("cursor: not a cursor of this list", [FieldError("cursor", "malformed")])
    return after


def page(
    items: Sequence[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """The ``limit`` items after the cursor's, and the cursor of the next page (None: last)."""
    start = 0
    if cursor is not None:
        after = decode_cursor(cursor)
        keys = [key(i) for i in items]
        if after not in keys:
            raise InvalidInput(
                "cursor: its item is gone; list again from the first page",
                [FieldError("cursor", "expired")],
            )
        start = keys.index(after) + 1
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, encode_cursor(key(chunk[-1])) if more and chunk else None
