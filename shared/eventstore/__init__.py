"""The append-only, hash-chained event log every service keeps (see DESIGN.md)."""

from shared.eventstore.postgres import PostgresEventStore, Projection, UnitOfWork
from shared.eventstore.records import ANY, NO_STREAM, RecordedEvent, VerifyReport
from shared.eventstore.upcasting import Upcasters

__all__ = [
    "ANY",
    "NO_STREAM",
    "PostgresEventStore",
    "Projection",
    "RecordedEvent",
    "UnitOfWork",
    "Upcasters",
    "VerifyReport",
]
