"""``marketplace demo``: a whole marketplace story played against a running platform.

Everything the story does goes through the gateway's HTTP API, as the people in it would
call it: a client and three freelancers register and fill their profiles, the client
deposits and posts a fixed-price job and an hourly job, the freelancers find them by
search and propose, the client shortlists and hires, milestones are funded, submitted,
sent back for changes, resubmitted and approved, an hourly week is logged, invoiced and
paid, a disputed milestone is split by an operator, the contracts end, both sides leave
feedback, the scores appear, and a freelancer withdraws. It ends with every wallet of the
story, the ledger totals per account kind (read from escrow's database) and each
service's hash-chain verification.

The platform must run with the shared movable clock (``marketplace run --clock
offset:<file>``, the same file as ``--clock-file`` here): the hourly week needs time to
pass, so the demo moves that clock across the week's boundaries and waits for the
services' timers. Each run registers fresh people (unique emails), so it can be played
again on the same platform. Moving the clock forward is for demonstrations and local runs
only: never point it at a platform that holds real money.

The staff account confirming the sandbox payment provider's operations and resolving the
dispute is the operator that ``services/identity/config.yaml`` seeds for local runs
(``--operator-email`` and ``--operator-password`` name another).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import requests
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CLOCK_FILE = "var/clock-offset"
DEFAULT_OPERATOR = ("operator@example.com", "local operator passphrase")
PASSWORD = "a demo passphrase, long enough"
CURRENCY = "USD"

# The story's figures, in cents.
DEPOSIT = 2_500_00
DESIGN, BUILD = 400_00, 600_00  # the fixed-price job's two milestones
HOURLY_RATE, HOURS = 45_00, 2
REFUND, RELEASE = 200_00, 400_00  # the operator's split of the disputed milestone

console = Console(highlight=False)


class DemoFailed(click.ClickException):
    """A step of the story did not go as it should; the message says which."""


def usd(cents: int) -> dict:
    return {"amount": cents, "currency": CURRENCY}


def money(value: dict | int | None, currency: str = CURRENCY) -> str:
    """``$1,234.56``-style text from minor units (integer arithmetic only)."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        value, currency = value["amount"], value["currency"]
    sign = "-" if value < 0 else ""
    units, cents = divmod(abs(value), 100)
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{units:,}.{cents:02d}"


def monday_of(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding ``moment`` (hourly weeks run Monday to Sunday)."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")


def step(who: str, what: str, figures: str = "") -> None:
    """One line of the story: who did what, and the figures that matter."""
    line = f"[bold cyan]{who.split()[0]:<10}[/] {what}"
    if figures:
        line += f"  [green]{figures}[/]"
    console.print(line)


def chapter(title: str) -> None:
    console.rule(f"[bold]{title}")


@dataclass
class Person:
    """Someone in the story: how they sign in and the tokens they hold."""

    name: str
    email: str
    password: str
    user_id: str = ""
    access_token: str = ""
    refresh_token: str = ""


class Platform:
    """The gateway's HTTP API and the shared clock, as the story uses them."""

    def __init__(self, url: str, clock_file: Path, timeout: float):
        self.url = url.rstrip("/")
        self.clock_file = clock_file
        self.timeout = timeout
        self.http = requests.Session()
        self.people: list[Person] = []

    # -- HTTP --------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        who: Person | None = None,
        *,
        json: dict | None = None,
        params: dict | None = None,
        allow: tuple[int, ...] = (),
    ) -> dict | None:
        """The JSON answer of a successful call; None for an allowed failure status; a
        ``DemoFailed`` naming the call for anything else. A rate-limited call waits as
        long as ``Retry-After`` asks and goes again."""
        headers = {"X-Request-Id": f"demo-{uuid.uuid4().hex[:16]}"}
        if who is not None:
            headers["Authorization"] = f"Bearer {who.access_token}"
        for _ in range(5):
            try:
                response = self.http.request(
                    method, self.url + path, json=json, params=params, headers=headers, timeout=30
                )
            except requests.ConnectionError as exc:
                raise DemoFailed(
                    f"the gateway does not answer at {self.url} ({exc.__class__.__name__}); "
                    "start the platform first: marketplace run --clock offset:<file>"
                ) from exc
            if response.status_code != 429:
                break
            pause = int(response.headers.get("Retry-After") or 5)
            step("gateway", f"rate limit on {method} {path}: waiting {pause}s")
            time.sleep(pause)
        if response.status_code < 300:
            return response.json() if response.content else {}
        if response.status_code in allow:
            return None
        raise DemoFailed(
            f"{method} {path} as {who.name if who else 'anonymous'} answered "
            f"{response.status_code}: {response.text[:500]}"
        )

    def wait_for(self, what: str, probe, timeout: float | None = None):
        """Poll ``probe`` until it returns something truthy (events and timers are
        asynchronous); a ``DemoFailed`` after the timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoFailed(f"waited {timeout or self.timeout:.0f}s for {what}")
            time.sleep(0.2)

    # -- people ------------------------------------------------------------------------

    def sign_up(self, name: str, *roles: str, tag: str) -> Person:
        slug = name.split()[0].lower()
        person = Person(name, f"{slug}.{tag}@demo.example.com", PASSWORD)
        registered = self.call(
            "POST",
            "/v1/users",
            json={
                "email": person.email,
                "password": person.password,
                "display_name": name,
                "roles": list(roles),
            },
        )
        person.user_id = registered["user_id"]
        self.sign_in(person)
        return person

    def sign_in(self, person: Person) -> Person:
        tokens = self.call(
            "POST", "/v1/sessions", json={"email": person.email, "password": person.password}
        )
        person.access_token, person.refresh_token = tokens["access_token"], tokens["refresh_token"]
        if not person.user_id:
            person.user_id = self.call("GET", "/v1/me", person)["user_id"]
        self.people.append(person)
        return person

    def refresh_everyone(self) -> None:
        """After the clock jumps the access tokens have expired: trade the refresh tokens."""
        for person in self.people:
            tokens = self.call(
                "POST", "/v1/sessions/refresh", json={"refresh_token": person.refresh_token}
            )
            person.access_token = tokens["access_token"]
            person.refresh_token = tokens.get("refresh_token", person.refresh_token)

    # -- the shared clock --------------------------------------------------------------

    def now(self) -> datetime:
        from shared.clock import OffsetFileClock

        return OffsetFileClock(str(self.clock_file)).now()

    def move_clock_to(self, moment: datetime) -> None:
        """Move every service's clock forward to ``moment`` (never back) and sign in anew."""
        from shared.clock import advance_offset_clock

        delta = moment - self.now()
        if delta > timedelta(0):
            advance_offset_clock(str(self.clock_file), delta)
            step("clock", f"moves {delta.days}d {delta.seconds // 3600}h on", when(moment))
        self.refresh_everyone()

    # -- escrow helpers ----------------------------------------------------------------

    def wallet(self, person: Person) -> dict:
        return self.call("GET", "/v1/wallet", person)

    def settle(self, operator: Person, operation: str, operation_id: str) -> None:
        self.call(
            "POST",
            "/v1/payments/sandbox/settlements",
            operator,
            json={"operation": operation, "operation_id": operation_id},
        )

    def contract(self, person: Person, contract_id: str) -> dict:
        return self.call("GET", f"/v1/contracts/{contract_id}", person)


# -- the story -----------------------------------------------------------------------------


def job_body(title: str, description: str, budget: dict, skills: list[str], **extra) -> dict:
    return {
        "title": title,
        "description": description,
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": skills,
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "budget": budget,
        "visibility": "public",
        "publish": True,
        **extra,
    }


def feedback(rating: int, criteria: tuple[str, ...], comment: str) -> dict:
    return {
        "rating": rating,
        "criteria": {name: rating for name in criteria},
        "comment": comment,
        "private_feedback": {"end_reason": "work_completed", "would_recommend": 9},
    }


FREELANCER_CRITERIA = (
    "skills",
    "quality",
    "availability",
    "deadlines",
    "communication",
    "cooperation",
)
CLIENT_CRITERIA = ("clarity", "communication", "payment_promptness", "cooperation")


def completeness(answer: dict) -> str:
    value = answer.get("completeness")
    while isinstance(value, dict):  # {"freelancer": {"percent": 25, "missing": [...]}}
        value = value.get("percent", next(iter(value.values()), None))
    return "?" if value is None else str(value)


def find_by_search(p: Platform, who: Person, keywords: str, job_id: str) -> dict:
    """The freelancer searches open jobs, newest first, until the job shows up."""

    def probe():
        page = p.call("GET", "/v1/jobs", who, params={"q": keywords, "sort": "newest", "limit": 50})
        return next((job for job in page["items"] if job["job_id"] == job_id), None)

    found = p.wait_for(f"the job to be found by searching {keywords!r}", probe)
    step(who.name, f"searches {keywords!r} and finds [italic]{found['title']}[/]")
    return found


def propose(p: Platform, who: Person, job_id: str, bid: int, letter: str, duration: str) -> str:
    # the first look at the connects in a month grants the month's free ones
    p.call("GET", "/v1/connects", who)
    quote_args = {"job_id": job_id, "bid": usd(bid)}
    # bidding hears of the job from jobs' event; a quote costs nothing, so it is the probe
    quote = p.wait_for(
        "bidding to list the job",
        lambda: p.call("POST", "/v1/proposals/quote", who, json=quote_args, allow=(404,)),
    )
    if not quote["enough"]:
        bought = p.call("POST", "/v1/connects/purchases", who, json={"bundle": 10})
        step(
            who.name,
            "buys a bundle of connects",
            f"{bought['connects']} for {money(bought['price'])}",
        )
    proposal = p.call(
        "POST",
        "/v1/proposals",
        who,
        json={
            "job_id": job_id,
            "cover_letter": letter,
            "bid": usd(bid),
            "estimated_duration": duration,
        },
    )
    left = p.call("GET", "/v1/connects", who)["balance"]
    net = f", {money(quote['fee']['net'])} after the fee" if quote.get("fee") else ""
    step(
        who.name,
        "submits a proposal",
        f"bid {money(bid)}{net}; {quote['connects_needed']} connects spent, {left} left",
    )
    return proposal["proposal_id"]


def open_contract(p: Platform, client: Person, job_id: str) -> str:
    """escrow opens the contract when it hears bidding's ``OfferAccepted``."""

    def probe():
        contracts = p.call("GET", "/v1/contracts", client, params={"limit": 200})["contracts"]
        return next((c["contract_id"] for c in contracts if c["job_id"] == job_id), None)

    return p.wait_for("escrow to open the contract", probe)


class Story:
    """The story, a method per chapter; each leaves on ``self`` what the next ones need."""

    def __init__(self, p: Platform, operator: Person):
        self.p, self.operator = p, operator
        self.tag = uuid.uuid4().hex[:8]  # fresh emails: the demo can be played again

    def play(self) -> list[Person]:
        """Every chapter in order; returns the people of the story."""
        started = time.monotonic()
        for chapter_ in (
            self.people_sign_up,
            self.jobs_are_posted,
            self.freelancers_propose,
            self.client_hires,
            self.milestone_with_changes,
            self.milestone_disputed,
            self.hourly_week,
            self.feedback_and_scores,
            self.freelancer_withdraws,
        ):
            chapter_()
        step("story", f"played in {time.monotonic() - started:.0f}s")
        return [self.client, *self.freelancers]

    def people_sign_up(self) -> None:
        """A client and three freelancers register and fill their profiles."""
        p, tag = self.p, self.tag
        chapter("1. People sign up")
        client = p.sign_up("Clara Okafor", "client", tag=tag)
        p.call(
            "PATCH",
            f"/v1/users/{client.user_id}/profile",
            client,
            json={
                "client": {
                    "company_name": "Lotus Yoga Studios",
                    "company_size": "10_to_99",
                    "location": {"country": "PT", "city": "Lisbon"},
                }
            },
        )
        step(client.name, "registers as a client of Lotus Yoga Studios", client.email)
        freelancers = []
        for name, title, rate, skills in (
            (
                "Ada Lindqvist",
                "Django developer, booking systems",
                55_00,
                ["python", "Django", "PostgreSQL"],
            ),
            ("Ben Moreau", "Full-stack web developer", 48_00, ["python", "JavaScript", "React"]),
            ("Chen Wei", "Python maintenance and support", 45_00, ["python", "Django", "Linux"]),
        ):
            person = p.sign_up(name, "freelancer", tag=tag)
            answer = p.call(
                "PATCH",
                f"/v1/users/{person.user_id}/profile",
                person,
                json={
                    "freelancer": {
                        "title": title,
                        "overview": f"{title}. Ten years of building, shipping and looking after"
                        " web applications for small businesses, from the first sketch to the"
                        " nightly backups.",
                        "hourly_rate": usd(rate),
                        "skills": skills,
                        "availability": "more_than_30_hrs_week",
                    }
                },
            )
            step(
                person.name,
                f"registers as a freelancer: {title}",
                f"{money(rate)}/h, profile {completeness(answer)}% complete",
            )
            freelancers.append(person)
        ada, ben, chen = freelancers
        self.client, self.freelancers = client, [ada, ben, chen]

    def jobs_are_posted(self) -> None:
        """The client deposits (an operator confirms the sandbox payment) and posts two jobs."""
        p, operator, client = self.p, self.operator, self.client
        chapter("2. The client deposits and posts two jobs")
        deposit = p.call("POST", "/v1/wallet/deposits", client, json={"amount": usd(DEPOSIT)})
        step(client.name, "deposits through the sandbox provider", money(DEPOSIT))
        p.settle(operator, "deposit", deposit["deposit_id"])
        step(operator.name, f"confirms the provider's payment {deposit['provider_reference']}")
        step(client.name, "wallet", money(p.wallet(client)["balance"]))

        fixed_job = p.call(
            "POST",
            "/v1/jobs",
            client,
            json=job_body(
                "Booking site for a chain of yoga studios",
                "Class schedules, online booking and card payments for our five yoga studios.",
                {"type": "fixed", "amount": usd(DESIGN + BUILD)},
                ["python", "Django"],
            ),
        )
        step(client.name, "posts a fixed-price job", f"budget {money(DESIGN + BUILD)}")
        hourly_job = p.call(
            "POST",
            "/v1/jobs",
            client,
            json=job_body(
                "Ongoing maintenance of our booking site",
                "A few hours a week of fixes and small features on a Django booking site.",
                {"type": "hourly", "min": usd(30_00), "max": usd(60_00)},
                ["python", "Django"],
                hours_per_week="less_than_30",
            ),
        )
        step(client.name, "posts an hourly job", f"{money(30_00)}-{money(60_00)}/h")
        self.jobs = fixed_job, hourly_job

    def freelancers_propose(self) -> None:
        """The freelancers find the jobs by search and propose (Ben buys connects for his second)."""
        p, ada, ben, chen = self.p, *self.freelancers
        fixed_job, hourly_job = self.jobs
        chapter("3. Freelancers find the jobs and propose")
        fixed_id, hourly_id = fixed_job["job_id"], hourly_job["job_id"]
        find_by_search(p, ada, "yoga booking", fixed_id)
        ada_bid = propose(
            p,
            ada,
            fixed_id,
            DESIGN + BUILD,
            "I have built booking sites for three studio chains; design first, then the build.",
            "1_to_3_months",
        )
        find_by_search(p, ben, "booking", fixed_id)
        ben_fixed = propose(
            p, ben, fixed_id, 1_200_00, "Full-stack, fast, and I write tests.", "1_to_3_months"
        )
        find_by_search(p, ben, "maintenance", hourly_id)
        ben_hourly = propose(
            p, ben, hourly_id, 48_00, "I can keep your site healthy.", "more_than_6_months"
        )
        find_by_search(p, chen, "maintenance", hourly_id)
        chen_bid = propose(
            p,
            chen,
            hourly_id,
            HOURLY_RATE,
            "Maintenance of Django sites is what I do every week.",
            "more_than_6_months",
        )
        self.job_ids = fixed_id, hourly_id
        self.proposals = ada_bid, ben_fixed, ben_hourly, chen_bid

    def client_hires(self) -> None:
        """The client reads the proposals, shortlists, declines, offers; the offers are accepted."""
        p, client, (ada, ben, chen) = self.p, self.client, self.freelancers
        fixed_id, hourly_id = self.job_ids
        ada_bid, ben_fixed, ben_hourly, chen_bid = self.proposals
        chapter("4. The client shortlists and hires")
        for job_id, title in ((fixed_id, "fixed-price"), (hourly_id, "hourly")):
            inbox = p.call("GET", "/v1/proposals", client, params={"job_id": job_id})
            step(client.name, f"reads {len(inbox['proposals'])} proposals on the {title} job")
        for proposal_id, who in ((ada_bid, ada), (chen_bid, chen)):
            p.call("POST", f"/v1/proposals/{proposal_id}/shortlist", client)
            step(client.name, f"shortlists {who.name}")
        p.call(
            "POST",
            f"/v1/proposals/{ben_fixed}/decline",
            client,
            json={"reason": "too_expensive", "message": "Thank you; over our budget."},
        )
        step(client.name, f"declines {ben.name}'s fixed-price proposal (too expensive)")
        p.call("POST", f"/v1/proposals/{ben_hourly}/archive", client)
        step(client.name, f"archives {ben.name}'s hourly proposal")

        today = p.now().date().isoformat()
        fixed_offer = p.call(
            "POST",
            "/v1/offers",
            client,
            json={
                "job_id": fixed_id,
                "proposal_id": ada_bid,
                "kind": "fixed",
                "milestones": [
                    {"title": "Design and prototype", "amount": usd(DESIGN)},
                    {"title": "Booking and payments", "amount": usd(BUILD)},
                ],
                "start_date": today,
            },
        )
        step(
            client.name,
            f"offers {ada.name} a fixed-price contract",
            f"{money(DESIGN)} + {money(BUILD)}",
        )
        hourly_offer = p.call(
            "POST",
            "/v1/offers",
            client,
            json={
                "job_id": hourly_id,
                "proposal_id": chen_bid,
                "kind": "hourly",
                "hourly_rate": usd(HOURLY_RATE),
                "weekly_limit_hours": 10,
                "manual_time_allowed": True,
                "start_date": today,
            },
        )
        step(
            client.name,
            f"offers {chen.name} an hourly contract",
            f"{money(HOURLY_RATE)}/h, 10 h/week",
        )
        for who, offer in ((ada, fixed_offer), (chen, hourly_offer)):
            p.call("POST", f"/v1/offers/{offer['offer_id']}/accept", who)
            step(who.name, "accepts the offer")
        fixed = open_contract(p, client, fixed_id)
        hourly = open_contract(p, client, hourly_id)
        step("escrow", f"opens both contracts ({fixed[:8]}..., {hourly[:8]}...)")
        for job_id in (fixed_id, hourly_id):
            p.wait_for(
                "jobs to mark the job filled",
                lambda job_id=job_id: (
                    p.call("GET", f"/v1/jobs/{job_id}", client)["status"] == "closed"
                ),
            )
        step("jobs", "marks both jobs filled")
        room = p.wait_for(
            "messaging to open the contract room",
            lambda: next(
                (
                    r
                    for r in p.call("GET", "/v1/rooms", ada)["rooms"]
                    if r.get("contract_id") == fixed
                ),
                None,
            ),
        )
        p.call(
            "POST",
            f"/v1/rooms/{room['room_id']}/messages",
            client,
            json={"body": "Welcome aboard, Ada! Wireframes first, please."},
        )
        step(client.name, "writes in the contract room: 'Welcome aboard, Ada!'")
        self.fixed, self.hourly = fixed, hourly

    def milestone_with_changes(self) -> None:
        """The first milestone: funded, submitted, sent back for changes, resubmitted, approved."""
        p, client, ada, fixed = self.p, self.client, self.freelancers[0], self.fixed
        chapter("5. Fixed price: fund, submit, changes, approve")
        milestones = p.contract(client, fixed)["milestones"]
        design, build = (m["milestone_id"] for m in milestones)
        base = f"/v1/contracts/{fixed}/milestones"
        p.call("POST", f"{base}/{design}/fund", client)
        step(client.name, "funds 'Design and prototype'", f"{money(DESIGN)} into escrow")
        p.call(
            "POST", f"{base}/{design}/submit", ada, json={"message": "Wireframes and a prototype."}
        )
        step(ada.name, "submits the design")
        p.call(
            "POST",
            f"{base}/{design}/request-changes",
            client,
            json={"message": "Please add a class calendar view."},
        )
        step(client.name, "requests changes: 'add a class calendar view'")
        p.call("POST", f"{base}/{design}/submit", ada, json={"message": "Calendar view added."})
        step(ada.name, "resubmits with the calendar view")
        p.call("POST", f"{base}/{design}/approve", client)
        wallet = p.wallet(ada)
        step(
            client.name,
            "approves; the money is released",
            f"{ada.name} pending {money(wallet['pending'])} (after the platform fee)",
        )
        self.base, self.build = base, build

    def milestone_disputed(self) -> None:
        """The second milestone: funded, submitted, disputed, and split by an operator."""
        p, operator, client, ada, fixed = (
            self.p,
            self.operator,
            self.client,
            self.freelancers[0],
            self.fixed,
        )
        base, build = self.base, self.build
        chapter("6. A dispute, settled by an operator")
        p.call("POST", f"{base}/{build}/fund", client)
        step(client.name, "funds 'Booking and payments'", f"{money(BUILD)} into escrow")
        p.call(
            "POST", f"{base}/{build}/submit", ada, json={"message": "Booking works; payments next."}
        )
        step(ada.name, "submits the build")
        dispute = p.call(
            "POST",
            f"/v1/contracts/{fixed}/disputes",
            client,
            json={
                "target_kind": "milestone",
                "target_id": build,
                "reason": "Card payments are missing from the delivery.",
            },
        )
        step(
            client.name, "opens a dispute: card payments are missing", f"{money(BUILD)} stays held"
        )
        p.call(
            "POST",
            f"/v1/contracts/{fixed}/disputes/{dispute['dispute_id']}/resolve",
            operator,
            json={
                "refund": usd(REFUND),
                "release": usd(RELEASE),
                "note": "Booking delivered, payments not: split by the work done.",
            },
        )
        step(
            operator.name,
            "resolves the dispute",
            f"refund {money(REFUND)} to the client, release {money(RELEASE)} to {ada.name}",
        )
        p.call(
            "POST",
            f"/v1/contracts/{fixed}/end",
            client,
            json={"reason": "Delivered, with a split."},
        )
        step(client.name, "ends the fixed-price contract")
        # rated now, inside its feedback window: the hourly chapter moves the clock by up to
        # 16 days (to the week's payout), past the 14-day window of a contract ended today
        self.rate_each_other(fixed, ada, 4)

    def rate_each_other(self, contract_id: str, freelancer: Person, rating: int) -> None:
        """The client rates ``freelancer`` on an ended contract, then the freelancer the client."""
        p, client = self.p, self.client
        given = p.wait_for(
            "reputation to open the feedback window",
            lambda: p.call(
                "POST",
                f"/v1/contracts/{contract_id}/feedback",
                client,
                json=feedback(rating, FREELANCER_CRITERIA, "Good work, clear communication."),
                allow=(404, 409),
            ),
        )
        step(client.name, f"rates {freelancer.name}", f"{rating}/5 ({given['status']})")
        answer = p.call(
            "POST",
            f"/v1/contracts/{contract_id}/feedback",
            freelancer,
            json=feedback(5, CLIENT_CRITERIA, "Clear brief and prompt payments."),
        )
        step(freelancer.name, f"rates {client.name}", f"5/5 ({answer['status']})")

    def hourly_week(self) -> None:
        """An hourly week: time logged, then the clock moved to the invoice, review and payout."""
        p, client, chen, hourly = self.p, self.client, self.freelancers[2], self.hourly
        chapter("7. Hourly: a week logged, invoiced, reviewed and paid")
        start = (p.now() + timedelta(minutes=2)).replace(second=0, microsecond=0)
        if start + timedelta(hours=HOURS) > monday_of(start) + timedelta(days=7):
            start = monday_of(start) + timedelta(days=7)  # a segment stays inside one week
        end = start + timedelta(hours=HOURS)
        p.move_clock_to(end + timedelta(minutes=5))
        segment = p.call(
            "POST",
            f"/v1/contracts/{hourly}/time",
            chen,
            json={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "memo": "Fixed the calendar sync",
            },
            allow=(400,),
        )
        if segment is None:  # "cannot be in the future": escrow's clock stayed behind
            raise DemoFailed(
                f"escrow refused time ending {when(end)}: its clock did not move. Start the "
                f"platform with: marketplace run --clock offset:{p.clock_file}"
            )
        step(chen.name, f"logs {HOURS} h: {when(start)} to {end:%H:%M}", money(HOURLY_RATE * HOURS))

        def week(status: str | None = None):
            weeks = p.contract(client, hourly)["weeks"]
            current = next(w for w in weeks if w["week_start"] == monday_of(start).isoformat())
            return current if status is None or current["status"] == status else None

        logged = week()
        p.move_clock_to(datetime.fromisoformat(logged["invoice_at"]))
        invoiced = p.wait_for("escrow's timer to invoice the week", lambda: week("in_review"))
        step(
            "escrow",
            "invoices the week and charges the client's wallet",
            f"{money(invoiced['amount'])}; client wallet {money(p.wallet(client)['balance'])}",
        )
        p.move_clock_to(datetime.fromisoformat(invoiced["review_until"]))
        p.wait_for("the review period to end", lambda: week("released"))
        step(
            "escrow",
            "the client's review ends: the week is released",
            f"{chen.name} pending {money(p.wallet(chen)['pending'])}",
        )
        available_at = datetime.fromisoformat(invoiced["available_at"])
        p.move_clock_to(available_at)
        wallets = p.wait_for(
            "the earnings to become available",
            lambda: (w := p.wallet(chen))["available"]["amount"] > 0 and w,
        )
        step(chen.name, "earnings available", money(wallets["available"]))
        p.call("POST", f"/v1/contracts/{hourly}/end", client, json={"reason": "Maintenance done."})
        step(client.name, "ends the hourly contract")

    def feedback_and_scores(self) -> None:
        """Both contracts ended (the fixed-price one rated when it ended): the hourly one is
        rated, the scores and records appear."""
        p, client, (ada, _, chen) = self.p, self.client, self.freelancers
        fixed = self.fixed
        chapter("8. Feedback and scores")
        self.rate_each_other(self.hourly, chen, 5)
        for freelancer in (ada, chen):
            score = p.call("GET", f"/v1/freelancers/{freelancer.user_id}/score", client)
            shown = (
                score["score"] if score.get("score") is not None else "not yet (too little history)"
            )
            step(
                "reputation",
                f"{freelancer.name}'s Job Success Score: {shown}",
                f"{score['counted_contracts']} contract(s), badge {score.get('badge') or 'none'}",
            )
        shown = p.call("GET", f"/v1/contracts/{fixed}/feedback", ada)["sides"]
        authors = {"client": client.name, "freelancer": ada.name}
        step(
            "reputation",
            "both sides in, both revealed on the fixed-price contract",
            ", ".join(
                f"{authors[side]} gave {s['feedback']['rating']}/5"
                for side, s in shown.items()
                if s.get("feedback")
            ),
        )
        stats = p.call("GET", f"/v1/clients/{client.user_id}/stats", ada)
        step(
            "reputation",
            f"{client.name}'s record as a client",
            f"{stats.get('jobs_posted')} jobs posted, {stats.get('hires')} hires "
            f"({stats.get('hire_rate_percent')}% hire rate)",
        )

    def freelancer_withdraws(self) -> None:
        """Ada withdraws her earnings once their security period is over."""
        p, operator, ada = self.p, self.operator, self.freelancers[0]
        chapter("9. The freelancer withdraws")
        ada_wallet = p.wait_for(
            "Ada's earnings to pass their security period",
            lambda: (w := p.wallet(ada))["pending"]["amount"] == 0 and w,
        )
        withdrawal = p.call(
            "POST", "/v1/wallet/withdrawals", ada, json={"amount": ada_wallet["available"]}
        )
        step(ada.name, "withdraws everything available", money(ada_wallet["available"]))
        p.settle(operator, "withdrawal", withdrawal["withdrawal_id"])
        step(operator.name, f"confirms the provider's payout {withdrawal['provider_reference']}")


# -- the summary ---------------------------------------------------------------------------


def print_wallets(p: Platform, people: list[Person]) -> None:
    table = Table(title="wallets")
    for column in ("who", "balance", "pending", "available", "in flight"):
        table.add_column(column, justify="right" if column != "who" else "left")
    for person in people:
        w = p.wallet(person)
        table.add_row(
            person.name,
            *(money(w.get(k)) for k in ("balance", "pending", "available", "in_flight")),
        )
    console.print(table)


def ledger_totals(dsn: str) -> tuple[list[tuple[str, str, int]], dict[str, int]]:
    """Balances summed per account kind and currency, and each currency's total."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT split_part(account, ':', 1) AS kind, currency, sum(balance)::bigint"
            " FROM ledger_balances GROUP BY 1, 2 ORDER BY 2, 1"
        ).fetchall()
    totals: dict[str, int] = {}
    for _, currency, amount in rows:
        totals[currency] = totals.get(currency, 0) + amount
    return [(k, c, int(a)) for k, c, a in rows], totals


def print_ledger(dsn: str) -> bool:
    rows, totals = ledger_totals(dsn)
    table = Table(title="escrow ledger, every account, per kind")
    for column in ("account kind", "currency", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left")
    for kind, currency, amount in rows:
        table.add_row(kind, currency, money(amount, currency))
    for currency, amount in totals.items():
        colour = "green" if amount == 0 else "red"
        table.add_row("[bold]total", currency, f"[{colour}]{money(amount, currency)}")
    console.print(table)
    try:
        from services.escrow.audit import check_database

        check_database(dsn)
        console.print("ledger invariants: [green]hold[/]")
        invariants = True
    except Exception as exc:  # the report names the broken rule
        console.print(f"ledger invariants: [red]broken: {exc}[/]")
        invariants = False
    return invariants and all(amount == 0 for amount in totals.values())


def print_verification(services: list[str]) -> bool:
    """Each service's hash chain walked from the first event (``marketplace verify``)."""
    from shared.cli import service_dsn
    from shared.clock import system_clock
    from shared.eventstore import PostgresEventStore

    table = Table(title="audit: hash chains")
    for column in ("service", "events", "head", "result"):
        table.add_column(column)
    intact = True
    for service in services:
        store = PostgresEventStore.connect(service_dsn(service), max_size=1, clock=system_clock)
        try:
            report = store.verify()
        finally:
            store.close()
        intact &= report.ok
        result = (
            "[green]intact[/]"
            if report.ok
            else f"[red]broken at {report.first_bad_position}: {report.problem}[/]"
        )
        table.add_row(service, str(report.checked), report.head_hash.hex()[:16], result)
    console.print(table)
    return intact


@click.command()
@click.option("--url", default=DEFAULT_URL, show_default=True, help="the gateway's base URL")
@click.option(
    "--clock-file",
    default=DEFAULT_CLOCK_FILE,
    show_default=True,
    help="the platform's offset clock file (marketplace run --clock offset:<file>); "
    "a relative path is taken from the repository root, as the services do",
)
@click.option("--operator-email", default=DEFAULT_OPERATOR[0], show_default=True)
@click.option("--operator-password", default=DEFAULT_OPERATOR[1])
@click.option(
    "--timeout", default=60.0, show_default=True, help="seconds to wait for each event or timer"
)
def demo(
    url: str, clock_file: str, operator_email: str, operator_password: str, timeout: float
) -> None:
    """Play a whole marketplace story against a running platform, through its HTTP API,
    and end with the wallets, the ledger totals and the audit verification."""
    from shared.cli import SERVICES, service_dsn

    path = Path(clock_file)
    path = path if path.is_absolute() else ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    p = Platform(url, path, timeout)
    health = p.call("GET", "/health")
    console.print(
        f"[bold]marketplace demo[/] against {p.url} (gateway {health.get('status', 'up')}), "
        f"clock {when(p.now())} from {path}"
    )
    operator = p.sign_in(Person("Operator", operator_email, operator_password))
    started = time.monotonic()
    people = Story(p, operator).play()

    chapter("Where the money is")
    print_wallets(p, people)
    balanced = print_ledger(service_dsn("escrow"))
    intact = print_verification(list(SERVICES))
    seconds = time.monotonic() - started
    if balanced and intact:
        console.print(
            f"[bold green]demo complete[/] in {seconds:.0f}s: the ledger balances and "
            f"every service's hash chain is intact"
        )
        return
    raise DemoFailed(
        "demo played, but "
        + " and ".join(
            what
            for what, ok in (("the ledger does not balance", balanced), ("an audit failed", intact))
            if not ok
        )
    )
