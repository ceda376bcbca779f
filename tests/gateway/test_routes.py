"""The route table against the services' real RPC surface, and the gateway's pure parts:
the OpenAPI document, argument building, paging and the token buckets (no I/O)."""

from __future__ import annotations

import json
import re

import pytest
from nameko.rpc import Rpc
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.gateway.arguments import query_arguments, rpc_arguments
from services.gateway.openapi import openapi_document
from services.gateway.ratelimit import Buckets, Limit, caller_key, parse_limits
from services.gateway.routes import ROUTES, NoArguments, Paging
from services.gateway.service import URL_MAP
from shared.errors import ValidationError
from tests.gateway.conftest import SERVICE_CLASSES


def rpc_methods(cls) -> dict[str, object]:
    return {
        name: getattr(cls, name)
        for name in dir(cls)
        if any(isinstance(e, Rpc) for e in getattr(getattr(cls, name), "nameko_entrypoints", ()))
    }


def route_named(service: str, rpc: str):
    (route,) = [r for r in ROUTES if (r.service, r.rpc) == (service, rpc)]
    return route


def test_every_rpc_method_of_every_service_has_exactly_one_route():
    served = sorted((r.service, r.rpc) for r in ROUTES)
    assert len(served) == len(set(served))
    exposed = sorted(
        (service, name) for service, cls in SERVICE_CLASSES.items() for name in rpc_methods(cls)
    )
    assert served == exposed


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_route_uses_the_schema_its_method_validates_with(route):
    method = rpc_methods(SERVICE_CLASSES[route.service])[route.rpc]
    schema = getattr(method, "schema", None)
    if schema is None:
        assert route.schema is NoArguments
    else:
        assert type(schema) is route.schema
    fields = route.schema().fields
    for name in route.path_params:
        assert name in fields, f"{name} is not an argument of {route.operation_id}"
    if route.paging:
        assert route.paging.param in fields


def test_each_path_reaches_its_own_route():
    """Static segments win over placeholders (``/v1/jobs/mine`` is not a job id)."""
    adapter = URL_MAP.bind("gateway")
    seen = set()
    for index, route in enumerate(ROUTES):
        sample = re.sub(r"{([a-z_]+)}", r"sample-\1", route.path)
        assert adapter.match(sample, route.method)[0] == index
        assert (route.method, route.path) not in seen
        seen.add((route.method, route.path))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_openapi_document_describes_every_route():
    document = openapi_document()
    json.dumps(document)  # serialisable as it is served
    assert document["openapi"].startswith("3.0.")
    assert {"title", "version"} <= set(document["info"])
    for ref in _refs(document):
        kind, name = re.fullmatch(r"#/components/(\w+)/(.+)", ref).groups()
        assert name in document["components"][kind], ref
    operation_ids = []
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        operation_ids.append(operation["operationId"])
        params = [p for p in operation["parameters"] if "$ref" not in p]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(route.path_params)
        assert all(p["required"] for p in params if p["in"] == "path")
        statuses = set(operation["responses"])
        assert {str(route.status), "400", "401", "403", "404", "409", "500"} <= statuses
        assert ("429" in statuses) == bool(route.rate_limit)
        fields = route.schema().fields
        if route.source == "query":
            names = {p["name"] for p in params if p["in"] == "query"}
            names = {route.aliases.get(n, n) for n in names}
            assert names == set(fields) - set(route.path_params) - {"idempotency_key"}
        elif route.source == "body":
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert set(body["properties"]) == set(fields) - set(route.path_params)
            assert body["additionalProperties"] is False
    assert len(operation_ids) == len(set(operation_ids))
    upload = document["paths"]["/v1/rooms/{room_id}/attachments"]["post"]["requestBody"]
    assert upload["content"]["multipart/form-data"]["schema"]["properties"]["file"] == {
        "type": "string",
        "format": "binary",
    }


def _request(method="GET", query=None, json_body=None, headers=None) -> Request:
    builder = EnvironBuilder(
        method=method, path="/x", query_string=query, json=json_body, headers=headers
    )
    return Request(builder.get_environ())


def test_query_values_are_typed_by_the_schema():
    search = route_named("jobs", "search_jobs")
    args = query_arguments(
        search,
        _request(
            query=[
                ("q", "django"),
                ("limit", "5"),
                ("skills", "python,django"),
                ("payment_verified", "true"),
                ("budget_min", '{"amount": 100, "currency": "USD"}'),
            ]
        ),
    )
    assert args == {
        "keywords": "django",
        "limit": 5,
        "skills": ["python", "django"],
        "payment_verified": True,
        "budget_min": {"amount": 100, "currency": "USD"},
    }
    # what cannot be typed is passed on for the service to name in its error
    assert query_arguments(search, _request(query={"limit": "ten"})) == {"limit": "ten"}


def test_path_body_and_idempotency_key_make_the_arguments():
    fund = route_named("escrow", "fund_milestone")
    path = {"contract_id": "c1", "milestone_id": "m1"}
    request = _request("POST", json_body={}, headers={"Idempotency-Key": "k-1"})
    assert rpc_arguments(fund, request, path) == {**path, "idempotency_key": "k-1"}
    clash = _request("POST", json_body={"contract_id": "c2"})
    with pytest.raises(ValidationError) as raised:
        rpc_arguments(fund, clash, path)
    assert set(raised.value.fields) == {"contract_id"}
    with pytest.raises(ValidationError) as raised:
        rpc_arguments(fund, _request("POST", json_body=[1, 2]), path)
    assert set(raised.value.fields) == {"_body"}
    with pytest.raises(ValidationError) as raised:
        rpc_arguments(fund, _request("POST", json_body={"colour": "blue"}), path)
    assert raised.value.fields == {"colour": ["Unknown field."]}
    health = route_named("jobs", "health")
    with pytest.raises(ValidationError):
        rpc_arguments(health, _request(query={"verbose": "1"}), {})
    # reads take no idempotency key even when one is sent
    get = route_named("escrow", "get_contract")
    keyed = _request(headers={"Idempotency-Key": "k-2"})
    assert rpc_arguments(get, keyed, {"contract_id": "c1"}) == {"contract_id": "c1"}


def test_paging_says_what_the_next_page_is():
    cursor = Paging("cursor", "cursor")
    assert cursor.next_arguments({}, {"next_cursor": "abc"}, 20) == {"cursor": "abc"}
    assert cursor.next_arguments({}, {"next_cursor": None}, 20) is None
    offset = Paging("offset", "offset", "proposals")
    full = {"proposals": [{}, {}]}
    assert offset.next_arguments({"limit": 2, "offset": 4}, full, 20) == {"offset": 6}
    assert offset.next_arguments({"limit": 3}, full, 20) is None
    assert offset.next_arguments({}, {"proposals": [{}] * 20}, 20) == {"offset": 20}
    position = Paging("position", "after_position", "entries")
    entries = {"entries": [{"position": 7}, {"position": 9}]}
    assert position.next_arguments({"limit": 2}, entries, 100) == {"after_position": 9}
    assert position.next_arguments({"limit": 5}, entries, 100) is None


def test_a_token_bucket_allows_a_burst_then_refills_at_its_rate():
    now = [0.0]
    buckets = Buckets(Limit(capacity=3, period_seconds=30), monotonic=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(10.0)
    assert buckets.take("b") == 0.0  # another caller, another bucket
    now[0] = 9.9
    assert buckets.take("a") == pytest.approx(0.1)
    now[0] = 10.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_callers_are_counted_by_token_digest_else_by_address():
    assert caller_key("Bearer abc", "10.0.0.1") == caller_key("Bearer abc", "10.0.0.2")
    assert "abc" not in caller_key("Bearer abc", None)
    assert caller_key(None, "10.0.0.1") == "address:10.0.0.1"
    assert parse_limits({"login": {"CAPACITY": "5", "PERIOD_SECONDS": "60"}}) == {
        "login": Limit(5, 60.0)
    }
    with pytest.raises(ValueError):
        parse_limits({"login": {"CAPACITY": 0, "PERIOD_SECONDS": 60}})
