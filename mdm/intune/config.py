"""The Intune adapter's configuration: environment (`CERTCONFORM_INTUNE_*`) over a config file.

What this module knows: every setting, its environment variable, its default, and how to check
it; the config file (`CERTCONFORM_INTUNE_CONFIG=path`, TOML or YAML, keys as in FIELDS); a bad or
missing value is a ConfigError with one line naming the setting (never its value when secret).
A real tenant (any Graph URL but a loopback one, the emulator's) gets no placeholder: its PKI
settings must be the administrator's own, and a static token is refused (it lasts about an hour,
a campaign days). What it does not know: Graph (graph.py) or tokens (auth.py).
"""
from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import mapping
from .mapping import FAMILY

ENV = "CERTCONFORM_INTUNE_"
SECRET_FIELDS = ("client_secret", "token")
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
# PKI placeholders: fine against the emulator, refused on a real tenant (PKI_FIELDS)
PLACEHOLDER_HOST = ".invalid"
PKI_FIELDS = ("root_certificate", "third_party_root_certificate", "scep_url", "third_party_scep_url", "pkcs_ca",
              "pkcs_ca_name", "pkcs_template", "third_party_pkcs_ca", "third_party_pkcs_ca_name")
# update_profile: which edit of a SCEP/PKCS profile the adapter makes (no Graph or Intune page says
# which edits make Intune reissue; docs/intune.md). name -> (property, its two values)
UPDATE_EDITS = {
    "validity": ("certificateValidityPeriodValue", (1, 2)),
    "renewal_threshold": ("renewalThresholdPercentage", (20, 21)),
    "key_usage": ("keyUsage", ("digitalSignature", "keyEncipherment,digitalSignature")),
}


class ConfigError(ValueError):
    """A setting that is missing or malformed (one line naming it)."""


# setting -> help (docs/intune.md lists these, tools/gen_docs.py); every one can be given as env CERTCONFORM_INTUNE_<UPPER>
FIELDS = {
    "tenant_id": "directory (tenant) id, for azure-identity",
    "client_id": "application (client) id, for azure-identity",
    "client_secret": "client secret (or certificate_path)",
    "certificate_path": "PEM/PFX certificate of the application (or client_secret)",
    "token": "a bearer token obtained elsewhere: only with dry_run or against the emulator (a token lasts about an hour)",
    "graph_url": f"Graph base URL (default {DEFAULT_GRAPH_URL}; the emulator's http://127.0.0.1:PORT)",
    "pool": "test devices per platform, each enrolled by a test user of its own: `windows=NAME,NAME;ios=NAME`",
    "license_sku": "skuId (GUID) of the Intune licence the pool's users hold (withdraw_license takes it, reset gives it back)",
    "prefix": "name prefix of every object the run creates (default cc-<time>-<random>-)",
    "root_certificate": "file (PEM or DER) of the root CA your Intune-connected CA issues under",
    "third_party_root_certificate": "file (PEM or DER) of the root of the CA that plays the third-party CA",
    "scep_url": "SCEP server URL (NDES) of the CA behind Intune's certificate connector",
    "third_party_scep_url": "SCEP server URL of the third-party CA",
    "pkcs_ca": "certification authority FQDN for PKCS profiles (the connector's CA)",
    "pkcs_ca_name": "certification authority name for PKCS profiles",
    "pkcs_template": "certificate template name for PKCS profiles",
    "third_party_pkcs_ca": "certification authority FQDN for the third-party CA's PKCS profiles",
    "third_party_pkcs_ca_name": "certification authority name for the third-party CA's PKCS profiles",
    "update_edit": f"what update_profile changes in SCEP/PKCS profiles: {', '.join(UPDATE_EDITS)} (default validity)",
    "max_retries": "how often a throttled (429) request is retried (default 6)",
    "max_retry_wait_s": "the longest Retry-After honoured, seconds (default 120)",
    "timeout_s": "seconds per request (default 30)",
    "allow_destructive": "1 to perform wipe, retire and delete_user on the pool (also --allow-destructive)",
    "allow_macos_wipe": "1 to let a wipe reach a macOS device too (it erases the Mac; needs allow_destructive)",
    "dry_run": "1 to print every Graph request instead of sending it (also --dry-run); judges nothing",
    "time_scale": "the emulator's --time-scale (rehearsals only: refused for a real tenant)",
    "typical": "how long changes typically take in your tenant, Intune's seconds, for the plan's expected wall time only "
               "(the suite still waits each documented bound): `delivery=300;propagation=3600` (classes delivery, "
               "removal, revocation, propagation, device_action; default: docs/intune.md, \"How long\")",
    "graph_limits": "1 (default) to keep within Graph's documented per-app request limits; 0 only against an emulator "
                    "run with --no-graph-limits (self-tests)",
}


@dataclass
class IntuneConfig:
    graph_url: str = DEFAULT_GRAPH_URL
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    token: str | None = field(default=None, repr=False)
    pool: dict[str, list[str]] = field(default_factory=dict)
    license_sku: str = ""
    prefix: str = ""
    root_certificate: str = ""
    third_party_root_certificate: str = ""
    scep_url: str = "https://scep.invalid/certsrv/mscep/mscep.dll"
    third_party_scep_url: str = "https://scep.third-party.invalid/scep"
    pkcs_ca: str = "ca.invalid"
    pkcs_ca_name: str = "certconform-ca"
    pkcs_template: str = "certconform"
    third_party_pkcs_ca: str = "ca.third-party.invalid"
    third_party_pkcs_ca_name: str = "third-party-ca"
    update_edit: str = "validity"
    max_retries: int = 6
    max_retry_wait_s: float = 120.0
    timeout_s: float = 30.0
    allow_destructive: bool = False
    allow_macos_wipe: bool = False
    dry_run: bool = False
    time_scale: float = 1.0
    graph_limits: bool = True
    typical: dict[str, float] = field(default_factory=dict)  # {class: Intune seconds}, over mapping.TYPICAL

    @property
    def emulator(self) -> bool:
        """Whether Graph is a loopback address (the emulator): placeholders and tokens allowed."""
        return _loopback(self.graph_url)

    def __repr__(self) -> str:  # never a secret in a repr (reports, logs, tracebacks)
        shown = {k: v for k, v in self.__dict__.items() if k not in SECRET_FIELDS}
        return "IntuneConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def secrets(self) -> list[str]:
        """The secret values, for redaction (graph.py)."""
        return [v for v in (self.client_secret, self.token) if v]


def default_prefix() -> str:
    """cc-<minutes since epoch, base 36>-<4 hex>-: unique per run, sortable, short (mailNickname)."""
    return f"cc-{_base36(int(time.time() // 60))}-{secrets.token_hex(2)}-"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def read_file(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{ENV}CONFIG: {path}: no such file")
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(p.read_text())
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(p.read_text()) or {}
        else:
            raise ConfigError(f"{ENV}CONFIG: {path}: want a .toml, .yaml or .yml file")
    except ConfigError:
        raise
    except Exception as exc:  # a syntax error: its first line, which names the place
        raise ConfigError(f"{ENV}CONFIG: {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{ENV}CONFIG: {path}: want a table of settings")
    data = data.get("intune", data) if isinstance(data.get("intune"), dict) else data
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(FIELDS)})")
    return data


def parse_pool(value) -> dict[str, list[str]]:
    """`windows=A,B;ios=C` (env) or {platform: [names]} (file) -> {platform: [names]}."""
    if isinstance(value, str):
        pool: dict[str, list[str]] = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            platform, eq, names = part.partition("=")
            if not eq:
                raise ConfigError(f"setting 'pool': {part!r} is not platform=NAME,NAME")
            pool[platform.strip()] = [n.strip() for n in names.split(",") if n.strip()]
        value = pool
    if not isinstance(value, dict):
        raise ConfigError("setting 'pool': want {platform: [device names]}")
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for platform, names in value.items():
        if platform not in FAMILY:
            raise ConfigError(f"setting 'pool': unknown platform {platform!r} (one of {', '.join(FAMILY)})")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"setting 'pool': {platform} wants a list of device names")
        for n in names:
            if n in seen:
                raise ConfigError(f"setting 'pool': device {n!r} is listed twice")
            seen.add(n)
        out[platform] = list(names)
    return out


def parse_typical(value) -> dict[str, float]:
    """`delivery=300;propagation=3600` (env) or {class: seconds} (file) -> {class: seconds}, each
    within the class's documented bound (mapping.WINDOWS)."""
    if isinstance(value, str):
        pairs = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            name, eq, seconds = part.partition("=")
            if not eq:
                raise ConfigError(f"setting 'typical': {part!r} is not class=SECONDS"[:200])
            pairs[name.strip()] = seconds.strip()
        value = pairs
    if not isinstance(value, dict):
        raise ConfigError("setting 'typical': want {class: seconds}")
    out = {}
    for name, seconds in value.items():
        if name not in mapping.WINDOWS:
            raise ConfigError(f"setting 'typical': unknown class {name!r} (one of {', '.join(mapping.WINDOWS)})"[:200])
        try:
            s = float(seconds)
        except (TypeError, ValueError):
            raise ConfigError(f"setting 'typical': {name} wants a number of seconds, got {seconds!r}"[:200]) from None
        if not 0 <= s <= mapping.WINDOWS[name]:
            raise ConfigError(f"setting 'typical': {name} wants 0 to {mapping.WINDOWS[name]:g} s (its documented "
                              f"bound), got {s:g}")
        out[name] = s
    return out


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load(environ=None, *, token: str | None = None, allow_destructive: bool | None = None,
         dry_run: bool | None = None) -> IntuneConfig:
    """The configuration from the file named by CERTCONFORM_INTUNE_CONFIG, then the environment
    (which wins), then the arguments (command-line options; they win). Raises ConfigError."""
    environ = os.environ if environ is None else environ
    raw: dict = {}
    if environ.get(ENV + "CONFIG"):
        raw.update(read_file(environ[ENV + "CONFIG"]))
    for name in FIELDS:
        if environ.get(ENV + name.upper()):
            raw[name] = environ[ENV + name.upper()]
    if token:
        raw["token"] = token
    if allow_destructive is not None:
        raw["allow_destructive"] = allow_destructive or _flag(raw.get("allow_destructive", False))
    if dry_run is not None:
        raw["dry_run"] = dry_run or _flag(raw.get("dry_run", False))
    return check(raw)


def check(raw: dict) -> IntuneConfig:
    cfg = IntuneConfig()
    strings = ("graph_url", "tenant_id", "client_id", "client_secret", "certificate_path", "token", "license_sku",
               "prefix", "update_edit") + PKI_FIELDS
    for name in strings:
        if name in raw and raw[name] is not None:
            if not isinstance(raw[name], str):
                raise ConfigError(f"setting {name!r}: want a string")
            setattr(cfg, name, raw[name].strip())
    for name, kind, low, high in (("max_retries", int, 0, 50), ("max_retry_wait_s", float, 0, 3600),
                                  ("timeout_s", float, 0.1, 600), ("time_scale", float, 1e-9, 1e7)):
        if name in raw:
            try:
                value = kind(raw[name])
            except (TypeError, ValueError):
                raise ConfigError(f"setting {name!r}: want a number, got {raw[name]!r}"[:200]) from None
            if not low <= value <= high:
                raise ConfigError(f"setting {name!r}: want {low:g} to {high:g}, got {value:g}")
            setattr(cfg, name, value)
    for name in ("allow_destructive", "allow_macos_wipe", "dry_run", "graph_limits"):
        if name in raw:
            setattr(cfg, name, _flag(raw[name]))
    if raw.get("typical") is not None:
        cfg.typical = parse_typical(raw["typical"])
    cfg.graph_url = cfg.graph_url.rstrip("/")
    if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", cfg.graph_url):
        raise ConfigError(f"setting 'graph_url': want an http(s) URL, got {cfg.graph_url!r}"[:200])
    if cfg.graph_url.startswith("http://") and not _loopback(cfg.graph_url):
        raise ConfigError("setting 'graph_url': plain http only to a loopback address (the emulator); use https")
    if cfg.time_scale != 1.0 and not cfg.emulator:
        raise ConfigError("setting 'time_scale': only for a rehearsal against the emulator (a loopback graph_url); "
                          "a real tenant runs in real time")
    if not cfg.graph_limits and not cfg.emulator:
        raise ConfigError("setting 'graph_limits': a real tenant throttles past its documented limits; keep it on")
    if cfg.update_edit not in UPDATE_EDITS:
        raise ConfigError(f"setting 'update_edit': want one of {', '.join(UPDATE_EDITS)}, got {cfg.update_edit!r}"[:200])
    if cfg.allow_macos_wipe and not cfg.allow_destructive:
        raise ConfigError("setting 'allow_macos_wipe' needs allow_destructive (--allow-destructive) too")
    if cfg.token and not cfg.emulator and not cfg.dry_run:
        raise ConfigError("setting 'token': a static token lasts about an hour and a run against a tenant takes "
                          "hours: give tenant_id, client_id and client_secret (azure-identity renews the token); "
                          "a token is accepted only with dry_run or against the emulator")
    if not cfg.token:
        for name in ("tenant_id", "client_id"):
            if not getattr(cfg, name):
                raise ConfigError(f"setting {name!r} is missing ({ENV}{name.upper()}), or give {ENV}TOKEN")
        if not cfg.client_secret and not cfg.certificate_path:
            raise ConfigError(f"setting 'client_secret' or 'certificate_path' is missing ({ENV}CLIENT_SECRET / "
                              f"{ENV}CERTIFICATE_PATH), or give {ENV}TOKEN")
        if cfg.certificate_path and not Path(cfg.certificate_path).is_file():
            raise ConfigError(f"setting 'certificate_path': {cfg.certificate_path}: no such file")
    if "pool" not in raw:
        raise ConfigError(f"setting 'pool' is missing ({ENV}POOL=windows=NAME,NAME;ios=NAME)")
    cfg.pool = parse_pool(raw["pool"])
    if not any(cfg.pool.values()):
        raise ConfigError("setting 'pool': no device in any platform")
    try:
        uuid.UUID(cfg.license_sku)
    except ValueError:
        what = "is missing" if not cfg.license_sku else "is not a GUID"
        raise ConfigError(f"setting 'license_sku' {what} ({ENV}LICENSE_SKU: the skuId of the Intune licence the "
                          "pool's users hold)") from None
    cfg.prefix = cfg.prefix or default_prefix()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{1,23}", cfg.prefix):
        raise ConfigError("setting 'prefix': want 2 to 24 letters, digits or '-', starting with a letter or digit")
    if not cfg.emulator and not cfg.dry_run:
        placeholder = next((name for name in PKI_FIELDS if _placeholder(cfg, name)), None)
        if placeholder:
            raise ConfigError(f"setting {placeholder!r} is a placeholder or missing, and {cfg.graph_url} is a real "
                              f"tenant: give your test PKI's own value ({ENV}{placeholder.upper()}; docs/intune.md, "
                              "'What to prepare')")
    for name in ("root_certificate", "third_party_root_certificate"):
        value = getattr(cfg, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"setting {name!r}: {value}: no such file")
    return cfg


def _placeholder(cfg: IntuneConfig, name: str) -> bool:
    """Whether a PKI setting still holds no value of the administrator's own."""
    value = getattr(cfg, name)
    return not value or value == getattr(IntuneConfig, name) or PLACEHOLDER_HOST in value.lower()


def _loopback(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
