"""Self-test: the conformance suite catches every mutant of tests/mutants.py, flags every STRICT
entry only under --strict-readings, and passes every honest wrapper and legitimate variant.

The whole catalogue runs once (the conformance suite in a process per run, forked from a warm
one: tests/warm_pytest.py; two synchronous and six realistic ones at a time, see
tests.mutants.run_catalogue; a realistic mutant's kill run is the feature scenarios, then the
stateful test shard by shard only if they passed: tests.mutants.default_run); each entry is then its own test
id. A run is killed only by exit code 1 with a failed check (a usage error, an internal error or
an adapter crash is not a kill).
  MUTANTS  killed by the default run (a document or contract check)
  STRICT   the default run passes (exit 0); the --strict-readings run is killed, citing a reading
  HONEST / LEGIT  both runs pass (exit 0)
The kill-rate table is written to reports/mutants.json and printed.

Under pytest-xdist the catalogue still runs once: the first worker runs it under a file lock and
the others read its results.
"""
from __future__ import annotations

import fcntl
import json
import time
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
            outcomes = [mutants.Outcome.from_dict(o) for o in json.loads(data_file.read_text())["results"]]
            started = None
        else:
            started = time.monotonic()
            outcomes = mutants.run_catalogue(ENTRIES, workers=WORKERS)
            data_file.write_text(json.dumps({"results": [o.to_dict() for o in outcomes]}))
    if started is not None:
        path = mutants.write_report(outcomes, wall_seconds=time.monotonic() - started)
        table = mutants.format_table(outcomes) + "\n\n" + mutants.format_kill_table(outcomes)
        text = (f"\nmutant catalogue ({time.monotonic() - started:.0f}s, {WORKERS} synchronous + "
                f"{mutants.REALISTIC_WORKERS} realistic workers; {path}):\n{table}\n")
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(text)
        else:
            print(text)
    return {o.name: o for o in outcomes}


def _why(run: mutants.Run | None, name: str) -> str:
    if run is None or not run.tail:
        return ""
    flag = " --strict-readings" if run.strict else ""
    return f"\n--- last lines of `pytest --mdm tests.mutants:{name}{flag}` ---\n{run.tail}"


def _reading_ids() -> set[str]:
    """Reading-tier interpretations of every edition (an entry may be judged by a later one)."""
    from certconform.model.behaviour import editions, load

    return {i.id for e in editions() for i in load(edition=e).interpretations if i.tier == "reading"}


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group == "mutant"], ids=lambda e: e.name)
def test_mutant_is_killed(entry, catalogue_results):
    o = catalogue_results[entry.name]
    run = o.default
    survivors = [n for n, r in catalogue_results.items() if r.group == "mutant" and not r.ok]
    if run.exit_code == 0:
        pytest.fail(f"mutant {o.name} SURVIVED ({o.fault}; should break {', '.join(o.breaks)}): the suite passed it. "
                    f"Survivors: {', '.join(survivors)}")
    if entry.wait and run.exit_code == 1 and not run.waited:
        pytest.fail(f"mutant {o.name} ({o.fault}) makes a revocation miss the declared settle window, so the "
                    f"failure must name the wait ('after waiting ... s'); it said: {run.message}{_why(run, o.name)}")
    assert run.ok, (f"mutant {o.name} was not killed by a failed check: exit code {run.exit_code}, "
                    f"first failure {run.exception} in {run.caught_by}{_why(run, o.name)}")
    assert run.caught_by, f"mutant {o.name}: exit code 1 but no failing test found in the output{_why(run, o.name)}"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group == "unkillable"], ids=lambda e: e.name)
def test_unkillable_entry_is_ruled_out_by_the_capabilities(entry, catalogue_results):
    """A realistic mutant whose fault needs an event the realistic mock cannot perform (a deletion
    by hand): honestly not killable there. Its run passes, every statement it breaks is reported
    not-supported (not passed), and its synchronous twin is killed."""
    o = catalogue_results[entry.name]
    assert entry.needs and not set(entry.needs) & mutants.realistic_events()
    assert o.default.exit_code == 0, (f"{o.name}: expected a passing run with {', '.join(o.breaks)} not-supported, got "
                                      f"exit {o.default.exit_code}: {o.default.caught_by} -- {o.default.message}"
                                      f"{_why(o.default, o.name)}")
    assert o.default.verdicts and set(o.default.verdicts.values()) == {"not-supported"}, o.default.verdicts
    twin = catalogue_results[entry.name.removeprefix("realistic.")]
    assert twin.group == "mutant" and twin.ok, f"the synchronous {twin.name} must stay killed"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group == "strict"], ids=lambda e: e.name)
def test_strict_entry_deviates_only(entry, catalogue_results):
    """A STRICT entry departs only from a reading: the default run passes, the strict run fails,
    and what fails it cites a reading-tier interpretation."""
    o = catalogue_results[entry.name]
    assert o.default.ok, (f"STRICT entry {o.name} ({o.fault}) must pass by default (it departs only from "
                          f"{', '.join(o.breaks)}), but the suite exited {o.default.exit_code}: "
                          f"{o.default.caught_by} -- {o.default.message}{_why(o.default, o.name)}")
    assert o.strict is not None
    if o.strict.exit_code == 0:
        pytest.fail(f"STRICT entry {o.name} ({o.fault}) passed under --strict-readings: the reading "
                    f"{', '.join(o.breaks)} did not catch it")
    assert o.strict.ok, (f"STRICT entry {o.name}: --strict-readings run exited {o.strict.exit_code} without a failed "
                         f"check ({o.strict.exception} in {o.strict.caught_by}){_why(o.strict, o.name)}")
    assert set(o.strict.cited) & _reading_ids(), (f"STRICT entry {o.name}: the strict failure cites no reading-tier "
                                                  f"interpretation ({', '.join(o.strict.cited) or 'nothing'})")


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.group in ("honest", "legit")], ids=lambda e: e.name)
def test_correct_implementation_passes(entry, catalogue_results):
    o = catalogue_results[entry.name]
    for run in (o.default, o.strict):
        if run is None:
            continue
        flag = " under --strict-readings" if run.strict else ""
        assert run.ok, (f"{o.group} entry {o.name} ({o.fault}) must conform{flag}, but the suite exited "
                        f"{run.exit_code}: {run.caught_by} -- {run.message}{_why(run, o.name)}")


def test_catalogue_covers_the_brief():
    """At least 24 mutants, each naming its fault and the statements/contract rule it breaks;
    single-rule mutants on every validated platform; every STRICT entry names the reading-tier
    interpretation it departs from; no entry sits in two lists."""
    mutant_classes = mutants.MUTANTS
    assert len(mutant_classes) >= 24
    for cls in mutant_classes:
        assert cls.__doc__ and cls.fault and cls.breaks, cls.__name__
    readings = _reading_ids()
    for cls in mutants.STRICT:
        assert cls.__doc__ and cls.fault, cls.__name__
        named = set(cls.breaks) & readings
        assert named, f"{cls.__name__} names no reading-tier interpretation in `breaks`"
        assert any(i in cls.__doc__ for i in named), f"{cls.__name__}: the docstring does not name {named}"
    for cls in mutants.HONEST + mutants.LEGIT:
        assert cls.__doc__, cls.__name__
    names = " ".join(c.__name__ for c in mutant_classes)
    for platform in ("Windows", "Ios", "Knox", "Mac"):
        assert platform in names
    every = mutant_classes + mutants.STRICT + mutants.HONEST + mutants.LEGIT
    realistic = mutants.realistic_catalogue()
    assert len({c.__name__ for c in every}) == len(every) == len(ENTRIES) - len(realistic)


def test_every_mutant_has_a_realistic_twin():
    """The catalogue rebuilt around the realistic mock: every mutant, and the timing-only mutants,
    wrap MockMDM(realistic=True) (so the run uses its capabilities); a timing mutant must be killed
    naming the wait; only a fault that needs an event outside the realistic capabilities is
    unkillable there; the PassThrough wrapper around it must pass."""
    realistic = {e.name: e for e in mutants.realistic_catalogue()}
    for cls in mutants.MUTANTS + mutants.REALISTIC_ONLY:
        e = realistic[f"realistic.{cls.__name__}"]
        variant = getattr(mutants.realistic, cls.__name__)
        assert issubclass(variant, cls) and variant().inner.realistic, cls.__name__
        assert e.group == ("unkillable" if getattr(cls, "needs", ()) else "mutant"), e
        assert e.wait == bool(getattr(cls, "late", False)), e
    assert realistic["realistic.PassThrough"].group == "honest"
    assert {e.name for e in realistic.values() if e.group == "unkillable"} == \
        {"realistic.NoReissueAfterManualDelete", "realistic.ReissueOneCheckInLate"}


def test_a_shadow_copy_is_a_deep_copy():
    """The wrappers' shadow is copied before every event (Shadow.copy, by hand for speed): the copy
    equals copy.deepcopy's and shares nothing mutable with the original."""
    import copy

    shadow = mutants.Shadow()
    for event in ({"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g"},
                  {"type": "add_member", "group": "g", "member": "u1"},
                  {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
                  {"type": "create_profile", "profile": "p", "kind": "scep", "ca": "intune", "root": "r"},
                  {"type": "assign_profile", "profile": "p", "group": "g"}):
        shadow.apply(event)
    fast, slow = shadow.copy(), copy.deepcopy(shadow)
    assert vars(fast) == vars(slow) and set(vars(fast)) == set(vars(mutants.Shadow()))
    for event in ({"type": "add_member", "group": "g", "member": "d1"}, {"type": "unassign_profile", "profile": "p",
                  "group": "g"}, {"type": "wipe", "device": "d1"}, {"type": "withdraw_license", "user": "u1"},
                  {"type": "enroll", "device": "d2", "platform": "ios", "user": "u1"}):
        fast.apply(event)
    assert vars(shadow) == vars(slow)  # the original did not move
