"""The adapter contract's Python entry point (see ../shared/CONTRACT.md).

`load_adapter(spec, token=None)` turns an implementation spec into an adapter with
`reset()`, `apply(event)` and `observe()`:

    reference            the reference state-machine model (model.reference)
    mock                 the bundled mock MDM, in process (mdm.mock), following `edition`
    mock@EDITION         the mock pinned to one edition of the document (e.g. mock@2022)
    mock-realistic       the mock in its realistic mode: delayed revocations and removals, a
                         device pool, no deletion by hand (declared in its capabilities)
    intune               Microsoft Intune over Graph (mdm.intune; settings CERTCONFORM_INTUNE_*)
    http://HOST:PORT     any server speaking the contract's HTTP binding (mdm.http_adapter)
    https://HOST:PORT    same, over TLS
    package.module:attr  attr() returns an adapter; package.module is imported from sys.path

Problems with the spec itself raise `AdapterSpecError` with a one-line message; the pytest
plugin turns that into a usage error, the CLI into a one-line message on stderr.
"""
from __future__ import annotations

import importlib
import os
import sys

__all__ = ["EventRejected", "AdapterSpecError", "load_adapter", "check_spec", "DEFAULT_SPEC"]

DEFAULT_SPEC = "mock"


class EventRejected(Exception):
    """The system under test refused the action (e.g. a wipe the platform does not support)."""


class AdapterSpecError(Exception):
    """An implementation spec that cannot be turned into an adapter (one-line message)."""


_HTTP_DEFAULT = object()


def load_adapter(spec: str | None = None, token: str | None = None, timeout=_HTTP_DEFAULT,
                 edition: str | None = None, allow_destructive: bool | None = None, dry_run: bool | None = None,
                 connect: bool = True):
    """Return an adapter for `spec` (default "mock"). `token` defaults to env MDM_TOKEN; `timeout`
    (seconds per request, None for no limit) applies to http:// implementations only; `edition`
    is the edition of the document the bundled mock follows (default: env CERTCONFORM_EDITION,
    else 2022). `allow_destructive` and `dry_run` apply to `intune` only (None: its environment
    settings decide); `connect=False` builds an `intune` adapter that sends nothing until it is
    used (`certconform plan`). The pytest plugin wraps what this returns in mdm/guarded.py's GuardedAdapter
    (the per-call deadline)."""
    spec = (spec or DEFAULT_SPEC).strip()
    if token is None:
        token = os.environ.get("MDM_TOKEN") or None
    if spec == "reference":
        from certconform.model.reference import ReferenceMDM

        return ReferenceMDM()
    if spec == "mock-realistic":
        from certconform.mdm.mock import MockMDM

        return MockMDM(edition=edition, realistic=True)
    if spec == "mock" or spec.startswith("mock@"):
        from certconform.mdm.mock import MockMDM

        pinned = spec.partition("@")[2]
        try:
            return MockMDM(edition=pinned or edition)
        except ValueError as exc:
            raise AdapterSpecError(f"spec {spec!r}: {exc}") from None
    if spec == "intune":
        from certconform.mdm import intune

        return intune.load(token=token, timeout=None if timeout is _HTTP_DEFAULT else timeout,
                           allow_destructive=allow_destructive, dry_run=dry_run, connect=connect)
    if spec.startswith(("http://", "https://")):
        from certconform.mdm.http_adapter import HttpAdapter

        return HttpAdapter(spec, token=token) if timeout is _HTTP_DEFAULT else HttpAdapter(spec, token=token, timeout=timeout)
    check_spec(spec)
    return _load_object(spec)


KNOWN_SPECS = ("reference", "mock", "mock-realistic", "intune")


def check_spec(spec: str) -> None:
    """Raise AdapterSpecError (one line, with a "did you mean" where one is likely) when `spec`
    cannot be a spec at all. Cheap: imports nothing and opens no connection, so the CLI can call
    it before a run starts; whether a module imports or a server answers is load_adapter's job."""
    spec = (spec or "").strip()
    if spec in KNOWN_SPECS or spec.startswith(("http://", "https://", "mock@")):
        return  # mock@EDITION: load_adapter checks the edition
    module_name, colon, attr = spec.partition(":")
    well_formed = colon and module_name and attr and not attr.isdigit() and not attr.startswith("/") \
        and all(part.isidentifier() for part in module_name.split(".") + attr.split("."))
    if well_formed and not _looks_like_scheme_typo(module_name):
        return
    guess = suggest_spec(spec)
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise AdapterSpecError(f"unknown implementation spec {spec!r}: use reference, mock, mock-realistic, intune, http://HOST:PORT "
                           f"or package.module:attr{hint}")


def _looks_like_scheme_typo(word: str) -> bool:
    import difflib

    word = word.lower()
    return word not in ("http", "https") and bool(difflib.get_close_matches(word, ["http", "https"], n=1, cutoff=0.6))


def suggest_spec(spec: str) -> str | None:
    """The spec the user probably meant: a known name close to `spec` (difflib), an http:// URL
    for HOST:PORT or a misspelt scheme, package.module:attr for a dotted name without the colon."""
    import difflib
    import re

    spec = spec.strip()
    close = difflib.get_close_matches(spec.lower(), KNOWN_SPECS, n=1, cutoff=0.6)
    if close:
        return close[0]
    scheme, sep, rest = spec.partition(":")
    if sep and (scheme.lower() in ("http", "https") or _looks_like_scheme_typo(scheme) or rest.startswith("//")):
        https = scheme.lower().rstrip("s") != scheme.lower()
        return ("https://" if https else "http://") + rest.lstrip("/")
    if re.fullmatch(r"[\w.-]+:\d+(/.*)?|\[[0-9a-fA-F:]+\]:\d+", spec):
        return "http://" + spec
    if ":" not in spec and "." in spec and all(p.isidentifier() for p in spec.split(".")):
        module, _, attr = spec.rpartition(".")
        return f"{module}:{attr}"
    return None


def _load_object(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AdapterSpecError(f"bad implementation spec {spec!r}: expected package.module:attr")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is a spec problem, in one line
        raise AdapterSpecError(
            f"cannot import {module_name!r} for spec {spec!r}: {type(exc).__name__}: {exc}"
        ) from None
    target = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AdapterSpecError(f"module {module_name!r} has no attribute {attr!r} (spec {spec!r})") from None
    if not callable(target):
        raise AdapterSpecError(f"{spec!r} is not callable: it must be a class or zero-argument factory")
    try:
        adapter = target()
    except Exception as exc:
        raise AdapterSpecError(f"calling {spec!r} failed: {type(exc).__name__}: {exc}") from None
    missing = [m for m in ("reset", "apply", "observe") if not callable(getattr(adapter, m, None))]
    if missing:
        raise AdapterSpecError(f"{spec!r} returned an object without {', '.join(missing)}(): not an adapter")
    return adapter
