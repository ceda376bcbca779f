"""The crash and restart scenarios' platform: the six services as real ``nameko run``
processes (as ``marketplace run`` starts them), hire-to-paid flows driven over RPC, and the
checks that follow a disturbance.

- ``ProcessCluster``: each service its own process with ``services/<svc>/config.yaml``, its
  own throwaway database (``<SVC>_DB_DSN``) and one throwaway RabbitMQ vhost (``AMQP_URI``);
  a service can be killed with SIGKILL and started again.
- ``FlowDriver``: a hire-to-paid flow (accounts, deposit, job, proposal, offer, acceptance,
  contract opened by escrow from bidding's event, fund, submit, approve). Every mutating call
  carries an idempotency key; a step that fails is retried with the same key, and each
  failure is recorded by its type.
- the checks: every relay caught up, every consumed event recorded by its consumer (or
  parked), no dead letter, escrow's ledger invariants, no money moved twice per flow, and
  every read model equal to its rebuild from the log.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import amqp.exceptions
import eventlet
import kombu.exceptions
import psycopg
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from services.escrow.audit import check_database
from services.escrow.domain import contract_id_for_offer
from services.identity.passwords import PasswordHasher
from shared.audit.replay import replay_service
from shared.audit.services import service_models
from shared.auth import bearer
from shared.cli import service_target
from shared.consumers import ReliableEventHandler
from shared.errors import MarketplaceError, NotFound

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "jobs", "bidding", "escrow", "messaging", "reputation")
PASSWORD = "crash test passphrase 7"
OPERATOR_EMAIL = "ops@crash.test"
OPERATOR_PASSWORD = "crash operator passphrase"

DEPOSIT = 500_00
BID = 400_00
FEE = 40_00  # the freelancer's 10 % fee on the release


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


# -- who consumes what ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    service: str  # the consuming service
    consumer: str  # the name in its processed_events (the handler's method name)
    source: str  # the producing service
    event_type: str


def service_class(service: str) -> type:
    import importlib

    module_name, _, class_name = service_target(service).partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def subscriptions() -> list[Subscription]:
    """Every reliable event handler of every service, found on the service classes."""
    found = []
    for service in SERVICES:
        cls = service_class(service)
        for name in dir(cls):
            member = getattr(cls, name, None)
            for entrypoint in getattr(member, "nameko_entrypoints", ()):
                if isinstance(entrypoint, ReliableEventHandler):
                    found.append(
                        Subscription(
                            service, name, entrypoint.source_service, entrypoint.event_type
                        )
                    )
    return found


# -- the processes --------------------------------------------------------------------------


class ProcessCluster:
    """The six services as ``nameko run`` processes; kill and restart any of them."""

    def __init__(self, dsns: dict[str, str], amqp_uri: str, workdir: Path):
        self.dsns = dsns
        self.amqp_uri = amqp_uri
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts: Counter = Counter()
        self.kills: list[tuple[str, float]] = []
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        staff = [
            {
                "email": OPERATOR_EMAIL,
                "password_hash": PasswordHasher.cheap().hash(OPERATOR_PASSWORD),
                "display_name": "Ops",
                "roles": ["operator"],
            }
        ]
        env = {
            **os.environ,
            "PSYCOPG_WAIT_FUNC": "wait_selector",
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore:pkg_resources is deprecated:UserWarning",
            "AMQP_URI": self.amqp_uri,
            "CLOCK": "system",
            "RELAY_POLL_INTERVAL": "0.2",
            "CONSUMER_RETRY_DELAYS_MS": "200,500",
            "CONSUMER_MAX_ATTEMPTS": "5",
            "TIMER_INTERVAL": "3600",
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_MEMORY_COST": "8",
            "IDENTITY_ARGON2_PARALLELISM": "1",
            "IDENTITY_SEED_STAFF": json.dumps(staff),
            "MESSAGING_BLOBSTORE_ROOT": str(self.workdir / "blobs"),
            "JOBS_SEARCH_CURSOR_SECRET": "crash-cursor-secret",
        }
        for service in SERVICES:
            up = service.upper()
            env[f"{up}_DB_DSN"] = self.dsns[service]
            env[f"{up}_DB_MIGRATE_ON_START"] = "false"
            env[f"{up}_CLOCK"] = "system"
            env[f"{up}_RELAY_POLL_INTERVAL"] = env["RELAY_POLL_INTERVAL"]
            env[f"{up}_CONSUMER_RETRY_DELAYS_MS"] = env["CONSUMER_RETRY_DELAYS_MS"]
            env[f"{up}_CONSUMER_MAX_ATTEMPTS"] = env["CONSUMER_MAX_ATTEMPTS"]
            env[f"{up}_TIMER_INTERVAL"] = env["TIMER_INTERVAL"]
        return env

    def start(self, service: str) -> subprocess.Popen:
        self.starts[service] += 1
        log = open(self.workdir / f"{service}.{self.starts[service]}.log", "wb")  # noqa: SIM115
        nameko = str(Path(sys.executable).with_name("nameko"))
        proc = subprocess.Popen(
            [nameko, "run", "--config", f"services/{service}/config.yaml", service_target(service)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[service] = proc
        return proc

    def start_all(self, timeout: float = 90.0) -> None:
        # identity last: the others' queues must exist before identity's relay publishes
        # the seeded operator (an event published before its consumer's queue is declared
        # is unroutable); they fetch identity's public keys only when a token first arrives
        for service in SERVICES[1:]:
            self.start(service)
        for service in SERVICES[1:]:
            self.wait_healthy(service, timeout)
        self.start("identity")
        self.wait_healthy("identity", timeout)

    def healthy(self, service: str) -> bool:
        try:
            with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=3) as rpc:
                return getattr(rpc, service).health()["database"] == "ok"
        except Exception:
            return False

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise AssertionError(
                    f"{service} exited with {proc.returncode}; see {self.log(service)}"
                )
            if self.healthy(service):
                return
            eventlet.sleep(0.2)
        raise AssertionError(f"{service} not healthy within {timeout}s; see {self.log(service)}")

    def log(self, service: str) -> Path:
        return self.workdir / f"{service}.{self.starts[service]}.log"

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hook runs, in-flight work and connections just vanish."""
        proc = self.procs[service]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.kills.append((service, time.monotonic()))

    def restart(self, service: str, timeout: float = 60.0) -> None:
        self.start(service)
        self.wait_healthy(service, timeout)

    def all_running(self) -> bool:
        return all(proc.poll() is None for proc in self.procs.values())

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# -- the flows ------------------------------------------------------------------------------

# failures a step may meet while a service, the broker or the database is away; any other
# exception is an unclear failure and the scenario fails on it
# (the caller's own connection to the broker failing is transient too)
TRANSIENT = (
    RpcTimeout,
    OSError,
    ConnectionError,
    amqp.exceptions.AMQPError,
    kombu.exceptions.KombuError,
    MarketplaceError,
)


@dataclass
class FlowResult:
    number: int
    completed: bool = False
    ids: dict = field(default_factory=dict)
    failures: Counter = field(default_factory=Counter)  # "<error type> in <step>" -> count
    unclear: list[str] = field(default_factory=list)  # untyped failures, described


def error_name(exc: BaseException) -> str:
    if isinstance(exc, RemoteError):
        return f"RemoteError[{exc.exc_type}]"
    return type(exc).__name__


class FlowDriver:
    """Drives hire-to-paid flows over RPC, retrying each failed step with its same key."""

    def __init__(
        self,
        amqp_uri: str,
        *,
        step_deadline: float = 120.0,
        call_timeout: float = 20.0,
        allowed_remote: tuple[str, ...] = (),
    ):
        self.amqp_uri = amqp_uri
        self.step_deadline = step_deadline
        self.call_timeout = call_timeout
        # RemoteError types accepted as a clean failure (e.g. the database's own while it
        # restarts); everything else untyped is recorded as unclear
        self.allowed_remote = allowed_remote
        self.results: list[FlowResult] = []
        self._operator_token: str | None = None

    def call(self, token: str | None, service: str, method: str, **kwargs):
        context = bearer(token) if token else {}
        with ClusterRpcProxy(
            {"AMQP_URI": self.amqp_uri}, context_data=context, timeout=self.call_timeout
        ) as rpc:
            return getattr(getattr(rpc, service), method)(**kwargs)

    def step(self, flow: FlowResult, what: str, fn, *, until=None):
        """Run ``fn`` until it returns (and ``until(result)`` holds), recording failures."""
        deadline = time.monotonic() + self.step_deadline
        while True:
            try:
                result = fn()
                if until is None or until(result):
                    return result
                error = None
            except RemoteError as exc:
                name = error_name(exc)
                if exc.exc_type not in self.allowed_remote:
                    flow.unclear.append(f"{what}: {name}: {str(exc)[:300]}")
                flow.failures[f"{name} in {what}"] += 1
                error = exc
            except TRANSIENT as exc:
                flow.failures[f"{error_name(exc)} in {what}"] += 1
                error = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"flow {flow.number}: {what} never completed: {error!r}")
            eventlet.sleep(0.2)

    def operator_token(self, flow: FlowResult) -> str:
        return self.step(
            flow,
            "operator login",
            lambda: self.call(
                None, "identity", "login", email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD
            )["access_token"],
        )

    def account(self, flow: FlowResult, role: str) -> tuple[str, str]:
        email = f"{role}-{flow.number}-{uuid.uuid4().hex[:8]}@crash.test"
        key = f"register-{email}"
        user = self.step(
            flow,
            f"register {role}",
            lambda: self.call(
                None,
                "identity",
                "register",
                email=email,
                password=PASSWORD,
                display_name=f"{role.title()} {flow.number}",
                roles=[role],
                idempotency_key=key,
            ),
        )
        token = self.step(
            flow,
            f"login {role}",
            lambda: self.call(None, "identity", "login", email=email, password=PASSWORD)[
                "access_token"
            ],
        )
        return user["user_id"], token

    def run_flow(self, number: int) -> FlowResult:
        flow = FlowResult(number)
        self.results.append(flow)
        tag = uuid.uuid4().hex[:10]

        def key(step: str) -> str:
            return f"{step}-{tag}"

        client_id, client = self.account(flow, "client")
        freelancer_id, freelancer = self.account(flow, "freelancer")
        operator = self.operator_token(flow)
        flow.ids.update(client=client_id, freelancer=freelancer_id)

        deposit = self.step(
            flow,
            "deposit",
            lambda: self.call(
                client, "escrow", "deposit", amount=usd(DEPOSIT), idempotency_key=key("deposit")
            ),
        )
        flow.ids["deposit"] = deposit["deposit_id"]
        self.step(
            flow,
            "confirm deposit",
            lambda: self.call(
                operator,
                "escrow",
                "confirm_provider_payment",
                operation="deposit",
                operation_id=deposit["deposit_id"],
            ),
        )
        job = self.step(
            flow,
            "create job",
            lambda: self.call(
                client,
                "jobs",
                "create_job",
                publish=True,
                idempotency_key=key("job"),
                title=f"Booking site number {number}",
                description="A booking site for a small chain of yoga studios, with payments.",
                category="web-mobile-software-dev",
                subcategory="web-development",
                skills=["python", "Django"],
                experience_level="intermediate",
                project_length="1_to_3_months",
                budget={"type": "fixed", "amount": usd(BID + 100_00)},
                visibility="public",
            ),
        )
        job_id = flow.ids["job"] = job["job_id"]

        def listed():
            try:
                self.call(
                    freelancer, "bidding", "quote_proposal", job_id=job_id, bid=usd(BID), boost=0
                )
            except NotFound:
                return False
            return True

        self.step(flow, "bidding lists the job", listed, until=bool)
        proposal = self.step(
            flow,
            "submit proposal",
            lambda: self.call(
                freelancer,
                "bidding",
                "submit_proposal",
                job_id=job_id,
                cover_letter="I have built booking sites for three studio chains.",
                bid=usd(BID),
                estimated_duration="1_to_3_months",
                idempotency_key=key("proposal"),
            ),
        )
        flow.ids["proposal"] = proposal["proposal_id"]
        offer = self.step(
            flow,
            "send offer",
            lambda: self.call(
                client,
                "bidding",
                "send_offer",
                job_id=job_id,
                proposal_id=proposal["proposal_id"],
                kind="fixed",
                title="Booking site",
                milestones=[{"title": "The whole site", "amount": usd(BID)}],
                start_date=datetime.now(UTC).date().isoformat(),
                idempotency_key=key("offer"),
            ),
        )
        flow.ids["offer"] = offer["offer_id"]
        self.step(
            flow,
            "accept offer",
            lambda: self.call(
                freelancer,
                "bidding",
                "accept_offer",
                offer_id=offer["offer_id"],
                idempotency_key=key("accept"),
            ),
        )
        contract_id = flow.ids["contract"] = contract_id_for_offer(offer["offer_id"])

        def opened():
            try:
                return self.call(client, "escrow", "get_contract", contract_id=contract_id)
            except NotFound:
                return None

        contract = self.step(flow, "escrow opens the contract", opened, until=bool)
        target = {
            "contract_id": contract_id,
            "milestone_id": contract["milestones"][0]["milestone_id"],
        }
        flow.ids["milestone"] = target["milestone_id"]
        for who, method, extra in (
            (client, "fund_milestone", {}),
            (freelancer, "submit_work", {"message": "On staging."}),
            (client, "approve_milestone", {}),
        ):
            self.step(
                flow,
                method,
                lambda who=who, method=method, extra=extra: self.call(
                    who, "escrow", method, idempotency_key=key(method), **target, **extra
                ),
            )
        wallet = self.step(
            flow, "freelancer wallet", lambda: self.call(freelancer, "escrow", "wallet")
        )
        assert wallet["pending"] == usd(BID - FEE), (flow.number, wallet)
        wallet = self.step(flow, "client wallet", lambda: self.call(client, "escrow", "wallet"))
        assert wallet["balance"] == usd(DEPOSIT - BID), (flow.number, wallet)
        flow.completed = True
        return flow

    def run_until(self, stop, workers: int = 4, minimum: int = 8) -> None:
        """``workers`` green threads run flow after flow until ``stop()`` holds and at least
        ``minimum`` flows started; every flow must end (completed or raising)."""
        counter = iter(range(1, 100_000))
        errors: list[BaseException] = []

        def worker():
            while not stop() or len(self.results) < minimum:
                try:
                    self.run_flow(next(counter))
                except BaseException as exc:  # reported below, with every other worker's
                    errors.append(exc)
                    return

        pool = eventlet.GreenPool(workers)
        for _ in range(workers):
            pool.spawn(worker)
        pool.waitall()
        if errors:
            raise errors[0]


# -- the checks after a disturbance ---------------------------------------------------------


def rows(dsn: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def relays_caught_up(dsns: dict[str, str]) -> bool:
    for service, dsn in dsns.items():
        ((head, published),) = rows(
            dsn,
            "SELECT (SELECT coalesce(max(position), 0) FROM events),"
            " (SELECT coalesce(max(position), 0) FROM relay_position WHERE relay = %s)",
            (f"{service}.events",),
        )
        if published < head:
            return False
    return True


def missing_events(dsns: dict[str, str]) -> tuple[list[tuple], int]:
    """Published events of a subscribed type that their consumer has neither processed nor
    parked: ``([(service, consumer, source, type, event_id), ...], events checked)``."""
    missing, checked = [], 0
    for sub in subscriptions():
        published = {
            str(event_id)
            for (event_id,) in rows(
                dsns[sub.source], "SELECT event_id FROM events WHERE type = %s", (sub.event_type,)
            )
        }
        handled = {
            str(event_id)
            for (event_id,) in rows(
                dsns[sub.service],
                "SELECT event_id FROM processed_events WHERE consumer = %s"
                " UNION SELECT event_id FROM dead_letters WHERE event_id IS NOT NULL",
                (sub.consumer,),
            )
        }
        checked += len(published)
        missing += [
            (sub.service, sub.consumer, sub.source, sub.event_type, event_id)
            for event_id in sorted(published - handled)
        ]
    return missing, checked


def wait_delivered(dsns: dict[str, str], timeout: float = 90.0) -> int:
    """Until every relay published its log and every consumer has every event; returns how
    many (consumer, event) pairs were checked."""
    deadline = time.monotonic() + timeout
    missing: list = []
    while time.monotonic() < deadline:
        try:
            if relays_caught_up(dsns):
                missing, checked = missing_events(dsns)
                if not missing:
                    return checked
        except psycopg.OperationalError:
            pass
        eventlet.sleep(0.3)
    raise AssertionError(f"events not delivered within {timeout}s: {missing[:20]}")


def dead_letters(dsns: dict[str, str]) -> dict[str, list]:
    parked = {}
    for service, dsn in dsns.items():
        found = rows(dsn, "SELECT consumer, routing_key, error FROM dead_letters ORDER BY id")
        if found:
            parked[service] = found
    return parked


def replay_differences(dsns: dict[str, str]) -> dict[str, list[str]]:
    """Each service's read models rebuilt from its log and compared with the live ones."""
    differences = {}
    for service, dsn in dsns.items():
        models = service_models(service)
        report = replay_service(dsn, service, models.projections, models.upcasters)
        if not report.identical:
            differences[service] = [d.describe() for d in report.diffs[:20]]
    return differences


def money_moves(escrow_dsn: str, flows: list[FlowResult]) -> dict[int, dict[str, int]]:
    """Per flow, how often each money event of its deposit and contract was recorded."""
    moves = {}
    for flow in flows:
        counts = Counter()
        for (type_,) in rows(
            escrow_dsn,
            "SELECT type FROM events WHERE type IN ('DepositConfirmed', 'DepositRequested')"
            " AND data->>'deposit_id' = %s",
            (flow.ids["deposit"],),
        ):
            counts[type_] += 1
        if "contract" in flow.ids:
            for type_, n in rows(
                escrow_dsn,
                "SELECT type, count(*) FROM events WHERE type IN"
                " ('ContractOpened', 'MilestoneFunded', 'MilestoneReleased')"
                " AND data->>'contract_id' = %s GROUP BY type",
                (flow.ids["contract"],),
            ):
                counts[type_] += n
        moves[flow.number] = dict(counts)
    return moves


EXPECTED_MOVES = {
    "DepositRequested": 1,
    "DepositConfirmed": 1,
    "ContractOpened": 1,
    "MilestoneFunded": 1,
    "MilestoneReleased": 1,
}


@dataclass
class CheckSummary:
    events_checked: int
    flows: int


def check_everything(dsns: dict[str, str], driver: FlowDriver) -> CheckSummary:
    """After the disturbance: every flow completed with only typed failures, every event
    delivered, nothing parked, the ledger sound, no money moved twice, read models equal
    to their rebuilds."""
    incomplete = [f.number for f in driver.results if not f.completed]
    assert incomplete == [], f"flows that did not complete: {incomplete}"
    unclear = [line for f in driver.results for line in f.unclear]
    assert unclear == [], f"untyped failures: {unclear[:10]}"
    checked = wait_delivered(dsns)
    assert dead_letters(dsns) == {}
    check_database(dsns["escrow"])  # raises LedgerInvariantError on any breach
    moves = money_moves(dsns["escrow"], driver.results)
    twice = {n: m for n, m in moves.items() if m != EXPECTED_MOVES}
    assert twice == {}, f"money events not recorded exactly once: {twice}"
    assert replay_differences(dsns) == {}
    return CheckSummary(events_checked=checked, flows=len(driver.results))


def failure_counts(driver: FlowDriver) -> Counter:
    total = Counter()
    for flow in driver.results:
        total.update(flow.failures)
    return total


def random_pause(low: float, high: float) -> None:
    eventlet.sleep(random.uniform(low, high))


# -- a whole cluster for one test -----------------------------------------------------------


@dataclass
class CrashTally:
    """What the crash and restart scenarios did, for the report at the end of the session."""

    flows: int = 0
    flows_completed: int = 0
    kills: Counter = field(default_factory=Counter)  # service -> kills survived
    outages: Counter = field(default_factory=Counter)  # "broker" / "database" -> survived
    events_checked: int = 0
    failures: Counter = field(default_factory=Counter)  # typed step failures seen and retried
    duplicates_delivered: int = 0
    poison_parked: int = 0
    lost: list[str] = field(default_factory=list)

    def add_run(self, driver: FlowDriver, summary: CheckSummary) -> None:
        self.flows += len(driver.results)
        self.flows_completed += sum(f.completed for f in driver.results)
        self.events_checked += summary.events_checked
        self.failures.update(failure_counts(driver))


CRASH_TALLY = CrashTally()


class running_cluster:  # noqa: N801 - used as a context manager, like open()
    """Fresh databases and a fresh vhost, the six service processes on them; on exit the
    processes are stopped and the vhost deleted (the databases go with the session's)."""

    def __init__(self, databases, rabbit_manager, amqp_base: str, workdir: Path):
        from urllib.parse import urlparse

        self.databases = databases
        self.rabbit_manager = rabbit_manager
        self.uri = urlparse(amqp_base)
        self.workdir = workdir
        self.vhost = f"crash_{uuid.uuid4().hex[:10]}"
        self.cluster: ProcessCluster | None = None

    def __enter__(self) -> ProcessCluster:
        self.rabbit_manager.create_vhost(self.vhost)
        self.rabbit_manager.set_vhost_permissions(
            self.vhost, self.uri.username or "guest", ".*", ".*", ".*"
        )
        try:
            dsns = {service: self.databases.create(service) for service in SERVICES}
            amqp_uri = f"{self.uri.scheme}://{self.uri.netloc}/{self.vhost}"
            (self.workdir / "blobs").mkdir(parents=True, exist_ok=True)
            self.cluster = ProcessCluster(dsns, amqp_uri, self.workdir)
            self.cluster.start_all()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.cluster

    def __exit__(self, *exc) -> None:
        try:
            if self.cluster is not None:
                self.cluster.stop_all()
        finally:
            try:
                self.rabbit_manager.delete_vhost(self.vhost)
            except Exception:  # the broker may be the thing under test; best effort
                pass


# -- outages of the shared servers ----------------------------------------------------------


def _run(*command: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def _broker_running() -> bool:
    return _run("rabbitmqctl", "status").returncode == 0 and _port_open(5672)


def broker_outage(seconds: float = 10.0) -> None:
    """``rabbitmqctl stop_app``, ``seconds`` of nothing, ``start_app``: the node and its
    management plugin (and so the vhosts) survive. The broker is started again whatever
    happens."""
    try:
        stopped = _run("rabbitmqctl", "stop_app")
        assert stopped.returncode == 0, stopped.stderr
        eventlet.sleep(seconds)
    finally:
        restore_broker()


def restore_broker(timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _run("rabbitmqctl", "start_app")
        if _broker_running():
            return
        eventlet.sleep(1)
    raise AssertionError("RabbitMQ did not come back")


def _pg_version() -> str:
    (version,) = os.listdir("/etc/postgresql")
    return version


def database_restart() -> None:
    """PostgreSQL restarted (fast: open sessions are cut, their transactions rolled back);
    it is up again afterwards whatever happens."""
    try:
        restarted = _run(
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            _pg_version(),
            "main",
            "restart",
            "-m",
            "fast",
        )
        assert restarted.returncode == 0, restarted.stderr
    finally:
        restore_database()


def restore_database(timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _run("pg_isready", "-h", "127.0.0.1", "-p", "5432").returncode == 0:
            return
        _run("pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "start")
        eventlet.sleep(1)
    raise AssertionError("PostgreSQL did not come back")
