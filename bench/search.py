"""Job search (issue 4): keyword-plus-filter searches over 1,000,000 jobs, p95 <= 30 ms.

The read model is the jobs service's own ``job_search`` table in a throwaway database
migrated for ``jobs``. Its rows are not appended as events (a million jobs through the
append path would take too long); they are made by the projection's own code instead:

- each job's ``JobCreated`` data (and ``JobPublished``/``JobClosed`` after it) is folded by
  ``projections.job_row_after``, and the client columns come from
  ``projections.client_search_columns`` of a ``ClientStats``;
- the rows go by COPY into an unlogged staging table with the three texts of
  ``search.document_params``; one INSERT ... SELECT per core then fills ``job_search``,
  computing ``document`` with ``search.DOCUMENT_SQL`` itself (its placeholders pointed at
  the staging columns), with the migrations' secondary indexes dropped meanwhile and then
  rebuilt from their own definitions (``pg_indexes``); VACUUM ANALYZE last.
- search reads ``job_search_open`` (migration 0002), which a row trigger on ``job_search``
  keeps. For the bulk load the trigger is disabled and the migration's own
  ``job_search_open_refill()`` fills the table from ``job_search`` in one statement (in
  publish order, the order a live table receives its rows in), then the trigger is enabled.

The searches are ``JobsService.search_jobs`` called directly (its schema, cursor check,
``search.build_search``, the page query, the total count and the cards query), with a
``Storage`` over the service's projections and a stand-in caller. A few hundred varied
searches: keywords from the skills taxonomy (``identity/skills.txt``) and the category
labels, filters on category, experience level, budget range and posted-since, sorted by
relevance and by newest, anonymous and signed-in, first pages and the next page through
the returned cursor. Each call is timed end to end; percentiles are over all of them and
per kind. The slowest searches are then explained (EXPLAIN (ANALYZE, BUFFERS) of their
page and count queries) into the JSON.

With ``SEARCH_TRIALS`` (a dict of name -> list of SQL statements, empty by default) each
trial is applied to the same throwaway database after the baseline and the same searches
are timed again: a way to measure a proposed index or setting before anyone changes
``services/jobs``.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bench.common import Context, percentile, summarize, throwaway_database
from services.jobs import projections
from services.jobs.domain import EXPERIENCE_LEVELS, HOURS_PER_WEEK, PROJECT_LENGTHS
from services.jobs.projections import (
    JOB_SEARCH_COLUMNS,
    ClientStats,
    client_search_columns,
    job_row_after,
    read_model_projections,
)
from services.jobs.search import DOCUMENT_SQL, SEARCH_TABLE, build_search, document_params
from services.jobs.service import JobsService
from services.jobs.taxonomy import DEFAULT_SKILLS_FILE, default_taxonomy
from shared.auth import ANONYMOUS, Caller
from shared.eventstore import PostgresEventStore
from shared.storage import Storage

NAME = "search"
TARGET_P95_MS = 30.0
JSON_COLUMNS = {"budget", "screening_questions", "attachments"}
STAGE = "bench_job_search_stage"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HISTORY_DAYS = 365
SECRET = "bench-cursor-secret"

# Extra statements to try on the throwaway database after the baseline (see the docstring).
# The issue 4 trial (partial indexes) is in services/jobs/migrations/0002 now.
SEARCH_TRIALS: dict[str, list[str]] = {}
OPEN_TABLE = "job_search_open"
OPEN_TRIGGER = "job_search_open_sync"

_FILLER = (
    "we are looking for an experienced professional to help with our project the work "
    "includes planning building testing and documentation please share examples of similar "
    "work your availability and an estimate long term collaboration possible for the right "
    "person fast communication and attention to detail matter to us startup small business "
    "agency team remote flexible deadline budget negotiable"
).split()
_TITLE_NOUNS = (
    "needed",
    "expert wanted",
    "for a small business",
    "project",
    "help needed",
    "specialist",
    "for ongoing work",
    "consultant",
    "developer wanted",
    "quick fix",
)


# -- the taxonomy --------------------------------------------------------------------------


def skill_sections() -> list[list[str]]:
    """Skill names of identity's seed list, grouped by their ``[Section]``."""
    sections: list[list[str]] = []
    for line in DEFAULT_SKILLS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            sections.append([])
            continue
        if sections:
            name = line.split("|", 1)[0].strip()
            if name:
                sections[-1].append(name)
    return [s for s in sections if s]


class JobMaker:
    """Generates ``JobCreated`` data and folds it into a ``job_search`` row."""

    def __init__(self, seed: int, clients: int):
        self.rng = random.Random(seed)
        self.sections = skill_sections()
        taxonomy = default_taxonomy()
        self.categories = [
            (c.slug, sub, label)
            for c in taxonomy.categories.values()
            for sub, label in c.subcategories.items()
        ]
        # Popular skills are much more common than rare ones, as on a real marketplace.
        self.section_weights = [1.0 / (i + 1) ** 0.6 for i in range(len(self.sections))]
        self.skill_weights = [[1.0 / (j + 1) ** 0.9 for j in range(len(s))] for s in self.sections]
        self.clients = [
            (
                str(uuid.UUID(int=self.rng.getrandbits(128))),
                client_search_columns(
                    ClientStats(
                        client_id="-",
                        payment_verified=self.rng.random() < 0.6,
                        total_hires=self.rng.choice((0, 0, 0, 1, 2, 3, 5, 8, 12, 30)),
                        suspended=self.rng.random() < 0.01,
                    )
                ),
            )
            for _ in range(clients)
        ]

    def _skills(self) -> tuple[int, list[str]]:
        rng = self.rng
        si = rng.choices(range(len(self.sections)), self.section_weights)[0]
        chosen = set(rng.choices(self.sections[si], self.skill_weights[si], k=rng.randint(1, 5)))
        return si, sorted(chosen)

    def row(self) -> dict:
        rng = self.rng
        job_id = str(uuid.UUID(int=rng.getrandbits(128)))
        client_id, client_columns = rng.choice(self.clients)
        si, skills = self._skills()
        category, subcategory, sub_label = self.categories[
            (si * 3 + rng.randrange(3)) % len(self.categories)
        ]
        title = f"{skills[0]} {rng.choice(_TITLE_NOUNS)}"
        if rng.random() < 0.5:
            title = f"{sub_label}: {title}"
        words = [rng.choice(_FILLER) for _ in range(rng.randint(30, 110))]
        for skill in skills:
            words.insert(rng.randrange(len(words)), skill)
        words.insert(rng.randrange(len(words)), sub_label.lower())
        if rng.random() < 0.6:
            low = rng.choice((50, 100, 250, 500, 1000, 2500, 5000)) * 100
            budget = {"type": "fixed", "amount": {"amount": low, "currency": "USD"}}
        else:
            low = rng.choice((10, 15, 20, 30, 45, 60)) * 100
            high = low + rng.choice((5, 10, 20, 40)) * 100
            budget = {
                "type": "hourly",
                "min": {"amount": low, "currency": "USD"},
                "max": {"amount": high, "currency": "USD"},
            }
        # Newer jobs are denser; most old ones are closed, most recent ones open.
        age = timedelta(days=HISTORY_DAYS * rng.random() ** 1.5)
        published = NOW - age
        created = published - timedelta(minutes=rng.randint(1, 600))
        details = {
            "title": title,
            "description": " ".join(words),
            "category": category,
            "subcategory": subcategory,
            "skills": skills,
            "experience_level": rng.choice(EXPERIENCE_LEVELS),
            "project_length": rng.choice(PROJECT_LENGTHS),
            "hours_per_week": rng.choice((*HOURS_PER_WEEK, None)),
            "visibility": rng.choices(("public", "signed_in", "invite_only"), (85, 10, 5))[0],
            "budget": budget,
            "screening_questions": [],
            "attachments": [],
            "contract_to_hire": rng.random() < 0.1,
        }
        row = job_row_after(
            None,
            "JobCreated",
            {"job_id": job_id, "client_id": client_id, "created_at": created, "details": details},
        )
        row.update(client_columns)
        row = job_row_after(
            row,
            "JobPublished",
            {
                "job_id": job_id,
                "published_at": published,
                "expires_at": published + timedelta(days=30),
            },
        )
        if rng.random() > (0.9 if age < timedelta(days=30) else 0.25):
            row = job_row_after(
                row,
                "JobClosed",
                {"job_id": job_id, "reason": "no_longer_needed", "closed_at": published + age / 2},
            )
        return row


# -- loading -------------------------------------------------------------------------------


def load_jobs(dsn: str, count: int, seed: int = 11) -> dict[str, float]:
    """Fill ``job_search`` with ``count`` generated jobs (see the module docstring)."""
    timings: dict[str, float] = {}
    maker = JobMaker(seed, clients=max(count // 10, 10))
    stage_columns = [*JOB_SEARCH_COLUMNS, "doc_a", "doc_b", "doc_c", "part"]
    parts = 2
    with psycopg.connect(dsn, autocommit=True) as conn:
        indexes = [
            (name, definition)
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
                " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                ([SEARCH_TABLE, OPEN_TABLE],),
            )
        ]
        conn.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                sql.Identifier(SEARCH_TABLE), sql.Identifier(OPEN_TRIGGER)
            )
        )
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT * FROM {} WITH NO DATA").format(
                sql.Identifier(STAGE), sql.Identifier(SEARCH_TABLE)
            )
        )
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} DROP COLUMN document, ADD COLUMN doc_a text,"
                " ADD COLUMN doc_b text, ADD COLUMN doc_c text, ADD COLUMN part int"
            ).format(sql.Identifier(STAGE))
        )
        started = time.perf_counter()
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(STAGE), sql.SQL(", ").join(map(sql.Identifier, stage_columns))
        )
        with conn.cursor().copy(copy_sql) as copy:
            for i in range(count):
                row = maker.row()
                values = [
                    Jsonb(row[c]) if c in JSON_COLUMNS else row[c] for c in JOB_SEARCH_COLUMNS
                ]
                values.extend(document_params(row["title"], row["skills"], row["description"]))
                values.append(i % parts)
                copy.write_row(values)
        timings["generate_and_copy_s"] = time.perf_counter() - started

        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

    # The document is computed by the projection's own SQL, one INSERT per core.
    names = sql.SQL(", ").join(map(sql.Identifier, JOB_SEARCH_COLUMNS))
    document = sql.SQL(DOCUMENT_SQL.replace("%s", "{}")).format(
        sql.Identifier("doc_a"), sql.Identifier("doc_b"), sql.Identifier("doc_c")
    )
    insert = sql.SQL("INSERT INTO {} ({}, document) SELECT {}, {} FROM {} WHERE part = %s").format(
        sql.Identifier(SEARCH_TABLE), names, names, document, sql.Identifier(STAGE)
    )
    errors: list[BaseException] = []

    def fill(part: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(insert, (part,))
        except BaseException as exc:  # reported below, from the main thread
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=fill, args=(p,)) for p in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    timings["documents_s"] = time.perf_counter() - started

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(STAGE)))
        started = time.perf_counter()
        conn.execute("SELECT job_search_open_refill()")
        conn.execute(
            sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(
                sql.Identifier(SEARCH_TABLE), sql.Identifier(OPEN_TRIGGER)
            )
        )
        timings["open_table_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        timings["indexes_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for table in (SEARCH_TABLE, OPEN_TABLE):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    return {k: round(v, 1) for k, v in timings.items()}


# -- the searches --------------------------------------------------------------------------


class _Caller:
    """Stands in for ``CallerContext``: ``current`` is already verified."""

    def __init__(self) -> None:
        self.current: Caller = ANONYMOUS

    def authenticated(self) -> Caller:
        return self.current

    def require_role(self, *roles: str) -> Caller:
        return self.current.require_role(*roles)


def make_searches(n: int, seed: int = 5) -> list[tuple[str, dict, bool]]:
    """``n`` varied searches: (kind, search_jobs arguments, signed in?)."""
    rng = random.Random(seed)
    sections = skill_sections()
    taxonomy = default_taxonomy()
    popular = [name for section in sections for name in section[:6]]
    rare = [name for section in sections for name in section[6:]]
    labels = [label for c in taxonomy.categories.values() for label in c.subcategories.values()]
    categories = list(taxonomy.categories)
    searches = []
    for _ in range(n):
        args: dict[str, Any] = {}
        pick = rng.random()
        if pick < 0.45:
            args["keywords"] = rng.choice(popular)
        elif pick < 0.65:
            args["keywords"] = rng.choice(rare)
        elif pick < 0.75:
            args["keywords"] = f"{rng.choice(popular)} {rng.choice(popular)}"
        elif pick < 0.87:
            args["keywords"] = rng.choice(labels).split(":")[0].replace(",", "")
        if rng.random() < 0.4:
            args["category"] = rng.choice(categories)
        if rng.random() < 0.4:
            args["experience_levels"] = rng.sample(EXPERIENCE_LEVELS, rng.randint(1, 2))
        if rng.random() < 0.3:
            low = rng.choice((0, 100, 500, 1000, 2500)) * 100
            args["budget_min"] = {"amount": low, "currency": "USD"}
            if rng.random() < 0.6:
                high = low + rng.choice((500, 1000, 5000)) * 100
                args["budget_max"] = {"amount": high, "currency": "USD"}
        if rng.random() < 0.3:
            days = rng.choice((1, 3, 7, 30, 90))
            args["posted_since"] = (NOW - timedelta(days=days)).isoformat()
        if args.get("keywords") and rng.random() < 0.3:
            args["sort"] = "newest"
        sort = "relevance" if args.get("keywords") and args.get("sort") != "newest" else "newest"
        searches.append((sort, args, rng.random() < 0.5))
    return searches


def _service(dsn: str) -> tuple[JobsService, PostgresEventStore, _Caller]:
    store = PostgresEventStore.connect(dsn, max_size=2, projections=read_model_projections())
    svc = JobsService()
    svc.store = Storage(store, {"correlation_id": "bench", "causation_id": "bench"})
    caller = _Caller()
    svc.caller = caller
    svc.config = {"SEARCH_CURSOR_SECRET": SECRET}
    return svc, store, caller


def time_searches(dsn: str, searches: list[tuple[str, dict, bool]], next_share: float = 0.35):
    """Run every search (and, for some, the next page); returns the timed samples:
    ``(kind, seconds, args, signed_in, total, after_cursor)``."""
    svc, store, caller = _service(dsn)
    rng = random.Random(3)
    viewer = Caller(user_id=str(uuid.uuid4()), roles=frozenset({"freelancer"}))
    samples = []
    try:
        for _, args, signed_in in searches[:10]:  # warm the pool and the caches a little
            caller.current = viewer if signed_in else ANONYMOUS
            svc.search_jobs(**args)
        for sort, args, signed_in in searches:
            caller.current = viewer if signed_in else ANONYMOUS
            started = time.perf_counter()
            first = svc.search_jobs(**args)
            samples.append(
                (
                    f"{sort} first",
                    time.perf_counter() - started,
                    args,
                    signed_in,
                    first["total"],
                    None,
                )
            )
            if first["next_cursor"] and rng.random() < next_share:
                started = time.perf_counter()
                svc.search_jobs(**args, cursor=first["next_cursor"])
                samples.append(
                    (
                        f"{sort} next",
                        time.perf_counter() - started,
                        args,
                        signed_in,
                        first["total"],
                        first["next_cursor"],
                    )
                )
    finally:
        store.close()
    return samples


def _ms(values: list[float]) -> dict[str, float]:
    stats = summarize(values)
    return {
        "p50_ms": round(stats["p50"] * 1000, 2),
        "p95_ms": round(stats["p95"] * 1000, 2),
        "p99_ms": round(stats["p99"] * 1000, 2),
        "n": stats["n"],
    }


def _figures(samples) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, seconds, *_ in samples:
        by_kind[kind].append(seconds)
    return {
        "all": _ms([s[1] for s in samples]),
        "by_kind": {kind: _ms(values) for kind, values in sorted(by_kind.items())},
    }


def explain_slowest(dsn: str, samples, how_many: int = 3) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of the page and count queries of the slowest searches."""
    from services.jobs import schemas
    from services.jobs.search import decode_cursor

    out = []
    slowest = sorted(samples, key=lambda s: s[1], reverse=True)[:how_many]
    with psycopg.connect(dsn) as conn:
        for kind, seconds, args, signed_in, total, cursor in slowest:
            loaded = schemas.SearchJobsSchema().load({**args, "cursor": cursor})
            viewer = (
                projections.Actor("bench-viewer", frozenset({"freelancer"})) if signed_in else None
            )
            after = (
                decode_cursor(cursor, build_search(loaded, viewer).sort, loaded, SECRET.encode())
                if cursor
                else None
            )
            plan = build_search(loaded, viewer, after)
            entry = {"kind": kind, "ms": round(seconds * 1000, 1), "args": args, "total": total}
            for label, query in (("page", plan.page), ("count", plan.count)):
                rows = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + query.text, query.params
                ).fetchall()
                entry[f"{label}_plan"] = [r[0] for r in rows]
            out.append(entry)
    return out


# -- the benchmark -------------------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    jobs = ctx.size(1_000_000, 20_000)
    searches = make_searches(ctx.size(400, 60))
    load_average = round(os.getloadavg()[0], 2)
    with throwaway_database("search", service="jobs") as dsn:
        started = time.perf_counter()
        load = load_jobs(dsn, jobs)
        load["total_s"] = round(time.perf_counter() - started, 1)
        with psycopg.connect(dsn) as conn:
            open_jobs = conn.execute(
                "SELECT count(*) FROM job_search WHERE status = 'open'"
            ).fetchone()[0]
            size = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('job_search'))"
            ).fetchone()[0]
            open_size = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('job_search_open'))"
            ).fetchone()[0]
        samples = time_searches(dsn, searches)
        baseline = _figures(samples)
        slow = explain_slowest(dsn, samples)
        trials = {}
        for name, statements in SEARCH_TRIALS.items():
            with psycopg.connect(dsn, autocommit=True) as conn:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("ANALYZE job_search")
            trials[name] = {"statements": statements, **_figures(time_searches(dsn, searches))}

    p95 = baseline["all"]["p95_ms"]
    totals = [s[4] for s in samples]
    result: dict[str, Any] = {
        "machine": ctx.machine,
        "jobs": jobs,
        "open_jobs": open_jobs,
        "table_size": size,
        "search_table_size": open_size,
        "load_average_1m_at_start": load_average,
        "load": load,
        "searches": len(samples),
        "matches_per_search": {
            "p50": percentile(totals, 50),
            "p95": percentile(totals, 95),
            "max": max(totals),
        },
        "latency": baseline,
        "target": {"p95_ms": TARGET_P95_MS, "met": p95 <= TARGET_P95_MS},
        "slowest": slow,
    }
    if trials:
        result["trials"] = trials
    result["cases"] = [
        {"case": "all searches", **baseline["all"]},
        *({"case": kind, **figures} for kind, figures in baseline["by_kind"].items()),
        *({"case": f"trial {name}", **t["all"]} for name, t in trials.items()),
    ]
    return result


def summary(result: dict[str, Any]) -> list[str]:
    p95 = result["latency"]["all"]["p95_ms"]
    verdict = "met" if result["target"]["met"] else "MISSED"
    return [
        f"{result['jobs']:,} jobs ({result['open_jobs']:,} open), loaded in "
        f"{result['load']['total_s']} s",
        f"target search p95 <= {TARGET_P95_MS:.0f} ms (got {p95:.1f} ms): {verdict}",
        *(
            f"trial {name}: p95 {trial['all']['p95_ms']:.1f} ms (baseline {p95:.1f} ms)"
            for name, trial in result.get("trials", {}).items()
        ),
    ]
