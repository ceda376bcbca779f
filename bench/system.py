"""The whole platform (issue 13): gateway latency, event propagation, hire-to-paid flows, growth.

The six services and the gateway run as separate ``nameko run`` processes with their own
``config.yaml``, each on a fresh database made here (migrated, dropped at the end), all on a
fresh RabbitMQ vhost (made and deleted through the management API), sharing one movable
clock (``CLOCK=offset:<file>``), the gateway on a free local port. Identity is seeded with an
operator. Settings changed from the shipped defaults, for a benchmark: cheap argon2 (users
are registered by the hundred), access tokens that outlive the run (the clock is moved by
days), and the gateway's login and proposal rate limits raised (every simulated user comes
from 127.0.0.1 and proposes many times an hour). They are listed in the JSON (``settings``).

Parts, each with ``os.getloadavg()`` at its start (other work shares this machine). Before
each timed phase the run waits, up to 30 s, until the machine is under 15% busy over a
second (``settle``; the wait and the busy share are in ``settled``), so that the work one
phase leaves behind is not charged to the next:

- ``gateway_rpc``: ``GET /v1/me`` (gateway -> identity.me -> back) at 50, 200 and 500
  requests/s, open loop: request *i* is due at ``start + i / rate``; a pool of threads, each
  with its own keep-alive connection, takes the next due request, and its latency
  runs from the due time to the response, so a stalled server is charged for the requests
  that queue behind it (no coordinated omission).
- ``raw_rpc``: ``identity.me`` over a ``ClusterRpcProxy``, sequential: the floor.
- ``propagation``: a client publishes a job over RPC (``jobs.create_job(publish=True)``);
  the time from that commit in jobs' database to the commit of bidding's listing of the job
  (the read model ``quote_proposal`` answers from, made from jobs' ``JobPublished``), both
  timed by the arrival of their commits' NOTIFY at listening threads (``CommitWatch``).
  Then one ``quote_proposal`` over RPC must answer; ``client_observed`` runs from
  create_job's return to that answer.
- ``flows``: N client+freelancer pairs, each a thread, repeat the fixed-price story through
  the gateway for a fixed time: post+publish a job, wait until bidding lists it, propose,
  offer, accept, wait for escrow's contract, deposit + operator settlement, fund, submit,
  approve. Completed flows/s, per-step latency, CPU (from ``/proc/<pid>/stat``) and RSS
  (``/proc/<pid>/status``) per process (PostgreSQL's backends for our databases apart from
  the rest of the server; RabbitMQ and the rest are shared with other work), transactions
  per flow in each database, relay lag from each service's health RPC. At the end the clock
  moves six days and the freelancers' earnings must become available (paid).
- ``growth_during_flows``: the main reads of one fixed pair (search, list proposals,
  wallet, ledger page, message page, score), sequential over RPC, at the log sizes the
  flow phases reach (a few thousand events).
- ``growth``: the same reads after bulk filling, services stopped, to 10k, 100k and 1M
  filler events per grown log (quick: 2k, 10k); see ``bulk_growth`` for what is grown and
  how, and ``fill_seconds`` in each point for what filling cost.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import psycopg
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from psycopg.conninfo import conninfo_to_dict

import shared.errors  # noqa: F401 - the typed remote errors
from bench.common import Context, percentile, throwaway_database, write_json
from services.escrow.domain import contract_id_for_offer
from services.identity.passwords import PasswordHasher
from shared.auth import bearer
from shared.clock import advance_offset_clock

NAME = "system"
ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("identity", "jobs", "bidding", "escrow", "messaging", "reputation")
PASSWORD = "a long benchmark passphrase"
OPERATOR = {"email": "ops@bench.test", "password": "operator passphrase 42"}
BID, DEPOSIT = 450_00, 500_00
TARGETS = {
    "gateway_p50_ms": 5.0,
    "gateway_p99_ms": 20.0,
    "propagation_p50_ms": 10.0,
    "propagation_p99_ms": 50.0,
    "flows_per_s": 20.0,
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _amqp_base() -> str:
    return os.environ.get("MARKETPLACE_AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/")


def _rabbit_api() -> str:
    return os.environ.get("MARKETPLACE_RABBIT_API_URI", "http://guest:guest@127.0.0.1:15672")


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _busy_share(seconds: float) -> float:
    """The share of the machine's CPU time (all cores, steal included) not idle over
    ``seconds``, from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(fields), fields[3] + fields[4]  # all of user..steal; idle + iowait

    total, idle = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    return 1 - (idle_after - idle) / max(1, total_after - total)


def settle(most: float = 30.0, busy_below: float = 0.15) -> dict:
    """Wait until the machine is quiet (under ``busy_below`` busy over one second) or
    ``most`` seconds have passed, so that what one phase leaves running (consumers and relays
    catching up, PostgreSQL's background writes) is not charged to the next. The wait and
    the last second's busy share go into the JSON."""
    started = time.monotonic()
    busy = _busy_share(1.0)
    while busy >= busy_below and time.monotonic() - started < most:
        busy = _busy_share(1.0)
    return {"waited_s": round(time.monotonic() - started, 1), "busy_share": round(busy, 3)}


def _usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


# -- the platform ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _vhost() -> Any:
    api = urlparse(_rabbit_api())
    base = f"{api.scheme}://{api.hostname}:{api.port or 15672}/api"
    auth = (api.username or "guest", api.password or "guest")
    name = f"bench-system-{uuid.uuid4().hex[:8]}"
    user = urlparse(_amqp_base()).username or "guest"
    requests.put(f"{base}/vhosts/{quote(name, safe='')}", auth=auth, timeout=10).raise_for_status()
    try:
        requests.put(
            f"{base}/permissions/{quote(name, safe='')}/{user}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=auth,
            timeout=10,
        ).raise_for_status()
        amqp = urlparse(_amqp_base())
        yield f"{amqp.scheme}://{amqp.netloc}/{quote(name, safe='')}"
    finally:
        requests.delete(f"{base}/vhosts/{quote(name, safe='')}", auth=auth, timeout=10)


def _cpu_ticks(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _server_ticks(databases: tuple[str, ...]) -> dict[str, dict[int, int]]:
    """CPU ticks per process of PostgreSQL (the backends serving our databases, and the rest
    of the server, shared with whatever else runs here) and of RabbitMQ (shared)."""
    ours, rest, rabbit = "postgres (our backends)", "postgres (rest, shared)", "rabbitmq (shared)"
    ticks: dict[str, dict[int, int]] = {ours: {}, rest: {}, rabbit: {}}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            comm = (entry / "comm").read_text().strip()
            if comm.startswith("postgres"):
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
                mine = any(name in title for name in databases)
                ticks[ours if mine else rest][pid] = _cpu_ticks(pid)
            elif comm in ("beam.smp", "erl_child_setup", "epmd"):
                ticks[rabbit][pid] = _cpu_ticks(pid)
        except OSError:
            continue
    return ticks


def _own_ticks() -> int:
    times = os.times()
    return int((times.user + times.system) * CLK_TCK)


class Platform:
    """The running marketplace: processes, their databases, the vhost, the clock file."""

    def __init__(self, amqp_uri: str, dsns: dict[str, str], workdir: Path):
        self.amqp_uri = amqp_uri
        self.dsns = dsns
        self.workdir = workdir
        self.clock_file = workdir / "clock-offset"
        self.clock_file.write_text("0")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.settings = {
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_MEMORY_COST": "1024",
            "IDENTITY_ARGON2_PARALLELISM": "1",
            "IDENTITY_ACCESS_TOKEN_LIFETIME_SECONDS": str(400 * 86400),
            "GATEWAY_LOGIN_RATE_CAPACITY": "100000",
            "GATEWAY_PROPOSAL_RATE_CAPACITY": "100000",
        }

    def env(self) -> dict[str, str]:
        clock = f"offset:{self.clock_file}"
        staff = [
            {
                "email": OPERATOR["email"],
                "password_hash": PasswordHasher.cheap().hash(OPERATOR["password"]),
                "display_name": "Bench Ops",
                "roles": ["operator"],
            }
        ]
        env = {
            **os.environ,
            "PSYCOPG_WAIT_FUNC": "wait_selector",
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore:pkg_resources is deprecated:UserWarning",
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}",
            "CLOCK": clock,
            "IDENTITY_SEED_STAFF": json.dumps(staff),
            "MESSAGING_BLOBSTORE_ROOT": str(self.workdir / "blobs"),
            "JOBS_SEARCH_CURSOR_SECRET": "bench-system-secret",
            **self.settings,
        }
        for service in SERVICES:
            env[f"{service.upper()}_DB_DSN"] = self.dsns[service]
            env[f"{service.upper()}_CLOCK"] = clock
            env[f"{service.upper()}_DB_MIGRATE_ON_START"] = "false"
        return env

    def start(self, timeout: float = 120.0) -> None:
        from shared.cli import service_target

        nameko = str(Path(sys.executable).with_name("nameko"))
        env = self.env()
        for service in (*SERVICES, "gateway"):
            log = open(self.workdir / f"{service}.log", "ab")  # noqa: SIM115 - closed by the child
            self.procs[service] = subprocess.Popen(
                [
                    nameko,
                    "run",
                    "--config",
                    f"services/{service}/config.yaml",
                    service_target(service),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
        deadline = time.monotonic() + timeout
        waiting = set(self.procs)
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy in {timeout:.0f} s: {sorted(waiting)}")
            for service in sorted(waiting):
                proc = self.procs[service]
                if proc.poll() is not None:
                    tail = (self.workdir / f"{service}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{service} exited with {proc.returncode}:\n{tail}")
                if self._healthy(service):
                    waiting.discard(service)
            time.sleep(0.3)

    def _healthy(self, service: str) -> bool:
        try:
            if service == "gateway":
                return requests.get(f"{self.url}/health", timeout=2).ok
            with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=2) as rpc:
                return rpc[service].health()["database"] == "ok"
        except Exception:
            return False

    def check_alive(self) -> None:
        """Raise, naming them, when any of our processes has exited (a broker outage, say)."""
        dead = {s: p.returncode for s, p in self.procs.items() if p.poll() is not None}
        if dead:
            tails = {
                s: (self.workdir / f"{s}.log").read_text(errors="replace")[-1500:] for s in dead
            }
            raise RuntimeError(f"service process(es) exited: {dead}; log tails: {tails}")

    def restart(self, between) -> float:
        """Stop every process, run ``between()``, start them again; seconds it all took."""
        started = time.perf_counter()
        self.stop()
        between()
        self.procs = {}
        self.start()
        return time.perf_counter() - started

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def rpc(self, token: str | None = None) -> ClusterRpcProxy:
        return ClusterRpcProxy(
            {"AMQP_URI": self.amqp_uri}, context_data=bearer(token) if token else None, timeout=30
        )

    def commits(self) -> dict[str, int]:
        """Transactions committed so far in each service's database (pg_stat_database)."""
        names = {conninfo_to_dict(d)["dbname"]: s for s, d in self.dsns.items()}
        admin = next(iter(self.dsns.values()))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY(%s)",
                (list(names),),
            ).fetchall()
        return {names[name]: int(count) for name, count in rows}

    def health(self) -> dict[str, dict]:
        out = {}
        with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=30) as rpc:
            for service in SERVICES:
                try:
                    out[service] = rpc[service].health()
                except Exception as exc:  # noqa: BLE001 - reported, not fatal
                    out[service] = {"error": repr(exc)}
        return out

    def advance(self, days: float) -> None:
        advance_offset_clock(str(self.clock_file), timedelta(days=days))

    def usage(self) -> dict[str, tuple[int, float | None]]:
        """Per process (or group of processes): CPU ticks by pid, and RSS of our own."""
        own = {s: ({p.pid: _cpu_ticks(p.pid)}, _rss_mib(p.pid)) for s, p in self.procs.items()}
        own["load generator (this process)"] = ({0: _own_ticks()}, None)
        databases = tuple(conninfo_to_dict(d)["dbname"] for d in self.dsns.values())
        return {**own, **{k: (v, None) for k, v in _server_ticks(databases).items()}}

    @staticmethod
    def cpu(before: dict, after: dict, wall: float) -> dict[str, dict]:
        """CPU % of one core over ``wall`` seconds; a process that started in between counts
        from its birth, one that ended in between is missing."""
        out = {}
        for name, (ticks, rss) in after.items():
            earlier = before.get(name, ({}, None))[0]
            used = sum(t - earlier.get(pid, 0) for pid, t in ticks.items())
            out[name] = {"cpu_pct": round(100 * used / CLK_TCK / wall, 1), "rss_mib": rss}
        return out


@contextlib.contextmanager
def running_platform() -> Any:
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="bench-system-"))
        stack.callback(shutil.rmtree, workdir, True)
        dsns = {s: stack.enter_context(throwaway_database(f"sys_{s}", service=s)) for s in SERVICES}
        amqp_uri = stack.enter_context(_vhost())
        platform = Platform(amqp_uri, dsns, workdir)
        stack.callback(platform.stop)
        platform.start()
        yield platform


# -- HTTP callers ---------------------------------------------------------------------------


class ApiError(RuntimeError):
    pass


_to_json, _from_json = json.dumps, json.loads  # ``Api.call`` has an argument named json


class Api:
    """One user's keep-alive connection to the gateway.

    ``http.client`` rather than ``requests``: the load generator shares the two cores with
    the platform it measures, and ``requests`` cost it three times as much CPU per flow
    (14 against 4 ms in a 64-pair run).
    A connection that fails is dropped (the next call opens a new one) and the failure
    raised, as the caller's error to count or retry.
    """

    def __init__(self, base: str, token: str | None = None):
        url = urlparse(base)
        self.address = (url.hostname, url.port)
        self.token = token
        self._conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, expect=(200, 201), json=None, headers=None) -> Any:
        sent = {"Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        body = None
        if json is not None:
            body = _to_json(json).encode()
            sent["Content-Type"] = "application/json"
        if self._conn is None:
            self._conn = http.client.HTTPConnection(*self.address, timeout=60)
        try:
            self._conn.request(method, path, body=body, headers=sent)
            reply = self._conn.getresponse()
            content = reply.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise
        if reply.status not in expect:
            text = content[:300].decode(errors="replace")
            raise ApiError(f"{method} {path}: {reply.status} {text}")
        return _from_json(content) if content else None


def make_user(base: str, role: str, name: str, attempts: int = 3) -> dict:
    """Register (idempotently) and sign in through the gateway, retrying a 5xx: a stall of
    the shared machine should not end the whole run."""
    api = Api(base)
    email = f"{role}-{uuid.uuid4().hex[:12]}@bench.test"
    body = {"email": email, "password": PASSWORD, "display_name": name, "roles": [role]}
    for attempt in range(attempts):
        try:
            user = api.call("POST", "/v1/users", json=body, headers={"Idempotency-Key": email})
            tokens = api.call("POST", "/v1/sessions", json={"email": email, "password": PASSWORD})
            break
        except (ApiError, OSError, http.client.HTTPException):
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    api.token = tokens["access_token"]
    return {"user_id": user["user_id"], "email": email, "token": api.token, "api": api}


def job_body(n: int) -> dict:
    return {
        "title": f"Build a booking site for studio chain {n}",
        "description": "A booking site for a small chain of yoga studios, with online payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "budget": {"type": "fixed", "amount": _usd(DEPOSIT)},
        "visibility": "public",
        "publish": True,
    }


def _poll(check, timeout: float = 30.0, interval: float = 0.005, most: float = 0.05) -> Any:
    """``check()`` until truthy: 5 ms apart at first, backing off to 50 ms (each probe is a
    request through the gateway, and probing harder would load what is measured)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("not reached in time")
        time.sleep(interval)
        interval = min(most, interval * 1.5)


def one_flow(base: str, client: dict, freelancer: dict, operator: Api, n: int, steps) -> dict:
    """The fixed-price story once; ``steps(name, seconds)`` records each step's time."""
    c, f = client["api"], freelancer["api"]

    def timed(name, fn):
        started = time.perf_counter()
        value = fn()
        steps(name, time.perf_counter() - started)
        return value

    job_id = timed("post_job", lambda: c.call("POST", "/v1/jobs", json=job_body(n)))["job_id"]
    quote_body = {"job_id": job_id, "bid": _usd(BID)}

    def listed():
        try:
            f.call("POST", "/v1/proposals/quote", json=quote_body)
            return True
        except ApiError:
            return False

    timed("wait_listed", lambda: _poll(listed))
    proposal_body = {
        "job_id": job_id,
        "cover_letter": "I have built booking sites for three studio chains.",
        "bid": _usd(BID),
        "estimated_duration": "1_to_3_months",
    }

    def propose():
        try:
            return f.call("POST", "/v1/proposals", json=proposal_body)
        except ApiError as exc:
            if " 409 " not in str(exc):
                raise
            f.call("POST", "/v1/connects/purchases", json={"bundle": 80})  # out of connects
            return f.call("POST", "/v1/proposals", json=proposal_body)

    proposal_id = timed("propose", propose)["proposal_id"]
    offer = timed(
        "offer",
        lambda: c.call(
            "POST",
            "/v1/offers",
            json={
                "job_id": job_id,
                "proposal_id": proposal_id,
                "kind": "fixed",
                "milestones": [{"title": "The whole site", "amount": _usd(BID)}],
                "start_date": date.today().isoformat(),
            },
        ),
    )
    timed("accept", lambda: f.call("POST", f"/v1/offers/{offer['offer_id']}/accept"))
    contract_id = contract_id_for_offer(offer["offer_id"])

    def contract():
        try:
            return c.call("GET", f"/v1/contracts/{contract_id}")
        except ApiError:
            return None

    found = timed("wait_contract", lambda: _poll(contract))
    milestone = f"/v1/contracts/{contract_id}/milestones/{found['milestones'][0]['milestone_id']}"
    deposit = timed(
        "deposit", lambda: c.call("POST", "/v1/wallet/deposits", json={"amount": _usd(DEPOSIT)})
    )
    timed(
        "settle_deposit",
        lambda: operator.call(
            "POST",
            "/v1/payments/sandbox/settlements",
            json={"operation": "deposit", "operation_id": deposit["deposit_id"]},
        ),
    )
    timed("fund", lambda: c.call("POST", f"{milestone}/fund"))
    timed("submit", lambda: f.call("POST", f"{milestone}/submit", json={"message": "Done."}))
    timed("approve", lambda: c.call("POST", f"{milestone}/approve"))
    return {"job_id": job_id, "proposal_id": proposal_id, "contract_id": contract_id}


# -- the parts ------------------------------------------------------------------------------


def gateway_rpc(platform: Platform, token: str, rate: int, seconds: float) -> dict:
    total = int(rate * seconds)
    threads = min(128, max(8, rate // 4))
    latencies: list[float] = []
    errors: defaultdict[str, int] = defaultdict(int)
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    give_up = start + seconds + 30

    def worker():
        # http.client rather than requests: a fraction of the CPU per call, so that the load
        # generator (sharing two cores with the platform) is not what limits the rate
        conn = http.client.HTTPConnection("127.0.0.1", platform.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            i = next(counter)
            if i >= total:
                conn.close()
                return
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if time.perf_counter() > give_up:  # the platform is stuck: stop, count the rest
                with lock:
                    errors["not_sent_past_deadline"] += 1
                continue
            try:
                conn.request("GET", "/v1/me", headers=headers)
                reply = conn.getresponse()
                reply.read()
                ok = reply.status == 200
                kind = str(reply.status)
            except (OSError, http.client.HTTPException) as exc:
                ok, kind = False, type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", platform.port, timeout=30)
            took = time.perf_counter() - due
            with lock:
                latencies.append(took)
                if not ok:
                    errors[kind] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    before = platform.usage()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    cpu = Platform.cpu(before, platform.usage(), elapsed)
    return {
        **_ms(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "achieved_per_s": round(total / elapsed, 1),
        "threads": threads,
        "cpu_pct": {
            k: v["cpu_pct"]
            for k, v in cpu.items()
            if k in ("gateway", "identity") or k.startswith(("postgres", "rabbitmq", "load"))
        },
    }


def raw_rpc(platform: Platform, token: str, count: int) -> dict:
    samples = []
    with platform.rpc(token) as rpc:
        for _ in range(20):
            rpc.identity.me()
        for _ in range(count):
            started = time.perf_counter()
            rpc.identity.me()
            samples.append(time.perf_counter() - started)
    return _ms(samples)


class CommitWatch:
    """A thread that hears one database's commits: the store NOTIFYs ``events_appended`` with
    the new head position as each appending transaction commits, and this records when each
    notification arrived (``perf_counter``) and the head it named. Two watches on two
    databases time a commit in one and a commit in the other on the same clock, both late by
    the same notification delivery (tens of microseconds on one host)."""

    def __init__(self, dsn: str):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("LISTEN events_appended")
        self.heard: list[tuple[float, int]] = []
        self.arrived = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while not self.stopping:
            for notify in self.conn.notifies(timeout=0.2):
                now = time.perf_counter()
                with self.arrived:
                    self.heard.append((now, int(notify.payload)))
                    self.arrived.notify_all()

    def when_head_reached(self, position: int, timeout: float = 30.0) -> float:
        """When the first notification naming ``position`` or later arrived (waits for it)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for at, head in self.heard:
                    if head >= position:
                        return at
                if not self.arrived.wait(timeout=deadline - time.monotonic()):
                    raise TimeoutError(f"no commit reached position {position}")

    def wait_beyond(self, count: int, timeout: float = 30.0) -> None:
        """Until more than ``count`` notifications have arrived in all."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.heard) > count, timeout=timeout):
                raise TimeoutError("no further commit was heard")

    def close(self) -> None:
        self.stopping = True
        self.thread.join(timeout=5)
        self.conn.close()


def _listing_position(conn: psycopg.Connection, watch: CommitWatch, job_id: str) -> int:
    """The position of bidding's ``JobListed`` for ``job_id``: looked up again only after
    each commit ``watch`` hears in bidding's database, so nothing polls meanwhile."""
    while True:
        heard = len(watch.heard)  # taken before the look-up: a commit after it wakes the wait
        row = conn.execute(
            "SELECT position FROM events WHERE stream = %s AND type = 'JobListed'",
            (f"listing-{job_id}",),
        ).fetchone()
        if row is not None:
            return row[0]
        watch.wait_beyond(heard)


def propagation(platform: Platform, client: dict, freelancer: dict, count: int) -> dict:
    """jobs' ``JobPublished`` to bidding's listing, ``count`` times, one job at a time.

    The measure: from the commit of the job's publication in jobs' database to the commit of
    the listing in bidding's (the read model quote_proposal reads), each timed by the arrival
    of its commit's NOTIFY at a ``CommitWatch``. Nothing polls while the event travels: the
    benchmark waits for bidding's commit notification, then checks once over RPC that
    bidding answers for the job (``client_observed``: from create_job's return to that
    answer, so it includes one RPC round trip)."""
    commit_to_model, client_observed = [], []
    jobs_watch, bidding_watch = (
        CommitWatch(platform.dsns["jobs"]),
        CommitWatch(platform.dsns["bidding"]),
    )
    try:
        with (
            psycopg.connect(platform.dsns["jobs"], autocommit=True) as jobs_db,
            psycopg.connect(platform.dsns["bidding"], autocommit=True) as bidding_db,
            platform.rpc(client["token"]) as c,
            platform.rpc(freelancer["token"]) as f,
        ):
            for n in range(count):
                job_id = c.jobs.create_job(**job_body(n))["job_id"]
                returned = time.perf_counter()
                published = jobs_db.execute(
                    "SELECT position FROM events WHERE stream = %s AND type = 'JobPublished'",
                    (f"job-{job_id}",),
                ).fetchone()[0]
                committed = jobs_watch.when_head_reached(published)
                listing = _listing_position(bidding_db, bidding_watch, job_id)
                listed = bidding_watch.when_head_reached(listing)
                # bidding must answer from that listing now: a NotFound fails the run
                f.bidding.quote_proposal(job_id=job_id, bid=_usd(BID), boost=0)
                commit_to_model.append(listed - committed)
                client_observed.append(time.perf_counter() - returned)
                time.sleep(0.02)  # one job at a time, the pipeline idle in between
    finally:
        jobs_watch.close()
        bidding_watch.close()
    return {**_ms(commit_to_model), "client_observed": _ms(client_observed)}


class Pair:
    def __init__(self, base: str, n: int):
        self.client = make_user(base, "client", f"Client {n}")
        self.freelancer = make_user(base, "freelancer", f"Freelancer {n}")
        self.done = 0


def make_pairs(base: str, count: int) -> list[Pair]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda n: Pair(base, n), range(count)))


def flows(platform: Platform, pairs: list[Pair], operator: Api, seconds: float) -> dict:
    step_times: defaultdict[str, list[float]] = defaultdict(list)
    completed: list[float] = []
    failures: defaultdict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    counter = itertools.count()

    def record(name, took):
        with lock:
            step_times[name].append(took)

    def worker(pair: Pair):
        # each thread its own operator session (sessions are not shared between threads)
        ops = Api(platform.url, operator.token)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                one_flow(platform.url, pair.client, pair.freelancer, ops, next(counter), record)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                with lock:
                    failures[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                time.sleep(0.2)
                continue
            with lock:
                completed.append(time.perf_counter() - started)
                pair.done += 1

    commits_before = platform.commits()
    before, t0 = platform.usage(), time.perf_counter()
    threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    processes = Platform.cpu(before, platform.usage(), wall)
    time.sleep(1.0)  # the statistics collector flushes about once a second
    commits_after = platform.commits()
    per_flow = {
        s: round((commits_after[s] - commits_before.get(s, 0)) / max(1, len(completed)), 1)
        for s in commits_after
    }
    lag = {s: h.get("relay_lag") for s, h in platform.health().items()}
    return {
        "clients": len(pairs),
        "seconds": round(wall, 1),
        "flows": len(completed),
        "flows_per_s": round(len(completed) / wall, 2),
        "flow_ms": _ms(completed),
        "steps": {name: _ms(v) for name, v in step_times.items()},
        "failures": dict(failures),
        "processes": processes,
        "db_commits_per_flow": per_flow,
        "relay_lag_at_end": lag,
    }


def reads(platform: Platform, sample: dict, repeats: int) -> dict:
    """The main reads of one fixed pair, sequential over RPC."""
    client, freelancer = sample["client"], sample["freelancer"]
    out: dict[str, dict] = {}
    with (
        platform.rpc() as anon,
        platform.rpc(client["token"]) as c,
        platform.rpc(freelancer["token"]) as f,
    ):
        cases = {
            "search": lambda: anon.jobs.search_jobs(keywords="python", limit=20),
            "search_newest": lambda: anon.jobs.search_jobs(limit=20),
            "list_proposals": lambda: c.bidding.list_proposals(job_id=sample["job_id"]),
            "wallet": lambda: c.escrow.wallet(),
            "ledger_page": lambda: c.escrow.ledger(
                account=f"client_wallet:{client['user_id']}", currency="USD", limit=20
            ),
            "message_page": lambda: f.messaging.list_messages(room_id=sample["room_id"], limit=20),
            "score": lambda: f.reputation.get_score(freelancer_id=freelancer["user_id"]),
        }
        for name, call in cases.items():
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - reported
                out[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
                continue
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                call()
                samples.append(time.perf_counter() - started)
            out[name] = _ms(samples)
    return out


def _log_sizes(platform: Platform) -> dict[str, int]:
    return {s: h.get("log_head", 0) for s, h in platform.health().items()}


def _growth_point(platform: Platform, sample: dict, repeats: int) -> dict:
    sizes = _log_sizes(platform)
    return {
        "load_average": _load(),
        "events_total": sum(sizes.values()),
        "events": sizes,
        "reads": reads(platform, sample, repeats),
    }


def _sample_world(platform: Platform, operator: Api) -> dict:
    """One pair with a finished flow, a room with messages: what the growth reads look at."""
    pair = Pair(platform.url, 9999)
    ids = one_flow(platform.url, pair.client, pair.freelancer, operator, 0, lambda *_: None)
    f = pair.freelancer["api"]
    rooms = _poll(lambda: f.call("GET", "/v1/rooms")["rooms"], timeout=30, interval=0.05)
    room_id = rooms[0]["room_id"]
    for i in range(30):
        f.call("POST", f"/v1/rooms/{room_id}/messages", json={"body": f"Progress note {i}."})
    return {
        "client": pair.client,
        "freelancer": pair.freelancer,
        "job_id": ids["job_id"],
        "room_id": room_id,
    }


def _growth_summary(points: list[dict]) -> dict:
    if len(points) < 2:
        return {"points": points}
    first, last = points[0], points[-1]
    ratios = {}
    for name, figures in last["reads"].items():
        before = first["reads"].get(name, {})
        if "p50_ms" in figures and before.get("p50_ms"):
            ratios[name] = round(figures["p50_ms"] / before["p50_ms"], 2)
    return {
        "sizes": [p["events_total"] for p in points],
        "sizes_note": (
            "events across the six logs when each point was measured; the logs grow only as "
            "fast as the flow phases fill them, so these are not the 10k/100k/1M of the issue"
        ),
        "events_ratio": round(last["events_total"] / max(1, first["events_total"]), 2),
        "p50_ratio_last_to_first": ratios,
        "points": points,
    }


# -- growth by bulk filling ------------------------------------------------------------------


def _mark_published(dsn: str, service: str) -> None:
    """Filler is not for consumers: the relay starts after it (the services are stopped)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO relay_position (relay, position)"
            " SELECT %s, coalesce(max(position), 0) FROM events"
            " ON CONFLICT (relay) DO UPDATE SET position = excluded.position, updated_at = now()",
            (f"{service}.events",),
        )


def _fill_messages(dsn: str, room_id: str, senders: list[str], count: int) -> None:
    import random

    from bench.messaging import _fill
    from services.messaging.projections import MessagingProjection
    from shared.eventstore import PostgresEventStore
    from shared.storage import Storage

    store = PostgresEventStore.connect(dsn, max_size=2, projections=[MessagingProjection()])
    try:
        storage = Storage(store, {"correlation_id": "bench-fill", "causation_id": "bench-fill"})
        _fill(storage, room_id, senders, count, random.Random(count))
    finally:
        store.close()


def _fill_from_own_log(dsn: str, service: str, count: int) -> dict:
    """Grow ``service``'s log by ``count`` events: copies of what its own log holds by now
    (real events of the flows run before, in position order), every UUID in them fresh in
    each copy, so the copies are other users' jobs, proposals, offers and contracts. They
    are appended through the service's own projections, so its read models grow with the
    log as they do in production."""
    from bench.audit import copies
    from shared.clock import ManualClock
    from shared.domain import NewEvent
    from shared.eventstore import PostgresEventStore

    if service == "bidding":
        from services.bidding.read_models import read_models

        projections = read_models()
    else:
        from services.reputation.read_models import ReputationReadModel

        projections = [ReputationReadModel()]
    with psycopg.connect(dsn, autocommit=True) as conn:
        template = [
            NewEvent(type_, json.loads(data), stream, 1, json.loads(metadata))
            for stream, type_, data, metadata in conn.execute(
                "SELECT stream, type, data::text, metadata::text FROM events"
                " ORDER BY position LIMIT 20000"
            )
        ]
    if not template:
        raise RuntimeError(f"{service}'s log is empty: nothing to copy")
    # ids here are UUIDs with dashes (users, offers) or 32 hex digits (jobs); longer hex
    # runs (digests) are left whole
    store = PostgresEventStore.connect(
        dsn, max_size=1, projections=projections, clock=ManualClock(datetime.now(UTC))
    )
    try:
        batch: list = []
        for event in copies(template, count, _ANY_ID):
            batch.append(event)
            if len(batch) == FILL_BATCH:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)
    finally:
        store.close()
    return {"template_events": len(template)}


FILL_BATCH = 500


def _load_jobs(dsn: str, seed: int, count: int) -> None:
    """``bench.search.load_jobs`` with a seed of its own per growth round (fresh job ids)."""
    from bench.search import load_jobs

    load_jobs(dsn, count, seed=seed)


def _timed(step, *args) -> float:
    """``step(*args)`` in a worker process; the seconds it took."""
    started = time.perf_counter()
    step(*args)
    return round(time.perf_counter() - started, 1)


_ANY_ID = re.compile(
    r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})\b"
)


def bulk_growth(platform: Platform, sample: dict, sizes: list[int], repeats: int) -> dict:
    """The reads again after each log has been grown to ``size`` filler events.

    With the services stopped: escrow's log gets copies of a story of contracts (deposits,
    funding, releases, disputes, refunds: ``bench.audit``), its ledger projection kept as the
    service keeps it; messaging's log gets messages in the sample pair's own room (a deeper
    room, same domain and projection: ``bench.messaging``); jobs' search read model gets
    generated jobs (``bench.search``: rows, not events, half as many as the size since a job
    is at least two events); bidding's and reputation's logs get copies of their own flows
    with other users' ids (``_fill_from_own_log``), through their projections. The relays
    are then set past the filler, so no consumer sees it, and the platform starts again
    before the reads are timed.
    """
    from bench.audit import fill as fill_escrow

    points = []
    grown = {
        "escrow_events": 0,
        "messaging_events": 0,
        "job_rows": 0,
        "bidding_events": 0,
        "reputation_events": 0,
    }
    for size in sizes:
        timings: dict[str, float] = {}
        errors: dict[str, str] = {}

        def between(size=size, timings=timings, errors=errors) -> None:
            dsns = platform.dsns
            senders = [sample["client"]["user_id"], sample["freelancer"]["user_id"]]
            # the longest first: two worker processes take them in this order
            steps = {
                "reputation_events": (_fill_from_own_log, dsns["reputation"], "reputation"),
                "messaging_events": (_fill_messages, dsns["messaging"], sample["room_id"], senders),
                "bidding_events": (_fill_from_own_log, dsns["bidding"], "bidding"),
                "escrow_events": (fill_escrow, dsns["escrow"]),
                "job_rows": (_load_jobs, dsns["jobs"], size),
            }
            # Each grows its own database, in a process of its own (the filling is mostly
            # Python: threads would queue for one interpreter lock), two at a time on two
            # cores: a 1M-event round in about half the time of one fill after another.
            with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
                running = {}
                for key, (step, *args) in steps.items():
                    target = size // 2 if key == "job_rows" else size
                    more = target - grown[key]
                    if more > 0:
                        running[key] = (target, pool.submit(_timed, step, *args, more))
                for key, (target, future) in running.items():
                    try:
                        timings[key] = future.result()
                        grown[key] = target
                    except Exception as exc:  # noqa: BLE001 - recorded, the reads go on
                        errors[key] = f"{type(exc).__name__}: {str(exc)[:300]}"
            for service in ("escrow", "messaging", "bidding", "reputation"):
                _mark_published(platform.dsns[service], service)

        load = _load()
        restart = platform.restart(between)
        point = _growth_point(platform, sample, repeats)
        points.append(
            {
                "size": size,
                "load_average_before_fill": load,
                "filled": dict(grown),
                "fill_seconds": timings,
                "fill_errors": errors,
                "restart_seconds": round(restart, 1),
                **point,
            }
        )
    return {"sizes": sizes, "points": points, **_read_ratios(points)}


def _read_ratios(points: list[dict]) -> dict:
    if len(points) < 2:
        return {}
    first, last = points[0], points[-1]
    ratios = {}
    for name, figures in last["reads"].items():
        before = first["reads"].get(name, {})
        if "p50_ms" in figures and before.get("p50_ms"):
            ratios[name] = round(figures["p50_ms"] / before["p50_ms"], 2)
    return {"p50_ratio_last_to_first": ratios}


def _paid_check(platform: Platform, pairs: list[Pair]) -> dict:
    """Six days on, escrow's timer makes the released earnings available."""
    platform.advance(6)
    paid = 0
    deadline = time.monotonic() + 60
    pairs = [p for p in pairs if p.done]
    for pair in pairs:
        f = pair.freelancer["api"]
        while True:
            wallet = f.call("GET", "/v1/wallet")
            if wallet.get("available", {}).get("amount", 0) > 0:
                paid += 1
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    return {"freelancers_with_a_flow": len(pairs), "with_available_earnings": paid}


def run(ctx: Context) -> dict[str, Any]:
    import logging

    # py-amqp warns about every late ack on a closing channel of a standalone proxy
    logging.getLogger("amqp").setLevel(logging.ERROR)
    rates = (50, 200, 500)
    rate_seconds = ctx.size(20, 3)
    flow_seconds = ctx.size(60, 10)
    concurrency = (1, 4, 16, 64) if not ctx.quick else (1, 4)
    result: dict[str, Any] = {
        "machine": ctx.machine,
        "load_average_at_start": _load(),
        "quick": ctx.quick,
        "load_averages": {},
        "settled": {},
    }
    try:
        _run_parts(ctx, result, rates, rate_seconds, flow_seconds, concurrency)
    except BaseException as exc:
        # what was measured before the failure is kept, with the reason, then it is raised
        result["error"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
        write_json(NAME, result, ctx.out_dir)
        raise
    return result


def _run_parts(ctx, result, rates, rate_seconds, flow_seconds, concurrency) -> None:
    quiet = ctx.size(30.0, 5.0)  # most seconds to wait for the machine to settle per phase
    with running_platform() as platform:
        result["settings"] = platform.settings
        operator = Api(platform.url)
        operator.token = operator.call("POST", "/v1/sessions", json=OPERATOR)["access_token"]
        probe = make_pairs(platform.url, 1)[0]

        result["load_averages"]["gateway_rpc"] = _load()
        result["gateway_rpc"] = {}
        gateway_rpc(platform, probe.client["token"], 50, 1)  # warm-up
        for rate in rates:
            result["settled"][f"gateway_rpc {rate}"] = settle(quiet)
            result["gateway_rpc"][str(rate)] = {
                "load_average": _load(),
                **gateway_rpc(platform, probe.client["token"], rate, rate_seconds),
            }
        platform.check_alive()
        result["settled"]["raw_rpc"] = settle(quiet)
        result["load_averages"]["raw_rpc"] = _load()
        result["raw_rpc"] = raw_rpc(platform, probe.client["token"], ctx.size(2000, 200))
        result["settled"]["propagation"] = settle(quiet)
        result["load_averages"]["propagation"] = _load()
        result["propagation"] = propagation(
            platform, probe.client, probe.freelancer, ctx.size(300, 30)
        )

        result["load_averages"]["growth"] = _load()
        sample = _sample_world(platform, operator)
        points = [_growth_point(platform, sample, ctx.size(50, 10))]

        result["flows"] = []
        everyone: list[Pair] = []
        for n in concurrency:
            platform.check_alive()
            load = _load()
            try:
                pairs = make_pairs(platform.url, n)
                everyone += pairs
                result["settled"][f"flows {n}"] = settle(quiet)
                phase = flows(platform, pairs, operator, flow_seconds)
            except Exception as exc:  # noqa: BLE001 - the other phases still count
                phase = {"clients": n, "flows_per_s": 0.0, "flows": 0, "error": repr(exc)[:500]}
            result["flows"].append({"load_average": load, **phase})
            points.append(_growth_point(platform, sample, ctx.size(50, 10)))
        platform.check_alive()
        result["growth_during_flows"] = _growth_summary(points)
        result["paid_after_security_period"] = _paid_check(platform, everyone)
        sizes = [2_000, 10_000] if ctx.quick else [10_000, 100_000, 1_000_000]
        result["load_averages"]["growth"] = _load()
        result["growth"] = {
            "sizes_note": (
                "filler events per grown log (escrow, messaging, bidding, reputation; jobs:"
                " half as many job rows in the search read model); each point's fill_seconds"
                " shows what filling cost"
                if not ctx.quick
                else "quick run: small sizes"
            ),
            "not_grown": "identity (no main read of the issue's list reads it)",
            **bulk_growth(platform, sample, sizes, ctx.size(50, 10)),
        }
        result["cases"] = _cases(result)


def _cases(result: dict) -> list[dict]:
    rows = []
    for rate, figures in result["gateway_rpc"].items():
        rows.append(
            {
                "case": f"gateway GET /v1/me @{rate}/s",
                "p50_ms": figures.get("p50_ms"),
                "p95_ms": figures.get("p95_ms"),
                "p99_ms": figures.get("p99_ms"),
                "errors": figures.get("errors"),
                "load": " ".join(map(str, figures["load_average"])),
            }
        )
    raw = result["raw_rpc"]
    rows.append(
        {
            "case": "raw RPC identity.me",
            "p50_ms": raw["p50_ms"],
            "p95_ms": raw["p95_ms"],
            "p99_ms": raw["p99_ms"],
            "load": " ".join(map(str, result["load_averages"]["raw_rpc"])),
        }
    )
    prop = result["propagation"]
    for case, figures in (
        ("propagation jobs -> bidding, commit to commit", prop),
        ("  as a client sees it (create_job return -> quote)", prop["client_observed"]),
    ):
        rows.append(
            {
                "case": case,
                "p50_ms": figures["p50_ms"],
                "p95_ms": figures["p95_ms"],
                "p99_ms": figures["p99_ms"],
                "load": " ".join(map(str, result["load_averages"]["propagation"])),
            }
        )
    for phase in result["flows"]:
        rows.append(
            {
                "case": f"flows, {phase['clients']} pairs",
                "flows_per_s": phase["flows_per_s"],
                "p50_ms": phase.get("flow_ms", {}).get("p50_ms"),
                "p95_ms": phase.get("flow_ms", {}).get("p95_ms"),
                "errors": sum(phase.get("failures", {}).values()) or phase.get("error"),
                "load": " ".join(map(str, phase["load_average"])),
            }
        )
    return rows


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    g = result["gateway_rpc"].get("200", {})
    lines.append(
        f"target gateway @200/s p50 <= 5 ms, p99 <= 20 ms (got {g.get('p50_ms')} / "
        f"{g.get('p99_ms')} ms, {g.get('errors')} errors): "
        + _verdict(
            g.get("p50_ms", 1e9) <= TARGETS["gateway_p50_ms"]
            and g.get("p99_ms", 1e9) <= TARGETS["gateway_p99_ms"]
            and not g.get("errors")
        )
    )
    p = result["propagation"]
    lines.append(
        f"target propagation p50 <= 10 ms, p99 <= 50 ms (got {p['p50_ms']} / {p['p99_ms']} ms): "
        + _verdict(
            p["p50_ms"] <= TARGETS["propagation_p50_ms"]
            and p["p99_ms"] <= TARGETS["propagation_p99_ms"]
        )
    )
    best = max(result["flows"], key=lambda f: f["flows_per_s"])
    lines.append(
        f"target >= 20 flows/s sustained (best {best['flows_per_s']} at {best['clients']} "
        f"pairs): " + _verdict(best["flows_per_s"] >= TARGETS["flows_per_s"])
    )
    for phase in result["flows"]:
        if "error" in phase:
            lines.append(f"  {phase['clients']} pairs: failed: {phase['error']}")
            continue
        slow = sorted(phase["steps"].items(), key=lambda kv: -kv[1].get("p50_ms", 0))[:3]
        busiest = sorted(phase["processes"].items(), key=lambda kv: -kv[1]["cpu_pct"])[:3]
        lines.append(
            f"  {phase['clients']} pairs: slowest steps "
            + ", ".join(f"{k} {v.get('p50_ms')} ms" for k, v in slow)
            + "; busiest "
            + ", ".join(f"{k} {v['cpu_pct']}%" for k, v in busiest)
        )
    growth = result.get("growth", {})
    if growth.get("p50_ratio_last_to_first"):
        lines.append(
            f"growth: filler per log {growth['sizes']}; p50 ratio last/first per read: "
            + ", ".join(f"{k} x{v}" for k, v in growth["p50_ratio_last_to_first"].items())
        )
        for point in growth["points"]:
            lines.append(
                f"  size {point['size']:,}: "
                + ", ".join(
                    f"{k} {v.get('p50_ms', v.get('error'))} ms" for k, v in point["reads"].items()
                )
                + (f"; fill errors: {point['fill_errors']}" if point["fill_errors"] else "")
            )
    paid = result.get("paid_after_security_period", {})
    lines.append(
        f"paid after the security period: {paid.get('with_available_earnings')} of "
        f"{paid.get('freelancers_with_a_flow')} freelancers who finished a flow"
    )
    return lines
