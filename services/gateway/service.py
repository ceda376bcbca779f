"""The HTTP gateway: the marketplace as a JSON API over the services' RPC.

One catch-all HTTP entrypoint dispatches ``/v1/...`` through the route table
(``routes.py``) to one RPC method of one service, passing the caller's bearer token and the
request id along in the nameko context data. Errors are mapped to statuses by their type
(``shared.errors``); anything else is a 500 with a generic body, logged with the request id.

Run: ``nameko run --config services/gateway/config.yaml services.gateway.service``
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlencode

import eventlet
from nameko.dependency_providers import Config
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoSuchRoute
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from services.gateway.arguments import default_limit, rpc_arguments
from services.gateway.openapi import docs_page, openapi_document
from services.gateway.ratelimit import RateLimiter, caller_key
from services.gateway.routes import ROUTES, Route
from shared.errors import MarketplaceError, RateLimited
from shared.observability import LogContext
from shared.process import CollectorTuning
from shared.rpc import RpcProxy

log = logging.getLogger("services.gateway")

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
JSON = "application/json"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_RPC_TIMEOUT = 30.0
DOWNLOAD_CHUNK = 64 * 1024


class ServiceTimeout(Exception):
    """The service did not answer in time (it may still finish the command)."""


@dataclass(frozen=True)
class RequestInfo:
    """What the gateway's entrypoints know of the HTTP caller."""

    request_id: str
    authorization: str | None
    client_address: str | None


class RequestContext(DependencyProvider):
    """Makes the worker call the services as the HTTP caller.

    Puts ``authorization`` (the request's ``Authorization`` header) and ``correlation_id``
    (the request id, from ``X-Request-Id`` or made up) into the worker's context data; the
    ``RpcProxy`` dependencies send the context data along with every call, so the services
    see the caller and record the request id in the events' metadata.
    """

    def get_dependency(self, worker_ctx) -> RequestInfo:
        request = worker_ctx.args[0] if worker_ctx.args else None
        if not isinstance(request, Request):
            return RequestInfo(str(uuid.uuid4()), None, None)
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.fullmatch(given) else str(uuid.uuid4())
        authorization = request.headers.get("Authorization") or None
        worker_ctx.data["correlation_id"] = request_id
        if authorization:
            worker_ctx.data["authorization"] = authorization
        return RequestInfo(request_id, authorization, request.remote_addr)


def _url_map() -> Map:
    return Map(
        [
            Rule(route.werkzeug_rule, methods=[route.method], endpoint=index)
            for index, route in enumerate(ROUTES)
        ],
        strict_slashes=False,
        merge_slashes=False,
    )


URL_MAP = _url_map()


class _WebServer(WebServer):
    """nameko's web server without eventlet's access line per request: ``api`` writes the
    gateway's own (with the request id and the status), and formatting both cost ~100 us
    per request."""

    def get_wsgi_server(self, sock, wsgi_app, **options):
        server = super().get_wsgi_server(sock, wsgi_app, **options)
        server.log_output = False
        return server


class _HttpEntrypoint(HttpRequestHandler):
    server = _WebServer()


http = _HttpEntrypoint.decorator


def json_response(status: int, body, request_id: str, headers: Headers | None = None) -> Response:
    headers = headers or Headers()
    headers[REQUEST_ID_HEADER] = request_id
    return Response(
        json.dumps(body, separators=(",", ":")), status=status, headers=headers, mimetype=JSON
    )


def error_body(code: str, message: str, request_id: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}, "request_id": request_id}


def _details(exc: MarketplaceError):
    """The error's details; nameko sends every non-text argument of a remote error as
    text, so an absent ``details`` arrives as the string "None"."""
    return None if exc.details in (None, "None") else exc.details


def error_response(exc: Exception, request_id: str, where: str) -> Response:
    """The HTTP answer to an exception: typed errors by their status, the rest a bare 500."""
    if isinstance(exc, MarketplaceError) and 400 <= exc.http_status < 500:
        body = error_body(exc.code, exc.message, request_id)
        details = _details(exc)
        if details is not None:
            body["error"]["details"] = details
        if exc.http_status == 400:
            body["error"]["fields"] = details if isinstance(details, dict) else {}
        headers = Headers()
        if isinstance(exc, RateLimited):
            retry = details.get("retry_after") if isinstance(details, dict) else None
            headers["Retry-After"] = str(retry) if str(retry).isdigit() else "1"
        return json_response(exc.http_status, body, request_id, headers)
    if isinstance(exc, HTTPException) and exc.code and 400 <= exc.code < 500:
        # werkzeug's own refusals while reading the request (e.g. 413 for a large upload)
        code = (exc.name or "bad request").lower().replace(" ", "_")
        return json_response(
            exc.code, error_body(code, exc.description or exc.name, request_id), request_id
        )
    if isinstance(exc, ServiceTimeout):
        log.error("request %s: %s: %s", request_id, where, exc, extra={"request_id": request_id})
        message = "the service did not answer in time; retry with the same Idempotency-Key"
        return json_response(504, error_body("service_timeout", message, request_id), request_id)
    if isinstance(exc, UnknownService):
        log.error(
            "request %s: %s: service not running: %s",
            request_id,
            where,
            exc,
            extra={"request_id": request_id},
        )
        return json_response(
            503,
            error_body("service_unavailable", "the service is not available", request_id),
            request_id,
        )
    # Never the exception's text: it may carry internals. The log has everything.
    log.error(
        "request %s: %s failed: %s: %s",
        request_id,
        where,
        type(exc).__name__,
        exc,
        exc_info=exc,
        extra={"request_id": request_id},
    )
    return json_response(
        500,
        error_body("internal_error", "internal error; quote the request id", request_id),
        request_id,
    )


def next_page_url(request: Request, route: Route, args: dict, result) -> str | None:
    """The relative URL of the page after ``result``, from the request's own query."""
    if route.paging is None:
        return None
    changes = route.paging.next_arguments(args, result, default_limit(route))
    if not changes:
        return None
    query = [(k, v) for k, v in request.args.items(multi=True) if k not in changes]
    query += [(k, str(v)) for k, v in changes.items()]
    return f"{request.path}?{urlencode(query)}"


def download_response(result: dict, request_id: str) -> Response:
    """An attachment's bytes streamed back in chunks, with its detected content type."""
    data = base64.b64decode(result.get("content") or "")

    def chunks():
        for start in range(0, len(data), DOWNLOAD_CHUNK):
            yield data[start : start + DOWNLOAD_CHUNK]

    headers = Headers()
    headers[REQUEST_ID_HEADER] = request_id
    headers["Content-Length"] = str(len(data))
    headers["X-Content-Type-Options"] = "nosniff"
    if result.get("sha256"):
        headers["X-Content-SHA256"] = str(result["sha256"])
    headers.set("Content-Disposition", "attachment", filename=str(result.get("filename") or "file"))
    return Response(
        chunks(),
        status=200,
        headers=headers,
        mimetype=str(result.get("content_type") or "application/octet-stream"),
        direct_passthrough=True,
    )


@cache
def _docs_html() -> str:
    return docs_page(openapi_document())


class GatewayService:
    """HTTP in front of every service. Stateless apart from the rate limit buckets."""

    name = "gateway"

    identity = RpcProxy("identity")
    jobs = RpcProxy("jobs")
    bidding = RpcProxy("bidding")
    escrow = RpcProxy("escrow")
    messaging = RpcProxy("messaging")
    reputation = RpcProxy("reputation")

    context = RequestContext()  # first: the request id it sets is what log_context reads
    log_context = LogContext()  # service, entrypoint and correlation id in JSON log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    limiter = RateLimiter()
    config = Config()

    @http("GET,POST,PUT,PATCH,DELETE", "/v1/<path:subpath>")
    def api(self, request: Request, subpath: str) -> Response:
        """Every ``/v1`` operation of the route table; one log line per request."""
        request_id = self.context.request_id
        started = time.perf_counter()
        response = self._dispatch(request, request_id)
        log.info(
            "request %s: %s %s -> %s in %.1f ms",
            request_id,
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": request_id, "status": response.status_code},
        )
        return response

    def _dispatch(self, request: Request, request_id: str) -> Response:
        where = f"{request.method} {request.path}"
        try:
            index, path_values = URL_MAP.bind("gateway").match(request.path, request.method)
        except NoSuchRoute:
            return json_response(
                404, error_body("not_found", f"no route {where}", request_id), request_id
            )
        except MethodNotAllowed as exc:
            headers = Headers({"Allow": ", ".join(exc.valid_methods or [])})
            return json_response(
                405,
                error_body(
                    "method_not_allowed", f"{request.method} is not allowed here", request_id
                ),
                request_id,
                headers,
            )
        route = ROUTES[index]
        try:
            return self._call(route, request, path_values, request_id)
        except Exception as exc:
            return error_response(exc, request_id, f"{where} ({route.operation_id})")

    def _call(self, route: Route, request: Request, path_values: dict, request_id: str):
        wait = self.limiter.retry_after(
            route.rate_limit,
            caller_key(self.context.authorization, self.context.client_address),
        )
        if wait:
            raise RateLimited("too many requests; try again later", {"retry_after": wait})
        if route.source == "multipart":
            request.max_content_length = int(
                self.config.get("MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES
            )
        args = rpc_arguments(route, request, path_values)
        seconds = float(self.config.get("RPC_TIMEOUT_SECONDS") or DEFAULT_RPC_TIMEOUT)
        with eventlet.Timeout(seconds, ServiceTimeout(f"{route.operation_id} after {seconds}s")):
            result = getattr(getattr(self, route.service), route.rpc)(**args)
        if route.download and isinstance(result, dict):
            return download_response(result, request_id)
        headers = Headers()
        next_url = next_page_url(request, route, args, result)
        if next_url:
            headers["Link"] = f'<{next_url}>; rel="next"'
            if isinstance(result, dict):
                result = {**result, "next": next_url}
        return json_response(route.status, result, request_id, headers)

    @http("GET", "/openapi.json")
    def openapi(self, request: Request) -> Response:
        """The OpenAPI 3 document."""
        return json_response(200, openapi_document(), self.context.request_id)

    @http("GET", "/docs")
    def docs(self, request: Request) -> Response:
        """The OpenAPI document as a browsable page."""
        response = Response(_docs_html(), mimetype="text/html")
        response.headers[REQUEST_ID_HEADER] = self.context.request_id
        return response

    @http("GET", "/health")
    def health(self, request: Request) -> Response:
        """Liveness of the gateway itself (each service: ``/v1/ops/<service>/health``)."""
        return json_response(200, {"service": "gateway", "status": "ok"}, self.context.request_id)
