"""The Intune adapter: the contract over Microsoft Graph (spec `intune`, `--mdm intune`).

    config.py   settings from CERTCONFORM_INTUNE_* / a TOML or YAML file (one-line errors)
    auth.py     bearer tokens: client credentials that renew (azure-identity, the optional extra
                certconform[intune]; the emulator's token endpoint), or a static token (dry run, emulator)
    graph.py    the Graph REST client: request budget, throttling, token renewal, paging, errors,
                redaction, dry run
    mapping.py  the event / @odata.type / certificate-state / latency tables (docs/intune.md prints them)
    adapter.py  IntuneAdapter: reset / apply / observe / capabilities / awaiting_person / release

`load(...)` builds the adapter from the configuration; every problem with it (a missing or bad
setting, azure-identity missing, a pool device Intune does not know, a rejected token) is an
AdapterSpecError with one line, which the CLI and the plugin turn into a usage error.
"""
from __future__ import annotations

from certconform.mdm import AdapterSpecError

__all__ = ["load"]


def load(token: str | None = None, timeout: float | None = None, allow_destructive: bool | None = None,
         dry_run: bool | None = None, environ=None, transport=None, stream=None, connect: bool = True):
    """An IntuneAdapter from the environment / config file. `token`: a static bearer token (from
    --mdm-token or MDM_TOKEN); `timeout`: seconds per Graph request; `transport`: an httpx
    transport (tests: an adapter on an injected transport does not clean up at exit, the real
    one does); `stream`: where the dry run prints (default stderr); `connect`: False to send
    nothing until the first reset/apply/observe (`certconform plan`)."""
    from . import mapping
    from .adapter import IntuneAdapter
    from .auth import token_provider
    from .config import ConfigError, load as load_config
    from .graph import DryRunTransport, GraphClient, GraphError

    try:
        cfg = load_config(environ, token=token, allow_destructive=allow_destructive, dry_run=dry_run)
        provider = token_provider(cfg, transport) if not cfg.dry_run else (lambda: "dry-run")
    except ConfigError as exc:
        raise AdapterSpecError(f"intune: {exc}") from None
    cleanup_at_exit = transport is None
    if cfg.dry_run:
        transport = DryRunTransport(cfg.secrets(), stream=stream)
    client = GraphClient(cfg.graph_url, provider, timeout=timeout or cfg.timeout_s, max_retries=cfg.max_retries,
                         max_retry_wait_s=cfg.max_retry_wait_s, secrets=cfg.secrets(), transport=transport,
                         limits=mapping.GRAPH_LIMITS if cfg.graph_limits else ())
    try:
        return IntuneAdapter(cfg, client, cleanup_at_exit=cleanup_at_exit, connect=connect)
    except (GraphError, ConfigError, TimeoutError) as exc:
        client.close()
        text = str(exc)
        if getattr(exc, "status", 0) == 401:
            text = f"Graph at {cfg.graph_url} rejected the token (HTTP 401): " + (
                "the token expired (a token lasts about an hour; give client credentials, which renew)"
                if "expired" in text else "check the credentials or CERTCONFORM_INTUNE_TOKEN")
        raise AdapterSpecError(f"intune: {text}") from None
    except AdapterSpecError as exc:
        client.close()
        raise AdapterSpecError(f"intune: {exc}") from None
