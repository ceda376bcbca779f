"""The gateway over HTTP with every service running: errors as statuses, request ids,
idempotency keys, rate limits, pagination links and attachments."""

from __future__ import annotations

import io
import json
import logging
import uuid

import psycopg
from werkzeug.http import parse_options_header

from shared.observability import JsonFormatter
from tests.gateway.conftest import (
    LOGIN_CAPACITY,
    PROPOSAL_CAPACITY,
    fixed_job,
    proposal_on_a_new_job,
    wait_until,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 300


def error_of(response, status: int) -> dict:
    assert response.status_code == status, (status, response.status_code, response.text)
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body["error"]


def test_typed_errors_become_statuses(api):
    client = api.user("client", name="Cleo")
    freelancer = api.user("freelancer", name="Fred")

    invalid = error_of(api.post("/v1/jobs", client["token"], json={"title": 7}), 400)
    assert invalid["code"] == "validation_error"
    assert {"title", "budget", "description"} <= set(invalid["fields"])
    assert invalid["fields"]["title"] == ["Not a valid string."]
    unknown = error_of(api.get("/v1/jobs", params={"colour": "blue"}), 400)
    assert set(unknown["fields"]) == {"colour"}
    typed = error_of(api.get("/v1/jobs", params={"limit": "many"}), 400)
    assert set(typed["fields"]) == {"limit"}
    not_json = api.post(
        "/v1/jobs", client["token"], data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert error_of(not_json, 400)["fields"] == {"_body": ["The body is not valid JSON."]}

    assert error_of(api.get("/v1/me"), 401)["code"] == "not_authenticated"
    assert error_of(api.get("/v1/me", "not.a.token"), 401)["code"] == "not_authenticated"

    assert (
        error_of(api.post("/v1/jobs", freelancer["token"], json=fixed_job()), 403)["code"]
        == "forbidden"
    )

    missing = error_of(api.get(f"/v1/jobs/{uuid.uuid4().hex}", client["token"]), 404)
    assert missing["code"] == "not_found"
    assert error_of(api.get("/v1/no/such/route"), 404)["code"] == "not_found"
    wrong_method = api.request("DELETE", "/v1/jobs")
    assert error_of(wrong_method, 405)["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]

    job = api.ok("POST", "/v1/jobs", client["token"], json=fixed_job())
    conflict = error_of(api.post(f"/v1/jobs/{job['job_id']}/publish", client["token"]), 409)
    assert conflict["code"] == "conflict"


def test_request_ids_are_echoed_logged_and_travel_with_the_call(api, platform, caplog):
    json_lines = io.StringIO()
    handler = logging.StreamHandler(json_lines)
    handler.setFormatter(JsonFormatter(service="gateway"))
    gateway_log = logging.getLogger("services.gateway")
    gateway_log.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="services.gateway"):
            given = api.get("/v1/jobs", headers={"X-Request-Id": "trace-42"})
    finally:
        gateway_log.removeHandler(handler)
    assert given.status_code == 200 and given.headers["X-Request-Id"] == "trace-42"
    (line,) = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-42"]
    assert line.getMessage().startswith("request trace-42: GET /v1/jobs -> 200 in ")
    (logged,) = [json.loads(text) for text in json_lines.getvalue().splitlines()]
    assert (logged["correlation_id"], logged["entrypoint"]) == ("trace-42", "gateway.api")
    made = api.get("/v1/jobs")
    assert uuid.UUID(made.headers["X-Request-Id"])
    unsafe = api.get("/v1/jobs", headers={"X-Request-Id": "bad id\twith spaces" + "x" * 200})
    assert uuid.UUID(unsafe.headers["X-Request-Id"])

    client = api.user("client")
    created = api.post(
        "/v1/jobs", client["token"], json=fixed_job(), headers={"X-Request-Id": "post-job-7"}
    )
    assert created.status_code == 201
    rows = platform.execute(
        "jobs",
        "SELECT DISTINCT metadata->>'correlation_id' FROM events WHERE stream LIKE %s",
        (f"%{created.json()['job_id']}%",),
    )
    assert rows == [("post-job-7",)]


def test_the_idempotency_key_header_reaches_the_service(api, platform):
    client = api.user("client")
    headers = {"Idempotency-Key": "post-once"}
    first = api.post("/v1/jobs", client["token"], json=fixed_job(), headers=headers)
    again = api.post("/v1/jobs", client["token"], json=fixed_job(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    created = platform.execute(
        "jobs",
        "SELECT count(DISTINCT stream) FROM events WHERE metadata->>'idempotency_key' = %s",
        ("post-once",),
    )
    assert created == [(1,)]
    other = api.post(
        "/v1/jobs",
        client["token"],
        json=fixed_job(title="Another booking site build"),
        headers=headers,
    )
    assert error_of(other, 409)["code"] == "conflict"
    clash = api.post(
        "/v1/jobs",
        client["token"],
        json=fixed_job(idempotency_key="in-body"),
        headers={"Idempotency-Key": "in-header"},
    )
    assert set(error_of(clash, 400)["fields"]) == {"idempotency_key"}


def test_login_and_proposals_are_rate_limited_per_caller(api):
    wrong = {"email": "nobody@gateway.test", "password": "not the password at all"}
    for _ in range(LOGIN_CAPACITY):
        assert api.post("/v1/sessions", json=wrong).status_code == 401
    limited = api.post("/v1/sessions", json=wrong)
    assert error_of(limited, 429)["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1

    first, second = api.user("freelancer"), api.user("freelancer")
    nonsense = {"job_id": "no-such-job"}
    for _ in range(PROPOSAL_CAPACITY):
        assert api.post("/v1/proposals", first["token"], json=nonsense).status_code == 400
    assert api.post("/v1/proposals", first["token"], json=nonsense).status_code == 429
    # another token has its own bucket
    assert api.post("/v1/proposals", second["token"], json=nonsense).status_code == 400


def test_an_internal_error_is_a_bare_500_logged_with_its_request_id(api, platform, caplog):
    # the search read model vanishes under the jobs service: a genuine unexpected failure
    platform.execute("jobs", "ALTER TABLE job_search RENAME TO job_search_gone")
    with caplog.at_level(logging.ERROR, logger="services.gateway"):
        response = api.get("/v1/jobs", params={"q": "anything"}, headers={"X-Request-Id": "r-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal error; quote the request id"},
        "request_id": "r-500",
    }
    assert "Traceback" not in response.text and "job_search" not in response.text
    logged = [r for r in caplog.records if "r-500" in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_search_pages_carry_next_links(api):
    client = api.user("client")
    created = {
        api.ok("POST", "/v1/jobs", client["token"], json=fixed_job(title=f"Booking site {n}"))[
            "job_id"
        ]
        for n in range(3)
    }
    wait_until(
        lambda: len(api.ok("GET", "/v1/jobs", params={"q": "booking"})["items"]) == 3,
        what="jobs searchable",
    )
    first = api.get("/v1/jobs", params={"q": "booking", "limit": 2})
    assert first.status_code == 200
    link = first.links["next"]["url"]
    assert first.json()["next"] == link and link.startswith("/v1/jobs?")
    second = api.get(link)
    assert second.status_code == 200 and "next" not in second.links
    seen = [j["job_id"] for j in first.json()["items"] + second.json()["items"]]
    assert len(seen) == 3 and set(seen) == created


def test_attachments_go_up_as_multipart_and_come_back_as_a_stream(api, platform):
    hire = proposal_on_a_new_job(api)
    client, freelancer = hire["client"], hire["freelancer"]
    # a room between them opens once the client writes about the proposal
    api.ok("POST", f"/v1/proposals/{hire['proposal_id']}/message", client["token"])
    rooms = wait_until(lambda: api.ok("GET", "/v1/rooms", client["token"])["rooms"], what="room")
    room_id = rooms[0]["room_id"]
    uploaded = api.ok(
        "POST",
        f"/v1/rooms/{room_id}/attachments",
        client["token"],
        status=201,
        files={"file": ("brief.png", PNG, "application/octet-stream")},
    )
    assert uploaded["size_bytes"] == len(PNG) and uploaded["content_type"] == "image/png"
    api.ok(
        "POST",
        f"/v1/rooms/{room_id}/messages",
        client["token"],
        json={"body": "The brief", "attachment_ids": [uploaded["attachment_id"]]},
    )
    download = api.get(f"/v1/attachments/{uploaded['attachment_id']}", freelancer["token"])
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["Content-Type"] == "image/png"
    disposition = parse_options_header(download.headers["Content-Disposition"])
    assert disposition == ("attachment", {"filename": "brief.png"})
    without_file = api.post(
        f"/v1/rooms/{room_id}/attachments", client["token"], data={"filename": "x"}
    )
    assert set(error_of(without_file, 400)["fields"]) == {"file"}
    outsider = api.user("freelancer")
    denied = api.get(f"/v1/attachments/{uploaded['attachment_id']}", outsider["token"])
    assert denied.status_code == 403


def test_a_service_that_does_not_answer_in_time_is_a_504(api, platform):
    client = api.user("client")
    # the gateway reads its config per request; this test alone gives it a short patience
    platform.containers["gateway"].config["RPC_TIMEOUT_SECONDS"] = 0.5
    # escrow's wallet read model is locked away from it until the gateway has given up
    with psycopg.connect(platform.dsns["escrow"]) as conn:
        conn.execute("LOCK TABLE escrow_wallets IN ACCESS EXCLUSIVE MODE")
        response = api.get("/v1/wallet", client["token"])
    assert error_of(response, 504)["code"] == "service_timeout"
    assert api.get("/v1/wallet", client["token"]).status_code == 200
