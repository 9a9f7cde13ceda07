"""API endpoints (feed)."""

urlpatterns: list = []
