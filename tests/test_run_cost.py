"""Self-tests of what makes a stateful run cheaper without changing what it finds
(benchmarks/README.md, "Where the stateful-alone time goes"): fewer collector passes around the
state machine (conformance/gc_budget.py), the deadline's SIGALRM handler kept installed there
(mdm/guarded.py alarm_kept), the mock keeping its records current and reading each CRL once per
observe() (mdm/mock/cert_store.py), the guard describing a call only for a message
(mdm/guarded.py), anyio's pytest plugin left unloaded (pyproject.toml addopts, `certconform
run`), and dev.py caching pytest's rewritten plugin modules at install.

What these tests know: the observable results (records, messages, thresholds, modules loaded).
What they don't: how long anything takes (speed belongs in benchmarks/, never in a test).
"""
from __future__ import annotations

import gc
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from certconform.conformance import gc_budget
from certconform.conformance import test_stateful
from certconform.mdm.guarded import AdapterCrash, CallTimeout, GuardedAdapter, alarm_kept
from certconform.mdm.mock import MockMDM
from certconform.model.reference import ReferenceMDM
from tests.test_mock_certificates import build_fleet

ROOT = Path(__file__).resolve().parent.parent


def test_fewer_gc_passes_freezes_and_raises_the_threshold_then_puts_both_back():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with gc_budget.fewer_gc_passes():
        assert gc.get_threshold()[0] >= gc_budget.GEN0_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
    with pytest.raises(KeyError):  # also when the body raises (a failing sequence)
        with gc_budget.fewer_gc_passes():
            raise KeyError("x")
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_the_state_machine_runs_inside_fewer_gc_passes(monkeypatch):
    seen = []
    monkeypatch.setattr(test_stateful, "run_state_machine_as_test",
                        lambda machine, settings: seen.append(gc.get_threshold()[0]))
    test_stateful.run_machine(ReferenceMDM(), [], settings(max_examples=1), minimizing=False)
    assert seen and seen[0] >= gc_budget.GEN0_THRESHOLD


def _fleet_with_revocations() -> MockMDM:
    return build_fleet(("root", "scep", "scep3", "imp"))


def test_observe_signs_no_crl_and_gives_what_each_signed_crl_lists(monkeypatch):
    """observe() reads the revocations entered since its last call, never signs a CRL (signing a
    large tenant's lists after every event cost more than the events); what it reports is what
    each CA's CRL lists once signed."""
    mdm = _fleet_with_revocations()
    mdm.observe()
    for e in ({"type": "retire", "device": "d0"}, {"type": "update_profile", "profile": "scep"},
              {"type": "check_in", "device": "d1"}):
        mdm.apply(e)
    signed = []
    original = type(mdm._pki.issuing_crl).crl

    def counting(self):
        signed.append(id(self))
        return original(self)

    monkeypatch.setattr(type(mdm._pki.issuing_crl), "crl", counting)
    records = mdm.observe()
    assert signed == []
    monkeypatch.undo()
    assert records == [c.record() for c in mdm._store.delivered]
    for cert, record in zip(mdm._store.delivered, records):  # the signed CRLs list exactly these
        if cert.crl is not None:
            assert record["revoked"] == (cert.issued.serial_number in cert.crl.revoked_serials()), record
    assert any(r["revoked"] for r in records) and not all(r["revoked"] for r in records)


def test_the_kept_records_match_records_built_afresh_after_every_event():
    """records() keeps the inventory current across deliveries, removals, revocations and
    re-issues instead of rebuilding it; after every event it equals the per-certificate build."""
    mdm = _fleet_with_revocations()
    store = mdm._store
    events = [{"type": "update_profile", "profile": "scep"}, {"type": "check_in", "device": "d1"},
              {"type": "retire", "device": "d0"}, {"type": "check_in", "device": "d2"},
              {"type": "delete_certificate", "device": "d2", "profile": "scep3"}, {"type": "check_in", "device": "d2"},
              {"type": "remove_member", "group": "g", "member": "d1"}, {"type": "wipe", "device": "d3"},
              {"type": "update_profile", "profile": "scep3"}, {"type": "check_in", "device": "d4"},
              {"type": "unenroll", "device": "d4"}, {"type": "unassign_profile", "profile": "scep", "group": "g"}]
    seen_revoked = seen_removed = False
    for e in events:
        try:
            mdm.apply(e)
        except ValueError:
            pass  # an event this fleet does not allow changes nothing; the records must still match
        records = mdm.observe()
        assert records == [c.record() for c in store.delivered], e
        seen_revoked |= any(r["revoked"] for r in records)
        seen_removed |= any(not r["installed"] for r in records)
        records[0]["installed"] = "changed by the caller"  # a copy: the store's own list is untouched
        assert mdm.observe()[0]["installed"] in (True, False)
    assert seen_revoked and seen_removed


class MutatesThenCrashes(ReferenceMDM):
    def apply(self, event):
        event["type"] = "changed"
        raise RuntimeError("boom")


def test_a_crash_names_the_event_as_sent_even_if_the_adapter_changed_it():
    guard = GuardedAdapter(MutatesThenCrashes(), timeout=5)
    with pytest.raises(AdapterCrash) as crash:
        guard.apply({"type": "check_in", "device": "dev1"})
    assert str(crash.value) == ('[contract: CONTRACT] apply({"type": "check_in", "device": "dev1"}) '
                                'raised RuntimeError: boom')


def test_a_conformance_run_does_not_load_anyio(tmp_path):
    """anyio (a dependency of httpx and starlette) has a pytest plugin the suite never uses;
    autoloaded, it imported ~30 modules on every run."""
    code = ("import sys, pytest; rc = pytest.main(['--co', '-q', 'conformance/test_stateful.py', '--mdm=mock', "
            f"'--report-dir={{}}']); print('ANYIO', 'anyio' in sys.modules, rc)")
    r = subprocess.run([sys.executable, "-c", code.format(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.stdout.strip().splitlines()[-1] == "ANYIO False 0", r.stdout[-2000:] + r.stderr[-2000:]


def test_dev_py_install_caches_the_rewritten_plugin_modules(monkeypatch):
    """dev.py's install step lets pytest cache its assertion-rewritten copy of the plugin
    packages' modules (Hypothesis's among them) even under PYTHONDONTWRITEBYTECODE=1."""
    import hypothesis.core

    spec = importlib.util.spec_from_file_location("certconform_dev", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    monkeypatch.setattr(dev, "PY", Path(sys.executable))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    cache = Path(hypothesis.core.__file__).parent / "__pycache__"
    for old in cache.glob("core.*-pytest-*.pyc"):
        old.unlink()
    dev.warm_rewrite_cache()
    assert list(cache.glob(f"core.{sys.implementation.cache_tag}-pytest-*.pyc"))


def test_inside_alarm_kept_calls_keep_the_handler_and_a_hung_call_still_times_out(monkeypatch):
    from tests import adapters_hung

    swaps = []
    real = signal.signal
    monkeypatch.setattr(signal, "signal", lambda sig, handler: swaps.append(handler) or real(sig, handler))
    before = signal.getsignal(signal.SIGALRM)
    guard = GuardedAdapter(adapters_hung.HangsOnCheckIn(), timeout=0.2)
    with alarm_kept():
        assert len(swaps) == 1  # installed once, on entry
        guard.reset()
        guard.observe()
        assert len(swaps) == 1  # the calls did not swap handlers
        with pytest.raises(CallTimeout):
            guard.apply({"type": "check_in", "device": "dev1"})
        assert guard.observe() == []  # usable at once, still in the caller's thread
        assert guard._worker is None and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert len(swaps) == 2 and signal.getsignal(signal.SIGALRM) is before  # put back on exit
    guard.observe()  # outside the block: swapped around the call, as before
    assert len(swaps) == 4 and signal.getsignal(signal.SIGALRM) is before


def test_alarm_kept_leaves_a_claimed_sigalrm_alone():
    seen = []
    signal.signal(signal.SIGALRM, lambda *a: seen.append(a))  # e.g. pytest-timeout owns it
    try:
        claimed = signal.getsignal(signal.SIGALRM)
        with alarm_kept():
            assert signal.getsignal(signal.SIGALRM) is claimed
            guard = GuardedAdapter(ReferenceMDM(), timeout=5)
            guard.reset()
            assert guard._worker is not None and not seen  # the worker thread, as outside the block
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _per_record_changes(before, after):
    """The per-record rule _changed_positions replaces (model/delta.py)."""
    return [i for i, (old, new) in enumerate(zip(before, after))
            if old != new or type(new["installed"]) is not bool or type(new["revoked"]) is not bool]


@pytest.mark.parametrize("change, expected", [("none", []), ("revoked", [4]), ("installed=1", [2]), ("revoked=0", [1]),
                                              ("not a dict", [5]), ("dict subclass", []), ("extra field", [6]),
                                              ("new records", [])])
def test_changed_positions_are_those_of_the_per_record_rule(change, expected):
    from collections import OrderedDict

    from certconform.model.delta import _changed_positions

    before = [{"device": f"d{i}", "profile": "p", "kind": "scep", "serial": str(i), "installed": i % 2 == 0,
               "revoked": i % 3 == 0} for i in range(8)]
    after = [dict(r) for r in before]
    if change == "revoked":
        after[4]["revoked"] = True
    elif change == "installed=1":
        after[2]["installed"] = 1  # == True: `!=` alone would miss it
    elif change == "revoked=0":
        after[1]["revoked"] = 0
    elif change == "not a dict":
        after[5] = ["not", "a", "record"]
    elif change == "dict subclass":
        after[4] = OrderedDict(after[4])
    elif change == "extra field":
        after[6]["extra"] = 1
    elif change == "new records":
        after += [{"device": "d9", "profile": "p", "kind": "scep", "serial": "9", "installed": True, "revoked": False}]
    assert _changed_positions(before, after) == _per_record_changes(before, after) == expected
