"""The pytest plugin behind the conformance suite (registered through the `pytest11` entry point;
a checkout that was never installed loads it from the project's conftest.py).

It adds --mdm / --mdm-token / --document / --report-dir, checks a run's inputs and loads the
implementation under test in pytest_configure, before any report writer exists (an unknown
profile, spec or document, a failing import or an unreachable server is a one-line usage error
that leaves earlier reports alone), behind the per-call deadline (certconform/run_guard.py:
--call-timeout, --max-adapter-errors, cut-short runs, verdict error in junit.xml), turns the
features' statement tags into `statement` markers, reports Android for Work scenarios as "not
validated" (skipped with that reason), prints a failing check as its message alone
(`is_check_failure`; crashes keep their traceback), and, after a run of the conformance suite,
writes the report directory: junit.xml (pytest's writer, pointed at --report-dir unless given
explicitly), cucumber.json (certconform/cucumber.py, from pytest-bdd's public hooks, so it also
covers -n), traceability.json, results.json and index.html (built by certconform/reports.py from
what this plugin collects in pytest_runtest_logreport).

What it knows: pytest and pytest-bdd hooks, xdist's controller/worker split (reports are written by
the controller only; workers ship `user_properties`, `certconform_log` and `certconform_cucumber`
with each test report).
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
from certconform.model import behaviour as behaviour_module

# The step definitions are fixtures: registering their modules as plugins makes them visible to
# every feature, wherever the package is installed. Importing certconform.profiles registers the
# Hypothesis profiles before --hypothesis-profile is read.
pytest_plugins = ["certconform.steps.scenario_steps", "certconform.steps.replay_steps", "certconform.run_guard"]
import certconform.profiles  # noqa: E402,F401
from certconform import cucumber, features_dir, package_dir  # noqa: E402
from certconform.usage import document_problem, profile_problem, spec_problem, writable_dir_problem  # noqa: E402,F401
# certconform.run_guard is imported by pytest (above) before any hook here runs; importing it at
# this module's top would defeat pytest's assertion rewriting for it (a warning on every run).
from certconform.mdm.guarded import AdapterError  # noqa: E402
ID_TAG = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
EDITION_TAG = re.compile(r"^edition-([0-9]{4}[a-z0-9-]*)$")
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
    "edition(id)": "the only edition(s) of the document a scenario belongs to (from its @edition-ID tags; "
                   "untagged scenarios belong to every edition); other editions deselect it",
}
ADAPTER_KEY = pytest.StashKey[object]()
SCENARIOS_KEY = pytest.StashKey[dict]()
COLLECTOR_KEY = pytest.StashKey[object]()
CUCUMBER_KEY = pytest.StashKey[object]()
CAPS_KEY = pytest.StashKey[object]()  # (raw capabilities() answer, parsed Capabilities), read once
CELLRUN_KEY = pytest.StashKey[object]()  # the run's conformance/cellrun.py CellRun (a product that takes time)
JOURNAL_KEY = pytest.StashKey[object]()  # the run's certconform/journal.py Journal


def pytest_addoption(parser):
    group = parser.getgroup("certconform", "certconform conformance suite")
    group.addoption("--mdm", default=os.environ.get("CERTCONFORM_MDM", mdm.DEFAULT_SPEC),
                    help="implementation under test: reference, mock (default), mock-realistic, intune, http://HOST:PORT or package.module:attr")
    group.addoption("--mdm-token", default=None, help="bearer token for an http:// implementation (default: env MDM_TOKEN)")
    group.addoption("--document", default=None,
                    help="the article's file for --edition (default: env CERTCONFORM_DOCUMENT, the cache of "
                         "`certconform document fetch`, ../shared/spec-source; docs/article.md)")
    group.addoption("--report-dir", default="reports", help="where reports are written (default: reports/ in the current directory)")
    group.addoption("--strict-readings", action="store_true",
                    default=os.environ.get("CERTCONFORM_STRICT", "") not in ("", "0"),
                    help="fail on departures from our readings too (tier 'reading', reported 'deviates'); "
                         "`certconform run --strict` sets it (default: env CERTCONFORM_STRICT)")
    group.addoption("--edition", default=os.environ.get(behaviour_module.EDITION_ENV) or behaviour_module.BASELINE_EDITION,
                    help="edition of the document to judge by: " + ", ".join(behaviour_module.editions())
                         + f" (default {behaviour_module.BASELINE_EDITION}, or env {behaviour_module.EDITION_ENV})")
    group.addoption("--allow-destructive", action="store_true", default=None,
                    help="--mdm intune: perform wipe and retire on the pool's devices (default: env "
                         "CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE; without it they are not-supported)")
    group.addoption("--dry-run", action="store_true", default=None,
                    help="--mdm intune: print every Graph request (secrets redacted) instead of sending it")
    group.addoption("--poll", type=float, default=None, metavar="S",
                    help="with declared latencies (settle_s, windows): a fixed number of seconds between observe() "
                         "calls while an event's effects settle (default: backs off with the window, from window/100 "
                         "up to window/10)")
    group.addoption("--quiet-period", type=float, default=None, metavar="S",
                    help="with declared latencies: seconds to wait before judging an event that requires no change "
                         "(default: the longest window that could carry a change of it; docs/slow-products.md)")
    group.addoption("--cells", type=int, default=None, metavar="N",
                    help="cells in flight at once against a product that takes time (declared settle_s or windows): "
                         "every scenario and stateful sequence acts concurrently under its own names, each test judges "
                         "its own (default: the product's 'cells' capability, at most 32; 1 = one event at a time)")
    group.addoption("--unattended", action="store_true", default=False,
                    help="no person is at hand: statements whose checks need an event the capabilities name in "
                         "'needs_person' are not-supported")
    group.addoption("--shrink-budget", type=float, default=300.0, metavar="S",
                    help="with cells: seconds the shrinking of a stateful counterexample may take (default 300)")
    group.addoption("--certconform-plan", action="store_true", default=False,
                    help="print what a run would do (cells, events, destructive actions, people, requests, wall time) "
                         "and run nothing (`certconform plan`)")
    group.addoption("--journal-resume", default=None, metavar="PATH",
                    help="continue the interrupted run whose journal is PATH (`certconform run --resume DIR` sets it)")
    group.addoption("--stateful-shards", type=int, default=None, metavar="N",
                    help="split a derandomized stateful run (profiles ci, kill) into N items with their own seeds "
                         "(default 4); with -n, as many as workers: a run against a product that settles "
                         "(mock-realistic) sleeps more than it computes, so -n 8 --stateful-shards 8 pays even on 2 cores")


def misread_path_option(config) -> str | None:
    """pytest picks its rootdir (and so pyproject.toml's testpaths) from every argument that names
    an existing path, before any plugin runs: `--report-dir /tmp/r` (two words) with /tmp/r present
    makes /tmp/r the rootdir, and a run with no path then collects the whole current directory
    (self-tests included) instead of the conformance suite. The rootdir is then that path or, when
    the current directory shares an ancestor with it (a checkout under /tmp, and /tmp/r), that
    ancestor. Say so in one line."""
    if config.inipath is not None or config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR:
        return None
    for i, arg in enumerate(config.invocation_params.args[:-1]):
        value = config.invocation_params.args[i + 1]
        if not str(arg).startswith("--") or "=" in str(arg):
            continue
        path = Path(config.invocation_params.dir, str(value)).resolve()
        if path.exists() and (path == config.rootpath or config.rootpath in path.parents):
            return (f"{arg} {value}: pytest took the existing path {value} for a test path and ran without the "
                    f"project's settings (rootdir {config.rootpath}); write {arg}={value}")
    return None


# first: before junitxml and pytest-bdd read their output paths, and before Hypothesis' own
# pytest_configure, which would crash on an unknown profile
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    from certconform import step_lookup

    step_lookup.install()  # pytest-bdd's per-step lookup, remembered (a third of a feature run's CPU)
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        behaviour_module.use_edition(config.getoption("edition"))  # for the whole run
        behaviour()
    except BehaviourError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SCENARIOS_KEY] = {}
    if hasattr(config, "workerinput"):
        return  # the controller checked the inputs and writes the reports
    # Usage errors are raised here, before junitxml's and pytest-bdd's writers are set up (this
    # hook runs first), so a refused run leaves an existing report directory as it was.
    for option, problem in (("--hypothesis-profile", profile_problem(config.getoption("hypothesis_profile", None))),
                            ("--document", document_problem(config.getoption("document"))),
                            ("--stateful-shards", shards_problem(config.getoption("stateful_shards")))):
        if problem:
            raise pytest.UsageError(f"{option}: {problem}")
    misread = misread_path_option(config)
    if misread:
        raise pytest.UsageError(misread)
    spec = str(config.getoption("mdm") or "")
    if spec.startswith(("http://", "https://")) and config.getoption("numprocesses", None):
        raise pytest.UsageError(f"--mdm {spec}: -n runs several workers, which would share (and reset) one "
                                "server; run an http:// implementation without -n")
    if spec == "intune" and config.getoption("numprocesses", None):
        raise pytest.UsageError("--mdm intune: -n runs several workers, which would share one device pool; "
                                "run it without -n")
    if config.getoption("certconform_plan"):  # `certconform plan`: the implementation and its capabilities only
        config.stash[ADAPTER_KEY] = load_sut(config)
        capabilities_of(config)
        return
    if is_conformance_run(config):
        from certconform.reports import Collector

        report_dir = report_dir_of(config)
        problem = writable_dir_problem(report_dir)
        if problem:
            raise pytest.UsageError(f"--report-dir {report_dir}: {problem}")
        if ADAPTER_KEY not in config.stash:
            config.stash[ADAPTER_KEY] = load_sut(config)  # a bad spec or a dead server: one line, now
        caps = capabilities_of(config)  # malformed capabilities: one line, now
        _start_journal(config, report_dir, caps)
        if not config.option.xmlpath:
            config.option.xmlpath = str(report_dir / "junit.xml")
        if hasattr(config.option, "cucumber_json_path"):
            # cucumber.json is written by certconform.cucumber (which also works under -n);
            # pytest-bdd's own writer is left unconfigured so the file is written once.
            path = config.option.cucumber_json_path or str(report_dir / "cucumber.json")
            config.option.cucumber_json_path = None
            config.stash[CUCUMBER_KEY] = cucumber.CucumberWriter(Path(config.invocation_params.dir) / path)
        config.stash[COLLECTOR_KEY] = Collector(started=time.time())


def _start_journal(config, report_dir: Path, caps) -> None:
    """Open the run's journal (a fresh one, or the interrupted run's with --journal-resume) and,
    against a product that takes time, the cells (conformance/cellrun.py)."""
    from certconform import journal as journal_module

    resume_path = config.getoption("journal_resume")
    entries: list = []
    if resume_path:
        path = journal_module.path_of(resume_path)
        try:
            entries = journal_module.read(path)
        except OSError as exc:
            raise pytest.UsageError(f"--journal-resume {resume_path}: {exc.strerror or exc}") from None
        if journal_module.first_run(entries) is None:
            raise pytest.UsageError(f"--journal-resume {resume_path}: not a certconform journal (no run record)")
    else:
        path = report_dir / journal_module.NAME
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise pytest.UsageError(f"--report-dir {report_dir}: cannot replace {path.name}: {exc.strerror or exc}") from None
    journal = journal_module.Journal(path)
    config.stash[JOURNAL_KEY] = journal
    limit = cells_limit(config, caps)
    journal.write({"k": "run", "spec": config.getoption("mdm"), "caps": _capabilities(config),
                   "argv": [str(a) for a in config.invocation_params.args], "cwd": str(config.invocation_params.dir),
                   "cells": limit, "resumed": str(path) if resume_path else None})
    if limit > 1:
        from certconform.conformance.cellrun import CellRun

        config.stash[CELLRUN_KEY] = CellRun(config, config.stash[ADAPTER_KEY], caps, limit, journal, entries,
                                            shrink_budget_s=config.getoption("shrink_budget"))


def cells_limit(config, caps) -> int:
    """Cells in flight at most: --cells N, else (a product that declares latencies and can give its
    pool devices back) the product's `cells` capability or 32; 1 (no cells: one event at a time)
    for a synchronous product, under xdist, and with --cells 1."""
    from certconform.conformance.scheduler import DEFAULT_CELLS

    asked = config.getoption("cells")
    if asked is not None and asked < 1:
        raise pytest.UsageError(f"--cells {asked}: want a number >= 1")
    if hasattr(config, "workerinput") or config.getoption("numprocesses", None):
        return 1
    if asked is None:
        if not caps.latent or not _pool_gives_back(config, caps):
            return 1
        asked = DEFAULT_CELLS
    return max(1, min(asked, caps.cells or asked))


def _pool_gives_back(config, caps) -> bool:
    """Whether cells can give their pool devices back (docs/slow-products.md, "The device pool"):
    no pool, or the optional `release(device)`, or an `unenroll` that needs no person. Without one
    the pool would shrink with every cell, so cells are used only when --cells asks for them."""
    if caps.devices is None or (caps.performs("unenroll") and "unenroll" not in caps.needs_person):
        return True
    return callable(getattr(config.stash.get(ADAPTER_KEY, None), "release", None))


def cell_run(config):
    """The run's CellRun when cells act concurrently (conformance/cellrun.py), else None."""
    return config.stash.get(CELLRUN_KEY, None)


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


@pytest.fixture(scope="session")
def sut(pytestconfig):
    """The implementation under test, loaded once per session (per xdist worker); behind its
    declared request budget (`max_requests_per_s`) when one event at a time goes to it (cells
    share the budget through conformance/product.py)."""
    if ADAPTER_KEY not in pytestconfig.stash:
        pytestconfig.stash[ADAPTER_KEY] = load_sut(pytestconfig)
    adapter = pytestconfig.stash[ADAPTER_KEY]
    caps = capabilities_of(pytestconfig)
    if caps.max_requests_per_s and cell_run(pytestconfig) is None:
        from certconform.conformance.product import Budgeted

        return Budgeted(adapter, caps.max_requests_per_s)
    return adapter


def load_sut(config):
    """The adapter behind the per-call deadline (certconform/run_guard.py, mdm/guarded.py)."""
    spec = config.getoption("mdm")
    token = config.getoption("mdm_token")
    problem = spec_problem(spec)
    if problem:
        raise pytest.UsageError(f"--mdm {spec}: {problem}")
    try:
        from certconform import run_guard

        edition = config.getoption("edition")
        return run_guard.guarded_load(
            config, lambda timeout: mdm.load_adapter(spec, token=token, timeout=timeout, edition=edition,
                                                     allow_destructive=config.getoption("allow_destructive"),
                                                     dry_run=config.getoption("dry_run"),
                                                     # a plan sends nothing (an Intune tenant: no Graph request)
                                                     connect=not config.getoption("certconform_plan")))
    except (mdm.AdapterSpecError, AdapterError) as exc:
        raise pytest.UsageError(f"--mdm {spec}: {str(exc).removeprefix('[contract: CONTRACT] ')}") from None


def pytest_collection_finish(session):
    """Load the implementation before the first test so a bad spec stops the run at once (a
    conformance run has loaded it in pytest_configure already; this covers features run from
    elsewhere, e.g. a scratch project's regressions). Against a product that takes time, start
    acting the cells of the collected tests (conformance/cellrun.py)."""
    if any(item.get_closest_marker("statement") or item.get_closest_marker("stateful") for item in session.items):
        if ADAPTER_KEY not in session.config.stash:
            session.config.stash[ADAPTER_KEY] = load_sut(session.config)
    if session.config.getoption("certconform_plan"):
        from certconform.plan import print_plan

        print_plan(session)
        session.items[:] = []  # nothing runs
        return
    run = cell_run(session.config)
    if run is not None and not session.config.option.collectonly:
        run.begin(session.items)


@pytest.hookimpl(tryfirst=True)  # before pytest-bdd's own (which would make every tag an unknown marker)
def pytest_bdd_apply_tag(tag, function):
    edition = EDITION_TAG.match(tag)
    if edition:
        if edition.group(1) not in behaviour_module.editions():
            raise pytest.UsageError(f"feature tag @{tag} names no edition (one of {', '.join(behaviour_module.editions())})")
        pytest.mark.edition(edition.group(1))(function)
        return True
    if not ID_TAG.match(tag):
        return None  # platform and kind tags become ordinary markers
    b = behaviour()
    statements, interpretations = _ids_of_every_edition()
    if tag in b.by_id or tag in statements:
        pytest.mark.statement(tag)(function)  # a statement of another edition: deselected below
    elif any(i.id == tag for i in b.interpretations) or tag in interpretations:
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


def _ids_of_every_edition() -> tuple[set[str], set[str]]:
    """Statement ids and interpretation ids of every shipped edition (tags may name any of them)."""
    if not _EVERY_ID:
        statements, interpretations = set(), set()
        for e in behaviour_module.editions():
            b = behaviour_module.load(edition=e)
            statements |= set(b.by_id)
            interpretations |= {i.id for i in b.interpretations}
        _EVERY_ID.append((statements, interpretations))
    return _EVERY_ID[0]


_EVERY_ID: list[tuple[set[str], set[str]]] = []


def pytest_collection_modifyitems(config, items):
    from certconform.steps.scenario_steps import node_statement_ids

    # Scenarios tagged for other editions only are not part of this edition's suite: deselected,
    # so they are never reported (passed or otherwise) in the edition they do not belong to.
    edition = behaviour_module.current_edition()
    other = [item for item in items
             if (marks := [m.args[0] for m in item.iter_markers("edition")]) and edition not in marks]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]
    if hasattr(config, "workerinput"):  # an xdist worker (they collect; the controller only schedules)
        spread_stateful(items)
    for item in items:
        ids = node_statement_ids(item)
        if not ids:
            continue
        item.user_properties.append(("statements", ",".join(ids)))


def pytest_bdd_before_scenario(request, feature, scenario):
    """The scenario's name [example values] and feature:line for the reports (user properties),
    its cucumber record, and the "not validated" skip (taken here, not at collection, so a
    skipped scenario is still reported under its name)."""
    from certconform.steps.scenario_steps import node_statement_ids

    node = request.node
    cucumber.record_scenario(node, feature, scenario)
    ids = node_statement_ids(node)
    if not ids:
        return
    name = scenario.name
    params = getattr(getattr(node, "callspec", None), "params", {}).get("_pytest_bdd_example")
    if params:
        name += " [" + "; ".join(f"{k}: {v}" for k, v in params.items()) + "]"
    node.user_properties.extend([("scenario", name), ("feature", f"{feature.rel_filename}:{scenario.line_number}")])
    b = behaviour()
    closed = [sid for sid in ids if sid in b.by_id and b.by_id[sid].status == "not-validated"]
    if closed:
        pytest.skip(f"not validated: {', '.join(closed)} (the document does not validate this platform)")


def pytest_bdd_before_step(request, feature, scenario, step, step_func):
    cucumber.record_step_start(request.node, step)


def pytest_bdd_after_step(request, feature, scenario, step, step_func, step_func_args):
    cucumber.record_step_end(request.node, failed=False)


def pytest_bdd_step_error(request, feature, scenario, step, step_func, step_func_args, exception):
    cucumber.record_step_end(request.node, failed=True)


def shards_problem(count: int | None) -> str | None:
    """What is wrong with a --stateful-shards value (None: nothing)."""
    if count is not None and not 1 <= count <= 1000:
        return f"the number of shards must be from 1 to 1000, got {count}"
    return None


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
    from certconform.run_guard import message_only

    check_failed = call.excinfo is not None and is_check_failure(item.config, call.excinfo)
    with message_only(item, call, check_failed):
        outcome = yield
    report = outcome.get_result()
    log = getattr(item, "_certconform_log", None)
    if log is not None and report.when == "call":
        report.certconform_log = list(log)
    coverage = getattr(item, "_certconform_coverage", None)  # a stateful shard's tally (conformance/coverage.py)
    if coverage is not None and report.when == "call":
        report.certconform_coverage = coverage
    if report.when == "call":
        data = cucumber.report_data(item)
        if data is not None:
            report.certconform_cucumber = data
    if report.failed and check_failed:
        # A check that failed says everything in its message: show that, not pytest's and
        # pytest-bdd's frames. Crashes of the suite keep their traceback, and so does --tb=long.
        report.longrepr = call.excinfo.getrepr(style="value", chain=False)
    # The tier travels with the test into JUnit (<properties>) and the HTML report; a test ended
    # by an adapter error (tier contract) also carries verdict=error (run_guard.mark_junit).
    if report.failed and report.when in ("setup", "call"):
        from certconform.reports import _tier_of, report_message

        tier = _tier_of(report_message(report))
        _property(item, report, "tier", tier)
        if tier == "contract":
            _property(item, report, "verdict", "error")
    if report.skipped and report.when in ("setup", "call"):
        # A check the capabilities rule out: <skipped message="not supported: ..."> in JUnit, and
        # the verdict said as a property too (as for verdict=error)
        from certconform.reports import is_not_supported, report_message

        if is_not_supported(report_message(report)):
            _property(item, report, "verdict", "not-supported")
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


CHECK_MESSAGE_PREFIXES = ("[document:", "[reading:", "[contract:")


def is_check_failure(config, excinfo) -> bool:
    """True when a test failed because a check of the suite failed (not because the suite or
    pytest crashed): an AssertionError with a message that cites a tier, or that the suite's own
    step or test code raised. Only under the default --tb=auto."""
    if config.getoption("tbstyle", "auto") != "auto" or config.getoption("fulltrace", False):
        return False
    if not isinstance(excinfo.value, AssertionError) or not str(excinfo.value).strip():
        return False
    if str(excinfo.value).startswith(CHECK_MESSAGE_PREFIXES):
        return True
    raised_in = Path(excinfo.traceback[-1].path) if excinfo.traceback else None
    judging = (package_dir("steps"), package_dir("conformance"))
    return raised_in is not None and any(d in raised_in.parents for d in judging)


def pytest_runtest_logreport(report):
    if _CELLS[0] is not None:
        _CELLS[0].flush_messages()  # a person is needed, ...: the cells' lines, from the main thread
    collector = _COLLECTOR[0]
    if collector is not None:
        collector.add(report)
        if report.when == "teardown" and _JOURNAL[0] is not None and report.nodeid in collector.tests:
            rec = collector.tests[report.nodeid]
            _JOURNAL[0].write({"k": "test", "nodeid": rec.nodeid, "name": rec.name, "feature": rec.feature,
                               "statements": list(rec.statements), "outcome": rec.outcome, "message": rec.message,
                               "duration": round(rec.duration, 4), "log": rec.log})
    if _CUCUMBER[0] is not None:
        _CUCUMBER[0].add(report)
    coverage = getattr(report, "certconform_coverage", None)
    if coverage is not None:  # on the controller, from every worker: merged into coverage.json
        _COVERAGE.append(coverage)
        if _JOURNAL[0] is not None:
            _JOURNAL[0].write({"k": "coverage", "data": coverage})
    props = dict(report.user_properties)
    if "statements" not in props:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        # config is not passed here; keep a module-level registry filled per session
        for sid in props["statements"].split(","):
            _RAN.setdefault(sid, []).append(_scenario_name(report.nodeid))


_RAN: dict[str, list[str]] = {}
_COLLECTOR: list = [None]  # the session's reports.Collector (controller only); the hook gets no config
_CUCUMBER: list = [None]  # the session's cucumber.CucumberWriter (controller only)
_JOURNAL: list = [None]  # the session's journal (controller only)
_CELLS: list = [None]  # the session's CellRun (when cells act concurrently)
_COVERAGE: list[dict] = []  # the stateful shards' tallies, merged into coverage.json at the end


def _scenario_name(nodeid: str) -> str:
    return nodeid.split("::")[-1]


def pytest_sessionstart(session):
    _RAN.clear()
    _COVERAGE.clear()
    _COLLECTOR[0] = session.config.stash.get(COLLECTOR_KEY, None)
    _CUCUMBER[0] = session.config.stash.get(CUCUMBER_KEY, None)
    _JOURNAL[0] = session.config.stash.get(JOURNAL_KEY, None)
    _CELLS[0] = cell_run(session.config)


@pytest.hookimpl(trylast=True)  # after other sessionfinish hooks (e.g. one writing coverage.json)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    from certconform import run_guard

    cut_short = run_guard.cut_short_reason(session, exitstatus)
    run = cell_run(config)
    if run is not None:
        run.finish()
        run.flush_messages()
    _CELLS[0] = None
    _write_cucumber(config)
    _write_coverage(config)  # before the reports, which read it
    collector = config.stash.get(COLLECTOR_KEY, None)
    if collector is not None:  # a conformance run: every report is written, cut short or not
        config.stash[SCENARIOS_KEY]["cut_short"] = cut_short
        if config.option.xmlpath:
            run_guard.mark_junit(config.option.xmlpath, cut_short)
    _write_traceability(config, cut_short)
    _COLLECTOR[0] = None
    journal = config.stash.get(JOURNAL_KEY, None)
    _JOURNAL[0] = None
    meta = run_metadata(config, collector) if collector is not None else None
    if journal is not None:
        journal.write({"k": "end", "meta": meta})
        journal.close()
    if collector is not None and (collector.tests or cut_short):
        from certconform.reports import write_reports

        out_dir = report_dir_of(config)
        try:
            summary = write_reports(collector, out_dir, meta)
        except OSError as exc:
            config.stash[SCENARIOS_KEY]["report_error"] = (
                f"cannot write reports to {out_dir}: {exc.strerror or exc}")
            return
        except Exception as exc:  # a report bug must not turn a finished run into a traceback
            config.stash[SCENARIOS_KEY]["report_error"] = (
                f"could not build results.json/index.html: {type(exc).__name__}: {exc}")
            return
        config.stash[SCENARIOS_KEY]["report"] = summary


def _write_cucumber(config) -> None:
    writer = config.stash.get(CUCUMBER_KEY, None)
    _CUCUMBER[0] = None
    if writer is None:
        return
    try:
        writer.write()
    except OSError as exc:
        config.stash[SCENARIOS_KEY]["cucumber_error"] = f"cannot write {writer.path}: {exc.strerror or exc}"
        return
    config.stash[SCENARIOS_KEY]["cucumber"] = f"cucumber: {writer.path}"


def run_metadata(config, collector) -> dict:
    """What results.json says about the run: implementation, capabilities, seed, duration, versions."""
    from certconform.reports import versions

    return {
        "implementation": config.getoption("mdm"),
        "edition": behaviour_module.current_edition(),
        "strict": bool(config.getoption("strict_readings")),
        "capabilities": _capabilities(config),
        "seed": _seed(config, collector),
        "started": collector.started,
        "duration": round(time.time() - collector.started, 3),
        "document_path": config.getoption("document"),
        "cut_short": config.stash[SCENARIOS_KEY].get("cut_short"),
        "report_dir": str(config.getoption("report_dir")),
        "versions": versions(),
        "extension_findings": _extension_findings(config),
        **_cells_metadata(config),
    }


def _extension_findings(config) -> list[dict]:
    """Faults of an optional contract extension the adapter fell back from (the HTTP adapter's
    observe_since): reported once each, in the reports and the terminal, without failing the run."""
    run = cell_run(config)
    findings = []
    for holder in (config.stash.get(ADAPTER_KEY, None), run.product if run is not None else None):
        try:
            found = getattr(holder, "contract_findings", None) if holder is not None else None
        except Exception:  # an adapter's own __getattr__ must not break the reports
            found = None
        if isinstance(found, list):
            findings += [dict(f) for f in found if isinstance(f, dict)]
    return findings


def _cells_metadata(config) -> dict:
    """results.json `run.cells`: how the run waited (windows, when a "stays" is judged) and, with
    cells, the plan (from the declared windows and the pool) beside what happened."""
    caps = config.stash[CAPS_KEY][1] if CAPS_KEY in config.stash else None
    if caps is None or (not caps.latent and cell_run(config) is None):
        return {}
    waits = {"forbidden_changes_judged": "after the longest window that could carry a change of the event "
                                         "(max of the revocation, removal and cause windows; delivery after a "
                                         "check-in), event by event"
                                         + (f" (--quiet-period {config.getoption('quiet_period')} s)"
                                            if config.getoption("quiet_period") is not None else ""),
             "windows": {c: caps.window(c) for c in ("delivery", "revocation", "removal", "propagation",
                                                     "device_action")}}
    run = cell_run(config)
    if run is None:
        return {"waiting": waits, "cells": None}
    cut_short = config.stash[SCENARIOS_KEY].get("cut_short") if SCENARIOS_KEY in config.stash else None
    if cut_short and run.plan is None:
        # a run that stopped early (-x, --maxfail, Ctrl-C) did part of its plan: the whole run's
        # figures would not compare with it, and working them out (a dry run of every cell) costs
        # as much as judging them
        planned = {"not_computed": f"the run was cut short ({cut_short})"}
    else:
        try:
            planned = run.planned()
        except Exception as exc:  # noqa: BLE001 - a plan that cannot be made must not cost the reports
            planned = {"error": f"{type(exc).__name__}: {exc}"}
    return {"waiting": waits, "cells": {"in_flight_at_most": run.limit, "planned": planned, "actual": run.actual()}}


def _capabilities(config):
    """The adapter's capabilities() answer if it has that method; None otherwise. Never raises.
    Read once per session (per xdist worker) and shared with capabilities_of."""
    if CAPS_KEY in config.stash:
        return config.stash[CAPS_KEY][0]
    return _read_capabilities(config)


def _read_capabilities(config):
    adapter = config.stash.get(ADAPTER_KEY, None)
    try:
        if adapter is None:  # under xdist the controller has not loaded it
            adapter = load_sut(config)
            config.stash[ADAPTER_KEY] = adapter
        method = getattr(adapter, "capabilities", None)
        if not callable(method):
            return None
        caps = method()
        json.dumps(caps)
        return caps
    except Exception as exc:  # a broken capabilities() must not break the reports
        return {"error": f"capabilities() failed: {type(exc).__name__}: {exc}"}


def capabilities_of(config):
    """The implementation's declared capabilities (mdm/capabilities.py), read once per session.
    A capabilities() that fails counts as declaring none (results.json shows the error); a
    malformed value of one of the contract's keys is a usage error naming the key."""
    if CAPS_KEY not in config.stash:
        from certconform.mdm import capabilities

        raw = _read_capabilities(config)
        declared = raw if isinstance(raw, dict) and "error" not in raw else None
        try:
            parsed = capabilities.parse(declared)
        except ValueError as exc:
            raise pytest.UsageError(f"--mdm {config.getoption('mdm')}: {exc}") from None
        config.stash[CAPS_KEY] = (raw, parsed)
    return config.stash[CAPS_KEY][1]


@pytest.fixture(scope="session")
def capabilities(sut, pytestconfig):
    """The implementation's capabilities (events, observes, settle_s, devices), once per session."""
    return capabilities_of(pytestconfig)


def make_driver(sut, pytestconfig, caps, log=None):
    """A Driver set up for this run: capabilities, --poll, --quiet-period, --strict-readings."""
    from certconform.steps.driver import Driver

    return Driver(sut, log=log, strict=pytestconfig.getoption("strict_readings"), caps=caps,
                  poll_s=pytestconfig.getoption("poll"), quiet_s=pytestconfig.getoption("quiet_period"))


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


def _write_traceability(config, cut_short: str | None = None) -> None:
    if not _RAN and not cut_short:
        return
    from certconform.traceability import build

    out_dir = report_dir_of(config)
    data = build(_RAN, config.getoption("document"))
    data["cut_short"] = cut_short
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
    for key in ("cucumber", "cucumber_error", "summary", "error", "report", "report_error"):
        if key in info:
            terminalreporter.write_line(f"certconform {info[key]}")
    for finding in _extension_findings(config):
        terminalreporter.write_line(f"certconform {finding.get('message')}", yellow=True)
    if info.get("cut_short"):
        terminalreporter.write_line(f"certconform run cut short, the reports cover only the tests that ran: "
                                    f"{info['cut_short']}", red=True, bold=True)
