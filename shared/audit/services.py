"""Finding a service's projections, upcasters and database without starting it."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.eventstore import Projection, Upcasters
from shared.eventstore.upcasting import NO_UPCASTERS

SERVICES = ("identity", "jobs", "bidding", "escrow", "messaging", "reputation")


@dataclass
class ServiceModels:
    """What replaying a service needs: its read-model projections and upcasters."""

    projections: Sequence[Projection] = field(default_factory=list)
    upcasters: Upcasters = NO_UPCASTERS


def service_dsn(service: str) -> str:
    """The service's database, as the ``marketplace`` command line finds it."""
    return os.environ.get(
        f"{service.upper()}_DB_DSN", f"postgresql://root@127.0.0.1:5432/marketplace_{service}"
    )


def service_models(service: str) -> ServiceModels:
    """The projections and upcasters declared by ``services.<service>.service``.

    The service class is the one whose ``EventStore`` dependency is declared in its own
    body; a service whose module does not exist yet has none.
    """
    from shared.storage import EventStore

    try:
        module = importlib.import_module(f"services.{service}.service")
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == "services" or exc.name.startswith(f"services.{service}")):
            return ServiceModels()
        raise
    for value in vars(module).values():
        if not isinstance(value, type):
            continue
        stores = [v for v in vars(value).values() if isinstance(v, EventStore)]
        if stores and getattr(value, "name", None) == service:
            return ServiceModels(list(stores[0].projections), stores[0].upcasters)
    return ServiceModels()
