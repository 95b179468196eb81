"""HypoFuzz's target (`certconform fuzz`, certconform/fuzz.py): the stateful conformance machine
as one Hypothesis test, `TestConformanceCampaign`.

Loaded by every HypoFuzz worker (a pytest collection of this file). It reads its setting from the
environment `certconform fuzz` sets: CERTCONFORM_MDM (the implementation, loaded once per worker
behind the per-call deadline), CERTCONFORM_FUZZ_DATABASE (the shared example database) and
CERTCONFORM_STRICT. The machine is conformance/test_stateful.py's, built exactly as the CI run
builds it, so a failing sequence saved here replays there (conformance/test_fuzz_replay.py): the
database key is the machine's (Hypothesis derives it from the machine class's source).

The Hypothesis profile `certconform-fuzz` is loaded at import: random (not derandomized, which
would turn the database off), no deadline, the shared database. HypoFuzz only fuzzes tests whose
database is the profile's. Not a test module of the suite: its name does not start with test_,
and it lives outside conformance/, so no ordinary run collects it.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from certconform import mdm
from certconform.conformance.test_stateful import build_machine
from certconform.fuzz import DATABASE_ENV, DEFAULT_DATABASE, database
from certconform.mdm import capabilities
from certconform.mdm.guarded import DEFAULT_CALL_TIMEOUT, GuardedAdapter


def _hypofuzz_compatibility() -> None:
    """HypoFuzz 25.11 reads `slice_comments` from the shrinker's result, which later Hypothesis (6.170 here)
    renamed `span_comments`: without this alias a worker crashes as soon as it has shrunk a failure
    (the failure is saved, the worker dies). The failure's explain-phase comments are carried
    over under the new name."""
    from hypothesis.internal.conjecture.data import ConjectureData, ConjectureResult

    if not hasattr(ConjectureResult, "slice_comments"):
        ConjectureResult.slice_comments = property(lambda self: self.span_comments)
    if not hasattr(ConjectureData, "slice_comments"):
        ConjectureData.slice_comments = property(lambda self: self.span_comments,
                                                 lambda self, value: setattr(self, "span_comments", value))


_hypofuzz_compatibility()


class _Discard(list):
    """The conformance log of a campaign: nothing is kept (hours of conflict checks would pile up)."""

    def append(self, item) -> None:
        pass


def _adapter():
    spec = os.environ.get("CERTCONFORM_MDM") or mdm.DEFAULT_SPEC
    return GuardedAdapter.build(lambda: mdm.load_adapter(spec, timeout=DEFAULT_CALL_TIMEOUT), DEFAULT_CALL_TIMEOUT)


def _capabilities(adapter):
    method = getattr(adapter, "capabilities", None)
    raw = method() if callable(method) else None
    return capabilities.parse(raw if isinstance(raw, dict) else None)


# HypoFuzz refuses a test that suppresses the nested_given health check (as a state machine's
# TestCase does by default), so the suppressed checks are named, here and on the TestCase
QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("certconform-fuzz", database=database(os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE),
                          derandomize=False, deadline=None, print_blob=True, suppress_health_check=QUIET)
settings.load_profile("certconform-fuzz")  # before the TestCase below takes its settings from it

ADAPTER = _adapter()
Machine = build_machine(ADAPTER, _Discard(), strict=os.environ.get("CERTCONFORM_STRICT", "") not in ("", "0"),
                        driver_options={"caps": _capabilities(ADAPTER)})
TestConformanceCampaign = Machine.TestCase
TestConformanceCampaign.settings = settings()
