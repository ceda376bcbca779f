"""Job search as pure functions: filters to a parameterised SQL query, and page cursors.

Search reads ``job_search_open`` (migration 0002): a narrow copy, kept by a trigger, of the
``job_search`` rows a search may return (open jobs of clients who are not suspended) with
only the columns filters, order and ranking need, among them the ``document`` tsvector with
weights A (title), B (skills) and C (description). The page query joins the few rows of a
page back to ``job_search`` for their cards. The query text is assembled only from constant
fragments chosen by *which* filters are present; every value a user gave travels in the
parameter list (psycopg ``%s`` placeholders), so the SQL text never contains user input.

What a search costs is bounded, whatever it matches:

- keywords: the newest matches are found by ``_newest_first``: a walk over the newest
  ``WALK_ROWS`` (10,000) searchable rows in index order, and only when that walk finds too
  few, the GIN index (then the matches are rare, so the bitmap is small).
- ``newest`` keyset pages over every match, newest first.
- ``relevance`` ranks a bounded candidate set: the ``RELEVANCE_CANDIDATES`` (200) newest
  matches, ordered by weighted ``ts_rank`` (then newest). The first page fixes that set
  (its newest and oldest row) in the cursor, so later pages walk the same set exactly, and
  jobs posted meanwhile never shift a page. A broad search lists at most 200 jobs by
  relevance; narrower keywords or filters, or the newest sort, reach the rest.
- the total is exact up to ``COUNT_CAP`` (1,000) matches; beyond that the service reports
  the planner's estimate with ``total_is_estimate: true`` (``capped_total``).

Cursors are opaque strings: base64url JSON of the last row's sort key (and, for relevance,
the candidate window), the sort and a fingerprint of the filters, with an HMAC so that a
cursor that was edited, truncated, made up, or taken from another search is refused with a
clear error.
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

SEARCH_TABLE = "job_search"  # the wide rows: cards, get_job, list_my_jobs
OPEN_TABLE = "job_search_open"  # the narrow searchable rows (migration 0002)
# Relevance ranks this many of the newest matches (see the module docstring).
RELEVANCE_CANDIDATES = 200
# The total is exact up to this many matches, an estimate beyond.
COUNT_CAP = 1000
TEXT_CONFIG = "english"
# ts_rank weights for D, C, B, A: title counts most, then skills, then description.
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
# The rank as an integer (millionths), so the cursor carries no float and compares exactly.
# It is computed for the candidates only (the subquery ``c``), never for every match.
RANK_SQL = f"(ts_rank('{RANK_WEIGHTS}', c.document, c.q) * 1000000)::bigint"
DOCUMENT_SQL = (
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'A') || "
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'B') || "
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'C')"
)
_WINDOW = (
    "first_value(c.published_at) OVER w AS newest_published_at, "
    "first_value(c.job_id) OVER w AS newest_job_id, "
    "last_value(c.published_at) OVER w AS oldest_published_at, "
    "last_value(c.job_id) OVER w AS oldest_job_id"
)

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
class CandidateWindow:
    """Relevance's candidate set as the first page found it: its newest and oldest row.

    Later pages rank only jobs between the two (inclusive, in ``(published_at, job_id)``
    order), so the set never gains the jobs posted meanwhile.
    """

    newest_published_at: datetime
    newest_job_id: str
    oldest_published_at: datetime
    oldest_job_id: str


@dataclass(frozen=True)
class SearchPlan:
    """The page query (``limit + 1`` rows with their cards, to know whether more follow),
    the capped count (at most ``count_cap + 1``) and the estimate for beyond the cap
    (``EXPLAIN (FORMAT JSON)`` of the match query, see ``estimated_rows``)."""

    page: SqlQuery
    count: SqlQuery
    estimate: SqlQuery
    sort: str
    limit: int
    count_cap: int = COUNT_CAP
    window: CandidateWindow | None = None  # the cursor's, when continuing a relevance search


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
    """The sort key of the last row of a page: rank (relevance only), published_at, job_id;
    for relevance also the candidate window the first page fixed."""

    published_at: datetime
    job_id: str
    rank: int | None = None
    window: CandidateWindow | None = None


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
    body: dict[str, Any] = {"v": 1, "s": sort, "f": fingerprint(filters), "k": key}
    if position.window is not None:
        w = position.window
        body["w"] = [
            iso(w.newest_published_at),
            w.newest_job_id,
            iso(w.oldest_published_at),
            w.oldest_job_id,
        ]
    payload = json.dumps(body, separators=(",", ":")).encode()
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
        window = None
        if data.get("w") is not None:
            newest_at, newest_id, oldest_at, oldest_id = data["w"]
            if not (isinstance(newest_id, str) and isinstance(oldest_id, str)):
                raise ValueError("window ids")
            window = CandidateWindow(
                parse_time(newest_at), newest_id, parse_time(oldest_at), oldest_id
            )
        position = CursorPosition(parse_time(published_at), job_id, rank, window)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise bad("Not a cursor from this service.") from None
    if version != 1 or not isinstance(job_id, str):
        raise bad("Not a cursor from this service.")
    if cursor_sort != sort or cursor_filters != fingerprint(filters):
        raise bad("This cursor belongs to another search; start again from the first page.")
    if (sort == "relevance") != (type(rank) is int) or (sort == "relevance") != (
        window is not None
    ):
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


# An index walk reads at most this many of the newest searchable rows before a query
# tries a longer walk or falls back to its plain plan (see _newest_first).
WALK_ROWS = 10_000
LONG_WALK_ROWS = 40_000
_ORDER = "ORDER BY j.published_at DESC, j.job_id DESC"


def _where_sql(clauses: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _plain(
    columns: str,
    query: SqlQuery,
    clauses: list[str],
    params: list[Any],
    *,
    order: bool,
    limit: int | None,
) -> SqlQuery:
    """The matches as one plain query, leaving the plan to the planner."""
    source = f"{OPEN_TABLE} AS j"
    if query.text:
        source += f" CROSS JOIN {query.text} AS q"
    text = f"SELECT {columns} FROM {source}{_where_sql(clauses)}"
    values = [*query.params, *params]
    if order:
        text += f" {_ORDER}"
    if limit is not None:
        text += " LIMIT %s"
        values.append(int(limit))
    return SqlQuery(text, tuple(values))


def _newest_first(
    columns: str,
    query: SqlQuery,
    bounds: list[str],
    bound_params: list[Any],
    where: list[str],
    params: list[Any],
    n: int,
    ordered: bool = True,
) -> SqlQuery:
    """The ``n`` newest matches (fewer if there are fewer), newest first, at bounded cost.

    First a walk: the newest ``WALK_ROWS`` rows within ``bounds`` (ranges of the newest-first
    index: posted since, keyset, candidate window), filtered by ``where`` (keywords and the
    other filters), stopping at ``n`` matches. Common keywords and broad filters find their
    ``n`` there after reading a few thousand rows in index order. When the walk finds fewer
    but at least the share of ``n`` that predicts ``n`` within ``LONG_WALK_ROWS`` (a quarter),
    a longer walk follows: those rows are the hot newest pages, cheaper to read than the GIN
    bitmap of a common keyword, which visits every one of its matches wherever they lie.
    Only when both fall short does the plain query run (for keywords a GIN bitmap: small
    when the matches are rare). The walks' rows are discarded when they fall short, so the
    answer is the same whichever way it was found. The choice is made while executing (an
    InitPlan gates each branch, evaluated only when reached), not by the planner's guess.
    With ``ordered=False`` (a count) the plain query may return any ``n``.
    """
    n = int(n)
    promising_n = -(-n * WALK_ROWS // LONG_WALK_ROWS)  # ceil

    def walk(rows: int) -> str:
        return (
            f"SELECT {columns} FROM (SELECT * FROM {OPEN_TABLE} AS j{_where_sql(bounds)}"
            f" {_ORDER} LIMIT {rows}) AS j"
            + (f" CROSS JOIN {query.text} AS q" if query.text else "")
            + f"{_where_sql(where)} {_ORDER} LIMIT %s"
        )

    walk_params = (*bound_params, *query.params, *params, n)
    plain = _plain(columns, query, bounds + where, bound_params + params, order=ordered, limit=n)
    enough = "(SELECT count(*) FROM walked) >= %s"
    promising = "(SELECT count(*) FROM walked) >= %s AND (SELECT count(*) FROM longer) >= %s"
    text = (
        f"WITH walked AS MATERIALIZED ({walk(WALK_ROWS)}),"
        f" longer AS MATERIALIZED ({walk(LONG_WALK_ROWS)})"
        f" SELECT * FROM walked WHERE {enough}"
        f" UNION ALL SELECT * FROM longer WHERE NOT {enough} AND {promising}"
        f" UNION ALL SELECT * FROM ({plain.text}) AS j WHERE NOT {enough} AND NOT ({promising})"
    )
    return SqlQuery(
        text,
        (
            *walk_params,
            *walk_params,
            n,
            n,
            promising_n,
            n,
            *plain.params,
            n,
            promising_n,
            n,
        ),
    )


def build_search(
    filters: Mapping[str, Any],
    viewer: Actor | None,
    after: CursorPosition | None = None,
    count_cap: int = COUNT_CAP,
) -> SearchPlan:
    """Translate validated filters (``SearchJobsSchema``) into the page and count queries.

    Only open jobs of clients who are not suspended (the rows of ``job_search_open``),
    visible to ``viewer`` (None is an anonymous caller). Newest orders every match by
    (published_at, job_id) descending; relevance orders the ``RELEVANCE_CANDIDATES`` newest
    matches by (rank, published_at, job_id) descending. ``after`` continues after a cursor's
    row (keyset pagination), within the cursor's candidate window for relevance, so jobs
    posted meanwhile never shift a page. The count stops at ``count_cap + 1`` matches.
    """
    sort = effective_sort(filters)
    limit = int(filters.get("limit") or 20)
    keywords = _keywords(filters)
    where: list[str] = []
    params: list[Any] = []
    # Ranges of the newest-first index (posted since, keyset, window): see _newest_first.
    bounds: list[str] = []
    bound_params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        where.append(clause)
        params.extend(values)

    def bound(clause: str, *values: Any) -> None:
        bounds.append(clause)
        bound_params.extend(values)

    clause, values = _visibility_clause(viewer)
    if clause != "TRUE":
        add(clause, *values)
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
        bound("j.published_at >= %s", filters["posted_since"])

    query = SqlQuery("", ())
    if keywords:
        # websearch_to_tsquery accepts any text without syntax errors ("quotes", -not, or).
        query = SqlQuery(f"websearch_to_tsquery('{TEXT_CONFIG}', %s)", (keywords,))
        where.insert(0, "j.document @@ q")

    def matches(
        columns: str, extra: list[str], extra_params: list[Any], n: int, ordered: bool = True
    ) -> SqlQuery:
        return _newest_first(
            columns, query, bounds + extra, bound_params + extra_params, where, params, n, ordered
        )

    # The count stops at count_cap + 1 matches. With keywords the GIN bitmap (in table
    # order, stopping early) is cheaper than a walk that often falls back to it anyway;
    # without, a walk in newest order finds them among the newest rows (a sequential scan
    # would start from the oldest rows, which recent-only filters skip).
    if keywords:
        count = _plain(
            "1", query, bounds + where, bound_params + params, order=False, limit=count_cap + 1
        )
    else:
        count = matches("1", [], [], int(count_cap) + 1, ordered=False)
    count = SqlQuery(f"SELECT count(*) FROM ({count.text}) AS capped", count.params)
    estimate = _plain("1", query, bounds + where, bound_params + params, order=False, limit=None)
    estimate = SqlQuery(f"EXPLAIN (FORMAT JSON) {estimate.text}", estimate.params)

    # Every column of the wide row: a job card is made from it (``service._job_card``).
    cards = "card.*"
    join = f"AS p JOIN {SEARCH_TABLE} AS card ON card.job_id = p.job_id"
    window = after.window if after is not None else None
    if sort == "relevance":
        extra, extra_params = [], []
        if window is not None:
            extra.append("(j.published_at, j.job_id) <= (%s, %s)")
            extra.append("(j.published_at, j.job_id) >= (%s, %s)")
            extra_params += [window.newest_published_at, window.newest_job_id]
            extra_params += [window.oldest_published_at, window.oldest_job_id]
        candidates = matches(
            "j.job_id, j.published_at, j.document, q", extra, extra_params, RELEVANCE_CANDIDATES
        )
        ranked = (
            f"SELECT c.job_id, c.published_at, {RANK_SQL} AS rank, {_WINDOW}"
            f" FROM ({candidates.text}) AS c WINDOW w AS"
            " (ORDER BY c.published_at DESC, c.job_id DESC"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        )
        page_where, page_params = [], []
        if after is not None:
            page_where.append("(r.rank, r.published_at, r.job_id) < (%s, %s, %s)")
            page_params = [after.rank, after.published_at, after.job_id]
        page = SqlQuery(
            f"SELECT {cards}, p.rank, p.newest_published_at, p.newest_job_id,"
            " p.oldest_published_at, p.oldest_job_id FROM ("
            f"SELECT r.* FROM ({ranked}) AS r{_where_sql(page_where)}"
            " ORDER BY r.rank DESC, r.published_at DESC, r.job_id DESC LIMIT %s"
            f") {join} ORDER BY p.rank DESC, p.published_at DESC, p.job_id DESC",
            (*candidates.params, *page_params, limit + 1),
        )
    else:
        extra, extra_params = [], []
        if after is not None:
            extra.append("(j.published_at, j.job_id) < (%s, %s)")
            extra_params += [after.published_at, after.job_id]
        if keywords:
            rows = matches("j.job_id, j.published_at", extra, extra_params, limit + 1)
        else:  # the newest-first index walk is the plan already
            rows = _plain(
                "j.job_id, j.published_at",
                query,
                bounds + extra + where,
                bound_params + extra_params + params,
                order=True,
                limit=limit + 1,
            )
        page = SqlQuery(
            f"SELECT {cards}, NULL::bigint AS rank FROM ({rows.text})"
            f" {join} ORDER BY p.published_at DESC, p.job_id DESC",
            rows.params,
        )
    return SearchPlan(
        page=page,
        count=count,
        estimate=estimate,
        sort=sort,
        limit=limit,
        count_cap=int(count_cap),
        window=window,
    )


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

    Each row has ``job_id``, ``published_at`` (aware datetime) and ``rank``; relevance rows
    also the candidate window (``newest_published_at``, ``newest_job_id``,
    ``oldest_published_at``, ``oldest_job_id``), which the first page's cursor keeps.
    """
    items = list(rows[: plan.limit])
    if len(rows) <= plan.limit or not items:
        return items, None
    last = items[-1]
    window = None
    if plan.sort == "relevance":
        first = items[0]
        window = plan.window or CandidateWindow(
            first["newest_published_at"],
            first["newest_job_id"],
            first["oldest_published_at"],
            first["oldest_job_id"],
        )
    position = CursorPosition(
        published_at=last["published_at"],
        job_id=last["job_id"],
        rank=last["rank"] if plan.sort == "relevance" else None,
        window=window,
    )
    return items, encode_cursor(position, plan.sort, filters, secret)


def capped_total(counted: int, plan: SearchPlan, estimate: int | None = None) -> tuple[int, bool]:
    """The total to report and whether it is an estimate.

    ``counted`` is what ``plan.count`` returned (at most ``count_cap + 1``): up to the cap it
    is exact; beyond, the total is the planner's ``estimate`` (``estimated_rows`` of
    ``plan.estimate``), never less than ``count_cap + 1`` since that many were counted.
    """
    if counted <= plan.count_cap:
        return counted, False
    return max(int(estimate or 0), plan.count_cap + 1), True


def estimated_rows(explained: Any) -> int:
    """The top plan node's row estimate from ``EXPLAIN (FORMAT JSON)`` output."""
    if isinstance(explained, str):
        explained = json.loads(explained)
    return int(explained[0]["Plan"]["Plan Rows"])


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
