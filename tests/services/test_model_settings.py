"""Owner-level model settings (segments, retention, personal-data fields): one service,
owners only, validated, audited with names and never case values."""

import pytest

from reviewapp.errors import InvalidInput, PermissionDenied
from reviewapp.models import AuditEvent, MLModel
from reviewapp.services.model_settings import model_configure


def test_owner_sets_segments_retention_and_pii_and_it_is_audited(ml_model, model_owner):
    changes = model_configure(
        ml_model=ml_model,
        actor=model_owner,
        segment_fields="site, region",
        retention_days="30",
        pii_fields=["patient_name"],
    )
    assert changes == {
        "segment_fields": [[], ["site", "region"]],
        "retention_days": [None, 30],
        "pii_fields": [[], ["patient_name"]],
    }
    stored = MLModel.objects.get(pk=ml_model.pk)
    assert (stored.segment_fields, stored.retention_days, stored.pii_fields) == (
        ["site", "region"],
        30,
        ["patient_name"],
    )
    event = AuditEvent.objects.get(action="model.configured")
    assert event.changes["retention_days"] == [None, 30]


def test_unchanged_settings_write_nothing(ml_model, model_owner):
    model_configure(ml_model=ml_model, actor=model_owner, retention_days=7)
    assert model_configure(ml_model=ml_model, actor=model_owner, retention_days=7) == {}
    assert AuditEvent.objects.filter(action="model.configured").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"retention_days": -1}, "retention_days"),
        ({"retention_days": "soon"}, "retention_days"),
        ({"segment_fields": ["a b"]}, "segment_fields"),
        ({"pii_fields": {"x": 1}}, "pii_fields"),
        ({"segment_fields": [f"f{n}" for n in range(21)]}, "segment_fields"),
    ],
)
def test_malformed_settings_are_refused(ml_model, model_owner, kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        model_configure(ml_model=ml_model, actor=model_owner, **kwargs)
    assert field in caught.value.details
    assert MLModel.objects.get(pk=ml_model.pk).retention_days is None


def test_a_manager_may_not_configure(ml_model, manager):
    with pytest.raises(PermissionDenied):
        model_configure(ml_model=ml_model, actor=manager, retention_days=1)
    assert MLModel.objects.get(pk=ml_model.pk).retention_days is None
    assert AuditEvent.objects.filter(action="permission.denied").exists()


def test_a_personal_data_field_cannot_be_a_segment(ml_model, model_owner):
    """Segment values outlive retention and show on dashboards: personal fields are refused."""
    model_configure(ml_model=ml_model, actor=model_owner, pii_fields=["patient_ref"])
    with pytest.raises(InvalidInput) as caught:
        model_configure(
            ml_model=ml_model, actor=model_owner, segment_fields=["site", "patient_ref"]
        )
    assert "patient_ref" in caught.value.message
    assert MLModel.objects.get(pk=ml_model.pk).segment_fields == []
