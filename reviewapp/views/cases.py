"""The read-only case page (``/cases/<id>/``): the case's input, the model's answer (unless
the viewer may still decide a blind case), the routing reason, every decision taken on it
(superseded ones too) and its audit trail; and, for leads, a form that reopens a decided case
(``decision_reopen``, note required).

Who may read it: the person who decided the case (from "My decisions"), and anyone whose role
reads any case of the model's team (``Capability.VIEW_CASE_RECORD``: leads, managers, model
owners; auditors for every case). Others who may use the page at all get 404 alike for missing
and forbidden cases; roles that never may get 403. Every view is audited (``case.viewed``).
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from reviewapp.case_rules import claim_is_live, routing_text
from reviewapp.errors import InvalidInput
from reviewapp.models import Case, CaseStatus, User
from reviewapp.permissions import (
    Capability,
    user_can_comment,
    user_can_read_case_record,
    user_can_reveal_pii,
    user_has,
    user_may_see_model_answer,
    user_may_see_opinions,
    user_sees_pii,
)
from reviewapp.pii import explanation_mask, pii_mask
from reviewapp.presentation.case_record import decision_rows, trail_rows
from reviewapp.presentation.comments import comments_context
from reviewapp.presentation.explanations import explanation_view, input_rows, score_rows
from reviewapp.presentation.opinions import opinion_rows
from reviewapp.selectors.case_record import case_record, user_decided_case
from reviewapp.selectors.comments import case_comments
from reviewapp.selectors.opinions import case_opinions
from reviewapp.services.access import capability_require, case_for_user, refused
from reviewapp.services.audit import case_views_record
from reviewapp.services.comments import comment_add
from reviewapp.services.decisions import decision_reopen
from reviewapp.services.pii import case_pii_reveal
from reviewapp.validation import text_problem

DETAIL_TEMPLATE = "reviewapp/cases/detail.html"
COMMENTS_TEMPLATE = "reviewapp/cases/_comments.html"
MAX_NOTE_CHARS = 5000


def _case_for_record(request: HttpRequest, case_id: int, *, action: str) -> Case:
    """The case when USER may read its record: 403 for roles that read no case record, 404
    alike for missing cases and cases the user may not read."""
    user = request.user
    if not (user_has(user, Capability.VIEW_CASE_RECORD) or user_has(user, Capability.REVIEW)):
        capability_require(
            user=user,
            capability=Capability.VIEW_CASE_RECORD,
            action=action,
            target_type="case",
            target_id=str(case_id),
        )
    case = case_for_user(user=user, case_id=case_id, action=action)
    decided_it = user_decided_case(user=user, case=case)
    if not user_can_read_case_record(user, case, decided_it=decided_it):
        raise refused(
            user=user,
            action=action,
            target_type="case",
            target_id=case.pk,
            message="No such case.",
            as_missing=True,
        )
    return case


def _detail_context(case: Case, *, user: User, revealed: tuple[str, ...] = ()) -> dict[str, Any]:
    visible = user_may_see_model_answer(user, case)
    # Personal-data fields: masked unless the viewer decides the model's cases, or has just
    # revealed one (audited, services/pii.py).
    pii = [] if user_sees_pii(user, case.ml_model) else list(case.ml_model.pii_fields or [])
    data = pii_mask(case.input, pii, keep=revealed)
    explanation = (
        explanation_view(
            explanation_mask(case.explanation, pii, keep=revealed),
            label=case.predicted_label,
            data=data,
        )
        if visible
        else None
    )
    masked = [name for name in pii if name not in revealed]
    record = case_record(case)
    # Second opinions: not for someone who may still be asked for one (independence); the
    # trail then also leaves out the labels the opinions named.
    opinions_visible = user_may_see_opinions(user, case)
    return {
        "case": case,
        "ml_model": case.ml_model,
        "answer_visible": visible,
        "routing_text": routing_text(case, user),
        "explanation": explanation,
        "scores": score_rows(case.scores, predicted_label=case.predicted_label) if visible else [],
        "inputs": input_rows(data, [] if explanation is None else explanation.factors),
        "pii_masked": masked,
        "pii_revealed": list(revealed),
        "can_reveal_pii": bool(masked) and user_can_reveal_pii(user, case),
        "decisions": decision_rows(record.decisions, case=case, answer_visible=visible),
        "trail": trail_rows(record.audit_events, answer_visible=visible and opinions_visible),
        "opinions": opinion_rows(case_opinions(case)) if opinions_visible else [],
        "trail_truncated": record.trail_truncated,
        "can_reopen": case.status == CaseStatus.DECIDED
        and user_has(user, Capability.LEAD, case.ml_model),
        # The way back: a lead came from the queues, a reviewer from "My decisions".
        "back": ("queue-overview", "Queues")
        if user_has(user, Capability.LEAD, case.ml_model)
        else ("my-decisions", "My decisions")
        if user_has(user, Capability.REVIEW)
        else None,
        "now": timezone.now(),
        **comments_context(
            case_comments(case),
            user=user,
            case_id=case.pk,
            can_comment=user_can_comment(user, case),
            back=reverse("case-detail", kwargs={"case_id": case.pk}),
        ),
    }


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    """The read-only record of one case."""
    case = _case_for_record(request, case_id, action="case.view")
    case_views_record(actor=request.user, cases=[case])
    return render(request, DETAIL_TEMPLATE, _detail_context(case, user=request.user))


@login_required
@require_POST
def case_pii_reveal_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """Reveal one masked personal-data field of a case record (``field`` in the form): the
    reveal is audited with the field's name, and the page comes back with that field shown.
    Managers and model owners of the team and auditors (403 for other roles)."""
    user = request.user
    capability_require(
        user=user,
        capability=Capability.REVEAL_PII,
        action="case.pii_reveal",
        target_type="case",
        target_id=str(case_id),
    )
    case = _case_for_record(request, case_id, action="case.pii_reveal")
    field = case_pii_reveal(case=case, actor=user, field=request.POST.get("field", ""))
    return render(request, DETAIL_TEMPLATE, _detail_context(case, user=user, revealed=(field,)))


@login_required
@require_POST
def case_reopen(request: HttpRequest, case_id: int) -> HttpResponse:
    """A lead reopens a decided case with a note: it waits in the queue again."""
    case = case_for_user(
        user=request.user, case_id=case_id, action="case.reopen", capability=Capability.LEAD
    )
    note = request.POST.get("note", "").strip()[:MAX_NOTE_CHARS]
    if problem := text_problem(note):  # NUL: PostgreSQL refuses it
        raise InvalidInput(f"note: {problem}", details={"note": [problem]})
    decision_reopen(case=case, lead=request.user, note=note)
    messages.success(request, f"Case #{case.pk} was reopened: it waits in the queue again.")
    return redirect("case-detail", case_id=case.pk)


def _comment_back(request: HttpRequest, case: Case) -> str:
    """Where the page form returns: the page it was posted from (a local path), else the
    claimant's case page or the read-only record."""
    back = request.POST.get("back", "")
    if back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    if claim_is_live(case, request.user):
        return reverse("review-case", kwargs={"case_id": case.pk})
    return reverse("case-detail", kwargs={"case_id": case.pk})


@login_required
@require_POST
def case_comment_add(request: HttpRequest, case_id: int) -> HttpResponse:
    """Add a comment to a case's conversation: with htmx the comment list comes back, else a
    redirect to the page it was written on. Who may: ``permissions.user_can_comment``
    (403 for read-only roles, 404 alike for missing cases and other teams' cases)."""
    user = request.user
    if not (user_has(user, Capability.REVIEW) or user_has(user, Capability.VIEW_CASE_RECORD)):
        capability_require(
            user=user,
            capability=Capability.VIEW_CASE_RECORD,
            action="case.comment",
            target_type="case",
            target_id=str(case_id),
        )
    case = case_for_user(user=user, case_id=case_id, action="case.comment")
    back = _comment_back(request, case)
    request.error_back_url = back
    comment_add(case=case, author=user, text=request.POST.get("text", ""))
    if request.htmx:
        context = comments_context(
            case_comments(case), user=user, case_id=case.pk, can_comment=True, back=back
        )
        return render(request, COMMENTS_TEMPLATE, context)
    messages.success(request, "Your comment was added.")
    return redirect(back)


urlpatterns = [
    path("<int:case_id>/", case_detail, name="case-detail"),
    path("<int:case_id>/reopen/", case_reopen, name="case-reopen"),
    path("<int:case_id>/reveal/", case_pii_reveal_view, name="case-pii-reveal"),
    path("<int:case_id>/comments/", case_comment_add, name="case-comment-add"),
]
