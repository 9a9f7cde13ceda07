"""GET /api/v1/export/labels: streamed, audited label export for retraining."""

import csv
import io
import json
from datetime import timedelta

from reviewapp.models import AuditEvent, Decision, Role
from tests.factories import make_user
from tests.metrics_data import DAY, decided_cases

URL = "/api/v1/export/labels"


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_jsonl_export_has_every_field(session_client, manager, ml_model, reviewer):
    """JSONL rows carry input, prediction, final label, action, reason, feedback and times."""
    decided_cases(ml_model, reviewer, accepts=2, overrides=1, reasons=["policy"], ttd_s=90)
    Decision.objects.filter(action="override").update(feedback="Known customer.")
    response = session_client(manager).get(URL, {"model": ml_model.slug, "format": "jsonl"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in _body(response).splitlines()]
    assert len(rows) == 3
    override = next(r for r in rows if r["action"] == "override")
    assert override["prediction"] == {"label": "fraud", "confidence": 0.55}
    assert override["final_label"] == "legit"
    assert override["reason_code"] == "policy"
    assert override["feedback"] == "Known customer."
    assert override["model_version"] == "2.3.0"
    assert override["input"]["country"] == "DE"
    assert override["time_to_decision_s"] == 90
    assert override["reviewer"].startswith("rv-")


def test_csv_export_and_formula_defusing(session_client, manager, ml_model, reviewer):
    """CSV has a header and one row per decision; formula-looking text is defused."""
    decided_cases(ml_model, reviewer, accepts=1, overrides=1)
    Decision.objects.filter(action="override").update(feedback="=HYPERLINK(1)")
    response = session_client(manager).get(URL, {"model": ml_model.slug, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert len(rows) == 2
    assert {r["action"] for r in rows} == {"accept", "override"}
    assert next(r for r in rows if r["action"] == "override")["feedback"] == "'=HYPERLINK(1)"
    assert json.loads(rows[0]["input"])["country"] == "DE"


def test_filters_version_action_and_period(session_client, manager, ml_model, reviewer):
    """version, action, from and to filter the exported rows."""
    decided_cases(ml_model, reviewer, accepts=2, model_version="2.3.0")
    decided_cases(ml_model, reviewer, overrides=1, model_version="3.0.0")
    decided_cases(ml_model, reviewer, accepts=1, day=DAY + timedelta(days=3))
    client = session_client(manager)

    def count(**params):
        return len(_body(client.get(URL, {"model": ml_model.slug, **params})).splitlines())

    assert count() == 4
    assert count(version="3.0.0") == 1
    assert count(action="accept") == 3
    assert count(**{"from": DAY.isoformat(), "to": DAY.isoformat()}) == 3
    assert count(**{"from": (DAY + timedelta(days=1)).isoformat()}) == 1


def test_export_is_audited_with_filters(session_client, manager, ml_model, reviewer):
    """Each export writes an "export.labels" audit event with its filters."""
    decided_cases(ml_model, reviewer, accepts=1)
    session_client(manager).get(URL, {"model": ml_model.slug, "format": "csv", "action": "accept"})
    event = AuditEvent.objects.get(action="export.labels")
    assert event.actor == manager
    assert event.changes["format"] == "csv"
    assert event.changes["action"] == "accept"


def test_superseded_decisions_are_not_exported(session_client, manager, ml_model, reviewer):
    """Only current decisions are exported."""
    decisions = decided_cases(ml_model, reviewer, accepts=2)
    Decision.objects.filter(pk=decisions[0].pk).update(superseded_at=decisions[0].decided_at)
    body = _body(session_client(manager).get(URL, {"model": ml_model.slug}))
    assert len(body.splitlines()) == 1


def test_model_owner_and_auditor_may_export(session_client, model_owner, auditor, ml_model):
    """Model owners of the team and auditors may export."""
    assert session_client(model_owner).get(URL, {"model": ml_model.slug}).status_code == 200
    assert session_client(auditor).get(URL, {"model": ml_model.slug}).status_code == 200


def test_reviewer_and_lead_get_403(session_client, reviewer, lead, ml_model):
    """Reviewers and leads cannot export."""
    assert session_client(reviewer).get(URL, {"model": ml_model.slug}).status_code == 403
    assert session_client(lead).get(URL, {"model": ml_model.slug}).status_code == 403
    assert not AuditEvent.objects.filter(action="export.labels").exists()


def test_other_teams_model_is_404(session_client, other_team, ml_model):
    """A manager of another team gets 404 for this model."""
    outsider = make_user(Role.MANAGER, team=other_team)
    response = session_client(outsider).get(URL, {"model": ml_model.slug})
    assert response.status_code == 404


def test_bad_parameters_are_400(session_client, manager, ml_model):
    """Bad format, action or dates answer 400 with the error body."""
    client = session_client(manager)
    for params, field in (
        ({"format": "xlsx"}, "format"),
        ({"action": "maybe"}, "action"),
        ({"from": "03/10/2025"}, "from"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),
    ):
        response = client.get(URL, {"model": ml_model.slug, **params})
        assert response.status_code == 400, params
        assert field in response.json()["error"]["details"]
    assert client.get(URL).status_code == 400


def test_export_query_count_does_not_grow_with_rows(
    session_client, manager, ml_model, reviewer, django_assert_max_num_queries
):
    """Streaming reads decisions in chunks with their case, not one query per row."""
    decided_cases(ml_model, reviewer, accepts=30)
    client = session_client(manager)
    with django_assert_max_num_queries(12):
        body = _body(client.get(URL, {"model": ml_model.slug}))
    assert len(body.splitlines()) == 30


def test_chunks_walk_every_decision_once_in_order_across_equal_times(ml_model, reviewer):
    """The export reads by keyset on (decided_at, id): small chunks cut between decisions
    taken at the same instant lose and repeat none, in decision order."""
    from reviewapp.selectors.exports import _label_chunks, labels_export_queryset

    decisions = decided_cases(ml_model, reviewer, accepts=5, overrides=2)
    same = decisions[0].decided_at
    Decision.objects.filter(pk__in=[d.pk for d in decisions[1:4]]).update(decided_at=same)
    qs = labels_export_queryset(ml_model=ml_model)
    chunks = list(_label_chunks(qs, chunk=2))
    ids = [row[-1] for chunk in chunks for row in chunk]
    expected = list(
        Decision.objects.filter(ml_model=ml_model, superseded_at__isnull=True)
        .order_by("decided_at", "id")
        .values_list("id", flat=True)
    )
    assert ids == expected
    assert len(ids) == 7
    assert [len(chunk) for chunk in chunks] == [2, 2, 2, 1]
