"""The example project behind a TLS-terminating proxy, configured as docs/deployment.md says: the proxy
overwrites X-Forwarded-Proto, so the origin check knows the page was https (tests/test_faults_nginx.py)."""

from project.settings import *  # noqa: F401,F403

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
