"""GuardedAdapter (mdm/guarded.py), the driver and the state machine against hung, crashing,
malformed and event-mutating adapters, in process (fast; tests/test_robustness.py runs the suite).

What these tests know: the adapters in tests/adapters_hung.py and tests/adapters_malformed.py and
the one-line messages the suite promises. What they don't: how long a healthy call takes.
"""
from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

import pytest
from hypothesis import settings

from certconform import mdm
from certconform.conformance.test_stateful import SequenceFailed, run_machine
from certconform.mdm.guarded import AdapterBusy, AdapterCrash, CallTimeout, GuardedAdapter
from certconform.model.reference import ReferenceMDM
from certconform.steps import setup
from certconform.steps.driver import Driver, MalformedInventory
from tests import adapters_hung, adapters_malformed
from tests.servers import fake_http_adapter

SETUP = [*setup.user_with_device("alice", "windows", "dev1"),
         *setup.chained_profiles("root", "scep", "scep", "intune"),
         *setup.targeting([("device", "fleet", "dev1")], ["root", "scep"])]


class Gate(ReferenceMDM):
    """apply() of a wipe waits until the test opens the gate (a call that returns late)."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def apply(self, event):
        if event.get("type") == "wipe":
            self.gate.wait(30)
        super().apply(event)


def test_a_hung_call_times_out_naming_call_event_and_deadline_and_later_calls_fail_at_once():
    guard = GuardedAdapter(adapters_hung.HangsOnCheckIn(), timeout=0.2, mode="thread")
    guard.reset()
    with pytest.raises(CallTimeout) as hung:
        guard.apply({"type": "check_in", "device": "dev1"})
    assert str(hung.value) == ('[contract: CONTRACT] apply({"type": "check_in", "device": "dev1"}) '
                               'did not return within 0.2 s (--call-timeout)')
    with pytest.raises(AdapterBusy) as busy:  # not queued behind the hung call: refused at once
        guard.observe()
    assert "observe() was not attempted" in str(busy.value) and '"check_in"' in str(busy.value)


def test_in_the_main_thread_a_hung_call_is_interrupted_at_the_deadline_and_the_adapter_stays_usable():
    """The default mode: a timer signal cuts the hung call off in the caller's thread, so nothing
    is left running and the next call goes through (each test starts with reset() anyway)."""
    guard = GuardedAdapter(adapters_hung.HangsOnCheckIn(), timeout=0.2)
    guard.reset()
    started = time.monotonic()
    with pytest.raises(CallTimeout) as hung:
        guard.apply({"type": "check_in", "device": "dev1"})
    assert time.monotonic() - started < 2.0
    assert str(hung.value) == ('[contract: CONTRACT] apply({"type": "check_in", "device": "dev1"}) '
                               'did not return within 0.2 s (--call-timeout)')
    assert guard.observe() == [] and guard._worker is None  # usable at once; no thread was involved
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_claimed_sigalrm_or_another_thread_uses_the_worker_thread():
    seen = []
    signal.signal(signal.SIGALRM, lambda *a: seen.append(a))  # e.g. pytest-timeout owns it
    try:
        guard = GuardedAdapter(ReferenceMDM(), timeout=5)
        guard.reset()
        assert guard._worker is not None and not seen
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    guard = GuardedAdapter(ReferenceMDM(), timeout=5)
    thread = threading.Thread(target=guard.reset)
    thread.start(), thread.join(10)
    assert guard._worker is not None


def test_a_call_that_returns_late_frees_the_adapter_again():
    adapter = Gate()
    guard = GuardedAdapter(adapter, timeout=0.2, mode="thread")
    for event in SETUP:
        guard.apply(event)
    with pytest.raises(CallTimeout):
        guard.apply({"type": "wipe", "device": "dev1"})
    adapter.gate.set()
    for _ in range(100):  # the worker finishes the late call; then calls go through again
        try:
            guard.observe()
            break
        except AdapterBusy:
            threading.Event().wait(0.05)
    else:
        pytest.fail("the adapter stayed busy after its late call returned")


def test_contract_answers_pass_and_crashes_are_named():
    guard = GuardedAdapter(adapters_hung.CrashesOnWipe(), timeout=5)
    guard.reset()
    with pytest.raises(ValueError):
        guard.apply({"type": "no_such_event"})
    with pytest.raises(AdapterCrash) as crash:
        guard.apply({"type": "wipe", "device": "d"})
    assert str(crash.value) == ('[contract: CONTRACT] apply({"type": "wipe", "device": "d"}) raised '
                                'RuntimeError: database connection lost')


def test_a_timeout_is_worded_as_the_documentation_shows_it():
    """docs/running.md shows the line a call past --call-timeout prints (30 s, a wipe of dev1)."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "running.md").read_text()
    shown = re.search(r"`(\[contract: CONTRACT\] apply\(\{.*?\}\) did not return within 30 s \(--call-timeout\))`", page)
    assert shown, "docs/running.md no longer shows the timeout line"
    gate = Gate()
    guard = GuardedAdapter(gate, timeout=0.2, mode="thread")
    for event in SETUP:
        guard.apply(event)
    try:
        with pytest.raises(CallTimeout) as late:
            guard.apply({"type": "wipe", "device": "dev1"})
    finally:
        gate.gate.set()
    assert str(late.value) == shown.group(1).replace("within 30 s", "within 0.2 s")


def test_an_adapter_timeout_error_is_reported_as_a_timeout():
    class OwnDeadline(ReferenceMDM):
        def observe(self):
            raise TimeoutError("GET /certificates: timed out after 1 s")

    # under --call-timeout, worded as docs/running.md words a timeout, with the adapter's own detail
    with pytest.raises(CallTimeout, match=r"observe\(\) did not return within 5 s \(--call-timeout\): "
                                          r"GET /certificates: timed out after 1 s$"):
        GuardedAdapter(OwnDeadline(), timeout=5).observe()
    with pytest.raises(CallTimeout, match=r"observe\(\) timed out \(GET /certificates: timed out after 1 s\)"):
        GuardedAdapter(OwnDeadline(), timeout=None).observe()  # no deadline of ours


def test_a_constructor_that_hangs_times_out():
    with pytest.raises(CallTimeout, match="constructor"):
        GuardedAdapter.build(lambda: threading.Event().wait(), timeout=0.2)


def test_timeout_zero_calls_directly():
    guard = GuardedAdapter(ReferenceMDM(), timeout=0)
    assert guard.timeout is None
    guard.reset()
    assert guard.observe() == []


def drive(adapter) -> Driver:
    """A scenario's Given steps, a check-in and a wipe through the driver."""
    d = Driver(GuardedAdapter(adapter, timeout=10), log=[])
    d.reset()
    for event in SETUP:
        d.given(event)
    d.given({"type": "check_in", "device": "dev1"})
    d.when({"type": "wipe", "device": "dev1"})
    return d


@pytest.mark.parametrize("shape", sorted(adapters_malformed.SHAPES))
def test_every_malformed_shape_is_a_contract_one_liner_naming_the_field(shape):
    words = adapters_malformed.SHAPES[shape]
    with pytest.raises(MalformedInventory) as raised:  # never TypeError / KeyError / AttributeError
        drive(getattr(adapters_malformed, shape)())
    message = str(raised.value)
    assert message.startswith("[contract: CONTRACT] observe() broke the record shape: ")
    assert words in message and "\n" not in message


@pytest.mark.parametrize("shape", ["ReturnsNone", "SerialIsList", "NonDictItems", "InstalledIsInt"])
def test_the_state_machine_ends_a_malformed_shape_as_one_contract_failure(shape):
    log: list[dict] = []
    with pytest.raises(SequenceFailed) as raised:
        run_machine(GuardedAdapter(getattr(adapters_malformed, shape)(), timeout=10), log,
                    settings(settings.get_profile("kill"), max_examples=20), minimizing=False)
    assert "[contract: CONTRACT]" in str(raised.value) and adapters_malformed.SHAPES[shape] in str(raised.value)


def test_the_state_machine_ends_an_adapter_crash_as_one_failure_with_the_events_so_far():
    log: list[dict] = [{"type": "run", "seed": "s"}]
    with pytest.raises(SequenceFailed) as raised:
        run_machine(GuardedAdapter(adapters_hung.CrashesOnWipe(), timeout=10), log,
                    settings(settings.get_profile("kill"), max_examples=50), minimizing=True)
    text = str(raised.value)
    assert text.startswith('[contract: CONTRACT] apply({"type": "wipe"')
    assert "raised RuntimeError: database connection lost" in text and "events so far" in text
    assert 'And the event {"type": "wipe"' in text or 'When the event {"type": "wipe"' in text
    [finding] = [e for e in log if e["type"] == "finding"]
    assert finding["tier"] == "contract" and log[0]["type"] == "run"


def test_an_adapter_that_mutates_its_event_is_judged_on_what_it_did():
    d = drive(adapters_hung.MutatesEvents())
    assert all(not r.findings for r in d.results), [str(f) for r in d.results for f in r.findings]
    assert d.results[-1].event == {"type": "wipe", "device": "dev1"}


def test_http_answers_that_are_not_json_name_the_endpoint_and_show_the_body():
    garbage = b"<html><body>Service Unavailable " + b"x" * 200 + b"</body></html>"
    adapter = fake_http_adapter(lambda method, url: (200, garbage))
    with pytest.raises(RuntimeError) as raised:
        adapter.observe()
    message = str(raised.value)
    assert message.startswith("GET /certificates answered HTTP 200 with a body that is not JSON: b'<html><body>")
    assert f"({len(garbage)} bytes)" in message and len(message) < 250
    with pytest.raises(RuntimeError, match="GET /capabilities answered HTTP 200 with a body that is not JSON"):
        adapter.capabilities()
    refused = fake_http_adapter(lambda method, url: (409, b"nope, not today"))
    with pytest.raises(RuntimeError, match=r"POST /events answered HTTP 409 with a body that is not JSON: b'nope"):
        refused.apply({"type": "wipe", "device": "d"})
    guard = GuardedAdapter(adapter, timeout=5)
    with pytest.raises(AdapterCrash, match=r"^\[contract: CONTRACT\] observe\(\) raised RuntimeError: GET /certificates"):
        guard.observe()


def test_load_adapter_passes_the_deadline_to_http(mock_server_url):
    adapter = mdm.load_adapter(mock_server_url, timeout=2.5)
    assert adapter.timeout == 2.5 and adapter._pool.timeout.read_timeout == 2.5


def test_the_mutant_catalogue_does_not_count_adapter_errors_as_kills():
    from tests.mutants import _ADAPTER_ERROR, is_crash

    assert is_crash("AdapterCrash") and is_crash("CallTimeout") and not is_crash("SequenceFailed")
    assert _ADAPTER_ERROR.search('[contract: CONTRACT] apply({"type": "wipe"}) raised KeyError: \'d\'')
    assert _ADAPTER_ERROR.search("[contract: CONTRACT] observe() did not return within 1 s (--call-timeout)")
    assert not _ADAPTER_ERROR.search("[contract: CONTRACT] observe() broke the record shape: ...")
