"""`manage.py check --deploy`: the settings a TLS-terminating proxy in front of uxlab needs together."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_trusted_proxies(app_configs, **kwargs):
    """SECURE_PROXY_SSL_HEADER says a proxy in front sets X-Forwarded-Proto; uxlab's nginx passes it
    on only from UXLAB_TRUSTED_PROXIES. Without them, https requests look like http (a redirect loop
    with SECURE_SSL_REDIRECT, no HSTS) and every client has the proxy's address."""
    if settings.SECURE_PROXY_SSL_HEADER and not settings.UXLAB_TRUSTED_PROXIES:
        return [
            Warning(
                "SECURE_PROXY_SSL_HEADER is on but UXLAB_TRUSTED_PROXIES is empty: uxlab's nginx will not "
                "pass on the proxy's X-Forwarded-Proto or X-Forwarded-For.",
                hint="Set UXLAB_TRUSTED_PROXIES to the address the TLS-terminating proxy connects from "
                "(docs/deployment.md, \"HTTPS behind a proxy\").",
                id="uxlab.W001",
            )
        ]
    return []
