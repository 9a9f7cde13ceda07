"""Django admin for admins only (see config/urls.py): users, teams, roles, service accounts.
Cases and decisions are not editable here; the audit log is read-only.

Every change made here is audited in the admin's own transaction: role changes go through
``services.accounts.user_set_role``, team memberships are recorded as added or removed, and
service accounts are created by ``services.accounts.service_account_create`` with their token
shown once on the page that follows.

What a service owns is read-only here, so the admin cannot skip its rules: a model's team,
owner, labels, input schema, webhook URL and secret (owner-only changes, the SSRF check and
secret rotation live in the registry and webhook services and ``set_webhook``), a user's
service model, pseudonym and the staff flags that follow from the role, token digests.
Models are registered by ``create_service_account`` or the API, not added here.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse

from reviewapp.models import ApiToken, AuditEvent, Membership, MLModel, Role, Team, User
from reviewapp.services.accounts import service_account_create, token_revoke, user_set_role
from reviewapp.services.audit import audit_record

SECRET_FIELDS = frozenset({"password", "webhook_secret"})


def _changes(form: ModelForm) -> dict[str, Any]:
    """[before, after] of each changed field (secrets only say that they changed)."""
    changes: dict[str, Any] = {}
    for name in form.changed_data:
        if name in SECRET_FIELDS or name.startswith("password") or name == "usable_password":
            changes[name] = "changed"
            continue
        before = form.initial.get(name)
        after = form.cleaned_data.get(name)
        if isinstance(after, models.Model):
            after = after.pk
        elif isinstance(after, models.QuerySet | list | tuple | set):
            after = sorted(str(getattr(v, "pk", v)) for v in after)
            before = sorted(str(getattr(v, "pk", v)) for v in before or [])
        changes[name] = [_jsonable(before), _jsonable(after)]
    return changes


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


class AuditedAdmin(admin.ModelAdmin):
    """Records ``<model>.created``, ``<model>.changed`` and ``<model>.deleted`` (the admin's
    change views already run in one transaction, so the record commits with the change)."""

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        name = obj._meta.model_name
        audit_record(
            actor=request.user,
            action=f"{name}.changed" if change else f"{name}.created",
            target=obj,
            changes={**_changes(form), "via": "admin"},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.deleted",
            target=obj,
            changes={"repr": str(obj), "via": "admin"},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ("team", "created_at")
    readonly_fields = ("created_at",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "role", "is_active", "team_list", "last_login")
    list_filter = ("role", "is_active", "teams")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("reviewapp", {"fields": ("role", "service_model", "pseudonym")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    # Staff and superuser flags follow the role (``user_set_role``); Django's own groups and
    # permissions are not how reviewapp grants anything.
    readonly_fields = (
        "pseudonym",
        "service_model",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "last_login",
        "date_joined",
    )
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="Teams")
    def team_list(self, obj: User) -> str:
        return ", ".join(team.slug for team in obj.teams.all())

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        new_role = obj.role
        if not change:
            obj.is_staff = obj.is_superuser = new_role == Role.ADMIN
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                action="user.created",
                target=obj,
                changes={"role": [None, new_role], "via": "admin"},
            )
            return
        role_changed = "role" in form.changed_data
        if role_changed:
            obj.role = form.initial.get("role", new_role)
        super().save_model(request, obj, form, change)
        others = {k: v for k, v in _changes(form).items() if k != "role"}
        if others:
            audit_record(
                actor=request.user,
                action="user.changed",
                target=obj,
                changes={**others, "via": "admin"},
            )
        if role_changed:
            user_set_role(user=obj, role=new_role, actor=request.user)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        formset.save()
        if formset.model is not Membership:
            return
        user = form.instance
        for membership in formset.new_objects:
            audit_record(
                actor=request.user,
                action="membership.added",
                target=user,
                changes={"team": membership.team.slug, "via": "admin"},
            )
        for membership in formset.deleted_objects:
            audit_record(
                actor=request.user,
                action="membership.removed",
                target=user,
                changes={"team": membership.team.slug, "via": "admin"},
            )
        for membership, changed in formset.changed_objects:
            audit_record(
                actor=request.user,
                action="membership.changed",
                target=user,
                changes={"team": membership.team.slug, "fields": changed, "via": "admin"},
            )


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at",)


@admin.register(MLModel)
class MLModelAdmin(AuditedAdmin):
    list_display = ("slug", "name", "team", "service_account_count")
    list_select_related = ("team",)
    search_fields = ("slug", "name")
    fields = (
        "slug",
        "name",
        "team",
        "owner",
        "labels",
        "input_schema",
        "webhook_url",
        "webhook_secret_set",
        "created_at",
    )
    # Only the display name is edited here; everything else belongs to a service.
    readonly_fields = tuple(f for f in fields if f != "name")
    actions = ["create_service_account"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # registration goes through create_service_account or the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a model's cases, decisions and audit trail outlive it

    @admin.display(description="Webhook secret", boolean=True)
    def webhook_secret_set(self, obj: MLModel) -> bool:
        return bool(obj.webhook_secret)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(n_accounts=models.Count("service_accounts"))

    @admin.display(description="Service accounts", ordering="n_accounts")
    def service_account_count(self, obj: MLModel) -> int:
        return obj.n_accounts

    @admin.action(description="Create a service account (the token is shown once)")
    def create_service_account(self, request: HttpRequest, queryset: Any) -> TemplateResponse:
        created = []
        for ml_model in queryset:
            user, raw = service_account_create(ml_model=ml_model, actor=request.user)
            created.append({"model": ml_model, "user": user, "token": raw})
        context = {
            **self.admin_site.each_context(request),
            "title": "Service accounts created",
            "created": created,
            "opts": self.model._meta,
        }
        response = TemplateResponse(
            request, "reviewapp/admin/service_account_created.html", context
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("user__role",)
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("user", "prefix", "digest", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for token in queryset.select_related("user"):
            token_revoke(token=token, actor=request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("id", "occurred_at", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action",)
    show_full_result_count = False  # no COUNT(*) over the whole log

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
