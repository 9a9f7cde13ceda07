"""Model versions and the circuit breaker on the model pages (under /models/<slug>/): an owner
proposes activating a candidate version and a manager approves it (four eyes); owners and
managers retire or roll back a version and suspend automation at once; lifting a suspension
is proposed by one and approved by another manager. Each action is one service call; refused
form posts return to the model page with the message."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from reviewapp.models import MLModel, ModelVersion
from reviewapp.services.access import object_of_model
from reviewapp.services.breaker import (
    automation_resume_decide,
    automation_resume_propose,
    automation_suspend,
)
from reviewapp.services.versions import (
    version_activation_decide,
    version_activation_propose,
    version_retire,
    version_rollback,
)
from reviewapp.views.gate import (
    model_detail_url,
    model_halt_action,
    model_manager_action,
    model_owner_action,
)

NOTE_FIELD = 2000


def _note(request: HttpRequest, name: str = "note") -> str:
    return request.POST.get(name, "")[:NOTE_FIELD]


def _version(ml_model: MLModel, version_id: int) -> ModelVersion:
    return object_of_model(ModelVersion, version_id, ml_model, "version")


@login_required
@require_POST
@model_owner_action
def model_version_propose(request: HttpRequest, ml_model: MLModel, version_id: int) -> HttpResponse:
    """The model's owner proposes activating a candidate version (a manager approves)."""
    version = version_activation_propose(
        version=_version(ml_model, version_id), proposer=request.user, note=_note(request)
    )
    messages.success(
        request,
        f"Proposed activating version {version.version}. Its cases keep going to people until "
        "another person, a manager of the team, approves.",
    )
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_manager_action
def model_version_decide(request: HttpRequest, ml_model: MLModel, version_id: int) -> HttpResponse:
    """A manager approves or rejects a proposed activation (not their own: four eyes)."""
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose approve or reject.")
        return redirect(model_detail_url(ml_model) + "#versions")
    version = version_activation_decide(
        version=_version(ml_model, version_id),
        manager=request.user,
        approve=decision == "approve",
        note=_note(request),
    )
    if decision == "approve":
        messages.success(request, f"Approved: version {version.version} is now {version.status}.")
    else:
        messages.success(request, f"Rejected activating version {version.version}.")
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_halt_action
def model_version_retire(request: HttpRequest, ml_model: MLModel, version_id: int) -> HttpResponse:
    """An owner or manager retires a version at once: its new cases are refused."""
    version = version_retire(
        version=_version(ml_model, version_id), actor=request.user, note=_note(request)
    )
    messages.success(
        request, f"Version {version.version} is retired: its new cases are refused (409)."
    )
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_halt_action
def model_version_rollback(
    request: HttpRequest, ml_model: MLModel, version_id: int
) -> HttpResponse:
    """An owner or manager rolls back from a version: it is retired, the earlier one serves."""
    retired, restored = version_rollback(
        version=_version(ml_model, version_id), actor=request.user, note=_note(request)
    )
    messages.success(
        request,
        f"Rolled back: version {retired.version} is retired and {restored.version} is "
        f"{restored.status}. The model's webhook is told (model.version_changed).",
    )
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_halt_action
def model_automation_suspend(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """One owner or manager suspends the model's automation at once (the circuit breaker)."""
    automation_suspend(ml_model=ml_model, actor=request.user, reason=_note(request, "reason"))
    messages.success(
        request,
        "Automation suspended: every new case goes to people until a lift is proposed and "
        "another manager approves it.",
    )
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_halt_action
def model_automation_resume_propose(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """One owner or manager proposes lifting the suspension (another manager approves)."""
    automation_resume_propose(ml_model=ml_model, proposer=request.user, note=_note(request))
    messages.success(
        request, "Proposed resuming automation: another manager of the team must approve it."
    )
    return redirect(model_detail_url(ml_model) + "#versions")


@login_required
@require_POST
@model_manager_action
def model_automation_resume_decide(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """A manager other than the proposer approves or rejects lifting the suspension."""
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose approve or reject.")
        return redirect(model_detail_url(ml_model) + "#versions")
    automation_resume_decide(
        ml_model=ml_model,
        manager=request.user,
        approve=decision == "approve",
        note=_note(request),
    )
    if decision == "approve":
        messages.success(request, "Automation resumed: cases route by the policy again.")
    else:
        messages.success(request, "Rejected resuming automation: it stays suspended.")
    return redirect(model_detail_url(ml_model) + "#versions")


urlpatterns = [
    path(
        "<slug:slug>/versions/<int:version_id>/propose",
        model_version_propose,
        name="model-version-propose",
    ),
    path(
        "<slug:slug>/versions/<int:version_id>/decide",
        model_version_decide,
        name="model-version-decide",
    ),
    path(
        "<slug:slug>/versions/<int:version_id>/retire",
        model_version_retire,
        name="model-version-retire",
    ),
    path(
        "<slug:slug>/versions/<int:version_id>/rollback",
        model_version_rollback,
        name="model-version-rollback",
    ),
    path(
        "<slug:slug>/automation/suspend", model_automation_suspend, name="model-automation-suspend"
    ),
    path(
        "<slug:slug>/automation/resume",
        model_automation_resume_propose,
        name="model-automation-resume",
    ),
    path(
        "<slug:slug>/automation/resume/decide",
        model_automation_resume_decide,
        name="model-automation-resume-decide",
    ),
]
