"""The auditor's toolkit: trust nothing but the logs.

- ``verify``: hash chain, stream versions, append-only guards, relay positions, checkpoints.
- ``checkpoints``: signed chain heads, stored so that ``verify`` can prove the log only grew.
- ``replay``: rebuild a service's read models into a scratch schema and diff them.
- ``export``: events or a read-model table to JSON Lines or CSV, with a checkable manifest.
- ``asof`` and ``timeline``: history seen at a moment, or across services.
- ``reconcile``: escrow's provider clearing account against the payment provider's own
  records, per day and currency.
- ``rpc``: ``AuditOperations``, the auditor-role RPC mixin (``audit_verify``,
  ``audit_as_of``) for a service to check its own log.

Everything works on any service's database given its name and DSN.
"""
