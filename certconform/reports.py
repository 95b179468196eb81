"""Build the run's reports: results.json (verdict per statement) and index.html (the matrix).

What this module knows: how a finished test maps to the document's statements (a scenario's
`statements` user property; the statements cited by the log entries that tests attach as
`report.certconform_log`: oracle checks, findings, invariant findings with a Gherkin
counterexample), the verdict classes, the behaviour table (model/behaviour.yaml) and its executable
rules (model/rules.py, to know which cells of the platform x kind x event matrix the document
leaves open), and the jinja2 templates in certconform/templates/.
What it does not know: pytest internals beyond a report's outcome/longrepr/user_properties
(certconform/plugin.py feeds it), how tests drive the implementation, or what an implementation
should do beyond what the rules table answers. It never restates a rule.

Verdicts per statement (worst first):
    fail            a test that checks it failed (a scenario tagged with it, or a stateful test
                    whose findings cite it) on what the document's text requires (tier document)
    error           a test that checks it was ended by an adapter error: the implementation
                    crashed (an exception other than ValueError / EventRejected), hung (a call
                    past --call-timeout) or broke the adapter contract's interface (tier
                    contract: a malformed inventory, a refused set-up, ...); nothing could be
                    judged, so it is not a departure from the document
    not-supported   every scenario that checks it needs an event the implementation cannot perform
                    or a kind it cannot observe (its declared capabilities); never run, never passed
    not-run         no test that checks it ran (deselected, not collected, skipped for another reason)
    deviates        the implementation did what the document allows but one of our readings (tier
                    reading: an interpretation or contract convention) does not; never counted as
                    passed; fails the run only under --strict
    conflict        the document contradicts itself here (behaviour.yaml `conflicts`); the
                    implementation passed one reading, and the report says which
    pass            every test that checks it passed
    not-enabled     the document says the platform is not enabled (ANDROID-LEGACY-1); its checks passed
    not-validated   the document does not validate the platform (ANDROID-WORK-1); never counted as passed
    unspecified     the document leaves the outcome open: a matrix cell no statement decides
                    (what the implementation was observed doing is shown for information), or an
                    informative statement that requires nothing by itself (GEN-INTRO-1: "can be
                    removed")
"""
from __future__ import annotations

import json
import re
import platform as _platform
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from certconform.model.world import KINDS
from certconform.requirements import cell_anchor

VERDICTS = ("fail", "error", "not-supported", "not-run", "deviates", "conflict", "pass", "not-enabled", "not-validated", "unspecified")
VERDICT_TEXT = {
    "fail": "FAIL",
    "error": "ERROR",
    "not-supported": "NOT SUPPORTED",
    "not-run": "NOT RUN",
    "deviates": "DEVIATES",
    "conflict": "CONFLICT",
    "pass": "PASS",
    "not-enabled": "NOT ENABLED",
    "not-validated": "NOT VALIDATED",
    "unspecified": "UNSPECIFIED",
}
CONTRACT = "CONTRACT"
MAX_MESSAGE = 4000
MAX_OTHER_FINDINGS = 5
REPORT_FILES = ("junit.xml", "cucumber.json", "traceability.json", "results.json", "index.html", "requirements.html")


def _worst(verdicts) -> str | None:
    present = set(verdicts)
    return next((v for v in VERDICTS if v in present), None)


def versions() -> dict[str, str | None]:
    """Versions of python and the packages a report depends on (None when not installed)."""
    out: dict[str, str | None] = {"python": _platform.python_version()}
    for name in ("pytest", "pytest-bdd", "hypothesis", "certconform"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ----------------------------------------------------------------------------- collecting
@dataclass
class TestRecord:
    """One test (scenario or stateful test) as the reports see it."""

    __test__ = False  # not a pytest test class

    nodeid: str
    name: str
    feature: str | None = None
    statements: tuple[str, ...] = ()
    outcome: str = "passed"  # passed | failed | error (an adapter error, tier contract) | skipped (worst phase wins)
    message: str | None = None  # failure message or skip reason
    duration: float = 0.0
    log: list[dict] = field(default_factory=list)

    @property
    def is_scenario(self) -> bool:
        return bool(self.statements)

    def as_json(self) -> dict:
        return {"name": self.name, "nodeid": self.nodeid, "feature": self.feature,
                "outcome": self.outcome, "message": self.message, "duration": round(self.duration, 4)}


def _text(value) -> str:
    return value if isinstance(value, str) else repr(value)


_EXCEPTION_NAME = re.compile(r"^(?:AssertionError|[\w.]*(?:SetupFailed|MalformedInventory|SequenceFailed|AdapterError|"
                             r"CallTimeout|AdapterCrash|AdapterBusy)): ")


def report_message(report) -> str:
    """The one message of a failed or skipped report: the exception line or skip reason."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
        msg = str(longrepr[2])
        return msg[len("Skipped: "):] if msg.startswith("Skipped: ") else msg
    crash = getattr(longrepr, "reprcrash", None)
    msg = crash.message if crash is not None else str(longrepr)
    # "AssertionError: ", "SetupFailed: ", "certconform.mdm.guarded.CallTimeout: " ... before a tier
    msg = _EXCEPTION_NAME.sub("", msg, count=1)
    if report.when != "call":
        msg = f"error in {report.when}: {msg}"
    return msg[:MAX_MESSAGE]


class Collector:
    """Accumulates test reports (pytest_runtest_logreport) into TestRecords, keyed by nodeid.

    Only tests that concern the document are kept: those carrying a `statements` user property
    (feature scenarios) or a `certconform_log` (the stateful tests)."""

    def __init__(self, started: float | None = None):
        self.started = started if started is not None else time.time()
        self.tests: dict[str, TestRecord] = {}

    def add(self, report) -> None:
        props = dict(getattr(report, "user_properties", ()) or ())
        log = getattr(report, "certconform_log", None)
        if "statements" not in props and log is None and report.nodeid not in self.tests:
            return
        rec = self.tests.get(report.nodeid)
        if rec is None:
            statements = tuple(s for s in str(props.get("statements", "")).split(",") if s)
            rec = TestRecord(report.nodeid, props.get("scenario") or report.nodeid.split("::")[-1],
                             props.get("feature"), statements)
            self.tests[report.nodeid] = rec
        if rec.feature is None and props.get("feature"):  # known once the scenario starts (call phase)
            rec.name, rec.feature = props.get("scenario") or rec.name, props["feature"]
        rec.duration += float(getattr(report, "duration", 0.0) or 0.0)
        if isinstance(log, list):
            rec.log.extend(e for e in log if isinstance(e, dict))
        if report.failed and rec.outcome not in ("failed", "error"):
            message = report_message(report)
            rec.outcome, rec.message = outcome_of_failure(message), message
        elif report.skipped and rec.outcome == "passed":
            rec.outcome, rec.message = "skipped", report_message(report)

    def logged_seed(self):
        for rec in self.tests.values():
            for entry in rec.log:
                if entry.get("seed") is not None:
                    return entry["seed"]
        return None


def outcome_of_failure(message: str | None) -> str:
    """'error' when the failure is tier contract (the implementation crashed, hung or broke the
    adapter contract), else 'failed' (a departure from the document, or a deviation under --strict)."""
    return "error" if _tier_of(message) == "contract" else "failed"


# ----------------------------------------------------------------------------- verdicts
def _cites(entry: dict, sid: str) -> bool:
    stmts = entry.get("statements")
    return isinstance(stmts, (list, tuple)) and sid in stmts


def _observed(entry: dict) -> str:
    """'revoked and removed' / 'left unchanged' from a check entry's before/after."""
    before, after = entry.get("before") or {}, entry.get("after") or {}
    parts = []
    if before.get("revoked") is False and after.get("revoked") is True:
        parts.append("revoked")
    if before.get("installed") is True and after.get("installed") is False:
        parts.append("removed")
    if after.get("revocation") == "pending" and not after.get("revoked"):
        parts.append("revocation pending")  # requested, not done: shown, never as revoked
    return " and ".join(parts) or "left unchanged"


NOT_SUPPORTED = "not supported:"


def is_not_supported(message: str | None) -> bool:
    """A skip reason of steps/driver.py NotSupported (the capabilities rule the check out)."""
    return bool(message) and message.lstrip().removeprefix("Skipped: ").startswith(NOT_SUPPORTED)


def is_deviation_message(message: str | None) -> bool:
    """A scenario that failed only because --strict turned a deviation into a failure."""
    return bool(message) and message.startswith("deviates")


def _interps_of(statements, behaviour) -> list[dict]:
    out = []
    for sid in statements or ():
        i = behaviour.interpretation(sid) if hasattr(behaviour, "interpretation") else None
        if i is not None and i.tier == "reading":
            out.append({"id": i.id, "says": i.says, "reason": i.reason})
    return out


_DOCUMENT_CITE = re.compile(r"\[document: ([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) line")


def statement_results(tests: list[TestRecord], behaviour, strict: bool = False) -> dict[str, dict]:
    """Verdict and evidence for every statement of the behaviour table. Under `strict`
    (--strict-readings) a deviation fails the run, so its statement's verdict is `fail` (tier
    reading): the verdicts agree with the exit code."""
    out: dict[str, dict] = {}
    for st in behaviour.statements:
        scenarios = [t for t in tests if st.id in t.statements]
        stateful = [t for t in tests if not t.is_scenario and any(_cites(e, st.id) for e in t.log)]
        failures, deviations, invariants, other = [], [], {}, []
        checks = Counter()
        readings = Counter()
        for t in scenarios:
            if t.outcome == "failed" and is_deviation_message(t.message) and strict:
                failures.append({"test": t.name, "nodeid": t.nodeid, "message": t.message, "counterexample": None,
                                 "invariant": None, "tier": "reading"})
            if t.outcome in ("failed", "error") and not is_deviation_message(t.message):
                item = {"test": t.name, "nodeid": t.nodeid, "message": t.message, "counterexample": None,
                        "invariant": None, "tier": _tier_of(t.message)}
                cited = set(_DOCUMENT_CITE.findall(t.message or ""))
                if cited and st.id not in cited and cited <= set(behaviour.by_id):
                    other.append(item)  # the scenario caught another statement's failure (that one fails)
                else:
                    failures.append(item)
        for t in tests:
            for e in t.log:
                if not _cites(e, st.id):
                    continue
                if e.get("type") == "check":
                    checks["passed" if e.get("passed") else "failed"] += 1
                    if e.get("conflict") and e.get("reading"):
                        readings[e["reading"]] += 1
                if e.get("invariant"):
                    for name in str(e["invariant"]).split(", "):
                        inv = invariants.setdefault(name, {"name": _text(name), "tests": set(), "failed": False})
                        inv["tests"].add(t.name)
                if e.get("type") != "finding":
                    continue
                item = {"test": t.name, "nodeid": t.nodeid, "message": _text(e.get("message", ""))[:MAX_MESSAGE],
                        "counterexample": e.get("counterexample"), "invariant": e.get("invariant"),
                        "tier": e.get("tier", "document")}
                if item["tier"] == "reading":
                    if len(deviations) < MAX_OTHER_FINDINGS:
                        deviations.append({**item, "interpretations": _interps_of(e.get("statements"), behaviour)})
                elif not t.is_scenario and t.outcome in ("failed", "error"):
                    failures.append(item)
                    if e.get("invariant"):
                        for name in str(e["invariant"]).split(", "):
                            invariants[name]["failed"] = True
                elif st.id not in t.statements:
                    other.append(item)
        # A failed stateful test whose findings did not reach the log still fails what it checked.
        ran = [t for t in scenarios + stateful if t.outcome in ("passed", "failed", "error")]
        skipped = [t for t in scenarios if t.outcome == "skipped"]
        errors = [f for f in failures if f["tier"] == "contract"]  # adapter errors: nothing was judged
        failures = [f for f in failures if f["tier"] != "contract"]
        if strict and deviations and not any(f["tier"] == "reading" for f in failures):
            failures += [{**d, "tier": "reading"} for d in deviations]  # --strict: a deviation fails
        if failures:
            verdict = "fail"
        elif errors:
            verdict = "error"
        elif st.status == "informative" and not (ran and behaviour.wholly_in_conflict(st.id)):
            verdict = "unspecified"  # it requires nothing by itself (its outcome is open)
        elif st.status == "not-validated" and (ran or skipped):
            verdict = "not-validated"
        elif not ran and skipped and all(is_not_supported(t.message) for t in skipped):
            verdict = "not-supported"
        elif not ran:
            verdict = "not-run"
        elif deviations:
            verdict = "deviates"
        elif st.status == "not-enabled":
            verdict = "not-enabled"
        elif behaviour.wholly_in_conflict(st.id):
            verdict = "conflict"
        else:
            verdict = "pass"
        conflict = behaviour.conflict_of(st.id)
        note = None
        if verdict == "not-run":
            note = ("no test that checks it was collected (deselected?)" if not scenarios and not stateful
                    else "its tests were skipped: " + "; ".join(sorted({t.message or "" for t in skipped})))
        elif verdict == "not-supported":
            # the verdict already says "not supported": the note gives only the reasons
            note = "; ".join(sorted({re.sub(r"^not supported:\s*", "", t.message or "") for t in skipped}))
        elif verdict == "unspecified":
            note = (f"requires nothing by itself ({behaviour.outcomes[st.outcome]['says']}); what it speaks "
                    "about is judged by the statements that decide it")
        elif verdict == "fail" and all(f["tier"] == "reading" for f in failures):
            ids = sorted({i["id"] for d in deviations for i in d["interpretations"]})
            note = (f"what the document requires held, but the implementation departs from our reading"
                    f"{'s' if len(ids) > 1 else ''} {', '.join(ids)}: tier reading, failing because of --strict")
        elif verdict == "deviates":
            ids = sorted({i["id"] for d in deviations for i in d["interpretations"]})
            note = (f"what the document requires held, but the implementation departs from our reading"
                    f"{'s' if len(ids) > 1 else ''} {', '.join(ids)} (tier reading; fails only under --strict)")
        out[st.id] = {
            **st.as_json(),
            "verdict": verdict,
            "note": note,
            "scenarios": [t.as_json() for t in scenarios],
            "stateful_tests": [t.as_json() for t in stateful],
            "invariants": [{"name": i["name"], "tests": sorted(i["tests"]), "failed": i["failed"]}
                           for i in invariants.values()],
            "checks": {"passed": checks["passed"], "failed": checks["failed"]},
            "failures": failures,
            "errors": errors,
            "deviations": deviations,
            "other_findings": other[:MAX_OTHER_FINDINGS],
            "other_findings_total": len(other),
            "conflict": None if conflict is None else {
                "id": conflict.id, "says": conflict.says, "policy": conflict.policy,
                "statements": list(conflict.statements), "readings_followed": dict(readings)},
        }
    return out


def _tier_of(message: str | None) -> str:
    """The tier a failure message names ('[document: ...]', '[contract: ...]', 'deviates ...')."""
    if is_deviation_message(message):
        return "reading"
    for tier in ("document", "reading", "contract"):
        if message and f"[{tier}:" in message:
            return tier
    return "document"


def contract_results(tests: list[TestRecord], behaviour) -> dict:
    """Failures that cite the adapter contract (or nothing the table knows), e.g. malformed
    observations; identical messages are grouped, with the tests that hit them."""
    known = set(behaviour.by_id) | {i.id for i in behaviour.interpretations}
    grouped: dict[str, dict] = {}

    def add(t: TestRecord, message, statements, counterexample):
        message = _text(message or "")[:MAX_MESSAGE]
        g = grouped.setdefault(message, {"message": message, "statements": statements, "tests": [],
                                         "test": t.name, "nodeid": t.nodeid, "counterexample": counterexample})
        g["tests"].append(t.nodeid)

    for t in tests:
        if t.outcome not in ("failed", "error"):
            continue
        for e in t.log:
            if e.get("type") == "finding" and e.get("tier") == "contract" or (
                    e.get("type") == "finding" and e.get("tier") != "reading" and not (set(e.get("statements") or ()) & known)):
                add(t, e.get("message"), list(e.get("statements") or ()), e.get("counterexample"))
        # a stateful test, or a scenario ended by an adapter error (a crash, a timeout), that
        # logged no finding of its own: its message is the failure
        if (not t.is_scenario or t.outcome == "error") \
                and not any(e.get("type") == "finding" and e.get("tier") != "reading" for e in t.log) \
                and not is_deviation_message(t.message):
            add(t, t.message, [], None)
    failures = list(grouped.values())
    # the adapter's interface broke (or the implementation crashed / hung): verdict error
    return {"verdict": "error" if failures else "pass", "failures": failures}


def interpretation_results(tests: list[TestRecord], behaviour, strict: bool = False) -> list[dict]:
    """Every interpretation with its tier and reason. A reading-tier one is `deviates` when a
    finding cites it (with up to MAX_OTHER_FINDINGS examples), `fail` instead under --strict, else
    `held`; a document-tier one demands nothing beyond the text, so it has no verdict of its own (`n/a`)."""
    out = []
    for i in behaviour.interpretations:
        found = [(t, e) for t in tests for e in t.log
                 if e.get("type") == "finding" and e.get("tier") == "reading" and _cites(e, i.id)]
        verdict = "n/a" if i.tier == "document" else ("fail" if found and strict else "deviates" if found else "held")
        out.append({"id": i.id, "tier": i.tier, "says": i.says, "reason": i.reason, "statements": list(i.statements),
                    "verdict": verdict, "deviations_total": len(found),
                    "deviations": [{"test": t.name, "message": _text(e.get("message", ""))[:MAX_MESSAGE]}
                                   for t, e in found[:MAX_OTHER_FINDINGS]]})
    return out


# ----------------------------------------------------------------------------- matrix
def matrix(tests: list[TestRecord], behaviour, rules, statements: dict[str, dict], coverage: dict | None = None,
           strict: bool = False) -> dict:
    """Rows platform x kind, columns the document's events. A cell lists the statements that
    speak about it (their own event, or the rule for one of the event's situations), and its
    verdict is that of the checks made on that platform and kind for the event's situations: a
    statement that failed elsewhere does not colour this cell. Evidence: the oracle's checks in
    the tests' logs (every feature check; the stateful test logs its failures, conflicts and
    deviations) and the stateful test's tally of checks per transition (coverage.json), which
    counts the checks that passed. With no check here the cell says why (not supported, not
    run). Where the rules leave every reading open it is 'unspecified', with what was observed."""
    checks = [e for t in tests for e in t.log if e.get("type") == "check"]
    tallied = ((coverage or {}).get("data") or {}).get("transitions") or {}
    columns = list(behaviour.events)
    kinds = KINDS
    rows = []
    for platform, platform_name in behaviour.platforms.items():
        for kind in kinds:
            cells = []
            for event in columns:
                situations = behaviour.events[event]["situations"]
                ids = [s.id for s in behaviour.statements
                       if s.event == event and platform in s.platforms and kind in s.kinds]
                interps: list[str] = []
                open_all = True
                statuses = set()
                if event != "platform-wide":
                    for sit in situations:
                        req = rules.requirement(platform, kind, sit, "intune")
                        statuses.add(req.status)
                        open_all = open_all and req.is_open and req.status == "tested"
                        for sid in req.statements:
                            if sid in behaviour.by_id:
                                ids.append(sid)
                            elif sid not in interps:
                                interps.append(sid)
                else:
                    open_all = not ids
                ids = list(dict.fromkeys(ids))
                here = [e for e in checks if e.get("platform") == platform and e.get("kind") == kind
                        and e.get("situation") in situations]
                observed = Counter(_observed(e) for e in here)
                conflicts = Counter(e.get("reading") for e in here if e.get("conflict") and e.get("reading"))
                passed_elsewhere = sum(tallied.get(f"{platform}/{kind}/{sit}", 0) for sit in situations)
                verdict = _cell_verdict(here, passed_elsewhere, ids, statements, statuses, open_all, interps, strict)
                first = situations[0] if situations else event
                cells.append({
                    "event": event,
                    "verdict": verdict,
                    # its rows in requirements.html (certconform/requirements.py): the first variant of
                    # the event's first situation; the other variants and situations follow it
                    "requirements": cell_anchor(platform, kind, first, "intune" if kind in ("scep", "pkcs") else None,
                                                frozenset() if kind == "trusted_root" else None),
                    "statements": [{"id": sid, "verdict": statements[sid]["verdict"]} for sid in ids],
                    "interpretations": interps,
                    "observed": dict(observed),
                    "readings_followed": dict(conflicts),
                    "checks": {"logged": len(here), "failed": sum(1 for e in here if not e.get("passed")),
                               "stateful": passed_elsewhere},
                })
            rows.append({"platform": platform, "platform_name": platform_name, "kind": kind, "cells": cells})
    return {"columns": [{"event": e, "says": behaviour.events[e].get("says", "")} for e in columns], "rows": rows}


def _cell_verdict(here: list[dict], tallied: int, ids: list[str], statements: dict, statuses: set,
                  open_all: bool, interps: list[str], strict: bool) -> str:
    """The verdict of one matrix cell from the checks made there (see `matrix`)."""
    local = set()
    for e in here:
        v = e.get("verdict") or ("pass" if e.get("passed") else "fail")
        if v == "deviates" and strict:
            v = "fail"
        if v == "pass" and e.get("conflict"):
            v = "conflict"
        local.add(v)
    if tallied:
        local.add("pass")
    if not ids:
        if "fail" in local:  # the oracle found a departure (an interpretation, a contract rule)
            return "fail"
        if open_all or not interps:  # the document says nothing here
            return "unspecified"
        return _worst(local) if local else "not-run"  # decided by an interpretation only
    if not local:  # nothing was checked here: say why (the statements' own reasons)
        absent = [statements[sid]["verdict"] for sid in ids
                  if statements[sid]["verdict"] in ("error", "not-supported", "not-run", "not-validated")]
        verdict = _worst(absent) or "not-run"
    else:
        verdict = _worst(local)
    # a platform the document does not validate / enable is never shown as passed
    if len(statuses) == 1 and statuses != {"tested"} and verdict not in ("fail", "error"):
        verdict = next(iter(statuses))
    return verdict


# ----------------------------------------------------------------------------- assembling
def build_results(tests: list[TestRecord], meta: dict, behaviour=None, rules=None,
                  document: dict | None = None, coverage: dict | None = None) -> dict:
    """The content of results.json (and the data index.html renders)."""
    from certconform.model.behaviour import default
    from certconform.model.rules import Rules

    b = behaviour or default()
    r = rules or Rules(b)
    strict = bool(meta.get("strict"))
    statements = statement_results(tests, b, strict)
    mismatched = {m["statement"]: m["found"] for m in (document or {}).get("fingerprint_mismatches", [])}
    document = dict(document) if document else document
    quotes = (document or {}).pop("quotes", None) or {}
    for sid, s in statements.items():
        found = bool((document or {}).get("found"))
        s["source"]["fingerprint_checked"] = found
        s["source"]["fingerprint_ok"] = found and sid not in mismatched
        if sid in quotes:  # read from the user's copy of the article (--document), never shipped
            s["source"]["quote"] = quotes[sid]
        if sid in mismatched:
            s["source"]["fingerprint_found"] = mismatched[sid]
    stateful_counts = ((coverage or {}).get("data") or {}).get("statements")
    for sid, s in statements.items():
        s["stateful_checks"] = stateful_counts.get(sid, 0) if isinstance(stateful_counts, dict) else None
    totals = Counter(s["verdict"] for s in statements.values())
    grid = matrix(tests, b, r, statements, coverage, strict)
    unspecified = sum(1 for row in grid["rows"] for c in row["cells"] if c["verdict"] == "unspecified")
    interpretations = interpretation_results(tests, b, strict)
    contract = contract_results(tests, b)
    # an optional extension's fault (reported once by the adapter, which fell back): no verdict changes
    contract["extensions"] = list(meta.get("extension_findings") or [])
    failed = (totals.get("fail") or any(t.outcome == "failed" for t in tests)
              or any(i["verdict"] == "fail" for i in interpretations))
    errored = totals.get("error") or any(t.outcome == "error" for t in tests) or contract["verdict"] == "error"
    return {
        # the run's verdict, as its exit code says it: fail (1), error (an adapter error), pass (0)
        "verdict": "fail" if failed else "error" if errored else "pass",
        "run": {
            **meta,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(meta.get("started", time.time()))),
            "edition": b.edition,  # the edition id in force ("2022", "2024"): what the run judged by
            "behaviour": {"id": b.edition, "title": b.document["title"], "edition": b.document["edition"]},
            "document": document,
        },
        "totals": {"statements": len(statements), **{v: totals.get(v, 0) for v in VERDICTS},
                   "unspecified_cells": unspecified,
                   "tests": len(tests), "tests_failed": sum(1 for t in tests if t.outcome == "failed"),
                   "tests_error": sum(1 for t in tests if t.outcome == "error")},
        "statements": statements,
        "contract": contract,
        "interpretations": interpretations,
        "strict": strict,
        "matrix": grid,
        "coverage": coverage,
    }


def render_html(results: dict) -> str:
    """index.html: one self-contained page (inline CSS, no script, no network). Autoescaped."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("certconform", "templates"),
        autoescape=True,  # every string, and above all the implementation's, is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["anchor"] = lambda sid: "st-" + "".join(c if c.isalnum() or c == "-" else "_" for c in str(sid))
    return env.get_template("index.html.j2").render(r=results, VERDICT_TEXT=VERDICT_TEXT, VERDICTS=VERDICTS)


def _read_coverage(out_dir: Path) -> dict | None:
    path = out_dir / "coverage.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"file": str(path), "error": f"unreadable: {exc}"}
    return {"file": str(path), "data": data}


def write_reports(collector: Collector, out_dir: Path, meta: dict) -> str:
    """Write results.json and index.html into out_dir; return a one-line summary. OSError propagates."""
    from certconform.traceability import document_check
    from certconform.model.behaviour import default

    b = default()
    results = build_results(list(collector.tests.values()), meta, b,
                            document=document_check(b, meta.get("document_path")), coverage=_read_coverage(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "index.html").write_text(render_html(results), encoding="utf-8")
    from certconform.requirements import render as render_requirements, rows_for

    table, rows = rows_for(b.edition)
    (out_dir / "requirements.html").write_text(render_requirements(table, rows, "html"), encoding="utf-8")
    t = results["totals"]
    counts = ", ".join(f"{t[v]} {v}" for v in VERDICTS if t.get(v))
    readings = [i["id"] for i in results["interpretations"] if i["verdict"] in ("deviates", "fail")]
    tail = (f"; deviates from our readings {', '.join(readings)}"
            + (" (--strict: these fail)" if results["strict"] else " (pass --strict to fail on them)")) if readings else ""
    cut = results["run"].get("cut_short")
    edition = f"edition {b.edition} ({b.document['edition']})"
    unsupported = t.get("not-supported", 0)
    caps = results["run"].get("capabilities")
    if isinstance(caps, dict) and caps.get("dry_run") is True:
        tail += "; DRY RUN: nothing was sent to the product, nothing was judged"
    elif unsupported * 2 > t["statements"]:
        tail += (f"; MOST STATEMENTS NOT SUPPORTED: the implementation's capabilities rule out {unsupported} of "
                 f"{t['statements']}, so this run says little about its conformance")
    return (f"results: {out_dir / 'index.html'}: {results['verdict'].upper()}: {edition}: {t['statements']} statements: {counts}{tail}"
            + (" (run cut short)" if cut else ""))
