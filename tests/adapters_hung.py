"""Adapters that hang, crash or mutate their events (loaded with --mdm tests.adapters_hung:Name).

What this module knows: the adapter contract and the reference model it wraps. The hanging ones
block on an Event nobody sets (the suite's deadline must cut them off); when env
CERTCONFORM_TEST_HANG_MARK names a file, they create it as they start hanging, so a self-test
knows when to send Ctrl-C. What it does not know: how the suite reacts (tests/test_robustness.py).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from certconform.model.reference import ReferenceMDM

_NEVER = threading.Event()


def _hang() -> None:
    mark = os.environ.get("CERTCONFORM_TEST_HANG_MARK")
    if mark:
        Path(mark).write_text("hanging\n")
    _NEVER.wait()


class HangsOnCheckIn(ReferenceMDM):
    """apply() never returns for a check-in (every scenario's set-up has one)."""

    def apply(self, event: dict) -> None:
        if event.get("type") == "check_in":
            _hang()
        super().apply(event)


class HangsOnObserve(ReferenceMDM):
    """observe() never returns once a certificate exists."""

    def observe(self):
        records = super().observe()
        if records:
            _hang()
        return records


class CrashesOnWipe(ReferenceMDM):
    """apply() raises RuntimeError for a wipe: an implementation crash, not bad input."""

    def apply(self, event: dict) -> None:
        if event.get("type") == "wipe":
            raise RuntimeError("database connection lost")
        super().apply(event)


class MutatesEvents(ReferenceMDM):
    """Performs each event correctly, then scribbles over the dict it was given, as an adapter
    that reuses its argument as scratch space would."""

    def apply(self, event: dict) -> None:
        super().apply(event)
        event.clear()
        event["type"] = "mangled by the adapter"
