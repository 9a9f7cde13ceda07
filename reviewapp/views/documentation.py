"""A model version's documentation page (its model card) at
/models/<slug>/versions/<version>/documentation: everyone who may see the model's cases reads
it (reviewers reach it from the case page, owners and managers from the model page, auditors
from any case); the model's owners save a new revision with the form on the same page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviewapp.errors import NotFound
from reviewapp.models import MLModel, ModelDocumentation, ModelVersion
from reviewapp.permissions import Capability, user_has
from reviewapp.selectors.documentation import documentation_history, model_version_named
from reviewapp.services.documentation import CONTACT_LIMIT, TEXT_LIMIT, documentation_save
from reviewapp.views.gate import model_from_slug

PAGE = "reviewapp/models/documentation.html"


class DocumentationForm(forms.Form):
    """The five fields of a model card, all required."""

    intended_use = forms.CharField(
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What the model is for, on which population, and what it must not be used for.",
    )
    limitations = forms.CharField(
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Known weaknesses: segments where it is less accurate, inputs it has not seen.",
    )
    training_data = forms.CharField(
        max_length=TEXT_LIMIT,
        label="Training data provenance",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Where the training data came from, its period, and how it was labelled.",
    )
    owner_contact = forms.CharField(
        max_length=CONTACT_LIMIT, help_text="Who owns the model (name, e-mail)."
    )
    oncall_contact = forms.CharField(
        max_length=CONTACT_LIMIT,
        label="On-call contact",
        help_text="Who to call when it misbehaves (rota, pager, channel).",
    )

    @classmethod
    def for_documentation(cls, current: ModelDocumentation | None) -> "DocumentationForm":
        if current is None:
            return cls()
        return cls(initial={name: getattr(current, name) for name in cls.base_fields})


def documentation_url(ml_model: MLModel, version: ModelVersion) -> str:
    return reverse(
        "model-documentation", kwargs={"slug": ml_model.slug, "version": version.version}
    )


def _version(ml_model: MLModel, name: str) -> ModelVersion:
    version = model_version_named(ml_model, name)
    if version is None:
        raise NotFound(f"No version '{name[:64]}' of model '{ml_model.slug}'.")
    return version


def _render(
    request: HttpRequest,
    ml_model: MLModel,
    version: ModelVersion,
    *,
    form: DocumentationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    history = documentation_history(version)
    current = history[0] if history else None
    can_manage = user_has(request.user, Capability.MANAGE_MODEL, ml_model)
    if can_manage and form is None:
        form = DocumentationForm.for_documentation(current)
    context = {
        "ml_model": ml_model,
        "version": version,
        "current": current,
        "earlier": history[1:],
        "can_manage": can_manage,
        "form": form if can_manage else None,
        "can_see_model_page": user_has(request.user, Capability.VIEW_MODEL_PAGES, ml_model),
        "fields": [
            ("intended_use", "Intended use"),
            ("limitations", "Limitations"),
            ("training_data", "Training data provenance"),
        ],
    }
    return render(request, PAGE, context, status=status)


@login_required
@never_cache
@require_GET
@model_from_slug(Capability.VIEW_CASES, action="model.documentation_view")
def documentation_page(request: HttpRequest, ml_model: MLModel, version: str) -> HttpResponse:
    """The documentation in force for one version, its earlier revisions and (owners) the
    form that saves a new revision."""
    return _render(request, ml_model, _version(ml_model, version))


@login_required
@require_POST
@model_from_slug(Capability.MANAGE_MODEL, action="model.documentation_save")
def documentation_save_view(request: HttpRequest, ml_model: MLModel, version: str) -> HttpResponse:
    """An owner saves a new revision of the version's documentation."""
    model_version = _version(ml_model, version)
    request.error_back_url = documentation_url(ml_model, model_version)
    form = DocumentationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The documentation is not complete: see the form below.")
        return _render(request, ml_model, model_version, form=form, status=400)
    documentation = documentation_save(
        model_version=model_version, actor=request.user, **form.cleaned_data
    )
    messages.success(
        request,
        f"Documentation of version {model_version.version} is at revision "
        f"{documentation.revision}: reviewers see it from the case page.",
    )
    return redirect(documentation_url(ml_model, model_version))


def documentation(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    """GET reads, POST saves (one URL, each method through its own gate)."""
    if request.method == "POST":
        return documentation_save_view(request, slug, version)
    return documentation_page(request, slug, version)


urlpatterns = [
    path(
        "<slug:slug>/versions/<path:version>/documentation",
        documentation,
        name="model-documentation",
    ),
]
