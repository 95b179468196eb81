"""Bearer tokens for Graph: a static token, or client credentials that renew.

What this module knows: the scope (`<graph_url>/.default`), azure-identity's ClientSecretCredential
and CertificateCredential (imported lazily: the optional extra `certconform[intune]`) for a real
tenant, the same client-credentials flow against the emulator's token endpoint (azure-identity
accepts only an https authority, and the emulator is plain http on loopback), and when a token
must be renewed: shortly before it expires, and at once when Graph answers 401 (graph.py calls
`renew()`). An access token lasts 60 to 90 minutes (learn.microsoft.com/entra/identity-platform/
access-tokens); a campaign takes days. What it does not know: requests (graph.py). No message
names a secret.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

from .config import ConfigError, IntuneConfig

RENEW_MARGIN_S = 300  # fetch a new token this long before the old one expires (at most a tenth of its life)


class StaticToken:
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return self._token

    def renew(self) -> bool:
        return False  # nothing to renew it with

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class CredentialToken:
    """A token from an azure-identity credential, cached until RENEW_MARGIN_S before expiry."""

    def __init__(self, credential, scope: str, secrets: list[str] = ()) -> None:
        self._credential, self._scope, self._secrets = credential, scope, list(secrets)
        self._token, self._expires = "", 0.0

    def __call__(self) -> str:
        if time.time() > self._expires - self._margin:
            self._fetch()
        return self._token

    def renew(self) -> bool:
        """A new token now (Graph rejected the current one); True when one was obtained."""
        self._fetch()
        return True

    def _fetch(self) -> None:
        try:
            access = self._credential.get_token(self._scope)
        except Exception as exc:  # azure-identity's errors are long; its first line says why
            first = (str(exc).splitlines() or [""])[0]
            for secret in self._secrets:
                first = first.replace(secret, "<redacted>")
            raise ConfigError(f"azure-identity could not get a Graph token: {type(exc).__name__}: {first[:200]}") from None
        now = time.time()
        self._token, self._expires = access.token, float(access.expires_on)
        self._margin = min(RENEW_MARGIN_S, max(0.0, self._expires - now) / 10)

    _margin = RENEW_MARGIN_S

    def __repr__(self) -> str:
        return f"CredentialToken({type(self._credential).__name__}, {self._scope!r})"


class EmulatorCredential:
    """The client-credentials flow against the emulator's token endpoint
    (`{graph_url}/{tenant_id}/oauth2/v2.0/token`), shaped as azure-core's TokenCredential so that
    CredentialToken renews it exactly as it renews azure-identity's."""

    def __init__(self, graph_url: str, tenant_id: str, client_id: str, client_secret: str, transport=None) -> None:
        import httpx

        self._url = f"{graph_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._client = httpx.Client(timeout=30, transport=transport)

    def get_token(self, *scopes: str):
        answer = self._client.post(self._url, data={**self._form, "scope": " ".join(scopes)})
        if answer.status_code != 200:
            raise RuntimeError(f"token endpoint answered HTTP {answer.status_code}: "
                               f"{answer.json().get('error_description', '') if answer.content else ''}")
        body = answer.json()
        return SimpleNamespace(token=body["access_token"], expires_on=time.time() + float(body["expires_in"]))


def token_provider(cfg: IntuneConfig, transport=None):
    """A zero-argument callable returning the current bearer token (with `renew()`)."""
    if cfg.token:
        return StaticToken(cfg.token)
    if cfg.emulator:
        if not cfg.client_secret:
            raise ConfigError("against the emulator, give client_secret (the emulator's token) or token")
        credential = EmulatorCredential(cfg.graph_url, cfg.tenant_id, cfg.client_id, cfg.client_secret, transport)
        return CredentialToken(credential, scope_of(cfg.graph_url), cfg.secrets())
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
