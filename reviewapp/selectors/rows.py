"""One-row reads on the hot path of every API request, with their SQL compiled once.

Django compiles a queryset's SQL anew on every evaluation; for a ``select_related`` read of
a wide row (the bearer token with its user and the user's model, a model with its team, a
case with its model) that compilation costs more CPU than running the query. ``row_first``
compiles the queryset a builder makes once per process and database, then for each call runs
the same SQL with the call's values and builds the objects with Django's own machinery
(``Model.from_db``, the select_related populators, the fields' converters), so the objects
are those ``builder(*values).first()`` gives: same columns, same joins, same one query.

A builder must be a module-level function whose values appear in the SQL as exactly its
parameters, in order (``filter(digest=value)``, ``filter(slug=value)``); the first
compilation checks this, and any builder or value that does not fit (None, which compiles to
``IS NULL``; integers beyond 32 bits, which Django answers itself) is simply read through the
ORM. ``row_values`` does the same for ``values_list()`` reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

Builder = Callable[..., models.QuerySet]


@dataclass(frozen=True)
class _Plan:
    sql: str
    model: type[models.Model] | None
    init_list: list[str]
    start: int
    end: int
    converters: list[tuple[int, list, Any]]
    populators: list
    for_update: bool


_plans: dict[tuple[Builder, str, str], _Plan | None] = {}
_plans_lock = threading.Lock()
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _plan_make(builder: Builder, values: tuple, using: str, first: bool) -> _Plan | None:
    queryset = builder(*values)
    if first and not queryset.query.is_sliced:
        queryset = queryset[:1]
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    if list(params) != list(values) or compiler.annotation_col_map:
        return None
    select, klass_info = compiler.select, compiler.klass_info
    converters = compiler.get_converters([column[0] for column in select])
    converters = [(pos, convs, expression) for pos, (convs, expression) in converters.items()]
    for_update = bool(queryset.query.select_for_update)
    if klass_info is None:  # values_list(): the rows as tuples
        return _Plan(sql, None, [], 0, 0, converters, [], for_update)
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return _Plan(
        sql=sql,
        model=klass_info["model"],
        init_list=[column[0].target.attname for column in select[start:end]],
        start=start,
        end=end,
        converters=converters,
        populators=get_related_populators(klass_info, select, using),
        for_update=for_update,
    )


def _fits(value: Any) -> bool:
    """A value the compiled SQL takes as is: a string, or an integer a database column can
    hold (Django answers "no rows" for larger ones without asking the database)."""
    if type(value) is int:
        return _INT_MIN <= value <= _INT_MAX
    return type(value) is str


def _plan(builder: Builder, values: tuple, using: str, first: bool) -> _Plan | None:
    if not all(_fits(value) for value in values):
        return None
    key = (builder, using, connections[using].vendor)
    try:
        return _plans[key]
    except KeyError:
        with _plans_lock:
            plan = _plans[key] = _plan_make(builder, values, using, first)
        return plan


def _rows(plan: _Plan, values: tuple, using: str) -> list[list]:
    connection = connections[using]
    if plan.for_update and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, values)
        rows = [list(row) for row in cursor.fetchall()]
    for row in rows:
        for pos, convs, expression in plan.converters:
            value = row[pos]
            for converter in convs:
                value = converter(value, expression, connection)
            row[pos] = value
    return rows


def row_first(builder: Builder, *values: Any, using: str = "default") -> Any:
    """``builder(*values).first()`` (for lookups that match at most one row), without
    compiling the SQL again."""
    plan = _plan(builder, values, using, first=True)
    if plan is None or plan.model is None:
        return builder(*values).first()
    rows = _rows(plan, values, using)
    if not rows:
        return None
    row = rows[0]
    obj = plan.model.from_db(using, plan.init_list, row[plan.start : plan.end])
    for populator in plan.populators:
        populator.populate(row, obj)
    return obj


def row_values(builder: Builder, *values: Any, using: str = "default") -> list[tuple]:
    """The rows of ``builder(*values)``, a ``values_list()`` queryset, as tuples, without
    compiling the SQL again."""
    plan = _plan(builder, values, using, first=False)
    if plan is None or plan.model is not None:
        return [tuple(row) for row in builder(*values)]
    return [tuple(row) for row in _rows(plan, values, using)]
