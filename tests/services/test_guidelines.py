"""Guidelines: versioned saves, audit, owner-only, validation; decisions record the version."""

import pytest

from reviewapp.errors import InvalidInput, PermissionDenied
from reviewapp.models import AuditEvent, Decision, GuidelineVersion
from reviewapp.selectors.guidelines import guidelines_current
from reviewapp.services.decisions import case_decide
from reviewapp.services.guidelines import guidelines_save
from reviewapp.services.queue import case_claim_next
from tests import factories

pytestmark = pytest.mark.django_db


def test_each_save_is_a_new_version_and_earlier_ones_are_kept(ml_model, model_owner):
    """Two saves give v1 and v2; v1 keeps its text; the current one is v2."""
    first = guidelines_save(
        ml_model=ml_model,
        actor=model_owner,
        text="Old text",
        label_definitions={"fraud": "Stolen card."},
    )
    second = guidelines_save(
        ml_model=ml_model,
        actor=model_owner,
        text="New text",
        reason_definitions={"policy": "A rule applies."},
    )
    assert (first.version, second.version) == (1, 2)
    assert GuidelineVersion.objects.get(pk=first.pk).text == "Old text"
    current = guidelines_current(ml_model)
    assert current.pk == second.pk
    assert current.reason_definitions == {"policy": "A rule applies."}
    assert current.label_definitions == {}


def test_save_is_audited_with_the_version(ml_model, model_owner):
    """guidelines.updated names the version (previous -> new) and the actor."""
    guidelines_save(ml_model=ml_model, actor=model_owner, text="A")
    guidelines_save(ml_model=ml_model, actor=model_owner, text="B")
    events = list(AuditEvent.objects.filter(action="guidelines.updated").order_by("id"))
    assert [e.changes["version"] for e in events] == [[None, 1], [1, 2]]
    assert {e.actor_id for e in events} == {model_owner.pk}


@pytest.mark.parametrize("role", ["reviewer", "lead", "manager"])
def test_only_the_owner_may_save(request, ml_model, role):
    """Reviewers, leads and managers are refused; nothing is stored."""
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        guidelines_save(ml_model=ml_model, actor=user, text="mine")
    assert not GuidelineVersion.objects.exists()


def test_unknown_label_or_reason_is_refused(ml_model, model_owner):
    """Definitions of labels or reason codes the model does not have are a 400."""
    with pytest.raises(InvalidInput):
        guidelines_save(
            ml_model=ml_model, actor=model_owner, text="", label_definitions={"nope": "x"}
        )
    with pytest.raises(InvalidInput):
        guidelines_save(
            ml_model=ml_model, actor=model_owner, text="", reason_definitions={"nope": "x"}
        )
    with pytest.raises(InvalidInput):
        guidelines_save(ml_model=ml_model, actor=model_owner, text="a\x00b")
    assert not GuidelineVersion.objects.exists()


def test_decision_stores_the_guidelines_version_in_force(ml_model, model_owner, reviewer):
    """No guidelines: None; after v1 and v2 are saved, a decision records 2."""
    factories.make_cases(ml_model, 2, confidence=0.62)
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(case=case, reviewer=reviewer, action="accept")
    assert Decision.objects.get(case=case).guidelines_version is None
    guidelines_save(ml_model=ml_model, actor=model_owner, text="v1")
    guidelines_save(ml_model=ml_model, actor=model_owner, text="v2")
    case = case_claim_next(ml_model=ml_model, reviewer=reviewer)
    case_decide(
        case=case,
        reviewer=reviewer,
        action="override",
        final_label="legit",
        reason_code="wrong_label",
    )
    assert Decision.objects.get(case=case).guidelines_version == 2
