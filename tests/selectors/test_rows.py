"""selectors/rows.py compiles hot statements once: what it reads and writes must be exactly
what the ORM reads and writes (same rows, same values), for every call's own values, and it
must fall back to the ORM for what it cannot take."""

import pytest
from django.db.models import QuerySet
from django.forms.models import model_to_dict

from reviewapp.models import AuditEvent, Case, CaseStatus, MLModel
from reviewapp.selectors.rows import (
    raw_first,
    row_first,
    row_insert,
    row_list,
    row_update,
    row_values,
    update_query,
)
from reviewapp.services.audit import audit_event_build, event_digest
from tests.factories import make_cases, make_model

pytestmark = pytest.mark.django_db


def _model_by_slug(slug: str) -> QuerySet[MLModel]:
    return MLModel.objects.select_related("team").filter(slug=slug)


def _case_ids_of(model_id: int, status: str) -> QuerySet:
    return Case.objects.filter(ml_model_id=model_id, status=status).values_list("pk", flat=False)


def _cases_of(model_id: int) -> QuerySet[Case]:
    return Case.objects.filter(ml_model_id=model_id, status=CaseStatus.QUEUED).order_by("pk")


def _priority_set(case_id: int, priority: int):
    return update_query(
        Case.objects.filter(pk=case_id, status=CaseStatus.QUEUED), priority=priority
    )


def test_row_first_reads_what_the_orm_reads_for_each_call():
    first, second = make_model(slug="alpha"), make_model(slug="beta")
    for ml_model in (first, second, first):  # the plan is made once, then reused
        got = row_first(_model_by_slug, ml_model.slug)
        want = _model_by_slug(ml_model.slug).first()
        assert model_to_dict(got) == model_to_dict(want)
        assert got.team.slug == want.team.slug  # select_related populated
    assert row_first(_model_by_slug, "missing") is None
    assert row_first(_model_by_slug, None) is None  # None goes through the ORM (IS NULL)


def test_row_values_and_row_list_match_the_orm():
    a, b = make_model(slug="a-model"), make_model(slug="b-model")
    make_cases(a, 3, confidence=0.5)
    make_cases(b, 2, confidence=0.5)
    for ml_model in (a, b):
        assert row_values(_case_ids_of, ml_model.pk, CaseStatus.QUEUED) == list(
            _case_ids_of(ml_model.pk, CaseStatus.QUEUED)
        )
        assert [c.pk for c in row_list(_cases_of, ml_model.pk)] == [
            c.pk for c in _cases_of(ml_model.pk)
        ]


def test_row_update_changes_only_the_called_row():
    ml_model = make_model()
    one, two = (Case.objects.get(pk=pk) for pk in make_cases(ml_model, 2, confidence=0.5))
    assert row_update(_priority_set, one.pk, 40) == 1
    assert row_update(_priority_set, two.pk, 10) == 1
    assert dict(Case.objects.values_list("pk", "priority")) == {one.pk: 40, two.pk: 10}
    Case.objects.filter(pk=two.pk).update(status=CaseStatus.EXPIRED)
    assert row_update(_priority_set, two.pk, 30) == 0  # the constant status still applies


def test_row_insert_writes_the_row_save_writes():
    built = [audit_event_build(actor=None, action="test.event", changes={"n": n}) for n in (1, 2)]
    saved = built[0]
    saved.save(force_insert=True)
    inserted = row_insert(built[1])
    assert inserted.pk is not None
    assert inserted._state.adding is False
    stored = {e.pk: e for e in AuditEvent.objects.filter(pk__in=[saved.pk, inserted.pk])}
    for event in (saved, inserted):
        fresh = stored[event.pk]
        assert model_to_dict(fresh) == model_to_dict(event)
        assert event_digest(fresh) == event_digest(event)


def test_raw_first_builds_the_object_raw_builds():
    ml_model = make_model()
    case = Case.objects.get(pk=make_cases(ml_model, 1, confidence=0.5)[0])
    sql = "SELECT * FROM reviewapp_case WHERE id = %(id)s"
    got = raw_first(Case, sql, {"id": case.pk})
    want = next(iter(Case.objects.raw(sql, {"id": case.pk})))
    assert model_to_dict(got) == model_to_dict(want)
    assert raw_first(Case, sql, {"id": case.pk + 1000}) is None
