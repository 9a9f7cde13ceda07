"""Model pages for model owners and managers: label set, team, versions (their actions are in
views/versions.py), the active routing policy and proposals (owners propose, another manager
approves: four eyes), guidelines, the webhook with its secret shown once, and the deliveries
log with a re-send button."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviewapp.models import (
    DeliveryStatus,
    FallbackAction,
    GuidelineVersion,
    MLModel,
    PolicyStatus,
    RoutingPolicy,
    VersionStatus,
    WebhookDelivery,
)
from reviewapp.models.guidelines import MAX_DEFINITION_CHARS, MAX_GUIDELINE_CHARS
from reviewapp.permissions import Capability, user_can_approve_policy, user_has
from reviewapp.presentation.markdown import guidelines_view
from reviewapp.selectors.documentation import documentation_revisions
from reviewapp.selectors.guidelines import guidelines_history
from reviewapp.selectors.registry import (
    delivery_current,
    model_list_rows,
    model_policies,
    webhook_deliveries,
)
from reviewapp.selectors.system import outbox_state
from reviewapp.selectors.versions import open_suspension, version_figures
from reviewapp.services.access import capability_require, object_of_model, refuse
from reviewapp.services.guidelines import guidelines_save
from reviewapp.services.policies import policy_decide, policy_propose
from reviewapp.services.webhooks import (
    delivery_resend,
    webhook_remove,
    webhook_secret_rotate,
    webhook_set,
)
from reviewapp.views.gate import (
    model_detail_url,
    model_manager_action,
    model_owner_action,
    model_page,
)
from reviewapp.views.model_settings import ModelSettingsForm

SECRET_SESSION_KEY = "reviewapp_webhook_secret_once"  # noqa: S105 - a session key name


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
    shadow_mode = forms.BooleanField(
        required=False,
        help_text="Shadow mode: every case is reviewed blind, nothing is auto-approved.",
    )
    reviewers_required = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3,
        initial=1,
        label="Independent reviewers",
        help_text="Second opinions: reviewers a selected case needs (1-3).",
    )
    second_opinion_labels = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Labels whose cases need the independent reviewers.",
    )
    second_opinion_below = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Cases below this confidence need the independent reviewers.",
    )
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
        label_choices = [(label, label) for label in ml_model.labels]
        self.fields["always_review_labels"].choices = label_choices
        self.fields["second_opinion_labels"].choices = label_choices

    def clean_reviewers_required(self) -> int:
        return self.cleaned_data["reviewers_required"] or 1

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


class GuidelinesForm(forms.Form):
    """The guidelines text and one short definition per label and per reason code."""

    text = forms.CharField(
        required=False,
        max_length=MAX_GUIDELINE_CHARS,
        label="Guidelines (Markdown)",
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Shown to reviewers on the case page (key g). HTML is shown as text.",
    )

    def __init__(
        self,
        *args: object,
        labels: list[str],
        reason_codes: list[str],
        current: GuidelineVersion | None = None,
        **kwargs: object,
    ) -> None:
        if current is not None and "data" not in kwargs and not args:
            kwargs["initial"] = {
                "text": current.text,
                **{f"label:{k}": v for k, v in current.label_definitions.items()},
                **{f"reason:{k}": v for k, v in current.reason_definitions.items()},
            }
        super().__init__(*args, **kwargs)
        self.labels, self.reason_codes = labels, reason_codes
        for kind, names in (("label", labels), ("reason", reason_codes)):
            for name in names:
                self.fields[f"{kind}:{name}"] = forms.CharField(
                    required=False, max_length=MAX_DEFINITION_CHARS, label=name
                )

    def label_fields(self) -> list:
        return [self[f"label:{name}"] for name in self.labels]

    def reason_fields(self) -> list:
        return [self[f"reason:{name}"] for name in self.reason_codes]

    def definitions(self, kind: str, names: list[str]) -> dict[str, str]:
        return {name: self.cleaned_data.get(f"{kind}:{name}", "") for name in names}


def _guidelines_form(
    ml_model: MLModel, active: RoutingPolicy | None, data: object = None, current: object = None
) -> GuidelinesForm:
    return GuidelinesForm(
        data,
        labels=list(ml_model.labels),
        reason_codes=list(active.reason_codes) if active else [],
        current=current,
    )


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    """The models of the user's teams, with what needs attention."""
    capability_require(
        user=request.user,
        capability=Capability.VIEW_MODEL_PAGES,
        action="model.list",
        target_type="page",
        target_id="models",
    )
    models = model_list_rows(request.user, Capability.VIEW_MODEL_PAGES)
    return render(request, "reviewapp/models/list.html", {"models": models})


def _detail_context(request: HttpRequest, ml_model: MLModel, **extra: object) -> dict:
    user = request.user
    policies = model_policies(ml_model)
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
    can_manage = user_has(user, Capability.MANAGE_MODEL, ml_model)
    status_filter = request.GET.get("status", "")
    version_rows = version_figures(ml_model)
    can_halt = user_has(user, Capability.HALT_AUTOMATION, ml_model)
    doc_revisions = documentation_revisions(ml_model)
    for row in version_rows:
        v = row.version
        proposed = v.activation_proposed_at is not None
        row.can_propose = can_manage and v.status == VersionStatus.CANDIDATE and not proposed
        row.can_decide = proposed and user_can_approve_policy(
            user, ml_model, proposed_by_id=v.activation_proposed_by_id
        )
        row.can_retire = can_halt and v.status != VersionStatus.RETIRED
        row.can_rollback = row.can_retire and row.rollback_to is not None
        row.doc_revision = doc_revisions.get(v.pk)
    suspension = open_suspension(ml_model)
    guideline_versions = guidelines_history(ml_model)
    current = guideline_versions[0] if guideline_versions else None
    context = {
        "guidelines": guidelines_view(
            current,
            labels=list(ml_model.labels),
            reason_codes=list(active.reason_codes) if active else [],
        ),
        "guideline_versions": guideline_versions,
        "guidelines_form": _guidelines_form(ml_model, active, current=current)
        if can_manage
        else None,
        "ml_model": ml_model,
        "versions": [row.version for row in version_rows],
        "version_rows": version_rows,
        "suspension": suspension,
        "can_halt": can_halt,
        "can_decide_resume": suspension is not None
        and suspension.lift_proposed_at is not None
        and user_can_approve_policy(user, ml_model, proposed_by_id=suspension.lift_proposed_by_id),
        "active": active,
        "proposals": proposals,
        "history": history[:20],
        "can_manage": can_manage,
        "is_manager": user_has(user, Capability.APPROVE_POLICY, ml_model),
        "proposal_form": PolicyProposalForm.for_policy(active, ml_model)
        if can_manage and active
        else None,
        "webhook_form": WebhookForm(initial={"url": ml_model.webhook_url}) if can_manage else None,
        "settings_form": ModelSettingsForm.for_model(ml_model) if can_manage else None,
        "deliveries": webhook_deliveries(ml_model, status_filter),
        "outbox": outbox_state(ml_model=ml_model),  # the "deliveries are late" banner
        "status_filter": status_filter,
        "statuses": DeliveryStatus.choices,
        "resendable": {DeliveryStatus.DEAD, DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING},
    }
    context.update(extra)
    return context


@login_required
@never_cache
@require_GET
@model_page
def model_detail(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """One model: facts, routing policy and proposals, webhook and deliveries."""
    once = request.session.pop(SECRET_SESSION_KEY, None)
    secret = once.get("secret") if once and once.get("slug") == ml_model.slug else None
    context = _detail_context(request, ml_model, new_secret=secret)
    return render(request, "reviewapp/models/detail.html", context)


@login_required
@require_GET
@model_page
def model_deliveries(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """The deliveries log alone (htmx refresh and status filter); full page otherwise."""
    context = _detail_context(request, ml_model)
    if request.htmx:
        return render(request, "reviewapp/models/detail.html#deliveries", context)
    return render(request, "reviewapp/models/detail.html", context)


@login_required
@require_POST
@model_owner_action
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
@model_owner_action
def model_guidelines_save(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """A model owner saves the guidelines: a new version, the earlier ones kept."""
    active = next((p for p in model_policies(ml_model) if p.status == PolicyStatus.ACTIVE), None)
    form = _guidelines_form(ml_model, active, data=request.POST)
    if not form.is_valid():
        messages.error(request, "The guidelines are not valid: see the form below.")
        context = _detail_context(request, ml_model, guidelines_form=form)
        return render(request, "reviewapp/models/detail.html", context, status=400)
    guidelines = guidelines_save(
        ml_model=ml_model,
        actor=request.user,
        text=form.cleaned_data["text"],
        label_definitions=form.definitions("label", form.labels),
        reason_definitions=form.definitions("reason", form.reason_codes),
    )
    messages.success(
        request, f"Saved guidelines v{guidelines.version}: reviewers see them from now on."
    )
    return redirect(model_detail_url(ml_model) + "#guidelines")


@login_required
@require_POST
@model_manager_action
def model_policy_decide(request: HttpRequest, ml_model: MLModel, policy_id: int) -> HttpResponse:
    """A manager approves or rejects a proposal (not their own: four eyes)."""
    policy = object_of_model(RoutingPolicy, policy_id, ml_model, "proposal")
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose approve or reject.")
        return redirect("model-detail", slug=ml_model.slug)
    if policy.status == PolicyStatus.PROPOSED:
        refuse(
            user_can_approve_policy(request.user, ml_model, proposed_by_id=policy.proposed_by_id),
            user=request.user,
            action="policy.decide_own"
            if policy.proposed_by_id == request.user.pk
            else "policy.decide",
            target_type="routingpolicy",
            target_id=policy.pk,
            message=f"You proposed v{policy.version}, so you cannot {decision} it: another "
            "manager of the team must (four eyes)."
            if policy.proposed_by_id == request.user.pk
            else "Only a manager of the model's team may approve or reject routing changes.",
        )
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
@model_owner_action
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
@model_owner_action
def model_delivery_resend(
    request: HttpRequest, ml_model: MLModel, delivery_id: int
) -> HttpResponse:
    """A model owner sends a delivery again."""
    delivery = object_of_model(WebhookDelivery, delivery_id, ml_model, "delivery")
    delivery = delivery_resend(delivery=delivery, actor=request.user)
    delivery = delivery_current(delivery)
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
    path("<slug:slug>/guidelines", model_guidelines_save, name="model-guidelines"),
    path("<slug:slug>/webhook", model_webhook, name="model-webhook"),
    path(
        "<slug:slug>/deliveries/<int:delivery_id>/resend",
        model_delivery_resend,
        name="model-delivery-resend",
    ),
]
