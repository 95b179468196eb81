"""How a run survives a hung or broken implementation (pytest plugin, loaded by certconform/plugin.py).

What this module knows: the options --call-timeout (env CERTCONFORM_CALL_TIMEOUT) and
--max-adapter-errors, how the implementation is wrapped in mdm/guarded.py's GuardedAdapter,
which finished tests ended by an adapter error (their message carries tier contract: a crash, a
timeout, a malformed inventory, a refused set-up; reports score them verdict `error`), fail-fast
after N consecutive ones (pytest's session.shouldstop), why a run was cut short (fail-fast,
Ctrl-C, -x / --maxfail), how the terminal shows one (ERROR, with the error's one line instead of
a traceback, as docs/running.md promises), and how junit.xml shows verdict error: pytest's junitxml writes a
call-phase exception as <failure> and offers no public way to choose <error>, so the test
carries the property verdict=error (a public user property) and, once pytest has written the
file, its <failure> is renamed <error> and the suite's counts follow.
What it does not know: what a verdict is beyond that (certconform/reports.py), or how the
reports are written (certconform/plugin.py calls `cut_short_reason` and `mark_junit`).
"""
from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET

import pytest

from certconform.mdm.guarded import DEFAULT_CALL_TIMEOUT, HTTP_GRACE, GuardedAdapter

MAX_ADAPTER_ERRORS = 5  # consecutive tests ended by an adapter error before the run stops
STATE_KEY = pytest.StashKey[dict]()
MAX_REASON = 200  # characters of the last error quoted in the stop line


def pytest_addoption(parser):
    group = parser.getgroup("certconform", "certconform conformance suite")
    group.addoption("--call-timeout", default=None, metavar="SECONDS",
                    help=f"deadline for every adapter call (reset, apply, observe, capabilities), in process and "
                         f"over HTTP; 0 = none (default: env CERTCONFORM_CALL_TIMEOUT, else {DEFAULT_CALL_TIMEOUT:g})")
    group.addoption("--max-adapter-errors", default=None, metavar="N",
                    help=f"stop the run after N consecutive tests ended by an adapter error (crash, timeout, "
                         f"contract break); 0 = never stop (default: {MAX_ADAPTER_ERRORS})")


def _number(config, option: str, env: str | None, default, kind):
    raw = config.getoption(option)
    source = "--" + option.replace("_", "-")
    if raw is None and env and os.environ.get(env, "").strip():
        raw, source = os.environ[env], env
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if value < 0 or value != value:  # negative or NaN
        raise pytest.UsageError(f"{source} {raw!r}: want a number >= 0")
    return value


def call_timeout(config) -> float | None:
    """The per-call deadline in seconds, None when turned off (0)."""
    value = _number(config, "call_timeout", "CERTCONFORM_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT, float)
    return value or None


def max_adapter_errors(config) -> int:
    return _number(config, "max_adapter_errors", None, MAX_ADAPTER_ERRORS, int)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    call_timeout(config)  # a bad value is a usage error before anything runs
    max_adapter_errors(config)
    config.stash[STATE_KEY] = {"consecutive": 0, "cut_short": None}


def guarded_load(config, load):
    """`load(timeout)` builds the adapter; it runs in the guard's worker under the deadline. An
    http:// adapter enforces the same deadline on its requests itself (urllib3), with a little grace."""
    timeout = call_timeout(config)
    spec = str(config.getoption("mdm") or "")
    grace = HTTP_GRACE if spec.startswith(("http://", "https://")) else 0.0
    return GuardedAdapter.build(lambda: load(timeout), timeout, grace)


def is_adapter_error(report) -> bool:
    """A failed phase whose message names tier contract: the implementation crashed, hung or
    broke the adapter contract (verdict error), rather than departing from the document."""
    if not report.failed:
        return False
    from certconform.reports import _tier_of, report_message

    return _tier_of(report_message(report)) == "contract"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail-fast: count consecutive tests that ended by an adapter error, where the test runs
    (the single process, or each xdist worker; xdist hands a worker's stop on to the controller)."""
    one_line = call.excinfo is not None and _shows_one_line(item.config, call.excinfo)
    with message_only(item, call, one_line):
        outcome = yield
    report = outcome.get_result()
    if report.failed and one_line:
        # the AdapterError's message says everything: not pytest's and pytest-bdd's ~60 lines of frames
        report.longrepr = call.excinfo.getrepr(style="value", chain=False)
    if report.when != "call" and not (report.when == "setup" and not report.passed):
        return
    state = item.config.stash.get(STATE_KEY, None)
    if state is None or report.skipped:
        return
    if not is_adapter_error(report):
        state["consecutive"] = 0
        return
    state["consecutive"] += 1
    limit = max_adapter_errors(item.config)
    if limit and state["consecutive"] >= limit:
        from certconform.reports import report_message

        last = report_message(report).splitlines()[0].removeprefix("error in setup: ")
        last = last if len(last) <= MAX_REASON else last[:MAX_REASON - 4] + " ..."
        item.session.shouldstop = (f"certconform stopped after {limit} consecutive tests ended by an adapter error "
                                   f"(--max-adapter-errors {limit}); the last: {last}")


@contextlib.contextmanager
def message_only(item, call, wanted: bool):
    """While pytest makes the report of a test that failed in its call and whose failure is shown
    as its message alone (`wanted`), it formats that message instead of the traceback it would
    throw away: pytest parses the source file of every frame of a traceback it formats (about a
    third of a second of CPU a failure here), and a run against a product that fails most checks
    would spend most of its time on it."""
    if not (wanted and call.when == "call"):
        yield
        return
    item.repr_failure = _value_only  # an instance attribute: shadows Function.repr_failure for this report
    try:
        yield
    finally:
        del item.repr_failure


def _value_only(excinfo):
    return excinfo.getrepr(style="value", chain=False)


def _shows_one_line(config, excinfo) -> bool:
    """An adapter error (mdm/guarded.py's AdapterError: a crash, a timeout, a busy adapter) is shown
    as its one-line message, unless the user asked for tracebacks (--tb other than auto, --full-trace)."""
    from certconform.mdm.guarded import AdapterError

    return isinstance(excinfo.value, AdapterError) and config.getoption("tbstyle", "auto") == "auto" \
        and not config.getoption("fulltrace", False)


def pytest_report_teststatus(report, config):
    """A test ended by an adapter error is an ERROR on the terminal (E), as in junit.xml (<error>)
    and the reports (verdict error), not FAILED: nothing about the document was judged."""
    if report.when == "call" and is_adapter_error(report):
        return "error", "E", "ERROR"
    return None


def pytest_keyboard_interrupt(excinfo):
    """Ctrl-C, or pytest / xdist stopping the run (their Interrupted carries the reason)."""
    text = str(excinfo.value).strip()
    _LAST_INTERRUPT[0] = text or "interrupted (Ctrl-C)"


_LAST_INTERRUPT: list = [None]  # the hook gets no config


def pytest_sessionstart(session):
    _LAST_INTERRUPT[0] = None


def cut_short_reason(session, exitstatus) -> str | None:
    """Why the run ended before every selected test ran, or None when it did not."""
    if _LAST_INTERRUPT[0]:
        return _LAST_INTERRUPT[0]
    for why in (session.shouldstop, session.shouldfail):
        if why:
            return str(why)
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    return None


def mark_junit(path, cut_short: str | None) -> None:
    """Rewrite junit.xml: a test with property verdict=error gets <error> instead of <failure>
    (the suite's failures/errors counts follow); a cut-short run carries a testsuite property
    `cut_short`. Leaves the file alone when it is missing or unreadable."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    root = tree.getroot()
    changed = False
    for suite in ([root] if root.tag == "testsuite" else root.findall("testsuite")):
        moved = 0
        for case in suite.iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if props.get("verdict") == "error":
                for failure in case.findall("failure"):
                    failure.tag = "error"
                    moved += 1
        if moved:
            suite.set("failures", str(int(suite.get("failures", "0")) - moved))
            suite.set("errors", str(int(suite.get("errors", "0")) + moved))
            changed = True
        if cut_short:
            props = suite.find("properties")
            if props is None:
                props = ET.Element("properties")
                suite.insert(0, props)
            ET.SubElement(props, "property", name="cut_short", value=cut_short)
            changed = True
    if changed:
        tree.write(path, encoding="utf-8", xml_declaration=True)
