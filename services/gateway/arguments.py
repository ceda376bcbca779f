"""From an HTTP request to the keyword arguments of an RPC call.

The gateway does not validate arguments itself: the service loads them through the same
schema and answers with a ValidationError naming the fields. The gateway only turns the
HTTP shapes into JSON values, using the schema to know a field's type (query strings are
all text, and the services' integers are strict).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from typing import Any

from marshmallow import Schema, fields
from werkzeug.wrappers import Request

from services.gateway.routes import Route
from shared.errors import ValidationError

IDEMPOTENCY_KEY = "idempotency_key"
_INTEGER = re.compile(r"-?\d{1,18}")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
# Bigger bodies are refused before they are read (attachments have their own limit).
MAX_JSON_BYTES = 1 << 20


def schema_of(route: Route) -> Schema:
    """The route's schema, made once: the gateway only reads its fields."""
    return _instance(route.schema)


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    return schema()


def _field_named(schema: Schema, name: str) -> fields.Field | None:
    for attr, field in schema.fields.items():
        if (field.data_key or attr) == name:
            return field
    return None


def _scalar(field: fields.Field | None, text: str) -> Any:
    """A query string value as the JSON value the field expects, or the text unchanged (the
    service then names the field in its ValidationError)."""
    if isinstance(field, fields.Boolean):
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text
    if isinstance(field, fields.Integer):
        return int(text) if _INTEGER.fullmatch(text) else text
    if isinstance(field, fields.Nested | fields.Dict) or (
        field is not None and type(field) is fields.Raw
    ):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def query_arguments(route: Route, request: Request) -> dict:
    """Arguments from the query string, typed by the route's schema."""
    schema = schema_of(route)
    args: dict = {}
    for key in request.args:
        name = route.aliases.get(key, key)
        values = request.args.getlist(key)
        field = _field_named(schema, name)
        if isinstance(field, fields.List):
            if len(values) == 1 and "," in values[0]:
                values = values[0].split(",")
            args[name] = [_scalar(field.inner, v) for v in values]
        else:
            args[name] = _scalar(field, values[-1])
    return args


def body_arguments(request: Request) -> dict:
    """The JSON object of the body (an empty body is no arguments)."""
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise ValidationError("request body too large", {"_body": ["At most 1 MiB of JSON."]})
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("invalid JSON", {"_body": ["The body is not valid JSON."]}) from None
    if not isinstance(body, dict):
        raise ValidationError("invalid input", {"_body": ["Expected a JSON object."]})
    return body


def multipart_arguments(request: Request) -> dict:
    """An uploaded ``file`` part becomes ``filename`` and base64 ``content``; other form
    fields are passed as they are."""
    args: dict = {key: request.form[key] for key in request.form}
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("invalid input", {"file": ["Upload the file as the part 'file'."]})
    args.setdefault("filename", upload.filename or "")
    args["content"] = base64.b64encode(upload.read()).decode("ascii")
    return args


def rpc_arguments(route: Route, request: Request, path_values: dict) -> dict:
    """Everything the RPC method receives, by name."""
    if route.source == "query":
        args = query_arguments(route, request)
    elif route.source == "multipart":
        args = multipart_arguments(request)
    else:
        args = body_arguments(request)
    known = {field.data_key or attr for attr, field in schema_of(route).fields.items()}
    unknown = sorted(set(args) - known)
    if unknown:
        # the services refuse these too; checked here as well because not every RPC method
        # validates its arguments (``health`` takes none, and a stray one would be a 500)
        raise ValidationError("invalid input", {name: ["Unknown field."] for name in unknown})
    for name, value in path_values.items():
        if name in args and args[name] != value:
            raise ValidationError(
                "invalid input", {name: ["Given in the path; leave it out of the request."]}
            )
        args[name] = value
    key = request.headers.get("Idempotency-Key")
    if key is not None and route.mutating and IDEMPOTENCY_KEY in schema_of(route).fields:
        if args.get(IDEMPOTENCY_KEY) not in (None, key):
            raise ValidationError(
                "invalid input",
                {IDEMPOTENCY_KEY: ["Differs from the Idempotency-Key header."]},
            )
        args[IDEMPOTENCY_KEY] = key
    return args


def default_limit(route: Route) -> int | None:
    field = schema_of(route).fields.get("limit")
    default = getattr(field, "load_default", None)
    return default if isinstance(default, int) else None
