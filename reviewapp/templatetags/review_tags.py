"""Small formatting filters for the reviewer's pages."""

from django import template

register = template.Library()


@register.filter
def code_label(code: str) -> str:
    """A reason or routing code for reading: ``wrong_label`` -> ``Wrong label``."""
    text = str(code or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def percent(value: float | int | None) -> str:
    """0.62 -> ``62%``; anything that is not a number -> an empty string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:.0%}"
