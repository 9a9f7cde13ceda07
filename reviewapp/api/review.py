"""API endpoints (review)."""

urlpatterns: list = []
