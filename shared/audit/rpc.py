"""The auditor's RPC: a service checks its own log and answers "as of" questions.

Mixed into a service class next to ``shared.rpc.Operations`` (import it through the module,
``from shared.audit import rpc as audit_rpc``, for the reason given there). Expects the
service to declare ``store`` (EventStore) and ``caller`` (CallerProvider). Both methods
are for the auditor and operator roles, and read only the service's own database:

- ``audit_verify``: the whole of ``marketplace audit verify`` on this service's log.
- ``audit_as_of``: rows of one of the service's read models as they stood at a past time,
  rebuilt from the events recorded up to then (``marketplace audit as-of``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import fields, validate
from nameko.rpc import rpc

from shared.errors import ValidationError
from shared.rpc import NoArguments, validated
from shared.schemas import BaseSchema

AUDIT_ROLES = ("auditor", "operator")


class AsOfArguments(BaseSchema):
    table = fields.String(required=True, validate=validate.Length(min=1, max=63))
    at = fields.AwareDateTime(required=True)
    where = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]{0,62}$")),
        values=fields.Raw(),
        load_default=dict,
        validate=validate.Length(max=8),
    )


def _plain(value: Any) -> Any:
    """A row value as JSON can carry it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class AuditOperations:
    """``audit_verify`` and ``audit_as_of`` on the service's own database."""

    def _audit_dsn(self) -> str:
        return self.store.store.pool.conninfo

    @rpc
    @validated(NoArguments)
    def audit_verify(self, args) -> dict:
        """Hash chain, stream versions, append-only guards, relay position and stored
        checkpoints of this service's log. Auditors and operators. Result: ``{service,
        ok, events, head_position, head_hash, findings: [{check, position, problem}]}``.
        Errors: NotAuthenticated, Forbidden."""
        from shared.audit.verify import verify_service

        self.caller.require_role(*AUDIT_ROLES)
        report = verify_service(self._audit_dsn(), self.name)
        return {
            "service": self.name,
            "ok": report.ok,
            "events": report.events,
            "head_position": report.head_position,
            "head_hash": report.head_hash.hex(),
            "findings": [
                {"check": f.check, "position": f.position, "problem": f.problem}
                for f in report.findings
            ],
        }

    @rpc
    @validated(AsOfArguments)
    def audit_as_of(self, args) -> dict:
        """Rows of read model ``table`` at time ``at``, rebuilt from the events recorded up
        to then, optionally filtered by ``where`` (column -> value). Auditors and operators.
        Result: ``{table, at, rows}``. Errors: NotAuthenticated, Forbidden,
        ValidationError (no such read model, unknown column)."""
        import psycopg

        from shared.audit.asof import table_as_of
        from shared.audit.replay import projection_tables

        self.caller.require_role(*AUDIT_ROLES)
        declared = self.store.store.projections
        if args["table"] not in projection_tables(declared):
            raise ValidationError(
                "no such read model", {"table": [f"{self.name} has no read model by that name"]}
            )
        try:
            rows = table_as_of(
                self._audit_dsn(),
                declared,
                args["at"],
                args["table"],
                args["where"],
                self.store.store.upcasters,
            )
        except psycopg.errors.UndefinedColumn as exc:
            raise ValidationError("unknown column", {"where": [str(exc).splitlines()[0]]}) from exc
        return {"table": args["table"], "at": args["at"].isoformat(), "rows": _plain(rows)}
