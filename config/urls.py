from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reviewapp.permissions import Capability, user_has
from reviewapp.views import core, system


def _admin_has_permission(request: HttpRequest) -> bool:
    return user_has(request.user, Capability.ADMINISTER)


admin.site.has_permission = _admin_has_permission
admin.site.site_header = "reviewapp administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on (reviewapp/sso.py): 404 unless OIDC_RP_CLIENT_ID is set.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("healthz", core.healthz, name="healthz"),
    path("readyz", core.readyz, name="readyz"),
    # Prometheus (docs/operations.md, "Metrics"): bearer token, or loopback clients only.
    path("metrics", system.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="reviewapp/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("api/v1/", include("reviewapp.api.urls")),
    path("", include("reviewapp.urls")),
]

handler400 = "reviewapp.views.core.bad_request"
handler403 = "reviewapp.views.core.permission_denied"
handler404 = "reviewapp.views.core.not_found"
handler500 = "reviewapp.views.core.server_error"
