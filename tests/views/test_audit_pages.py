"""The audit log pages: auditors only, filters, keyset pages, exports and chain checks."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import AuditEvent
from reviewapp.selectors.audit import AuditFilters, audit_page
from reviewapp.services.audit import audit_record, audit_seal
from tests.commands.tampering import audit_rows_update

pytestmark = pytest.mark.django_db

URL = "/audit/"


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


def _events(n: int, *, action: str = "case.viewed", actor=None, target_id: str = "1") -> list[int]:
    return [
        audit_record(actor=actor, action=action, target_type="case", target_id=target_id).pk
        for _ in range(n)
    ]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_auditor_sees_the_log(auditor_client, reviewer):
    """An auditor gets the page with the newest events first."""
    ids = _events(3, actor=reviewer)
    response = auditor_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Audit log" in html
    assert html.index(f">{ids[2]}<") < html.index(f">{ids[0]}<")
    assert "Verify chain" in html


@pytest.mark.parametrize("role_fixture", ["reviewer", "manager", "model_owner"])
def test_other_roles_get_403_and_the_denial_is_audited(client, request, role_fixture):
    """Anyone but an auditor gets 403, and a permission.denied event names them."""
    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    for method, url in (
        ("get", URL),
        ("get", URL + "export/?format=csv"),
        ("post", URL + "verify/"),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 403
    denials = AuditEvent.objects.filter(action="permission.denied", actor=user)
    assert sorted(d.changes["attempted"] for d in denials) == [
        "audit.export",
        "audit.verify",
        "audit.view",
    ]
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_anonymous_is_sent_to_login(client):
    """Without a session the page redirects to the login page."""
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_filters_by_action_actor_target_and_prefix(auditor_client, reviewer, lead):
    """Action (exact or prefix), actor and target filters narrow the rows."""
    mine = _events(2, action="case.claimed", actor=reviewer, target_id="7")
    theirs = _events(2, action="case.decided", actor=lead, target_id="8")
    system = _events(1, action="case.expired", actor=None, target_id="9")
    cases = {
        "?action=case.claimed": mine,
        "?action=case.*": mine + theirs + system,
        f"?actor={lead.username}": theirs,
        "?actor=system&action=case.*": system,
        "?target_type=case&target_id=7": mine,
    }
    for query, expected in cases.items():
        page = auditor_client.get(URL + query).context["page"]
        assert sorted(e.pk for e in page.events) == sorted(expected), query


def test_filters_by_date_range(auditor_client):
    """The date range keeps events from the first day through the last day inclusive."""
    old, new = _events(2), _events(1)
    # Everything recorded before ``new`` happened ten days ago (ids follow time).
    audit_rows_update(
        list(AuditEvent.objects.filter(pk__lt=new[0]).values_list("pk", flat=True)),
        occurred_at=timezone.now() - timedelta(days=10),
    )
    today = timezone.now().date()
    response = auditor_client.get(URL, {"date_from": str(today), "date_to": str(today)})
    assert [e.pk for e in response.context["page"].events] == new
    earlier = (today - timedelta(days=11)).isoformat()
    response = auditor_client.get(URL, {"date_from": earlier, "date_to": str(today - timedelta(9))})
    shown = [e.pk for e in response.context["page"].events]
    assert set(old) <= set(shown)
    assert new[0] not in shown
    response = auditor_client.get(URL, {"date_from": str(today - timedelta(days=30))})
    assert len(response.context["page"].events) == AuditEvent.objects.count()


def test_invalid_filters_show_errors_not_500(auditor_client):
    """A bad date or an inverted range is a form error on a 200 page, not a crash."""
    response = auditor_client.get(URL, {"date_from": "not-a-date"})
    assert response.status_code == 200
    assert "page" not in response.context
    assert "Enter a valid date" in response.content.decode()
    response = auditor_client.get(URL, {"date_from": "2024-05-02", "date_to": "2024-05-01"})
    assert "before its start" in response.content.decode()


def test_keyset_pages_walk_the_whole_log_without_overlap(auditor_client):
    """Older and newer cursors cover every event exactly once, newest first."""
    ids = _events(7)
    filters = AuditFilters(action="case.viewed")
    seen, page = [], audit_page(filters, size=3)
    while True:
        seen += [e.pk for e in page.events]
        if page.older is None:
            break
        page = audit_page(filters, before=page.older, size=3)
    assert seen == sorted(ids, reverse=True)
    back = audit_page(filters, after=page.newer, size=3)
    assert [e.pk for e in back.events] == sorted(ids, reverse=True)[3:6]


def test_page_queries_are_bounded(auditor_client, django_assert_max_num_queries):
    """A page costs a fixed handful of queries whatever the log size."""
    _events(120)
    auditor_client.get(URL)  # warm the action-name cache
    with django_assert_max_num_queries(8):
        response = auditor_client.get(URL, {"before": AuditEvent.objects.latest("pk").pk})
    assert len(response.context["page"].events) == 50
    assert response.context["older_url"]


def test_htmx_request_gets_only_the_rows(auditor_client):
    """With htmx the filter form swaps only the table partial."""
    _events(2)
    response = auditor_client.get(URL, {"action": "case.viewed"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-rows"')
    assert "<html" not in html


def test_export_csv_streams_filtered_rows_and_is_audited(auditor_client, auditor, reviewer):
    """The CSV export streams the filtered events, oldest first, and records the export."""
    ids = _events(3, action="case.claimed", actor=reviewer)
    _events(2, action="case.decided")
    response = auditor_client.get(URL + "export/", {"format": "csv", "action": "case.claimed"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [int(r["id"]) for r in rows] == ids
    assert {r["actor_label"] for r in rows} == {reviewer.username}
    event = AuditEvent.objects.get(action="audit.exported")
    assert event.actor == auditor
    assert event.changes == {"format": "csv", "filters": {"action": "case.claimed"}}


def test_export_jsonl_has_one_object_per_line(auditor_client):
    """JSON Lines export: one JSON object per event with its changes as an object."""
    audit_record(actor=None, action="policy.proposed", changes={"review_threshold": [0.8, 0.9]})
    response = auditor_client.get(URL + "export/", {"format": "jsonl", "action": "policy.*"})
    lines = [json.loads(line) for line in _body(response).splitlines()]
    assert len(lines) == 1
    assert lines[0]["changes"] == {"review_threshold": [0.8, 0.9]}
    assert lines[0]["action"] == "policy.proposed"
    assert AuditEvent.objects.filter(action="audit.exported").count() == 1


def test_export_csv_neutralises_formulas(auditor_client):
    """A value that a spreadsheet would run as a formula is prefixed with a quote."""
    audit_record(
        actor=None, action="auth.login_failed", target_type="user", target_id="=HYPERLINK()"
    )
    response = auditor_client.get(URL + "export/", {"format": "csv", "action": "auth.login_failed"})
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert rows[0]["target_id"] == "'=HYPERLINK()"


def test_export_unknown_format_is_400(auditor_client):
    """An unknown export format is a 400 page and nothing is recorded."""
    response = auditor_client.get(URL + "export/", {"format": "xlsx"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_verify_button_reports_intact_chain_and_is_audited(auditor_client, auditor):
    """Verify runs the chain check, shows the outcome and records who ran it."""
    _events(3)
    sealed = audit_seal(lag_seconds=0)
    response = auditor_client.post(URL + "verify/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f"audit chain intact: 1 seal covering {sealed} events" in response.content.decode()
    event = AuditEvent.objects.get(action="audit.verified")
    assert (event.actor, event.changes["ok"]) == (auditor, True)


def test_verify_without_htmx_redirects_with_message(auditor_client):
    """Without JavaScript the verify form redirects back with the result as a message."""
    _events(1)
    audit_seal(lag_seconds=0)
    response = auditor_client.post(URL + "verify/", {"query": "action=case.viewed"}, follow=True)
    assert response.redirect_chain[-1][0] == URL + "?action=case.viewed"
    assert "audit chain intact" in response.content.decode()


def test_verify_button_checks_only_what_is_new_after_a_verification(auditor_client):
    """The button verifies from the last verification that passed: the second press walks
    the seals added since (older ones are re-checked by the hourly job, not while a person
    waits), and says what it checked."""
    _events(3)
    audit_seal(lag_seconds=0)
    auditor_client.post(URL + "verify/", HTTP_HX_REQUEST="true")
    _events(2)
    audit_seal(lag_seconds=0)  # the 2 new events and the first press's audit.verified
    response = auditor_client.post(URL + "verify/", HTTP_HX_REQUEST="true")
    assert (
        "audit chain intact: 1 seal covering 3 events since the last verification, "
        "0 older seals re-checked"
    ) in response.content.decode()
    second = AuditEvent.objects.filter(action="audit.verified").latest("pk")
    assert (second.changes["ok"], second.changes["mode"]) == (True, "incremental")


def test_verify_button_reports_a_broken_chain(auditor_client):
    """After a sealed event is changed, the page names it and the check is audited as failed."""
    [event_id] = _events(1)
    audit_seal(lag_seconds=0)
    audit_rows_update([event_id], target_id="2")
    response = auditor_client.post(URL + "verify/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert f"audit chain BROKEN at event {event_id}: changed after sealing" in html
    assert "msg-error" in html
    verified = AuditEvent.objects.get(action="audit.verified")
    assert (verified.changes["ok"], verified.changes["event_id"]) == (False, event_id)


def test_action_suggestions_name_each_recorded_action_once_in_order(auditor_client):
    """The filter's suggestions are the distinct actions recorded (read by a skip scan of
    the action index), sorted, each once however many events it has."""
    from django.core.cache import cache

    _events(3, action="policy.proposed")
    _events(1, action="auth.login")
    _events(2, action="zeta.last")
    cache.delete("reviewapp:audit-actions")
    response = auditor_client.get(URL)
    recorded = sorted(set(AuditEvent.objects.values_list("action", flat=True)))
    assert response.context["action_names"] == recorded
    assert {"auth.login", "policy.proposed", "zeta.last"} <= set(recorded)
    assert "permission.denied" not in response.context["action_names"]
