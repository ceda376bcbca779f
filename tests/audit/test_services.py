"""The toolkit finds a service's projections from its nameko class."""

from shared.audit.services import service_models
from shared.eventstore import Projection


def test_a_service_module_gives_its_projections_and_tables():
    models = service_models("escrow")
    assert models.projections
    assert all(isinstance(p, Projection) for p in models.projections)
    tables = {t for p in models.projections for t in p.tables}
    assert "ledger_entries" in tables


def test_a_service_without_a_module_has_no_projections():
    models = service_models("payroll")
    assert list(models.projections) == []
