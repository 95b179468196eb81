"""The pytest plugin behind the conformance suite (registered through the `pytest11` entry point;
a checkout that was never installed loads it from the project's conftest.py).

It adds --mdm / --mdm-token / --document / --report-dir, loads the implementation under test once
(an unknown spec, a failing import or an unreachable server is a one-line usage error), turns the
features' statement tags into `statement` markers, reports Android for Work scenarios as
"not validated" (skipped with that reason), and, after a run of the conformance suite, writes the
report directory: junit.xml and cucumber.json (pytest's and pytest-bdd's own writers, pointed at
--report-dir unless given explicitly), traceability.json, results.json and index.html (built by
certconform/reports.py from what this plugin collects in pytest_runtest_logreport).

What it knows: pytest and pytest-bdd hooks, xdist's controller/worker split (reports are written by
the controller only; workers ship `user_properties` and `certconform_log` with each test report).
What it does not know: what a verdict is (certconform/reports.py) or what the document requires.
Reports are written only when the run collects the conformance suite (conformance/ or features/),
so `pytest tests` (the self-tests) never overwrites reports/.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from certconform import mdm
from certconform.model.behaviour import BehaviourError, default as behaviour

# The step definitions are fixtures: registering their modules as plugins makes them visible to
# every feature, wherever the package is installed. Importing certconform.profiles registers the
# Hypothesis profiles before --hypothesis-profile is read.
pytest_plugins = ["certconform.steps.scenario_steps", "certconform.steps.replay_steps"]
import certconform.profiles  # noqa: E402,F401
from certconform import features_dir, package_dir  # noqa: E402
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
COLLECTOR_KEY = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("certconform", "certconform conformance suite")
    group.addoption("--mdm", default=os.environ.get("CERTCONFORM_MDM", mdm.DEFAULT_SPEC),
                    help="implementation under test: reference, mock (default), http://HOST:PORT or package.module:attr")
    group.addoption("--mdm-token", default=None, help="bearer token for an http:// implementation (default: env MDM_TOKEN)")
    group.addoption("--document", default=None,
                    help="path of the specification document (default: ../shared/spec-source/remove-certificates.md)")
    group.addoption("--report-dir", default="reports", help="where reports are written (default: reports/ in the current directory)")
    group.addoption("--strict-readings", action="store_true",
                    default=os.environ.get("CERTCONFORM_STRICT", "") not in ("", "0"),
                    help="fail on departures from our readings too (tier 'reading', reported 'deviates'); "
                         "`certconform run --strict` sets it (default: env CERTCONFORM_STRICT)")


@pytest.hookimpl(tryfirst=True)  # before junitxml / pytest-bdd read their output paths
def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        behaviour()
    except BehaviourError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SCENARIOS_KEY] = {}
    spec = str(config.getoption("mdm") or "")
    if spec.startswith(("http://", "https://")) and config.getoption("numprocesses", None) \
            and not hasattr(config, "workerinput"):
        raise pytest.UsageError(f"--mdm {spec}: -n runs several workers, which would share (and reset) one "
                                "server; run an http:// implementation without -n")
    if is_conformance_run(config) and not hasattr(config, "workerinput"):
        from certconform.reports import Collector

        report_dir = report_dir_of(config)
        problem = writable_dir_problem(report_dir)
        if problem:
            raise pytest.UsageError(f"--report-dir {report_dir}: {problem}")
        if not config.option.xmlpath:
            config.option.xmlpath = str(report_dir / "junit.xml")
        if hasattr(config.option, "cucumber_json_path") and not config.option.cucumber_json_path:
            config.option.cucumber_json_path = str(report_dir / "cucumber.json")
        config.stash[COLLECTOR_KEY] = Collector(started=time.time())


def is_conformance_run(config) -> bool:
    """True when the run's paths lie in conformance/ or features/ (the default testpaths included)."""
    base = Path(config.invocation_params.dir)
    suites = (package_dir("conformance"), features_dir().resolve())
    for arg in config.args:
        path = (base / str(arg).split("::")[0]).resolve()
        for suite in suites:
            if path == suite or suite in path.parents:
                return True
    return False


def report_dir_of(config) -> Path:
    """--report-dir, relative to the directory pytest was started in."""
    return (Path(config.invocation_params.dir) / config.getoption("report_dir")).resolve()


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


@pytest.hookimpl(tryfirst=True)  # before pytest-bdd's own (which would make every tag an unknown marker)
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


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A malformed feature file (or an unknown statement tag) is one line naming the file and the
    problem, not a traceback through pytest-bdd's parser."""
    outcome = yield
    report = outcome.get_result()
    crash = getattr(report.longrepr, "reprcrash", None) if report.failed else None
    if crash is not None and ("pytest_bdd" in crash.message or "UsageError" in crash.message):
        report.longrepr = "feature error: " + " ".join(part.strip() for part in crash.message.splitlines() if part.strip())


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # an xdist worker (they collect; the controller only schedules)
        spread_stateful(items)
    b = behaviour()
    for item in items:
        ids = [m.args[0] for m in item.iter_markers("statement")]
        if not ids:
            continue
        item.user_properties.append(("statements", ",".join(ids)))
        scenario = _scenario_of(item)
        if scenario:
            item.user_properties.extend(scenario)
        closed = [sid for sid in ids if b.by_id[sid].status == "not-validated"]
        if closed:
            item.add_marker(pytest.mark.skip(reason=f"not validated: {', '.join(closed)} "
                                             "(the document does not validate this platform)"))


def spread_stateful(items: list) -> None:
    """Under xdist, place the stateful shards (the long items) evenly through the collection:
    xdist hands each worker consecutive chunks, so shards side by side would land on one worker."""
    stateful = [item for item in items if item.get_closest_marker("stateful")]
    if len(stateful) < 2:
        return
    rest = [item for item in items if not item.get_closest_marker("stateful")]
    step = len(rest) / len(stateful)
    for k, item in reversed(list(enumerate(stateful))):
        rest.insert(round(k * step), item)
    items[:] = rest


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
    coverage = getattr(item, "_certconform_coverage", None)  # a stateful shard's tally (conformance/coverage.py)
    if coverage is not None and report.when == "call":
        report.certconform_coverage = coverage
    # The tier travels with the test into JUnit (<properties>) and the HTML report.
    if report.failed and report.when == "call":
        from certconform.reports import _tier_of, report_message

        _property(item, report, "tier", _tier_of(report_message(report)))
    if log and report.when == "call":
        ids = sorted({s for e in log if e.get("type") == "finding" and e.get("tier") == "reading"
                      for s in e.get("statements") or () if s.startswith("I-")})
        if ids and not any(k == "deviates" for k, _ in item.user_properties):
            _property(item, report, "deviates", ",".join(ids))


def _property(item, report, name: str, value: str) -> None:
    """A user property on this report and on the item (JUnit writes the properties of the
    test's last report, its teardown)."""
    item.user_properties.append((name, value))
    if (name, value) not in report.user_properties:
        report.user_properties.append((name, value))


def _scenario_of(item) -> list[tuple[str, str]]:
    """("scenario", name [example values]) and ("feature", file:line) of a pytest-bdd item."""
    try:
        from pytest_bdd.scenario import scenario_wrapper_template_registry as registry

        template = registry.get(getattr(item, "obj", None))
    except Exception:  # pytest-bdd internals moved: reports fall back to the test name
        template = None
    if template is None:
        return []
    name = template.name
    params = getattr(getattr(item, "callspec", None), "params", {}).get("_pytest_bdd_example")
    if params:
        name += " [" + "; ".join(f"{k}: {v}" for k, v in params.items()) + "]"
    return [("scenario", name), ("feature", f"{template.feature.rel_filename}:{template.line_number}")]


def pytest_runtest_logreport(report):
    collector = _COLLECTOR[0]
    if collector is not None:
        collector.add(report)
    coverage = getattr(report, "certconform_coverage", None)
    if coverage is not None:  # on the controller, from every worker: merged into coverage.json
        _COVERAGE.append(coverage)
    props = dict(report.user_properties)
    if "statements" not in props:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        # config is not passed here; keep a module-level registry filled per session
        for sid in props["statements"].split(","):
            _RAN.setdefault(sid, []).append(_scenario_name(report.nodeid))


_RAN: dict[str, list[str]] = {}
_COLLECTOR: list = [None]  # the session's reports.Collector (controller only); the hook gets no config
_COVERAGE: list[dict] = []  # the stateful shards' tallies, merged into coverage.json at the end


def _scenario_name(nodeid: str) -> str:
    return nodeid.split("::")[-1]


def pytest_sessionstart(session):
    _RAN.clear()
    _COVERAGE.clear()
    _COLLECTOR[0] = session.config.stash.get(COLLECTOR_KEY, None)


@pytest.hookimpl(trylast=True)  # after other sessionfinish hooks (e.g. one writing coverage.json)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    _write_coverage(config)  # before the reports, which read it
    _write_traceability(config)
    collector = config.stash.get(COLLECTOR_KEY, None)
    _COLLECTOR[0] = None
    if collector is not None and collector.tests:
        from certconform.reports import write_reports

        out_dir = report_dir_of(config)
        try:
            summary = write_reports(collector, out_dir, run_metadata(config, collector))
        except OSError as exc:
            config.stash[SCENARIOS_KEY]["report_error"] = (
                f"cannot write reports to {out_dir}: {exc.strerror or exc}")
            return
        except Exception as exc:  # a report bug must not turn a finished run into a traceback
            config.stash[SCENARIOS_KEY]["report_error"] = (
                f"could not build results.json/index.html: {type(exc).__name__}: {exc}")
            return
        config.stash[SCENARIOS_KEY]["report"] = summary


def run_metadata(config, collector) -> dict:
    """What results.json says about the run: implementation, capabilities, seed, duration, versions."""
    from certconform.reports import versions

    return {
        "implementation": config.getoption("mdm"),
        "strict": bool(config.getoption("strict_readings")),
        "capabilities": _capabilities(config),
        "seed": _seed(config, collector),
        "started": collector.started,
        "duration": round(time.time() - collector.started, 3),
        "document_path": config.getoption("document"),
        "report_dir": str(config.getoption("report_dir")),
        "versions": versions(),
    }


def _capabilities(config):
    """The adapter's capabilities() answer if it has that method; None otherwise. Never raises."""
    adapter = config.stash.get(ADAPTER_KEY, None)
    try:
        if adapter is None:  # under xdist the controller has not loaded it
            adapter = mdm.load_adapter(config.getoption("mdm"), token=config.getoption("mdm_token"))
            config.stash[ADAPTER_KEY] = adapter
        method = getattr(adapter, "capabilities", None)
        if not callable(method):
            return None
        caps = method()
        json.dumps(caps)
        return caps
    except Exception as exc:  # a broken capabilities() must not break the reports
        return {"error": f"capabilities() failed: {type(exc).__name__}: {exc}"}


def _seed(config, collector):
    """Hypothesis seed: --hypothesis-seed if given, else one a test logged (key "seed"), else None."""
    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        seed = collector.logged_seed()
    return seed


def _write_coverage(config) -> None:
    """coverage.json from the tallies every stateful shard reported (in any xdist worker)."""
    if not _COVERAGE:
        return
    from certconform.conformance import coverage

    try:
        coverage.write(report_dir_of(config), _COVERAGE)
    except OSError as exc:
        config.stash[SCENARIOS_KEY]["error"] = f"cannot write coverage.json: {exc.strerror or exc}"


def _write_traceability(config) -> None:
    if not _RAN:
        return
    from certconform.traceability import build

    out_dir = report_dir_of(config)
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
    for key in ("summary", "error", "report", "report_error"):
        if key in info:
            terminalreporter.write_line(f"certconform {info[key]}")
