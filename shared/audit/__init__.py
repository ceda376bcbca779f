"""The auditor's toolkit: trust nothing but the logs.

- ``verify``: hash chain, stream versions, append-only guards, relay positions, checkpoints.
- ``checkpoints``: signed chain heads, stored so that ``verify`` can prove the log only grew.
- ``replay``: rebuild a service's read models into a scratch schema and diff them.
- ``export``: events or a read-model table to JSON Lines or CSV, with a checkable manifest.
- ``asof`` and ``timeline``: history seen at a moment, or across services.

Everything works on any service's database given its name and DSN.
"""
