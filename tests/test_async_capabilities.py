"""Capabilities, settle windows and the mock's realistic mode (issue 11)."""
from __future__ import annotations

import time

import pytest

from certconform import mdm
from certconform.mdm import capabilities
from certconform.mdm.mock import MockMDM
from certconform.steps.driver import Driver

try:
    from tests.adapters_realistic import WINDOWS_SCEP_SETUP as SETUP
except ImportError:  # tests/ on sys.path (rootdir-relative import mode)
    from adapters_realistic import WINDOWS_SCEP_SETUP as SETUP


def test_parse_defaults_and_bad_values():
    assert capabilities.parse(None) == capabilities.ALL
    caps = capabilities.parse({"events": ["enroll"], "settle_s": 2, "devices": {"ios": 1}})
    assert not caps.performs("wipe") and caps.pool("ios") == 1 and caps.pool("windows") == 0
    for bad in ({"events": ["fly"]}, {"settle_s": -1}, {"devices": {"ios": "x"}}, {"observes": "scep"}):
        with pytest.raises(ValueError, match="capabilities '"):
            capabilities.parse(bad)


def test_realistic_mock_delays_pool_and_no_manual_deletion():
    m = MockMDM(realistic=True, revocation_delay=0.05, removal_delay=0.05, pool={"windows": 1})
    for ev in SETUP:
        m.apply(ev)
    with pytest.raises(mdm.EventRejected):
        m.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u"})
    with pytest.raises(mdm.EventRejected):
        m.apply({"type": "delete_certificate", "device": "d", "profile": "p"})
    m.apply({"type": "retire", "device": "d"})
    now = {r["profile"]: r for r in m.observe()}
    assert now["p"]["installed"] and not now["p"]["revoked"] and now["p"].get("revocation") == "pending"
    time.sleep(0.06)
    later = {r["profile"]: r for r in m.observe()}
    assert later["p"]["revoked"] and not later["p"]["installed"] and "revocation" not in later["p"]
    caps = capabilities.parse(m.capabilities())
    assert "delete_certificate" not in caps.events and caps.settle_s >= 0.05 and caps.devices == {"windows": 1}


def test_driver_not_supported_skips_before_sending():
    m = MockMDM(realistic=True, pool={"windows": 1})
    d = Driver(m, caps=capabilities.parse(m.capabilities()))
    d.reset()
    for ev in SETUP:
        d.apply(ev)
    with pytest.raises(pytest.skip.Exception, match="^not supported: no free windows device"):
        d.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u"})
    with pytest.raises(pytest.skip.Exception, match="^not supported: the implementation cannot perform delete_certificate"):
        d.apply({"type": "delete_certificate", "device": "d", "profile": "p"})


class AppearsAfter:
    """The default mock, but each event's changes show only from the N-th observe() after it."""

    def __init__(self, n: int, never: bool = False):
        self.inner, self.n, self.never, self.calls, self.shown = MockMDM(), n, never, 0, None

    def reset(self):
        self.inner.reset()
        self.shown = None

    def apply(self, event):
        self.shown = self.inner.observe() if event["type"] == "retire" else None
        self.calls = 0
        self.inner.apply(event)

    def observe(self):
        self.calls += 1
        if self.shown is not None and (self.never or self.calls < self.n):
            old = {r["serial"]: r for r in self.shown}
            return [old.get(r["serial"], r) for r in self.inner.observe()]
        return self.inner.observe()


@pytest.mark.parametrize("n", [1, 3, 6])
def test_settle_polls_until_the_required_changes_appear(n):
    adapter = AppearsAfter(n)
    d = Driver(adapter, caps=capabilities.Capabilities(settle_s=5.0), poll_s=0.001, quiet_s=0.0)
    d.reset()
    for ev in SETUP:
        d.apply(ev)
    result = d.apply({"type": "retire", "device": "d"})
    assert not d.failures(result) and adapter.calls >= n


def test_without_settle_the_same_lag_fails():
    d = Driver(AppearsAfter(3))
    d.reset()
    for ev in SETUP:
        d.apply(ev)
    assert d.failures(d.apply({"type": "retire", "device": "d"}))


def test_a_change_that_never_appears_fails_naming_the_wait():
    d = Driver(AppearsAfter(0, never=True), caps=capabilities.Capabilities(settle_s=0.1), poll_s=0.01)
    d.reset()
    for ev in SETUP:
        d.apply(ev)
    failures = d.failures(d.apply({"type": "retire", "device": "d"}))
    assert failures and all("after waiting" in f.message and "settle_s 0.1" in f.message for f in failures
                            if f.serial)
