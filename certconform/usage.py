"""Cheap checks of a run's inputs, shared by the CLI (before pytest starts) and the pytest plugin
(in pytest_configure, before any report writer is set up), so that `certconform run` and plain
`pytest` refuse the same bad input with the same one line and never touch an existing report.

Each function returns None when the input is usable, else a one-line reason. They import no
adapter and open no connection: loading the implementation (a module's import, a server's
answer) is the plugin's job, still before any report is written.
"""
from __future__ import annotations

import os
from pathlib import Path

# The Hypothesis profiles certconform registers (certconform/profiles.py); named in the message
# for an unknown --hypothesis-profile. Others registered by a user's own plugin are accepted too.
OUR_PROFILES = ("ci", "thorough", "kill")


def profile_problem(name: str | None) -> str | None:
    """None if `name` is a registered Hypothesis profile (or not given)."""
    if name is None:
        return None
    import certconform.profiles  # noqa: F401  (registers ours)
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    try:
        settings.get_profile(name)
    except InvalidArgument:
        return f"unknown Hypothesis profile {name!r} (known: {', '.join(OUR_PROFILES)})"
    return None


def document_problem(path: str | os.PathLike | None) -> str | None:
    """None if `path` (an explicit --document) can be read as the document (or is not given)."""
    if path is None:
        return None
    from certconform.document import DocumentError, parse

    if not Path(path).is_file():
        return f"{path}: no such file"
    try:
        parse(Path(path))
    except DocumentError as exc:
        return str(exc)
    return None


def writable_dir_problem(path: Path) -> str | None:
    """None if reports can be written to `path` (created if needed), else a short reason."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return f"cannot write reports there ({exc.strerror or exc})"
    return None


def spec_problem(spec: str) -> str | None:
    """None if `spec` has the shape of an implementation spec (see certconform.mdm.check_spec)."""
    from certconform import mdm

    try:
        mdm.check_spec(spec)
    except mdm.AdapterSpecError as exc:
        return str(exc)
    return None
