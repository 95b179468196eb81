"""Self-test: the conformance suite catches every mutant of tests/mutants.py and passes every
honest wrapper and legitimate variant.

The whole catalogue runs once (the conformance suite in a subprocess per entry, two at a time,
see tests.mutants.run_catalogue); each entry is then its own test id. A mutant is killed only by
exit code 1 with a failed check (a usage error, an internal error or an adapter crash is not a
kill); an honest wrapper or legitimate variant must exit 0. The kill-rate table is written to
reports/mutants.json and printed.

Under pytest-xdist the catalogue still runs once: the first worker runs it under a file lock and
the others read its results.
"""
from __future__ import annotations

import fcntl
import json
import time
from dataclasses import asdict

import pytest

try:
    from tests import mutants
except ImportError:  # tests/ itself on sys.path (rootdir-relative import mode)
    import mutants

ENTRIES = mutants.catalogue()
WORKERS = 2


@pytest.fixture(scope="session")
def catalogue_results(tmp_path_factory, pytestconfig) -> dict[str, mutants.Outcome]:
    # One directory per session, the same for every xdist worker of it.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(pytestconfig, "workerinput") else base
    data_file = shared / "certconform-mutants.json"
    with open(shared / "certconform-mutants.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if data_file.exists():
            outcomes = [mutants.Outcome(**o) for o in json.loads(data_file.read_text())["results"]]
            started = None
        else:
            started = time.monotonic()
            outcomes = mutants.run_catalogue(ENTRIES, workers=WORKERS)
            data_file.write_text(json.dumps({"results": [asdict(o) for o in outcomes]}))
    if started is not None:
        path = mutants.write_report(outcomes)
        table = mutants.format_table(outcomes)
        text = f"\nmutant catalogue ({time.monotonic() - started:.0f}s, {WORKERS} workers; {path}):\n{table}\n"
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(text)
        else:
            print(text)
    return {o.name: o for o in outcomes}


def _why(o: mutants.Outcome) -> str:
    return f"\n--- last lines of `pytest --mdm tests.mutants:{o.name}` ---\n{o.tail}" if o.tail else ""


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group == "mutant"], ids=lambda e: e.name)
def test_mutant_is_killed(entry, catalogue_results):
    o = catalogue_results[entry.name]
    survivors = [n for n, r in catalogue_results.items() if r.group == "mutant" and not r.ok]
    if o.exit_code == 0:
        pytest.fail(f"mutant {o.name} SURVIVED ({o.fault}; should break {', '.join(o.breaks)}): the suite passed it. "
                    f"Survivors: {', '.join(survivors)}")
    assert o.ok, (f"mutant {o.name} was not killed by a failed check: exit code {o.exit_code}, "
                  f"first failure {o.exception} in {o.caught_by}{_why(o)}")
    assert o.caught_by, f"mutant {o.name}: exit code 1 but no failing test found in the output{_why(o)}"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group != "mutant"], ids=lambda e: e.name)
def test_correct_implementation_passes(entry, catalogue_results):
    o = catalogue_results[entry.name]
    assert o.ok, (f"{o.group} entry {o.name} ({o.fault}) must conform, but the suite exited {o.exit_code}: "
                  f"{o.caught_by} -- {o.message}{_why(o)}")


def test_catalogue_covers_the_brief():
    """At least 24 mutants, each naming its fault and the statements/contract rule it breaks, and
    single-rule mutants on every validated platform."""
    mutant_classes = mutants.MUTANTS
    assert len(mutant_classes) >= 24
    for cls in mutant_classes:
        assert cls.__doc__ and cls.fault and cls.breaks, cls.__name__
    for cls in mutants.HONEST + mutants.LEGIT:
        assert cls.__doc__, cls.__name__
    names = " ".join(c.__name__ for c in mutant_classes)
    for platform in ("Windows", "Ios", "Knox", "Mac"):
        assert platform in names
    assert len({c.__name__ for c in mutant_classes + mutants.HONEST + mutants.LEGIT}) == len(ENTRIES)
