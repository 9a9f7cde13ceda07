"""The login page's single sign-on button (reviewapp.sso)."""

from django import template

from reviewapp.sso import sso_provider_name

register = template.Library()


@register.simple_tag
def sso_provider() -> str:
    """The IdP's display name when single sign-on is on, else ""."""
    return sso_provider_name()
