"""Model pages for model owners and managers: label set, team, versions, the active routing
policy and proposals (owners propose, another manager approves: four eyes), the webhook with
its secret shown once, and the deliveries log with a re-send button."""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviewapp.errors import NotFound, PermissionDenied, ReviewAppError
from reviewapp.models import (
    DeliveryStatus,
    FallbackAction,
    MLModel,
    PolicyStatus,
    RoutingPolicy,
    WebhookAttempt,
    WebhookDelivery,
)
from reviewapp.permissions import (
    user_can_approve_policy,
    user_can_manage_model,
    user_can_view_model_pages,
)
from reviewapp.services.access import model_get_for_user, permission_denied_record, require
from reviewapp.services.policies import policy_decide, policy_propose
from reviewapp.services.webhooks import (
    delivery_resend,
    webhook_remove,
    webhook_secret_rotate,
    webhook_set,
)

SECRET_SESSION_KEY = "reviewapp_webhook_secret_once"  # noqa: S105 - a session key name
DELIVERIES_SHOWN = 50


def _error_text(exc: ReviewAppError) -> str:
    details = "; ".join(
        f"{'' if field == 'non_field_errors' else field + ': '}{' '.join(map(str, msgs))}"
        for field, msgs in exc.details.items()
        if isinstance(msgs, list)
    )
    return (
        f"{exc.message} {details}".strip()
        if details and details not in exc.message
        else exc.message
    )


def _model_for_page(request: HttpRequest, slug: str) -> MLModel:
    """The model if the user may use its pages: 404 alike for missing and other teams' models,
    403 (audited) for roles without model pages."""
    require(
        user_can_view_model_pages(request.user),
        user=request.user,
        action="model.page",
        target_type="mlmodel",
        target_id=slug,
    )
    try:
        ml_model = model_get_for_user(user=request.user, slug=slug, action="model.page")
    except NotFound:
        raise Http404(f"No model '{slug}'.") from None
    if not user_can_view_model_pages(request.user, ml_model):
        raise Http404(f"No model '{slug}'.")
    return ml_model


def _page_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Page-level refusals become 403; an action the services refuse becomes a message on the
    model page (and a refused permission is audited)."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args: object, **kwargs: object) -> HttpResponse:
        try:
            ml_model = _model_for_page(request, slug)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None
        try:
            return view(request, ml_model, *args, **kwargs)
        except ReviewAppError as exc:
            if isinstance(exc, PermissionDenied):
                permission_denied_record(
                    user=request.user,
                    action=view.__name__,
                    target_type="mlmodel",
                    target_id=ml_model.slug,
                )
            messages.error(request, _error_text(exc))
            return redirect("model-detail", slug=ml_model.slug)

    return wrapper


# --- forms --------------------------------------------------------------------------------


class PolicyProposalForm(forms.Form):
    review_threshold = forms.FloatField(
        min_value=0, max_value=1, help_text="Cases below this confidence go to a person."
    )
    always_review_labels = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="High-stakes labels."
    )
    qa_sample_rate = forms.FloatField(min_value=0, max_value=1, help_text="Random QA share.")
    blind_sample_rate = forms.FloatField(
        min_value=0, max_value=1, help_text="Share of queued cases reviewed blind."
    )
    advisory_mode = forms.BooleanField(required=False, help_text="Every case is reviewed.")
    sla_minutes = forms.IntegerField(min_value=1, label="SLA (minutes)")
    availability_minutes = forms.IntegerField(min_value=1, label="Lifetime (minutes)")
    lease_minutes = forms.IntegerField(min_value=1, label="Claim lease (minutes)")
    fallback_action = forms.ChoiceField(
        choices=FallbackAction.choices, help_text="What happens when a case expires."
    )
    reason_codes = forms.CharField(help_text="Override reason codes, comma-separated.")
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the change."
    )

    def __init__(self, *args: object, ml_model: MLModel, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["always_review_labels"].choices = [(label, label) for label in ml_model.labels]

    def clean_reason_codes(self) -> list[str]:
        codes = [c.strip() for c in self.cleaned_data["reason_codes"].split(",") if c.strip()]
        if not codes:
            raise forms.ValidationError("Give at least one reason code.")
        if len(set(codes)) != len(codes):
            raise forms.ValidationError("Reason codes must be distinct.")
        return codes

    def rule_changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in RoutingPolicy.RULE_FIELDS}

    @classmethod
    def for_policy(cls, policy: RoutingPolicy, ml_model: MLModel) -> "PolicyProposalForm":
        initial = policy.rules()
        initial["reason_codes"] = ", ".join(policy.reason_codes)
        return cls(initial=initial, ml_model=ml_model)


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=500,
        label="Callback URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/reviewapp"}),
    )


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    """The models of the user's teams, with what needs attention."""
    if not user_can_view_model_pages(request.user):
        permission_denied_record(
            user=request.user, action="model.list", target_type="page", target_id="models"
        )
        raise DjangoPermissionDenied("Model pages are for model owners and managers.")
    models = [
        m
        for m in MLModel.objects.select_related("team")
        .annotate(
            n_versions=Count("versions", distinct=True),
            n_proposals=Count(
                "policies", filter=Q(policies__status=PolicyStatus.PROPOSED), distinct=True
            ),
            n_dead=Count(
                "deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD), distinct=True
            ),
        )
        .order_by("slug")
        if user_can_view_model_pages(request.user, m)
    ]
    return render(request, "reviewapp/models/list.html", {"models": models})


def _deliveries(ml_model: MLModel, status: str = "") -> list[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(ml_model=ml_model)
    if status in DeliveryStatus.values:
        qs = qs.filter(status=status)
    return list(
        qs.select_related("decision")
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("attempted_at", "id"))
        )
        .order_by("-created_at", "-id")[:DELIVERIES_SHOWN]
    )


def _detail_context(request: HttpRequest, ml_model: MLModel, **extra: object) -> dict:
    user = request.user
    policies = list(
        RoutingPolicy.objects.filter(ml_model=ml_model)
        .select_related("proposed_by", "decided_by")
        .order_by("-version")
    )
    active = next((p for p in policies if p.status == PolicyStatus.ACTIVE), None)
    proposals = [p for p in policies if p.status == PolicyStatus.PROPOSED]
    for proposal in proposals:
        proposal.can_decide = user_can_approve_policy(
            user, ml_model, proposed_by_id=proposal.proposed_by_id
        )
        proposal.is_own = proposal.proposed_by_id == user.pk
        proposal.diff = (
            [
                (name, getattr(active, name), getattr(proposal, name))
                for name in RoutingPolicy.RULE_FIELDS
                if getattr(active, name) != getattr(proposal, name)
            ]
            if active
            else []
        )
    history = [p for p in policies if p.status in (PolicyStatus.SUPERSEDED, PolicyStatus.REJECTED)]
    can_manage = user_can_manage_model(user, ml_model)
    status_filter = request.GET.get("status", "")
    context = {
        "ml_model": ml_model,
        "versions": list(ml_model.versions.order_by("-created_at")),
        "active": active,
        "proposals": proposals,
        "history": history[:20],
        "can_manage": can_manage,
        "is_manager": user.role == "manager",
        "proposal_form": PolicyProposalForm.for_policy(active, ml_model)
        if can_manage and active
        else None,
        "webhook_form": WebhookForm(initial={"url": ml_model.webhook_url}) if can_manage else None,
        "deliveries": _deliveries(ml_model, status_filter),
        "status_filter": status_filter,
        "statuses": DeliveryStatus.choices,
        "resendable": {DeliveryStatus.DEAD, DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING},
    }
    context.update(extra)
    return context


@login_required
@never_cache
@require_GET
@_page_errors
def model_detail(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """One model: facts, routing policy and proposals, webhook and deliveries."""
    once = request.session.pop(SECRET_SESSION_KEY, None)
    secret = once.get("secret") if once and once.get("slug") == ml_model.slug else None
    context = _detail_context(request, ml_model, new_secret=secret)
    return render(request, "reviewapp/models/detail.html", context)


@login_required
@require_GET
@_page_errors
def model_deliveries(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """The deliveries log alone (htmx refresh and status filter); full page otherwise."""
    context = _detail_context(request, ml_model)
    if request.htmx:
        return render(request, "reviewapp/models/detail.html#deliveries", context)
    return render(request, "reviewapp/models/detail.html", context)


@login_required
@require_POST
@_page_errors
def model_policy_propose(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """A model owner proposes new routing rules; they wait for a manager's approval."""
    form = PolicyProposalForm(request.POST, ml_model=ml_model)
    if not form.is_valid():
        messages.error(request, "The proposal is not valid: see the form below.")
        context = _detail_context(request, ml_model, proposal_form=form)
        return render(request, "reviewapp/models/detail.html", context, status=400)
    policy = policy_propose(
        ml_model=ml_model,
        proposer=request.user,
        changes=form.rule_changes(),
        note=form.cleaned_data["note"],
    )
    messages.success(
        request,
        f"Proposed routing policy v{policy.version}. It takes effect once another person, "
        "a manager of the team, approves it.",
    )
    return redirect("model-detail", slug=ml_model.slug)


@login_required
@require_POST
@_page_errors
def model_policy_decide(request: HttpRequest, ml_model: MLModel, policy_id: int) -> HttpResponse:
    """A manager approves or rejects a proposal (not their own: four eyes)."""
    policy = RoutingPolicy.objects.filter(ml_model=ml_model, pk=policy_id).first()
    if policy is None:
        raise Http404("No such proposal.")
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose approve or reject.")
        return redirect("model-detail", slug=ml_model.slug)
    if policy.proposed_by_id == request.user.pk and policy.status == PolicyStatus.PROPOSED:
        permission_denied_record(
            user=request.user,
            action="policy.decide_own",
            target_type="routingpolicy",
            target_id=str(policy.pk),
        )
        messages.error(
            request,
            f"You proposed v{policy.version}, so you cannot {decision} it: another manager of "
            "the team must (four eyes).",
        )
        return redirect("model-detail", slug=ml_model.slug)
    policy_decide(
        policy=policy,
        manager=request.user,
        approve=decision == "approve",
        note=request.POST.get("note", "")[:2000],
    )
    if decision == "approve":
        messages.success(request, f"Approved: routing policy v{policy.version} is now active.")
    else:
        messages.success(request, f"Rejected routing policy v{policy.version}.")
    return redirect("model-detail", slug=ml_model.slug)


@login_required
@require_POST
@_page_errors
def model_webhook(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """Set or change the callback URL, rotate the secret, or remove the webhook (owners)."""
    action = request.POST.get("action", "set")
    secret = None
    if action == "set":
        form = WebhookForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give a callback URL.")
            return redirect("model-detail", slug=ml_model.slug)
        secret = webhook_set(ml_model=ml_model, url=form.cleaned_data["url"], actor=request.user)
        messages.success(request, "Webhook saved with a new signing secret.")
    elif action == "rotate":
        secret = webhook_secret_rotate(ml_model=ml_model, actor=request.user)
        messages.success(request, "New signing secret issued; the old one no longer signs.")
    elif action == "remove":
        webhook_remove(ml_model=ml_model, actor=request.user)
        messages.success(request, "Webhook removed: decisions are no longer sent.")
    else:
        messages.error(request, "Unknown webhook action.")
    if secret:
        request.session[SECRET_SESSION_KEY] = {"slug": ml_model.slug, "secret": secret}
    return redirect("model-detail", slug=ml_model.slug)


@login_required
@require_POST
@_page_errors
def model_delivery_resend(
    request: HttpRequest, ml_model: MLModel, delivery_id: int
) -> HttpResponse:
    """A model owner sends a delivery again."""
    delivery = WebhookDelivery.objects.filter(ml_model=ml_model, pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery.")
    delivery = delivery_resend(delivery=delivery, actor=request.user)
    delivery.refresh_from_db()
    messages.success(
        request, f"Delivery #{delivery.pk} queued again (now {delivery.get_status_display()})."
    )
    return redirect("model-detail", slug=ml_model.slug)


urlpatterns = [
    path("", model_list, name="model-list"),
    path("<slug:slug>/", model_detail, name="model-detail"),
    path("<slug:slug>/deliveries", model_deliveries, name="model-deliveries"),
    path("<slug:slug>/policy/propose", model_policy_propose, name="model-policy-propose"),
    path(
        "<slug:slug>/policy/<int:policy_id>/decide",
        model_policy_decide,
        name="model-policy-decide",
    ),
    path("<slug:slug>/webhook", model_webhook, name="model-webhook"),
    path(
        "<slug:slug>/deliveries/<int:delivery_id>/resend",
        model_delivery_resend,
        name="model-delivery-resend",
    ),
]
