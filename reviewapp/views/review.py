"""The frontline reviewer's pages (under /review/): the landing page with the queues of the
reviewer's models, the case page (input, routing reason, recommendation, explanation chart)
and the actions on a claimed case (accept, override, skip, escalate, lease renewal).

Every page works as plain HTML forms; with htmx the case panel (``#case-panel``) is swapped
in place, so the next case appears without a full page load. Views stay thin: permissions
come from reviewapp.permissions, state changes from services/queue.py and
services/decisions.py, the explanation's shaping from presentation/explanations.py.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviewapp.case_rules import claim_is_live, routing_text
from reviewapp.errors import Conflict, InvalidInput, NotFound, ReviewAppError
from reviewapp.models import Case, CaseOpinion, DecisionAction, MLModel, User
from reviewapp.permissions import (
    Capability,
    user_can_comment,
    user_has,
    user_may_see_model_answer,
    user_may_see_opinions,
)
from reviewapp.presentation.case_record import GENERIC_LOST, claim_lost_reason
from reviewapp.presentation.comments import comments_context
from reviewapp.presentation.explanations import explanation_view, input_rows, score_rows
from reviewapp.presentation.history import progress_text
from reviewapp.presentation.markdown import guidelines_view
from reviewapp.presentation.opinions import (
    OpinionOutcome,
    opinion_outcome,
    opinion_rows,
    second_opinion_note,
)
from reviewapp.presentation.review import Outcome, decision_outcome
from reviewapp.selectors.case_record import claim_history
from reviewapp.selectors.cases import case_for_page
from reviewapp.selectors.comments import case_comments
from reviewapp.selectors.guidelines import guidelines_current
from reviewapp.selectors.history import review_progress
from reviewapp.selectors.opinions import case_opinions
from reviewapp.selectors.queue import queue_overview, review_models_for
from reviewapp.services.access import capability_require, case_for_user, model_for_user
from reviewapp.services.audit import case_views_record
from reviewapp.services.decisions import case_decide, decision_undo
from reviewapp.services.queue import (
    case_claim_next,
    case_escalate,
    case_lease_renew,
    case_release,
    case_skip,
    skip_cooldown,
)
from reviewapp.validation import text_problem

BLIND_REASON_NEEDED = (
    "Your label differs from the model's answer: choose the reason for it, then save again."
)
Shown = Outcome | OpinionOutcome  # what was just saved: a decision or one opinion
HOME_TEMPLATE = "reviewapp/review/home.html"
CASE_TEMPLATE = "reviewapp/review/case.html"
MAX_NOTE_CHARS = 5000

# --- helpers ------------------------------------------------------------------------------


def _template(request: HttpRequest, template: str, partial: str) -> str:
    """The whole page, or only its panel for htmx requests."""
    return f"{template}#{partial}" if request.htmx else template


def _require_reviewer(request: HttpRequest, *, action: str) -> User:
    capability_require(user=request.user, capability=Capability.REVIEW, action=action)
    return request.user


def _case_for_reviewer(request: HttpRequest, case_id: int, *, action: str) -> Case:
    """The case when the user may review its model: 403 for people who do not review, 404
    alike for missing cases and other teams' cases."""
    return case_for_user(
        user=request.user, case_id=case_id, action=action, capability=Capability.REVIEW
    )


def _lost_claim_reason(case: Case, user: User) -> str | None:
    """Who took USER's claim on CASE and when ("Lena (lead) took this case at 10:42"), from
    the case's latest audit events; None when nothing took a claim of theirs."""
    history = claim_history(case)
    return claim_lost_reason(case=case, user=user, events=history.events, people=history.people)


def _not_yours(case: Case, user: User) -> NotFound:
    reason = _lost_claim_reason(case, user) or GENERIC_LOST.format(pk=case.pk)
    return NotFound(reason, code="not_claimed")


def _claim_conflict(case: Case, user: User, exc: Conflict) -> Conflict:
    """A service's "no live claim" refusal, saying who took the case when someone did."""
    reason = _lost_claim_reason(case, user) if exc.code == "no_live_claim" else None
    if reason is None:
        return exc
    return Conflict(reason, code=exc.code, details=exc.details)


def _case_context(
    case: Case,
    *,
    user: User,
    error: str = "",
    errors: dict | None = None,
    open_panel: str = "",
    posted: dict | None = None,
    outcome: Shown | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Everything the case panel shows. A blind case carries no trace of the model's answer
    (no label, confidence, scores or explanation), so it cannot leak into the page."""
    policy = case.policy
    blind = not user_may_see_model_answer(user, case)
    explanation = (
        None
        if blind
        else explanation_view(
            case.explanation,
            label=case.predicted_label,
            data=case.input,
            confidence=case.confidence,
            scores=case.scores,
        )
    )
    labels = list(case.ml_model.labels)
    opinions = case_opinions(case) if user_may_see_opinions(user, case) else []
    guidelines = guidelines_view(
        guidelines_current(case.ml_model), labels=labels, reason_codes=list(policy.reason_codes)
    )
    return {
        "case": case,
        "ml_model": case.ml_model,
        "blind": blind,
        "routing_text": routing_text(case, user),
        "explanation": explanation,
        "scores": [] if blind else score_rows(case.scores, predicted_label=case.predicted_label),
        "inputs": input_rows(case.input, [] if explanation is None else explanation.factors),
        "override_labels": labels if blind else [x for x in labels if x != case.predicted_label],
        "reason_codes": list(policy.reason_codes),
        "guidelines": guidelines,
        "now": timezone.now(),
        "sla_overdue": bool(case.sla_due_at and case.sla_due_at <= timezone.now()),
        "error": error,
        "errors": errors or {},
        "open_panel": open_panel,
        "posted": posted or {},
        "outcome": outcome,
        "note": note,
        "is_lead": user_has(user, Capability.LEAD, case.ml_model),
        "opinions": opinion_rows(opinions),
        "second_opinion": "" if blind else second_opinion_note(case, shown_count=None),
        "progress": progress_text(review_progress(user=user, ml_model=case.ml_model)),
        **comments_context(
            case_comments(case),
            user=user,
            case_id=case.pk,
            can_comment=user_can_comment(user, case),
            back=reverse("review-case", kwargs={"case_id": case.pk}),
        ),
    }


def _render_case(
    request: HttpRequest, case: Case, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = _case_context(case, user=request.user, **extra)
    response = render(
        request, _template(request, CASE_TEMPLATE, "case-panel"), context, status=status
    )
    if request.htmx:
        response["HX-Retarget"] = "#case-panel"
        response["HX-Reswap"] = "outerHTML"
    return response


def _home_context(user: User, *, outcome: Shown | None = None, note: str = "") -> dict:
    is_lead = user_has(user, Capability.LEAD)
    if is_lead:
        rows = [
            {"ml_model": r.ml_model, "waiting": r.waiting, "escalated": r.escalated}
            for r in queue_overview(user=user)
        ]
    else:
        rows = [
            {"ml_model": m, "waiting": n, "escalated": None} for m, n in review_models_for(user)
        ]
    # The "n" shortcut claims from the first queue with work in it.
    busy = [r for r in rows if r["waiting"] or r["escalated"]]
    for row in rows:
        row["shortcut"] = row is (busy or rows)[0]
    return {
        "rows": rows,
        "is_lead": is_lead,
        "outcome": outcome,
        "note": note,
    }


def _render_home(
    request: HttpRequest, *, outcome: Shown | None = None, note: str = ""
) -> HttpResponse:
    """The landing panel (for htmx, after a skip or when a queue ran dry)."""
    context = _home_context(request.user, outcome=outcome, note=note)
    response = render(request, _template(request, HOME_TEMPLATE, "queue-panel"), context)
    if request.htmx:
        response["HX-Retarget"] = "#case-panel"
        response["HX-Reswap"] = "outerHTML"
        response["HX-Push-Url"] = reverse("review-home")
    return response


def _go_next(
    request: HttpRequest, *, ml_model: MLModel, outcome: Shown | None = None, note: str = ""
) -> HttpResponse:
    """Claim the next case of the model and show it; the landing page when none waits. With
    htmx the panel is swapped in (and the address bar follows); without, a redirect."""
    case = case_claim_next(ml_model=ml_model, reviewer=request.user)
    if not request.htmx:
        if outcome is not None:
            messages.success(request, outcome.text)
        if note:
            messages.info(request, note)
        if case is None:
            messages.info(request, f"The {ml_model.name} queue is empty.")
            return redirect("review-home")
        return redirect("review-case", case_id=case.pk)
    if case is None:
        empty = f"The {ml_model.name} queue is empty."
        return _render_home(request, outcome=outcome, note=f"{note} {empty}".strip())
    case = case_for_page(case.pk)
    response = _render_case(request, case, outcome=outcome, note=note)
    response["HX-Push-Url"] = reverse("review-case", kwargs={"case_id": case.pk})
    return response


def _helpful(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def review_home(request: HttpRequest) -> HttpResponse:
    """The models the reviewer can review, with what waits in each queue."""
    _require_reviewer(request, action="review.home")
    return render(request, HOME_TEMPLATE, _home_context(request.user))


@login_required
@require_POST
def review_claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    """Claim the next case of a model's queue (or get one's live claim back)."""
    ml_model = model_for_user(
        user=request.user, slug=slug, action="case.claim", capability=Capability.REVIEW
    )
    return _go_next(request, ml_model=ml_model)


@login_required
@require_GET
def review_case(request: HttpRequest, case_id: int) -> HttpResponse:
    """The claimant's view of a claimed case."""
    case = _case_for_reviewer(request, case_id, action="case.view")
    if not claim_is_live(case, request.user):
        raise _not_yours(case, request.user)
    case_views_record(actor=request.user, cases=[case])
    return _render_case(request, case)


@login_required
@require_POST
def review_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    """Accept or override the claimed case, then move on to the next one."""
    case = _case_for_reviewer(request, case_id, action="case.decide")
    post = request.POST
    for name in ("action", "final_label", "reason_code", "feedback"):
        if problem := text_problem(post.get(name, "")):  # NUL: PostgreSQL refuses it
            raise InvalidInput(f"{name}: {problem}", details={name: [problem]})
    action = post.get("action", "")
    final_label = post.get("final_label", "").strip()
    reason_code = post.get("reason_code", "").strip()
    hidden = not user_may_see_model_answer(request.user, case)
    if hidden and action == "label":
        # Blind review: the reviewer names a label without seeing the model's answer; the
        # service decides whether that is an accept or an override (blind_label_outcome).
        # No reason is preset: a blind disagreement asks for one (BLIND_REASON_NEEDED).
        action = DecisionAction.OVERRIDE
    try:
        decision = case_decide(
            case=case,
            reviewer=request.user,
            action=action,
            final_label=final_label if action == DecisionAction.OVERRIDE else "",
            reason_code=reason_code if action == DecisionAction.OVERRIDE else "",
            feedback=post.get("feedback", "").strip(),
            explanation_helpful=None if hidden else _helpful(post.get("helpful", "")),
        )
    except Conflict as exc:
        raise _claim_conflict(case, request.user, exc) from None
    except InvalidInput as exc:
        if not claim_is_live(case, request.user):
            raise
        return _render_case(
            request,
            case,
            status=exc.status_code,
            error=_blind_safe(exc, hidden=hidden),
            errors=exc.details,
            open_panel="override",
            posted=post,
        )
    if isinstance(decision, CaseOpinion):  # one of several independent opinions
        outcome = opinion_outcome(decision.case, decision)
        return _go_next(request, ml_model=case.ml_model, outcome=outcome)
    return _go_next(request, ml_model=case.ml_model, outcome=decision_outcome(case, decision))


def _blind_safe(exc: InvalidInput, *, hidden: bool) -> str:
    """Validation messages must not reveal a hidden answer: a blind label that differs from
    the model's, given without a reason, asks for the reason (naming no label)."""
    if not hidden:
        return exc.message
    if set(exc.details or {}) == {"reason_code"}:
        return BLIND_REASON_NEEDED
    return "Choose a label and, for a label that may differ from the model's, a reason."


@login_required
@require_POST
def review_release(request: HttpRequest, case_id: int) -> HttpResponse:
    """Skip: give the case back to the queue and return to the queues."""
    case = _case_for_reviewer(request, case_id, action="case.release")
    if not claim_is_live(case, request.user):
        raise _not_yours(case, request.user)
    case_release(case=case, actor=request.user)
    note = f"Case #{case.pk} went back to the queue."
    if not request.htmx:
        messages.info(request, note)
        return redirect("review-home")
    return _render_home(request, note=note)


@login_required
@require_POST
def review_skip(request: HttpRequest, case_id: int) -> HttpResponse:
    """Skip (the page's ``s``): give the case back and return to the queues; the next cases
    this reviewer claims are others while any wait (REVIEWAPP_SKIP_COOLDOWN_S)."""
    case = _case_for_reviewer(request, case_id, action="case.skip")
    if not claim_is_live(case, request.user):
        raise _not_yours(case, request.user)
    case_skip(case=case, reviewer=request.user)
    minutes = max(1, round(skip_cooldown().total_seconds() / 60))
    note = (
        f"Skipped case #{case.pk}: it went back to the queue, and for {minutes} "
        f"minute{'s' if minutes != 1 else ''} you get other cases first."
    )
    if not request.htmx:
        messages.info(request, note)
        return redirect("review-home")
    return _render_home(request, note=note)


@login_required
@require_POST
def review_undo(request: HttpRequest, case_id: int) -> HttpResponse:
    """Undo (the outcome line's ``z``): withdraw one's decision within the undo window and
    show the case again, claimed anew; 409 once the window has passed."""
    case = _case_for_reviewer(request, case_id, action="case.undo")
    decision_undo(case=case, reviewer=request.user)
    note = f"Your decision on case #{case.pk} was withdrawn: the case is yours again."
    if not request.htmx:
        messages.info(request, note)
        return redirect("review-case", case_id=case.pk)
    response = _render_case(request, case_for_page(case.pk), note=note)
    response["HX-Push-Url"] = reverse("review-case", kwargs={"case_id": case.pk})
    return response


@login_required
@require_POST
def review_escalate(request: HttpRequest, case_id: int) -> HttpResponse:
    """Hand the case to the team's leads with a note, then move on."""
    case = _case_for_reviewer(request, case_id, action="case.escalate")
    note = request.POST.get("note", "").strip()[:MAX_NOTE_CHARS]
    if problem := text_problem(note):  # NUL: PostgreSQL refuses it
        raise InvalidInput(f"note: {problem}", details={"note": [problem]})
    if not note and claim_is_live(case, request.user):
        return _render_case(
            request,
            case,
            status=400,
            error="Say why you escalate: the note is required.",
            errors={"note": ["Required."]},
            open_panel="escalate",
        )
    try:
        case_escalate(case=case, actor=request.user, note=note)
    except Conflict as exc:
        raise _claim_conflict(case, request.user, exc) from None
    done = f"Case #{case.pk} was escalated to the leads."
    if user_has(request.user, Capability.LEAD, case.ml_model):
        # A lead is served escalated cases first: do not hand this one straight back.
        if not request.htmx:
            messages.info(request, done)
            return redirect("review-home")
        return _render_home(request, note=done)
    return _go_next(request, ml_model=case.ml_model, note=done)


@login_required
@require_POST
def review_renew(request: HttpRequest, case_id: int) -> HttpResponse:
    """Keep the lease while the page is open (htmx polls this every two minutes)."""
    case = _case_for_reviewer(request, case_id, action="case.renew")
    lost, reason = False, None
    try:
        case = case_lease_renew(case=case, reviewer=request.user)
    except ReviewAppError:
        lost, reason = True, _lost_claim_reason(case, request.user)
    if not request.htmx:
        if lost:
            messages.error(request, reason or GENERIC_LOST.format(pk=case.pk))
            return redirect("review-home")
        return redirect("review-case", case_id=case.pk)
    return render(
        request,
        "reviewapp/review/case.html#lease",
        {"case": case, "lease_lost": lost, "lease_lost_reason": reason},
    )


urlpatterns = [
    path("", review_home, name="review-home"),
    path("models/<slug:slug>/next/", review_claim_next, name="review-claim-next"),
    path("case/<int:case_id>/", review_case, name="review-case"),
    path("case/<int:case_id>/decide/", review_decide, name="review-decide"),
    path("case/<int:case_id>/release/", review_release, name="review-release"),
    path("case/<int:case_id>/skip/", review_skip, name="review-skip"),
    path("case/<int:case_id>/undo/", review_undo, name="review-undo"),
    path("case/<int:case_id>/escalate/", review_escalate, name="review-escalate"),
    path("case/<int:case_id>/renew/", review_renew, name="review-renew"),
]
