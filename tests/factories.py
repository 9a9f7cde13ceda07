"""Test data builders. They go through the same services as the product."""

import copy
import itertools
from typing import Any

from reviewapp.models import (
    MLModel,
    ModelDocumentation,
    ModelVersion,
    Role,
    RoutingPolicy,
    Team,
    User,
)
from reviewapp.services.accounts import service_account_create, team_get_or_create, user_create
from reviewapp.services.documentation import documentation_save
from reviewapp.services.intake import cases_submit
from reviewapp.services.policies import model_register

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def make_team(slug: str | None = None) -> Team:
    return team_get_or_create(slug=slug or f"team-{next(_seq)}")


def make_user(
    role: str = Role.REVIEWER, *, team: Team | None = None, username: str | None = None
) -> User:
    return user_create(
        username=username or f"{role}-{next(_seq)}",
        role=role,
        teams=[team] if team else [],
        password=PASSWORD,
    )


def make_model(
    *,
    team: Team | None = None,
    slug: str | None = None,
    labels: tuple[str, ...] = ("fraud", "legit"),
    input_schema: dict | None = None,
    **policy: Any,
) -> MLModel:
    """A model whose active policy has the given rules (defaults: review threshold 0.8, and no
    random sampling so that tests are deterministic unless they ask for it)."""
    ml_model = model_register(
        slug=slug or f"model-{next(_seq)}",
        labels=list(labels),
        team=team or make_team(),
        input_schema=input_schema,
    )
    rules = {"qa_sample_rate": 0.0, "blind_sample_rate": 0.0, **policy}
    RoutingPolicy.objects.filter(ml_model=ml_model, status="active").update(**rules)
    return ml_model


def make_service_account(ml_model: MLModel) -> tuple[User, str]:
    return service_account_create(ml_model=ml_model)


BASE_PAYLOAD: dict[str, Any] = {
    "external_id": "txn-000123",
    "model_version": "2.3.0",
    "input": {"amount": 1200.5, "country": "DE", "account_age_days": 3},
    "prediction": {"label": "fraud", "confidence": 0.62, "scores": {"fraud": 0.62, "legit": 0.38}},
    "explanation": {
        "method": "shap",
        "base_value": 0.1,
        "contributions": [
            {"feature": "account_age_days", "value": 3, "weight": 0.31},
            {"feature": "amount", "value": 1200.5, "weight": 0.12},
        ],
        "summary": "New account, large amount.",
    },
    "priority": "normal",
    "metadata": {"source": "checkout"},
}


def case_payload(**overrides: Any) -> dict[str, Any]:
    """A valid submit body; ``confidence=`` and ``label=`` set the prediction consistently."""
    body = copy.deepcopy(BASE_PAYLOAD)
    body["external_id"] = overrides.pop("external_id", f"ext-{next(_seq)}")
    label = overrides.pop("label", None)
    confidence = overrides.pop("confidence", None)
    if label is not None or confidence is not None:
        label = label or body["prediction"]["label"]
        confidence = body["prediction"]["confidence"] if confidence is None else confidence
        other = "legit" if label == "fraud" else "fraud"
        body["prediction"] = {
            "label": label,
            "confidence": confidence,
            "scores": {label: confidence, other: round(1 - confidence, 10)},
        }
    body.update(overrides)
    return body


def make_cases(
    ml_model: MLModel, n: int, *, submitted_by: User | None = None, **overrides: Any
) -> list[int]:
    """Submit ``n`` cases through intake; returns their ids."""
    submitter = submitted_by or User.objects.filter(service_model=ml_model).first()
    if submitter is None:
        submitter, _ = make_service_account(ml_model)
    items = [case_payload(**overrides) for _ in range(n)]
    results = cases_submit(ml_model=ml_model, items=items, submitted_by=submitter)
    assert all(r.status == "created" for r in results), [r.as_dict() for r in results]
    return [r.case_id for r in results]


def make_documentation(
    version: ModelVersion, actor: User | None = None, **fields: str
) -> ModelDocumentation:
    """Documentation (a model card) for VERSION, saved by ACTOR (default: a new owner of the
    model's team) through the service, so that the version may be activated."""
    if actor is None:
        actor = make_user(Role.MODEL_OWNER, team=version.ml_model.team)
    texts = {
        "intended_use": "Screening card payments for fraud before capture.",
        "limitations": "Not validated on payments over 10,000 EUR.",
        "training_data": "Labelled chargebacks, 2023-01 to 2024-06.",
        "owner_contact": "Fraud ML team <fraud-ml@example.com>",
        "oncall_contact": "fraud-ml on-call rota",
        **fields,
    }
    return documentation_save(model_version=version, actor=actor, **texts)
