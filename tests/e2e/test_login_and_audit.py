"""An auditor signs in, browses and filters the audit log, and verifies the chain."""

import pytest

from reviewapp.models import Role
from reviewapp.services.audit import audit_seal
from tests.factories import make_cases, make_model, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_auditor_filters_audit_log_and_verifies_chain(page, login, screenshot):
    """Sign in as auditor, land on the audit log, filter by action, verify the chain."""
    team = make_team("payments-risk")
    make_user(Role.REVIEWER, team=team, username="rita")
    make_user(Role.AUDITOR, username="audrey")
    make_cases(make_model(team=team, slug="fraud-screening"), 5)
    audit_seal(lag_seconds=0)

    login("audrey")
    assert page.url.endswith("/audit/")
    assert page.locator("h1").inner_text() == "Audit log"
    assert page.locator("#audit-rows tbody tr").count() >= 10

    page.fill("#id_action", "case.*")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/audit/?action=case*")
    actions = page.locator("#audit-rows tbody tr td:nth-child(4)").all_inner_texts()
    assert len(actions) == 5
    assert set(actions) == {"case.submitted"}

    page.click("#verify-chain")
    outcome = page.locator("#verify-result .verify-outcome")
    outcome.wait_for()
    assert "audit chain intact" in outcome.inner_text()
    path = screenshot("auditor-audit-log")
    assert path.exists()
