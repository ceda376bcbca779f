"""The OpenAPI 3 document of the gateway, generated from the route table and the services'
marshmallow schemas with apispec, and a browsable HTML page rendered from it server-side
(no scripts, no CDN: it works offline)."""

from __future__ import annotations

import html
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from services.gateway.routes import ROUTES, Route
from services.messaging.schemas import Base64Content

OPENAPI_VERSION = "3.0.3"
TITLE = "Marketplace API"
VERSION = "1.0.0"
ERROR_STATUSES = {
    "400": "Invalid input; `error.fields` names each field with its messages",
    "401": "No token, or an expired or invalid one",
    "403": "The caller may not do this",
    "404": "Not found",
    "409": "Conflicts with the current state, or an idempotency key reused differently",
    "500": "Internal error; quote the request id",
    "503": "The service is not running",
    "504": "The service did not answer in time; retry with the same Idempotency-Key",
}


def schema_name(schema: Schema | type[Schema]) -> str:
    """``<service>.<Class>``: class names repeat across services (``AttachmentSchema``)."""
    cls = schema if isinstance(schema, type) else type(schema)
    parts = cls.__module__.split(".")
    owner = parts[1] if parts[0] == "services" and len(parts) > 1 else parts[0]
    name = f"{owner}.{cls.__name__.removesuffix('Schema') or cls.__name__}"
    if not isinstance(schema, type) and (schema.only or schema.exclude):
        return ""  # a modified instance is inlined rather than named like its class
    return name


def _base64_property(self, field, **kwargs) -> dict:
    if isinstance(field, Base64Content):
        return {"type": "string", "format": "byte"}
    return {}


def _marshmallow_plugin() -> MarshmallowPlugin:
    plugin = MarshmallowPlugin(schema_name_resolver=lambda s: schema_name(s) or None)
    return plugin


def _error_schema() -> dict:
    return {
        "type": "object",
        "required": ["error", "request_id"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {},
                        "description": "Per field, its messages (validation errors).",
                    },
                    "details": {},
                },
            },
            "request_id": {"type": "string"},
        },
    }


def _parameter(plugin: MarshmallowPlugin, name: str, field: fields.Field, where: str) -> dict:
    prop = plugin.converter.field2property(field)
    param = {"name": name, "in": where, "required": where == "path" or bool(field.required)}
    if description := field.metadata.get("description"):
        param["description"] = description
    if isinstance(field, fields.Nested | fields.Dict):
        # JSON text in the query string
        param["content"] = {"application/json": {"schema": prop}}
    else:
        if where == "path":
            prop.pop("default", None)
            prop.pop("nullable", None)
        param["schema"] = prop
        if isinstance(field, fields.List):
            param["style"], param["explode"] = "form", True
    return param


def _fields_by_name(schema: Schema) -> dict[str, fields.Field]:
    return {(field.data_key or attr): field for attr, field in schema.fields.items()}


def _operation(spec: APISpec, plugin: MarshmallowPlugin, route: Route) -> dict:
    schema = route.schema()
    by_name = _fields_by_name(schema)
    parameters = []
    for name in route.path_params:
        field = by_name.get(name) or fields.String(required=True)
        parameters.append(_parameter(plugin, name, field, "path"))
    operation: dict = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.service],
        "description": (route.schema.__doc__ or "").strip()
        + f"\n\nRPC: `{route.service}.{route.rpc}`.",
        "responses": {},
    }
    rest = {n: f for n, f in by_name.items() if n not in route.path_params}
    if route.source == "query":
        reverse_alias = {v: k for k, v in route.aliases.items()}
        for name, field in rest.items():
            if route.mutating and name == "idempotency_key":
                continue
            parameters.append(_parameter(plugin, reverse_alias.get(name, name), field, "query"))
    elif route.source == "multipart":
        properties = {"file": {"type": "string", "format": "binary"}}
        for name, field in rest.items():
            if name != "content":
                properties[name] = plugin.converter.field2property(field)
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": properties}
                }
            },
        }
    else:
        body_schema = route.schema(exclude=route.path_params) if route.path_params else schema
        json_schema = plugin.converter.schema2jsonschema(body_schema)
        operation["requestBody"] = {
            "required": any(f.required for f in rest.values()),
            "content": {"application/json": {"schema": json_schema}},
        }
    if route.mutating and "idempotency_key" in by_name:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Repeating a request with the same key returns the first result.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 128},
            }
        )
    parameters.append("RequestId")
    operation["parameters"] = parameters
    ok: dict = {"description": "Success", "headers": _request_id_header()}
    if route.download:
        ok["content"] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    else:
        ok["content"] = {"application/json": {"schema": {}}}
    if route.paging:
        ok["headers"]["Link"] = {
            "description": 'The next page: `<url>; rel="next"` (also `next` in the body)',
            "schema": {"type": "string"},
        }
    operation["responses"][str(route.status)] = ok
    statuses = [*ERROR_STATUSES, *(["429"] if route.rate_limit else [])]
    for status in statuses:
        operation["responses"][status] = f"E{status}"
    return operation


def _request_id_header() -> dict:
    return {"X-Request-Id": {"description": "The request's id", "schema": {"type": "string"}}}


@cache
def openapi_document() -> dict:
    """The whole document (built once per process: it depends on code only)."""
    plugin = _marshmallow_plugin()
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "The freelance marketplace over HTTP. Every operation calls one RPC method of "
                "one service; send `Authorization: Bearer <access token>` from "
                "`POST /v1/sessions`. Errors are `{error: {code, message, fields?}, "
                "request_id}`."
            )
        },
    )
    plugin.converter.add_attribute_function(_base64_property)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", _error_schema())
    spec.components.parameter(
        "RequestId",
        "header",
        {
            "name": "X-Request-Id",
            "required": False,
            "description": "Your id for this request (made up when absent), echoed back.",
            "schema": {"type": "string", "maxLength": 128},
        },
    )
    statuses = {**ERROR_STATUSES, "429": "Too many requests; see Retry-After"}
    for status, description in statuses.items():
        spec.components.response(
            f"E{status}",
            {
                "description": description,
                "headers": _request_id_header(),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    operations: dict[str, dict] = {}
    for route in ROUTES:
        operations.setdefault(route.path, {})[route.method.lower()] = _operation(
            spec, plugin, route
        )
    for path, ops in operations.items():
        spec.path(path=path, operations=ops)
    document = spec.to_dict()
    document["security"] = [{}, {"bearer": []}]
    return document


# -- the browsable page --------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2rem}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}
code{background:#f4f4f4;padding:0 .2rem}
.m{display:inline-block;width:4.5rem;font-weight:bold}
.GET{color:#06c}.POST{color:#080}.PATCH{color:#a60}.DELETE{color:#c00}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.2rem .5rem;
text-align:left;vertical-align:top}
"""


def _resolve(document: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/components/schemas/"):
        return document["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
    return schema


def _type_text(document: dict, prop: dict) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>'
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type_text(document, prop.get('items', {}))}"
    text = html.escape(str(kind))
    if fmt := prop.get("format"):
        text += f" ({html.escape(str(fmt))})"
    if choices := prop.get("enum"):
        text += ": " + ", ".join(html.escape(str(c)) for c in choices)
    return text


def _properties_table(document: dict, schema: dict) -> str:
    schema = _resolve(document, schema)
    props = schema.get("properties") or {}
    if not props:
        return "<p>No fields.</p>"
    required = set(schema.get("required") or [])
    rows = "".join(
        f"<tr><td><code>{html.escape(name)}</code>{' *' if name in required else ''}</td>"
        f"<td>{_type_text(document, prop)}</td></tr>"
        for name, prop in props.items()
    )
    return f"<table><tr><th>field</th><th>type</th></tr>{rows}</table>"


def docs_page(document: dict) -> str:
    """One HTML page listing every operation with its parameters and body fields."""
    by_tag: dict[str, list[str]] = {}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            params = [p for p in op.get("parameters", []) if "$ref" not in p]
            param_rows = "".join(
                f"<tr><td><code>{html.escape(p['name'])}</code>{' *' if p.get('required') else ''}"
                f"</td><td>{html.escape(p['in'])}</td>"
                f"<td>{_type_text(document, p.get('schema') or {'type': 'json'})}</td></tr>"
                for p in params
            )
            body = ""
            if request_body := op.get("requestBody"):
                for media, content in request_body["content"].items():
                    body += f"<p>Body ({html.escape(media)}):</p>"
                    body += _properties_table(document, content["schema"])
            statuses = ", ".join(html.escape(s) for s in op["responses"])
            upper = method.upper()
            by_tag.setdefault(op["tags"][0], []).append(
                f"<details><summary><span class='m {upper}'>{upper}</span>"
                f"<code>{html.escape(path)}</code> {html.escape(op.get('summary', ''))}</summary>"
                f"<p>{html.escape(op.get('description', ''))}</p>"
                + (
                    f"<table><tr><th>parameter</th><th>in</th><th>type</th></tr>{param_rows}</table>"
                    if param_rows
                    else ""
                )
                + body
                + f"<p>Responses: {statuses}</p></details>"
            )
    sections = "".join(
        f"<h2 id='tag-{html.escape(tag)}'>{html.escape(tag)}</h2>{''.join(items)}"
        for tag, items in by_tag.items()
    )
    schemas = "".join(
        f"<details id='schema-{html.escape(name)}'><summary><code>{html.escape(name)}</code>"
        f"</summary>{_properties_table(document, schema)}</details>"
        for name, schema in sorted(document["components"]["schemas"].items())
    )
    info = document["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(info['title'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        "<p>The machine-readable document: <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"{sections}<h2>Schemas</h2>{schemas}</body></html>"
    )
