"""One-row reads on the hot path of every API request, with their SQL compiled once.

Django compiles a queryset's SQL anew on every evaluation; for a ``select_related`` read of
a wide row (the bearer token with its user and the user's model, a model with its team, a
case with its model) that compilation costs more CPU than running the query. ``row_first``
compiles the queryset a builder makes once per process and database, then for each call runs
the same SQL with the call's values and builds the objects with Django's own machinery
(``Model.from_db``, the select_related populators, the fields' converters), so the objects
are those ``builder(*values).first()`` gives: same columns, same joins, same one query.

A builder must be a module-level function whose SQL does not depend on its values; its
values appear among the SQL's parameters (each any number of times, next to constants such
as a status). The first compilation finds where: it compiles the builder again with other
("probe") values, and a parameter that changed must be exactly one value, in both
compilations; the SQL must be the same text. Any builder or value that does not fit (None,
which compiles to ``IS NULL``; integers beyond 32 bits, which Django answers itself; a
datetime the backend turns into text) is simply read through the ORM. ``row_values`` does
the same for ``values_list()`` reads, ``row_list`` for several model rows, and ``raw_first``
for a hand-written statement (``Model.objects.raw``); ``row_update`` runs an UPDATE
(``update_query``, what ``QuerySet.update`` runs) the same way.

``row_insert`` is the write side: ``obj.save(force_insert=True)`` for a new row, with the
INSERT compiled once per model and database; the values are prepared per call by the
fields' own ``pre_save`` / ``get_db_prep_save``, so the row written is the one ``save()``
writes (same columns, same values). Models with save signal receivers or parents, and
values that are expressions, go through ``save()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models, transaction
from django.db.models import signals
from django.db.models.query import ValuesListIterable, get_related_populators
from django.db.models.sql import InsertQuery, RawQuery, UpdateQuery
from django.db.models.sql.constants import ROW_COUNT
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
    slots: tuple[tuple[int, Any], ...]  # per parameter: (index of the value, or -1; constant)

    def params(self, values: tuple) -> tuple:
        """The statement's parameters for one call's VALUES."""
        return tuple(values[i] if i >= 0 else constant for i, constant in self.slots)


_plans: dict[tuple[Builder, str, str], _Plan | None] = {}
_plans_lock = threading.Lock()
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _probe(value: Any, index: int) -> Any:
    """Another value of the same type, different for each INDEX (two equal values must stay
    apart), to see where a value lands among the parameters."""
    step = 7919 * (index + 1)
    if type(value) is int:
        return value + step if value < _INT_MAX - step else value - step
    if type(value) is str:
        return f"{value}\u2063probe{index}"
    return value + timedelta(days=index + 1, microseconds=7)


def _slots(
    builder: Builder, values: tuple, sql: str, params: tuple, first: bool, using: str
) -> tuple[tuple[int, Any], ...] | None:
    """Where each of the SQL's parameters comes from (see the module docstring), or None."""
    probes = tuple(_probe(value, i) for i, value in enumerate(values))
    probe_sql, probe_params = _compiled(builder, probes, first, using)[1:3]
    if probe_sql != sql or len(probe_params) != len(params):
        return None
    slots = []
    for param, probe in zip(params, probe_params, strict=True):
        if type(param) is type(probe) and param == probe:
            slots.append((-1, param))
            continue
        sources = [i for i, p in enumerate(probes) if type(p) is type(probe) and p == probe]
        if len(sources) != 1 or type(param) is not type(values[sources[0]]):
            return None
        if param != values[sources[0]]:
            return None
        slots.append((sources[0], None))
    return tuple(slots)


def _compiled(builder: Builder, values: tuple, first: bool, using: str) -> tuple:
    queryset = builder(*values)
    if isinstance(queryset, UpdateQuery):
        compiler = queryset.get_compiler(using=using)
        sql, params = compiler.as_sql()
        return queryset, sql, tuple(params), compiler
    if first and not queryset.query.is_sliced:
        queryset = queryset[:1]
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    return queryset, sql, tuple(params), compiler


def _plan_make(builder: Builder, values: tuple, using: str, first: bool) -> _Plan | None:
    queryset, sql, params, compiler = _compiled(builder, values, first, using)
    slots = _slots(builder, values, sql, params, first, using)
    if slots is None:
        return None
    select, klass_info = compiler.select, compiler.klass_info
    converters = compiler.get_converters([column[0] for column in select])
    converters = [(pos, convs, expression) for pos, (convs, expression) in converters.items()]
    for_update = bool(queryset.query.select_for_update)
    if queryset._iterable_class is ValuesListIterable:
        # values_list(): the rows as tuples of the selected columns, in order (Django 5.2
        # reports the named columns as annotations, and sets klass_info all the same).
        if compiler.has_extra_select or len(select) != len(queryset._fields or select):
            return None
        return _Plan(sql, None, [], 0, 0, converters, [], for_update, slots)
    if klass_info is None or compiler.annotation_col_map:
        return None
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
        slots=slots,
    )


def _fits(value: Any) -> bool:
    """A value the compiled SQL takes as is: a string, an aware datetime, or an integer a
    database column can hold (Django answers "no rows" for larger ones without asking)."""
    if type(value) is int:
        return _INT_MIN <= value <= _INT_MAX
    if type(value) is datetime:
        return value.tzinfo is not None
    return type(value) is str


def _plan(builder: Builder, values: tuple, using: str, first: bool) -> _Plan | None:
    """The builder's plan (made on first use), or None to read through the ORM. A builder
    serves one of ``row_first`` / ``row_list`` / ``row_values``, so FIRST is not in the key."""
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
        cursor.execute(plan.sql, plan.params(values))
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


def row_list(builder: Builder, *values: Any, using: str = "default") -> list:
    """``list(builder(*values))`` (a sliced queryset of model objects), without compiling the
    SQL again."""
    plan = _plan(builder, values, using, first=False)
    if plan is None or plan.model is None:
        return list(builder(*values))
    objs = []
    for row in _rows(plan, values, using):
        obj = plan.model.from_db(using, plan.init_list, row[plan.start : plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        objs.append(obj)
    return objs


def row_values(builder: Builder, *values: Any, using: str = "default") -> list[tuple]:
    """The rows of ``builder(*values)``, a ``values_list()`` queryset, as tuples, without
    compiling the SQL again."""
    plan = _plan(builder, values, using, first=False)
    if plan is None or plan.model is not None:
        return [tuple(row) for row in builder(*values)]
    return [tuple(row) for row in _rows(plan, values, using)]


@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    fields: list[models.Field]
    returning: list[models.Field]
    returning_params: tuple
    converters: dict


_insert_plans: dict[tuple[type[models.Model], str, str], _InsertPlan | None] = {}


def _insert_values(plan: _InsertPlan, obj: models.Model, connection: Any) -> list | None:
    """The INSERT's values as ``SQLInsertCompiler`` prepares them, or None for an expression
    (whose SQL would not be a plain placeholder)."""
    values = []
    for field in plan.fields:
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):
            return None
        values.append(field.get_db_prep_save(value, connection=connection))
    return values


def _insert_plan_make(obj: models.Model, using: str) -> _InsertPlan | None:
    opts = obj._meta
    model = type(obj)
    if opts.parents or signals.pre_save.has_listeners(model):
        return None
    if signals.post_save.has_listeners(model) or obj.pk is not None:
        return None
    fields = [f for f in opts.local_concrete_fields if f is not opts.auto_field]
    if any(hasattr(f, "get_placeholder") for f in fields):
        return None
    query = InsertQuery(model)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=using)
    returning = list(opts.db_returning_fields)
    compiler.returning_fields = returning
    statements = compiler.as_sql()
    connection = connections[using]
    if len(statements) != 1 or not connection.features.can_return_columns_from_insert:
        return None
    sql, params = statements[0]
    plan = _InsertPlan(
        sql=sql,
        fields=fields,
        returning=returning,
        returning_params=tuple(compiler.returning_params),
        converters=compiler.get_converters([f.get_col(opts.db_table) for f in returning]),
    )
    values = _insert_values(plan, obj, connection)
    if values is None or len(values) + len(plan.returning_params) != len(params):
        return None
    for ours, django_s in zip([*values, *plan.returning_params], params, strict=True):
        # Adapters such as psycopg's Jsonb compare by identity: compare what they wrap.
        if type(ours) is not type(django_s) or getattr(ours, "obj", ours) != getattr(
            django_s, "obj", django_s
        ):
            return None
    return plan


def row_insert(obj: models.Model, *, using: str = "default") -> models.Model:
    """``obj.save(force_insert=True)`` for a new row (no primary key yet) without compiling the
    INSERT again: the database fills the primary key (and any other returning column), and
    the object reads as saved. Falls back to ``save()`` for what the plan cannot take."""
    connection = connections[using]
    key = (type(obj), using, connection.vendor)
    try:
        plan = _insert_plans[key]
    except KeyError:
        with _plans_lock:
            plan = _insert_plans[key] = _insert_plan_make(obj, using)
    values = None
    if plan is not None and obj.pk is None:
        obj._prepare_related_fields_for_save(operation_name="save")
        values = _insert_values(plan, obj, connection)
    if values is None:
        obj.save(force_insert=True, using=using)
        return obj
    # As save_base: a failed INSERT inside atomic() marks the block for rollback.
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(plan.sql, (*values, *plan.returning_params))
        row = connection.ops.fetch_returned_insert_columns(cursor, plan.returning_params)
    row = list(row)
    for pos, (convs, expression) in plan.converters.items():
        for converter in convs:
            row[pos] = converter(row[pos], expression, connection)
    for value, field in zip(row, plan.returning, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = using
    return obj


@dataclass(frozen=True)
class _RawPlan:
    init_names: list[str]
    init_pos: list[int]
    annotations: list[tuple[str, int]]
    converters: dict


_raw_plans: dict[tuple[str, str, tuple], _RawPlan] = {}


def _raw_plan_make(model: type[models.Model], sql: str, columns: list[str], using: str) -> _RawPlan:
    """What ``RawQuerySet`` works out on every iteration (``resolve_model_init_order`` and the
    fields' converters), for the columns the statement returned."""
    connection = connections[using]
    converter = connection.introspection.identifier_converter
    model_fields = {converter(field.column): field for field in model._meta.fields}
    init_fields = [f for f in model._meta.fields if converter(f.column) in columns]
    compiler = connection.ops.compiler("SQLCompiler")(RawQuery(sql, using), connection, using)
    fields = [model_fields.get(column) for column in columns]
    return _RawPlan(
        init_names=[f.attname for f in init_fields],
        init_pos=[columns.index(converter(f.column)) for f in init_fields],
        annotations=[(c, pos) for pos, c in enumerate(columns) if c not in model_fields],
        converters=compiler.get_converters(
            [f.get_col(f.model._meta.db_table) if f else None for f in fields]
        ),
    )


def raw_first(
    model: type[models.Model], sql: str, params: dict[str, Any], *, using: str = "default"
) -> models.Model | None:
    """The first object of ``model.objects.raw(sql, params)``, or None; the column mapping
    and converters are worked out once per statement and set of columns returned (the
    statement runs once, with the parameters adapted as ``RawQuery`` adapts them)."""
    connection = connections[using]
    adapt = connection.ops.adapt_unknown_value
    with connection.cursor() as cursor:
        cursor.execute(sql, {key: adapt(value) for key, value in params.items()})
        row = cursor.fetchone()
        names = tuple(column[0] for column in cursor.description or ())
    if row is None:
        return None
    key = (sql, using, names)
    plan = _raw_plans.get(key)
    if plan is None:
        converter = connection.introspection.identifier_converter
        columns = [converter(name) for name in names]
        plan = _raw_plans[key] = _raw_plan_make(model, sql, columns, using)
    row = list(row)
    for pos, (convs, expression) in plan.converters.items():
        for convert in convs:
            row[pos] = convert(row[pos], expression, connection)
    obj = model.from_db(using, plan.init_names, [row[pos] for pos in plan.init_pos])
    for column, pos in plan.annotations:
        setattr(obj, column, row[pos])
    return obj


def update_query(queryset: models.QuerySet, **changes: Any) -> UpdateQuery:
    """The UPDATE ``queryset.update(**changes)`` runs, for a ``row_update`` builder."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(changes)
    query.clear_select_clause()
    return query


_update_plans: dict[tuple[Builder, str, str], tuple[str, tuple] | None] = {}


def _update_plan_make(builder: Builder, values: tuple, using: str) -> tuple[str, tuple] | None:
    query, sql, params, _compiler = _compiled(builder, values, False, using)
    if query.related_updates or not sql:
        return None
    slots = _slots(builder, values, sql, params, False, using)
    return None if slots is None else (sql, slots)


def row_update(builder: Builder, *values: Any, using: str = "default") -> int:
    """Run the UPDATE ``builder(*values)`` makes (with ``update_query``) without compiling it
    again; the number of rows changed, as ``QuerySet.update`` returns."""
    connection = connections[using]
    plan = None
    if all(_fits(value) for value in values):
        key = (builder, using, connection.vendor)
        try:
            plan = _update_plans[key]
        except KeyError:
            with _plans_lock:
                plan = _update_plans[key] = _update_plan_make(builder, values, using)
    with transaction.mark_for_rollback_on_error(using):
        if plan is None:
            return builder(*values).get_compiler(using=using).execute_sql(ROW_COUNT)
        sql, slots = plan
        params = tuple(values[i] if i >= 0 else constant for i, constant in slots)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
