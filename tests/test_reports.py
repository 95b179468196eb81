"""Self-tests of certconform/reports.py on hand-made test records (fast, no suite run).

What they know: the Collector/TestRecord shape and the verdict rules of the module docstring.
What they don't: pytest runs (tests/test_reports_run.py runs the whole suite in a subprocess).
"""
from __future__ import annotations

import json
from types import SimpleNamespace

from certconform.reports import Collector, TestRecord, build_results, render_html
from certconform.model.behaviour import default

META = {"implementation": "unit", "capabilities": None, "seed": 7, "started": 0.0, "duration": 1.0,
        "versions": {"python": "3"}}


def results(tests):
    return build_results(tests, META, document={"found": False, "note": "not checked"})


def passed_scenario(sid, **kw):
    return TestRecord(f"t::{sid}", f"{sid} scenario", "features/x.feature:1", (sid,), **kw)


def check(sid, platform="windows", kind="scep", situation="unenroll", passed=True, reading="revoked-and-removed",
          conflict=None, before=(False, True), after=(True, False)):
    return {"type": "check", "statements": [sid], "passed": passed, "reading": reading, "conflict": conflict,
            "situation": situation, "platform": platform, "kind": kind, "event": situation, "serial": "1",
            "before": {"revoked": before[0], "installed": before[1]},
            "after": {"revoked": after[0], "installed": after[1]}}


def test_verdict_classes():
    b = default()
    tests = [
        passed_scenario("WIN-SCEP-RR-1"),
        TestRecord("t::f", "failing", None, ("WIN-SCEP-RR-2",), outcome="failed",
                   message="WIN-SCEP-RR-2 (document line 64, c5fd30ff): expected revoked"),
        TestRecord("t::w", "work", None, ("ANDROID-WORK-1",), outcome="skipped", message="not validated: ANDROID-WORK-1"),
        passed_scenario("ANDROID-LEGACY-1"),
        passed_scenario("KNOX-SCEP-RV-4", log=[check("KNOX-SCEP-RV-4", "android_knox", "scep", "user_deleted",
                                                     reading="stays", conflict="C-KNOX-SCEP-DIRECTORY",
                                                     after=(False, True))]),
    ]
    r = results(tests)
    v = {sid: s["verdict"] for sid, s in r["statements"].items()}
    assert v["WIN-SCEP-RR-1"] == "pass"
    assert v["WIN-SCEP-RR-2"] == "fail"
    assert r["statements"]["WIN-SCEP-RR-2"]["failures"][0]["message"].startswith("WIN-SCEP-RR-2 (document line 64")
    assert v["ANDROID-WORK-1"] == "not-validated"
    assert v["ANDROID-LEGACY-1"] == "not-enabled"
    assert v["KNOX-SCEP-RV-4"] == "conflict"
    assert r["statements"]["KNOX-SCEP-RV-4"]["conflict"]["readings_followed"] == {"stays": 1}
    assert v["WIN-SCEP-RR-3"] == "not-run"  # no test for it in this run
    assert "no test that checks it was collected" in r["statements"]["WIN-SCEP-RR-3"]["note"]
    assert r["totals"]["pass"] == 1 and r["totals"]["fail"] == 1
    assert r["totals"]["statements"] == len(b.statements)


def test_not_validated_is_never_pass_and_skipped_scenario_is_not_run():
    r = results([TestRecord("t::s", "s", None, ("WIN-SCEP-RR-1",), outcome="skipped", message="deselected by hand")])
    s = r["statements"]["WIN-SCEP-RR-1"]
    assert s["verdict"] == "not-run" and "deselected by hand" in s["note"]
    cells = {(row["platform"], row["kind"]): row["cells"] for row in r["matrix"]["rows"]}
    work = [c["verdict"] for c in cells[("android_work", "pkcs_imported")]]
    assert "pass" not in work


def test_stateful_finding_fails_the_cited_statement_with_counterexample():
    counterexample = "Feature: Regression\n  Scenario: x\n    When the event {\"type\": \"wipe\"} is applied\n"
    stateful = TestRecord("conformance/test_stateful.py::test_random", "test_random", outcome="failed",
                          message="SequenceFailed", log=[
                              {"type": "finding", "statements": ["IOS-SCEP-RR-2"], "message": "wipe: not revoked",
                               "invariant": "revoked-means-removed", "counterexample": counterexample}])
    r = results([passed_scenario("IOS-SCEP-RR-2"), stateful])
    s = r["statements"]["IOS-SCEP-RR-2"]
    assert s["verdict"] == "fail"
    assert s["failures"][0]["counterexample"] == counterexample
    assert s["invariants"] == [{"name": "revoked-means-removed", "tests": ["test_random"], "failed": True}]
    html = render_html(r)
    assert "revoked-means-removed" in html and "When the event {&#34;type&#34;: &#34;wipe&#34;} is applied" in html


def test_contract_failures_are_grouped_and_reported():
    msg = "observe()[0] lacks field 'serial': {}"
    tests = [TestRecord(f"t::{i}", f"s{i}", None, ("WIN-SCEP-RR-1",), outcome="failed", message="x",
                        log=[{"type": "finding", "statements": ["CONTRACT"], "message": msg}]) for i in range(3)]
    r = results(tests)
    assert r["contract"]["verdict"] == "error"  # the adapter broke the contract: not a departure from the document
    assert len(r["contract"]["failures"]) == 1 and len(r["contract"]["failures"][0]["tests"]) == 3
    assert "lacks field &#39;serial&#39;" in render_html(r)


def test_unspecified_cell_shows_observed_behaviour():
    # Windows trusted root, profile updated: no statement or interpretation speaks about it.
    r = results([TestRecord("t::x", "x", None, ("WIN-SCEP-RV-1",),
                            log=[check("", "windows", "trusted_root", "updated", after=(False, False))])])
    row = next(x for x in r["matrix"]["rows"] if (x["platform"], x["kind"]) == ("windows", "trusted_root"))
    cell = next(c for c in row["cells"] if c["event"] == "profile-updated")
    assert cell["verdict"] == "unspecified" and cell["observed"] == {"removed": 1}
    assert "observed: removed" in render_html(r)


def test_html_escapes_what_the_implementation_says():
    evil = "<script>alert(1)</script>"
    r = results([TestRecord("t::f", "f", None, ("WIN-SCEP-RR-1",), outcome="failed", message=f"serial {evil}")])
    r["run"]["capabilities"] = {"platforms": [evil]}
    html = render_html(r)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_html_is_self_contained():
    html = render_html(results([passed_scenario("WIN-SCEP-RR-1")]))
    for needle in ("http://", "https://", "<script", "<link", "@import", "src="):
        assert needle not in html, needle
    assert 'class="matrix"' in html and 'id="st-WIN-SCEP-RR-1"' in html and 'href="#st-WIN-SCEP-RR-1"' in html


def test_collector_keeps_worst_phase_and_log():
    c = Collector(started=0)
    crash = SimpleNamespace(message="AssertionError: WIN-SCEP-RR-1 (document line 63, 568bfa0e): boom")
    common = dict(nodeid="n", user_properties=[("statements", "WIN-SCEP-RR-1"), ("scenario", "Scen")], duration=0.1)
    c.add(SimpleNamespace(when="setup", failed=False, skipped=False, longrepr=None, **common))
    c.add(SimpleNamespace(when="call", failed=True, skipped=False, longrepr=SimpleNamespace(reprcrash=crash),
                          certconform_log=[check("WIN-SCEP-RR-1", passed=False)], **common))
    c.add(SimpleNamespace(when="teardown", failed=False, skipped=False, longrepr=None, **common))
    c.add(SimpleNamespace(when="call", failed=False, skipped=False, longrepr=None, nodeid="other",
                          user_properties=[], duration=0))  # not a conformance test: ignored
    rec = c.tests["n"]
    assert list(c.tests) == ["n"]
    assert rec.outcome == "failed" and rec.message == "WIN-SCEP-RR-1 (document line 63, 568bfa0e): boom"
    assert rec.name == "Scen" and len(rec.log) == 1
    json.dumps(results(list(c.tests.values())))  # results.json is JSON


def test_adapter_errors_are_verdict_error_kept_apart_from_fail():
    """A scenario ended by an adapter error (tier contract) makes its statement `error`, with the
    message under `errors`; a document failure on another statement stays `fail`; fail is worse."""
    crash = "[contract: CONTRACT] apply({\"type\": \"wipe\"}) raised RuntimeError: boom"
    tests = [TestRecord("t::e", "erring", None, ("WIN-SCEP-RR-2",), outcome="error", message=crash),
             TestRecord("t::f", "failing", None, ("WIN-SCEP-RR-1",), outcome="failed",
                        message="[document: WIN-SCEP-RR-1 (document line 63, 568bfa0e)] expected revoked"),
             TestRecord("t::f2", "failing too", None, ("WIN-SCEP-RR-2",), outcome="failed",
                        message="[document: WIN-SCEP-RR-2 (document line 64, c5fd30ff)] expected revoked")]
    r = results(tests[:2])
    s = r["statements"]["WIN-SCEP-RR-2"]
    assert s["verdict"] == "error" and s["failures"] == [] and s["errors"][0]["message"] == crash
    assert r["statements"]["WIN-SCEP-RR-1"]["verdict"] == "fail"
    assert r["totals"]["error"] == 1 and r["totals"]["fail"] == 1
    assert r["totals"]["tests_error"] == 1 and r["totals"]["tests_failed"] == 1
    assert r["contract"]["verdict"] == "error" and r["contract"]["failures"][0]["message"] == crash
    html = render_html(r)
    assert '<span class="badge v-error">ERROR</span> WIN-SCEP-RR-2' in html and ".v-error {" in html
    assert results(tests)["statements"]["WIN-SCEP-RR-2"]["verdict"] == "fail"


def test_collector_scores_a_contract_tier_failure_as_error():
    c = Collector(started=0)
    crash = SimpleNamespace(message="certconform.mdm.guarded.CallTimeout: [contract: CONTRACT] observe() did not "
                                    "return within 1 s (--call-timeout)")
    c.add(SimpleNamespace(when="call", failed=True, skipped=False, longrepr=SimpleNamespace(reprcrash=crash),
                          nodeid="n", user_properties=[("statements", "WIN-SCEP-RR-1")], duration=0.1))
    assert c.tests["n"].outcome == "error"
    assert c.tests["n"].message == "[contract: CONTRACT] observe() did not return within 1 s (--call-timeout)"


def test_a_cut_short_run_says_so_in_the_html():
    r = results([passed_scenario("WIN-SCEP-RR-1")])
    assert "cut short" not in render_html(r)
    r["run"]["cut_short"] = "interrupted (Ctrl-C)"
    assert "This run was cut short (interrupted (Ctrl-C))" in render_html(r)
