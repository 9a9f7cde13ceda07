"""Model documentation (issue 10, point 8): owners save revisions of a version's card,
audited without the texts; others are refused; a version without one cannot be activated
(409 documentation_required)."""

import json

import pytest

from reviewapp.errors import Conflict, InvalidInput, PermissionDenied
from reviewapp.models import (
    AuditEvent,
    ModelDocumentation,
    ModelVersion,
    Role,
    VersionStatus,
)
from reviewapp.selectors.documentation import (
    documentation_current,
    documentation_history,
    documentation_revisions,
)
from reviewapp.services.documentation import documentation_save
from reviewapp.services.versions import (
    DOCUMENTATION_REQUIRED,
    version_activation_decide,
    version_activation_propose,
)
from tests.factories import make_cases, make_documentation, make_model, make_team, make_user

pytestmark = pytest.mark.django_db

CARD = {
    "intended_use": "Screen card payments before capture.",
    "limitations": "Weak on accounts younger than a day.",
    "training_data": "Chargebacks 2023-2024, labelled by the disputes team.",
    "owner_contact": "Otto <otto@example.com>",
    "oncall_contact": "#fraud-oncall",
}


@pytest.fixture
def versions(ml_model):
    """1.0.0 (active, first seen) and 2.0.0 (a candidate)."""
    make_cases(ml_model, 1, model_version="1.0.0")
    make_cases(ml_model, 1, model_version="2.0.0")
    return (
        ModelVersion.objects.get(ml_model=ml_model, version="1.0.0"),
        ModelVersion.objects.get(ml_model=ml_model, version="2.0.0"),
    )


def test_owner_saves_revisions_and_the_highest_is_in_force(versions, model_owner):
    """Revision 1, then 2 with one field changed; the same texts again add nothing. The audit
    event names the revision and the changed fields, never the texts."""
    _active, candidate = versions
    first = documentation_save(model_version=candidate, actor=model_owner, **CARD)
    assert first.revision == 1
    second = documentation_save(
        model_version=candidate, actor=model_owner, **{**CARD, "limitations": "Weak on EUR."}
    )
    assert second.revision == 2
    same = documentation_save(
        model_version=candidate, actor=model_owner, **{**CARD, "limitations": " Weak on EUR. "}
    )
    assert same.pk == second.pk
    assert documentation_current(candidate).limitations == "Weak on EUR."
    assert [d.revision for d in documentation_history(candidate)] == [2, 1]
    assert documentation_revisions(candidate.ml_model) == {candidate.pk: 2}
    events = list(AuditEvent.objects.filter(action="model.documentation_saved").order_by("id"))
    assert [e.changes["revision"] for e in events] == [[None, 1], [1, 2]]
    assert events[0].changes["fields"] == sorted(CARD)
    assert events[1].changes["fields"] == ["limitations"]
    dumped = json.dumps([e.changes for e in events])
    for text in (*CARD.values(), "Weak on EUR."):
        assert text not in dumped


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REVIEWER, Role.LEAD, Role.AUDITOR])
def test_only_owners_of_the_model_may_save(versions, team, role):
    """Other roles of the team, auditors and an owner of another team get 403, audited."""
    _active, candidate = versions
    for person in (make_user(role, team=team), make_user(Role.MODEL_OWNER, team=make_team())):
        with pytest.raises(PermissionDenied):
            documentation_save(model_version=candidate, actor=person, **CARD)
    assert not ModelDocumentation.objects.exists()
    assert AuditEvent.objects.filter(action="permission.denied").count() == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("intended_use", "   ", "Required."),
        ("limitations", "a\x00b", "NUL"),
        ("training_data", "x" * 10_001, "At most 10000 characters."),
        ("oncall_contact", "y" * 201, "At most 200 characters."),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(versions, model_owner, field, value, message):
    """Empty, unstorable or overlong texts are a 400 naming the field; nothing is stored."""
    _active, candidate = versions
    with pytest.raises(InvalidInput) as caught:
        documentation_save(model_version=candidate, actor=model_owner, **{**CARD, field: value})
    assert message in caught.value.details[field][0]
    assert not ModelDocumentation.objects.exists()


def test_activation_needs_documentation(versions, model_owner, manager):
    """Proposing an undocumented candidate is a 409 documentation_required; once documented
    it can be proposed and approved."""
    _active, candidate = versions
    with pytest.raises(Conflict) as caught:
        version_activation_propose(version=candidate, proposer=model_owner)
    assert caught.value.code == DOCUMENTATION_REQUIRED
    assert "documentation" in str(caught.value)
    make_documentation(candidate, model_owner)
    version_activation_propose(version=candidate, proposer=model_owner)
    approved = version_activation_decide(version=candidate, manager=manager, approve=True)
    assert approved.status == VersionStatus.ACTIVE


def test_approval_of_an_undocumented_proposal_is_refused(versions, model_owner, manager):
    """A proposal that waits without documentation (made before the rule) cannot be approved;
    it can still be rejected."""
    _active, candidate = versions
    ModelVersion.objects.filter(pk=candidate.pk).update(
        activation_proposed_by=model_owner, activation_proposed_at=candidate.created_at
    )
    with pytest.raises(Conflict) as caught:
        version_activation_decide(version=candidate, manager=manager, approve=True)
    assert caught.value.code == DOCUMENTATION_REQUIRED
    candidate.refresh_from_db()
    assert candidate.status == VersionStatus.CANDIDATE
    rejected = version_activation_decide(version=candidate, manager=manager, approve=False)
    assert rejected.activation_proposed_at is None


def test_documentation_is_per_version(team, model_owner):
    """Documenting 2.0.0 does not document 3.0.0, nor a version of another model."""
    ml_model = make_model(team=team)
    for name in ("1.0.0", "2.0.0", "3.0.0"):
        make_cases(ml_model, 1, model_version=name)
    v2, v3 = (ModelVersion.objects.get(ml_model=ml_model, version=n) for n in ("2.0.0", "3.0.0"))
    make_documentation(v2, model_owner)
    assert documentation_current(v3) is None
    with pytest.raises(Conflict):
        version_activation_propose(version=v3, proposer=model_owner)
    version_activation_propose(version=v2, proposer=model_owner)
