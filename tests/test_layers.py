"""The read layer's shape, which import-linter cannot see: views and API classes orchestrate
and make no ORM queries (selectors do), and presentation queries nothing either (it shapes
what selectors return). The import direction itself is checked by ``lint-imports``."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "reviewapp"

# Methods that only a QuerySet or a model instance has: calling one is a query.
QUERY_METHODS = frozenset(
    {
        "aggregate",
        "annotate",
        "bulk_create",
        "defer",
        "distinct",
        "exclude",
        "exists",
        "extra",
        "filter",
        "get_or_create",
        "only",
        "order_by",
        "prefetch_related",
        "raw",
        "refresh_from_db",
        "select_for_update",
        "select_related",
        "update_or_create",
        "values",
        "values_list",
    }
)
# Query APIs a module of these layers must not import.
QUERY_IMPORTS = ("django.db.models", "django.db.connection", "django.db.connections")
# The DRF authentication class looks the bearer token up: it is request plumbing, like
# middleware, not an endpoint.
NOT_ENDPOINTS = {"api/authentication.py"}


def _modules(*packages: str) -> list[Path]:
    paths = [path for package in packages for path in sorted((APP / package).glob("*.py"))]
    return [p for p in paths if str(p.relative_to(APP)) not in NOT_ENDPOINTS]


def _query_uses(source: str, where: str) -> list[str]:
    """Every ``X.objects``, QuerySet-method call and query-API import in SOURCE."""
    found = []
    for node in ast.walk(ast.parse(source, filename=where)):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"{where}:{node.lineno} .objects")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            found.append(f"{where}:{node.lineno} .{node.func.attr}()")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [
                f"{where}:{node.lineno} import {name}"
                for name in [node.module, *names]
                if name.startswith(QUERY_IMPORTS)
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{where}:{node.lineno} import {alias.name}"
                for alias in node.names
                if alias.name.startswith(QUERY_IMPORTS)
            ]
    return found


def _scan(path: Path) -> list[str]:
    return _query_uses(path.read_text(), str(path.relative_to(APP.parent)))


def test_views_and_api_make_no_orm_queries():
    """Pages and endpoints read through selectors: no ``.objects``, QuerySet calls or
    ``django.db.models`` imports in reviewapp/views or reviewapp/api."""
    offenders = [use for path in _modules("views", "api") for use in _scan(path)]
    assert offenders == []


def test_presentation_makes_no_queries():
    """Presentation shapes loaded data only: no ORM use at all in reviewapp/presentation."""
    modules = _modules("presentation")
    assert len(modules) >= 5
    offenders = [use for path in modules for use in _scan(path)]
    assert offenders == []


def test_the_checker_sees_queries():
    """The scan itself finds each kind of query use (so the tests above can fail)."""
    source = (
        "from django.db.models import Count\n"
        "from django.db import connection\n"
        "rows = Thing.objects.all()\n"
        "rows = things.select_related('x').order_by('id')\n"
        "case.refresh_from_db()\n"
        "context.update(extra)\n"
    )
    uses = _query_uses(source, "probe.py")
    assert sorted(use.split(" ", 1)[1] for use in uses) == [
        ".objects",
        ".order_by()",
        ".refresh_from_db()",
        ".select_related()",
        "import django.db.connection",
        "import django.db.models",
        "import django.db.models.Count",
    ]
