"""Bearer tokens for Graph: a static token, or azure-identity's client credentials.

What this module knows: the scope (`<graph_url>/.default`), azure-identity's ClientSecretCredential
and CertificateCredential (imported lazily: the optional extra `certconform[intune]`), and when a
token must be renewed. What it does not know: requests (graph.py). No message names a secret.
"""
from __future__ import annotations

import time

from .config import ConfigError, IntuneConfig

RENEW_MARGIN_S = 300  # fetch a new token this long before the old one expires


class StaticToken:
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class CredentialToken:
    """A token from an azure-identity credential, cached until RENEW_MARGIN_S before expiry."""

    def __init__(self, credential, scope: str, secrets: list[str] = ()) -> None:
        self._credential, self._scope, self._secrets = credential, scope, list(secrets)
        self._token, self._expires = "", 0.0

    def __call__(self) -> str:
        if time.time() > self._expires - RENEW_MARGIN_S:
            try:
                access = self._credential.get_token(self._scope)
            except Exception as exc:  # azure-identity's errors are long; its first line says why
                first = (str(exc).splitlines() or [""])[0]
                for secret in self._secrets:
                    first = first.replace(secret, "<redacted>")
                raise ConfigError(f"azure-identity could not get a Graph token: {type(exc).__name__}: {first[:200]}") from None
            self._token, self._expires = access.token, float(access.expires_on)
        return self._token

    def __repr__(self) -> str:
        return f"CredentialToken({type(self._credential).__name__}, {self._scope!r})"


def token_provider(cfg: IntuneConfig):
    """A zero-argument callable returning the current bearer token."""
    if cfg.token:
        return StaticToken(cfg.token)
    try:
        from azure import identity
    except ImportError:
        raise ConfigError("azure-identity is not installed: pip install 'certconform[intune]' "
                          "(or give CERTCONFORM_INTUNE_TOKEN)") from None
    if cfg.client_secret:
        credential = identity.ClientSecretCredential(cfg.tenant_id, cfg.client_id, cfg.client_secret)
    else:
        credential = identity.CertificateCredential(cfg.tenant_id, cfg.client_id, certificate_path=cfg.certificate_path)
    return CredentialToken(credential, scope_of(cfg.graph_url), cfg.secrets())


def scope_of(graph_url: str) -> str:
    """`https://graph.microsoft.com/.default` (a national cloud's Graph URL gives its own)."""
    return graph_url.rstrip("/") + "/.default"
