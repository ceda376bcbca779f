"""Job search as pure functions: filters to a parameterised SQL query, and page cursors.

The read model is one table, ``job_search`` (columns listed in README.md), with a
``document`` tsvector built with weights A (title), B (skills) and C (description). The
query text is assembled only from constant fragments chosen by *which* filters are present;
every value a user gave travels in the parameter list (psycopg ``%s`` placeholders), so the
SQL text never contains user input.

Cursors are opaque strings: base64url JSON of the last row's sort key, the sort and a
fingerprint of the filters, with an HMAC so that a cursor that was edited, truncated, made
up, or taken from another search is refused with a clear error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.jobs.domain import Actor
from services.jobs.schemas import CLIENT_HISTORY_BANDS, PROPOSAL_BANDS
from shared.clock import iso, parse_time
from shared.errors import ValidationError
from shared.money import Money

SEARCH_TABLE = "job_search"
TEXT_CONFIG = "english"
# ts_rank weights for D, C, B, A: title counts most, then skills, then description.
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
# The rank as an integer (millionths), so the cursor carries no float and compares exactly.
RANK_SQL = f"(ts_rank('{RANK_WEIGHTS}', j.document, q) * 1000000)::bigint"
DOCUMENT_SQL = (
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'A') || "
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'B') || "
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'C')"
)
RESULT_COLUMNS = "j.job_id, j.published_at"

# Filter names that shape the result set (the cursor's fingerprint covers exactly these).
FILTER_FIELDS = (
    "keywords",
    "category",
    "subcategory",
    "skills",
    "experience_levels",
    "job_type",
    "budget_min",
    "budget_max",
    "project_lengths",
    "hours_per_week",
    "proposal_bands",
    "client_history",
    "payment_verified",
    "contract_to_hire",
    "posted_since",
)


@dataclass(frozen=True)
class SqlQuery:
    """SQL text with ``%s`` placeholders and the values to bind, in order."""

    text: str
    params: tuple


@dataclass(frozen=True)
class SearchPlan:
    """The page query (``limit + 1`` rows, to know whether more follow) and the count query."""

    page: SqlQuery
    count: SqlQuery
    sort: str
    limit: int


def document_params(title: str, skills: Sequence[str], description: str) -> tuple:
    """Parameters for ``DOCUMENT_SQL``, which builds a job's weighted search document."""
    return (title, " ".join(skills), description)


def effective_sort(filters: Mapping[str, Any]) -> str:
    """The sort asked for, else relevance with keywords and newest without."""
    if filters.get("sort"):
        return filters["sort"]
    return "relevance" if _keywords(filters) else "newest"


def _keywords(filters: Mapping[str, Any]) -> str | None:
    text = (filters.get("keywords") or "").strip()
    return text or None


def filters_data(filters: Mapping[str, Any]) -> dict:
    """The filters as JSON (Money as dicts, time as ISO), in the shape the schema loads.

    Used for a saved search's query and for the cursor's fingerprint; absent, empty and
    None filters are left out so that equivalent searches have the same form.
    """
    out: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        value = filters.get(name)
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, Money):
            value = value.to_dict()
        elif isinstance(value, datetime):
            value = iso(value)
        elif isinstance(value, list | tuple):
            value = list(value)
        out[name] = value
    return out


def fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest of the filters, so a cursor only continues the search it came from."""
    canonical = json.dumps(filters_data(filters), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- cursors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CursorPosition:
    """The sort key of the last row of a page: rank (relevance only), published_at, job_id."""

    published_at: datetime
    job_id: str
    rank: int | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:16]


def encode_cursor(
    position: CursorPosition, sort: str, filters: Mapping[str, Any], secret: bytes
) -> str:
    """An opaque, signed cursor pointing after ``position`` in this search."""
    key = [position.rank, iso(position.published_at), position.job_id]
    payload = json.dumps(
        {"v": 1, "s": sort, "f": fingerprint(filters), "k": key}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_sign(secret, payload))}"


def decode_cursor(
    cursor: str, sort: str, filters: Mapping[str, Any], secret: bytes
) -> CursorPosition:
    """Check a cursor against this search and return its position.

    Raises ValidationError on "cursor" when it is malformed, its signature is wrong, or it
    belongs to another sort or other filters.
    """

    def bad(message: str) -> ValidationError:
        return ValidationError("invalid cursor", {"cursor": [message]})

    try:
        body, signature = cursor.split(".")
        payload, given = _unb64(body), _unb64(signature)
    except (ValueError, binascii.Error):
        raise bad("Not a cursor from this service.") from None
    if not hmac.compare_digest(given, _sign(secret, payload)):
        raise bad("Not a cursor from this service.")
    try:
        data = json.loads(payload)
        version, cursor_sort, cursor_filters, key = data["v"], data["s"], data["f"], data["k"]
        rank, published_at, job_id = key
        position = CursorPosition(parse_time(published_at), job_id, rank)
    except (ValueError, KeyError, TypeError):
        raise bad("Not a cursor from this service.") from None
    if version != 1 or not isinstance(job_id, str):
        raise bad("Not a cursor from this service.")
    if cursor_sort != sort or cursor_filters != fingerprint(filters):
        raise bad("This cursor belongs to another search; start again from the first page.")
    if (sort == "relevance") != (type(rank) is int):
        raise bad("Not a cursor from this service.")
    return position


# --- the query ----------------------------------------------------------------------------


def _band_clause(column: str, bands: Sequence[tuple[int, int | None]]) -> tuple[str, list]:
    parts, params = [], []
    for low, high in bands:
        if high is None:
            parts.append(f"{column} >= %s")
            params.append(low)
        else:
            parts.append(f"{column} BETWEEN %s AND %s")
            params.extend([low, high])
    return "(" + " OR ".join(parts) + ")", params


def _visibility_clause(viewer: Actor | None) -> tuple[str, list]:
    if viewer is None:
        return "j.visibility = 'public'", []
    if viewer.is_staff:
        return "TRUE", []
    return (
        "(j.visibility IN ('public', 'signed_in') "
        "OR (j.visibility = 'invite_only' AND %s = ANY(j.invitees)))",
        [viewer.user_id],
    )


def build_search(
    filters: Mapping[str, Any],
    viewer: Actor | None,
    after: CursorPosition | None = None,
) -> SearchPlan:
    """Translate validated filters (``SearchJobsSchema``) into the page and count queries.

    Only open jobs of clients who are not suspended, visible to ``viewer`` (None is an
    anonymous caller). Relevance orders by (rank, published_at, job_id) descending, newest
    by (published_at, job_id) descending; ``after`` continues after a cursor's row, so
    jobs posted meanwhile never shift a page (keyset pagination).
    """
    sort = effective_sort(filters)
    limit = int(filters.get("limit") or 20)
    keywords = _keywords(filters)
    where = ["j.status = 'open'", "NOT j.client_suspended"]
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        where.append(clause)
        params.extend(values)

    clause, values = _visibility_clause(viewer)
    add(clause, *values)
    if keywords:
        add("j.document @@ q")
    if filters.get("category"):
        add("j.category = %s", filters["category"])
    if filters.get("subcategory"):
        add("j.subcategory = %s", filters["subcategory"])
    if filters.get("skills"):
        add("j.skills && %s::text[]", list(filters["skills"]))
    if filters.get("experience_levels"):
        add("j.experience_level = ANY(%s::text[])", list(filters["experience_levels"]))
    if filters.get("job_type"):
        add("j.job_type = %s", filters["job_type"])
    # A budget filter keeps jobs whose budget range overlaps the one asked for (a fixed
    # budget is the range [amount, amount]), in the filter's currency.
    low, high = filters.get("budget_min"), filters.get("budget_max")
    if low is not None or high is not None:
        add("j.budget_currency = %s", (low if low is not None else high).currency)
    if low is not None:
        add("j.budget_high >= %s", low.amount)
    if high is not None:
        add("j.budget_low <= %s", high.amount)
    if filters.get("project_lengths"):
        add("j.project_length = ANY(%s::text[])", list(filters["project_lengths"]))
    if filters.get("hours_per_week"):
        add("j.hours_per_week = ANY(%s::text[])", list(filters["hours_per_week"]))
    if filters.get("proposal_bands"):
        bands = [PROPOSAL_BANDS[name] for name in filters["proposal_bands"]]
        add(*_flat(_band_clause("j.proposal_count", bands)))
    if filters.get("client_history"):
        bands = [CLIENT_HISTORY_BANDS[name] for name in filters["client_history"]]
        add(*_flat(_band_clause("j.client_total_hires", bands)))
    if filters.get("payment_verified") is not None:
        add("j.client_payment_verified = %s", filters["payment_verified"])
    if filters.get("contract_to_hire") is not None:
        add("j.contract_to_hire = %s", filters["contract_to_hire"])
    if filters.get("posted_since") is not None:
        add("j.published_at >= %s", filters["posted_since"])

    source = f"{SEARCH_TABLE} AS j"
    source_params: list[Any] = []
    if keywords:
        # websearch_to_tsquery accepts any text without syntax errors ("quotes", -not, or).
        source += f" CROSS JOIN websearch_to_tsquery('{TEXT_CONFIG}', %s) AS q"
        source_params.append(keywords)

    count = SqlQuery(
        f"SELECT count(*) FROM {source} WHERE {' AND '.join(where)}",
        tuple(source_params + params),
    )

    page_where, page_params = list(where), list(params)
    if sort == "relevance":
        columns = f"{RESULT_COLUMNS}, {RANK_SQL} AS rank"
        order = "rank DESC, j.published_at DESC, j.job_id DESC"
        if after is not None:
            page_where.append(f"({RANK_SQL}, j.published_at, j.job_id) < (%s, %s, %s)")
            page_params.extend([after.rank, after.published_at, after.job_id])
    else:
        columns = f"{RESULT_COLUMNS}, NULL::bigint AS rank"
        order = "j.published_at DESC, j.job_id DESC"
        if after is not None:
            page_where.append("(j.published_at, j.job_id) < (%s, %s)")
            page_params.extend([after.published_at, after.job_id])
    page = SqlQuery(
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(page_where)} "
        f"ORDER BY {order} LIMIT %s",
        tuple(source_params + page_params + [limit + 1]),
    )
    return SearchPlan(page=page, count=count, sort=sort, limit=limit)


def _flat(pair: tuple[str, list]) -> list:
    clause, values = pair
    return [clause, *values]


def page_result(
    rows: Sequence[Mapping[str, Any]],
    plan: SearchPlan,
    filters: Mapping[str, Any],
    secret: bytes,
) -> tuple[list[Mapping[str, Any]], str | None]:
    """Cut the ``limit + 1`` rows fetched by ``plan.page`` into a page and the next cursor.

    Each row has ``job_id``, ``published_at`` (aware datetime) and ``rank``.
    """
    items = list(rows[: plan.limit])
    if len(rows) <= plan.limit or not items:
        return items, None
    last = items[-1]
    position = CursorPosition(
        published_at=last["published_at"],
        job_id=last["job_id"],
        rank=last["rank"] if plan.sort == "relevance" else None,
    )
    return items, encode_cursor(position, plan.sort, filters, secret)


def build_my_jobs(
    client_id: str, status: str | None, limit: int, after: CursorPosition | None = None
) -> SqlQuery:
    """``list_my_jobs``: the client's own jobs, drafts included, newest created first.

    Keyset on ``(created_at, job_id)``; the cursor's ``published_at`` slot carries
    ``created_at`` and its sort is ``"mine"`` (use ``{"status": status}`` as its filters).
    """
    where, params = ["j.client_id = %s"], [client_id]
    if status is not None:
        where.append("j.status = %s")
        params.append(status)
    if after is not None:
        where.append("(j.created_at, j.job_id) < (%s, %s)")
        params.extend([after.published_at, after.job_id])
    return SqlQuery(
        f"SELECT j.job_id, j.created_at FROM {SEARCH_TABLE} AS j WHERE {' AND '.join(where)} "
        "ORDER BY j.created_at DESC, j.job_id DESC LIMIT %s",
        tuple(params + [limit + 1]),
    )
