"""A tiny OpenID Connect provider (django-oauth-toolkit) that tests/test_sso.py starts on
loopback. Test-only: a throwaway SQLite file, an RSA key made by the test, no TLS."""
