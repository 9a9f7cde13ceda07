"""Owner-level model settings that are not routing policy, on the model page (under
/models/<slug>/settings): the segment fields whose values the adoption and quality figures
break down by, the retention period and the personal-data fields. One service call
(``services.model_settings.model_configure``, owners only, audited); a refused or malformed
post returns to the model page with the message."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from reviewapp.errors import InvalidInput
from reviewapp.models import MLModel
from reviewapp.services.model_settings import MAX_FIELDS, model_configure
from reviewapp.views.gate import model_detail_url, model_owner_action

SETTINGS_ANCHOR = "#settings"


class ModelSettingsForm(forms.Form):
    """The model's owner-level settings (segment fields for now). Values are checked by the
    service, so the form and ``configure_model`` accept exactly the same input."""

    segment_fields = forms.CharField(
        required=False,
        max_length=1400,
        label="Segment fields",
        help_text=f"Keys of a case's metadata or input, comma-separated (at most {MAX_FIELDS}), "
        "e.g. site, region, age_band. Figures break down by each value from the cases received "
        "after the change.",
        widget=forms.TextInput(
            attrs={
                "size": 50,
                "autocomplete": "off",
                "aria-describedby": "id_segment_fields-help",
            }
        ),
    )

    retention_days = forms.CharField(
        required=False,
        max_length=6,
        label="Retention (days)",
        help_text="Days after which a decided, auto-approved or expired case loses its input, "
        "metadata, explanation, feedback and comments (labels, times and digests are kept). "
        "Empty: kept for ever.",
        widget=forms.TextInput(
            attrs={"size": 6, "inputmode": "numeric", "aria-describedby": "id_retention_days-help"}
        ),
    )
    pii_fields = forms.CharField(
        required=False,
        max_length=1400,
        label="Personal-data fields",
        help_text="Keys of input or metadata holding personal data, comma-separated: masked in "
        "exports, the API and for managers, owners and auditors (who may reveal one, "
        "audited); the team's reviewers see them.",
        widget=forms.TextInput(
            attrs={"size": 50, "autocomplete": "off", "aria-describedby": "id_pii_fields-help"}
        ),
    )
    # Fields a post may leave out (the value is then kept, not cleared).
    OPTIONAL_SETTINGS = ("retention_days", "pii_fields")

    @classmethod
    def for_model(cls, ml_model: MLModel) -> "ModelSettingsForm":
        return cls(
            initial={
                "segment_fields": ", ".join(ml_model.segment_fields or []),
                "retention_days": ""
                if ml_model.retention_days is None
                else str(ml_model.retention_days),
                "pii_fields": ", ".join(ml_model.pii_fields or []),
            }
        )

    def settings(self) -> dict[str, object]:
        """The keyword arguments for ``model_configure``."""
        wanted: dict[str, object] = {"segment_fields": self.cleaned_data["segment_fields"]}
        for name in self.OPTIONAL_SETTINGS:
            if name in self.data:
                wanted[name] = self.cleaned_data[name]
        return wanted


@login_required
@require_POST
@model_owner_action
def model_settings_save(request: HttpRequest, ml_model: MLModel) -> HttpResponse:
    """A model owner changes the model's settings (audited as ``model.configured``)."""
    form = ModelSettingsForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
        messages.error(request, f"The settings were not saved. {errors}")
        return redirect(model_detail_url(ml_model) + SETTINGS_ANCHOR)
    try:
        changes = model_configure(ml_model=ml_model, actor=request.user, **form.settings())
    except InvalidInput as exc:
        messages.error(request, f"The settings were not saved. {exc.message}")
        return redirect(model_detail_url(ml_model) + SETTINGS_ANCHOR)
    if not changes:
        messages.info(request, "Nothing changed.")
    elif "segment_fields" in changes:
        fields = ", ".join(changes["segment_fields"][1]) or "none"
        messages.success(
            request,
            f"Segment fields saved: {fields}. Cases received from now on are segmented; "
            "figures by segment appear on the adoption dashboard.",
        )
    else:
        messages.success(request, "Settings saved: " + ", ".join(sorted(changes)) + ".")
    return redirect(model_detail_url(ml_model) + SETTINGS_ANCHOR)


urlpatterns = [
    path("<slug:slug>/settings", model_settings_save, name="model-settings"),
]
