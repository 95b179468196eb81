"""The pytest plugin behind the conformance suite (loaded by the project's conftest.py).

It adds --mdm / --mdm-token / --document / --report-dir, loads the implementation under test once
(an unknown spec, a failing import or an unreachable server is a one-line usage error), turns the
features' statement tags into `statement` markers, reports Android for Work scenarios as
"not validated" (skipped with that reason), and writes reports/traceability.json after a run.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import mdm
from model.behaviour import BehaviourError, default as behaviour

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ID_TAG = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
MARKERS = {
    "windows": "scenarios of the Windows section",
    "ios": "scenarios of the iOS section",
    "android_knox": "scenarios of the Android KNOX section",
    "macos": "scenarios of the macOS section",
    "android_work": "Android for Work (not validated by the document)",
    "android_legacy": "Android legacy (not enabled for certificate removal)",
    "general": "statements that apply across platforms",
    "scep": "checks a SCEP certificate",
    "pkcs": "checks a PKCS certificate",
    "trusted_root": "checks a trusted root certificate",
    "pkcs_imported": "checks an imported PKCS certificate",
    "regression": "a counterexample kept as a regression scenario",
    "statement(id)": "the document statement a scenario checks (from its @ID tag)",
    "interpretation(id)": "an interpretation of behaviour.yaml a scenario relies on",
    "stateful": "Hypothesis stateful conformance tests",
}
ADAPTER_KEY = pytest.StashKey[object]()
SCENARIOS_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("certconform", "certconform conformance suite")
    group.addoption("--mdm", default=os.environ.get("CERTCONFORM_MDM", mdm.DEFAULT_SPEC),
                    help="implementation under test: reference, mock (default), http://HOST:PORT or package.module:attr")
    group.addoption("--mdm-token", default=None, help="bearer token for an http:// implementation (default: env MDM_TOKEN)")
    group.addoption("--document", default=None,
                    help="path of the specification document (default: ../shared/spec-source/remove-certificates.md)")
    group.addoption("--report-dir", default=str(PROJECT_ROOT / "reports"), help="where reports are written (default: reports/)")


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        behaviour()
    except BehaviourError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SCENARIOS_KEY] = {}


@pytest.fixture(scope="session")
def sut(pytestconfig):
    """The implementation under test, loaded once per session (per xdist worker)."""
    if ADAPTER_KEY not in pytestconfig.stash:
        pytestconfig.stash[ADAPTER_KEY] = load_sut(pytestconfig)
    return pytestconfig.stash[ADAPTER_KEY]


def load_sut(config):
    spec = config.getoption("mdm")
    try:
        return mdm.load_adapter(spec, token=config.getoption("mdm_token"))
    except mdm.AdapterSpecError as exc:
        raise pytest.UsageError(f"--mdm {spec}: {exc}") from None


def pytest_collection_finish(session):
    """Load the implementation before the first test so a bad spec stops the run at once."""
    if any(item.get_closest_marker("statement") or item.get_closest_marker("stateful") for item in session.items):
        if ADAPTER_KEY not in session.config.stash:
            session.config.stash[ADAPTER_KEY] = load_sut(session.config)


def pytest_bdd_apply_tag(tag, function):
    if not ID_TAG.match(tag):
        return None  # platform and kind tags become ordinary markers
    b = behaviour()
    if tag in b.by_id:
        pytest.mark.statement(tag)(function)
    elif any(i.id == tag for i in b.interpretations):
        pytest.mark.interpretation(tag)(function)
    else:
        raise pytest.UsageError(f"feature tag @{tag} names no statement or interpretation in model/behaviour.yaml")
    return True


def pytest_collection_modifyitems(config, items):
    b = behaviour()
    for item in items:
        ids = [m.args[0] for m in item.iter_markers("statement")]
        if not ids:
            continue
        item.user_properties.append(("statements", ",".join(ids)))
        closed = [sid for sid in ids if b.by_id[sid].status == "not-validated"]
        if closed:
            item.add_marker(pytest.mark.skip(reason=f"not validated: {', '.join(closed)} "
                                             "(the document does not validate this platform)"))


@pytest.fixture
def conformance_log(request) -> list[dict]:
    """Per-test list of oracle checks and findings (dicts); attached to the test's report as
    `report.certconform_log` so reports can say which reading a conflict followed, even under xdist."""
    log: list[dict] = []
    request.node._certconform_log = log
    return log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    log = getattr(item, "_certconform_log", None)
    if log is not None and report.when == "call":
        report.certconform_log = list(log)


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if "statements" not in props:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        # config is not passed here; keep a module-level registry filled per session
        for sid in props["statements"].split(","):
            _RAN.setdefault(sid, []).append(_scenario_name(report.nodeid))


_RAN: dict[str, list[str]] = {}


def _scenario_name(nodeid: str) -> str:
    return nodeid.split("::")[-1]


def pytest_sessionstart(session):
    _RAN.clear()


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput") or not _RAN:
        return
    from certconform.traceability import build

    out_dir = Path(config.getoption("report_dir"))
    data = build(_RAN, config.getoption("document"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "traceability.json").write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        config.stash[SCENARIOS_KEY]["error"] = f"cannot write {out_dir}/traceability.json: {exc.strerror or exc}"
        return
    doc = data["document"]
    ran = sum(1 for s in data["statements"] if s["scenarios"])
    summary = f"{ran}/{len(data['statements'])} statements exercised"
    if doc.get("found"):
        summary += f", {doc['outcome_bullets_cited']}/{doc['outcome_bullets']} outcome bullets cited"
    else:
        summary += f"; {doc['note']}"
    config.stash[SCENARIOS_KEY]["summary"] = f"traceability: {out_dir / 'traceability.json'}: {summary}"


def pytest_terminal_summary(terminalreporter, config):
    info = config.stash.get(SCENARIOS_KEY, {})
    for key in ("summary", "error"):
        if key in info:
            terminalreporter.write_line(f"certconform {info[key]}")
