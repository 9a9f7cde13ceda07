"""API endpoints (metrics)."""

urlpatterns: list = []
