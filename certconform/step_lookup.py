"""pytest-bdd's step lookup, remembered: which step definitions can run a step.

What this module knows: that pytest-bdd 8 and 9 find a step's definitions with
`pytest_bdd.scenario.find_fixturedefs_for_step(step, fixturemanager, node)`, a pass over every
fixture name that asks pytest which of its definitions `node` can see and then tries each step
parser. The answer depends only on the fixtures registered, on what the node can see and on the
step's type and text; this suite asks it again for every step of every scenario (about 12 a
scenario), and the pass is about a third of the CPU of a feature run. What it does not know:
anything of the suite's own steps (steps/registry.py finds those for the act phase).

`install()` wraps that function with a cache keyed by the fixture manager, the node's parent (a
test function's fixtures are those of its module or class: parametrized scenarios share them), the
step's type and text, and the number of fixture names registered (pytest-bdd's own per-step
fixture is registered only while its step runs, so the key changes with the registry). Without
that function (another pytest-bdd), nothing is wrapped and the lookup is pytest-bdd's own.
CERTCONFORM_STEP_LOOKUP_CACHE=0 leaves it unwrapped (tests/test_reports_run.py compares the two).
"""
from __future__ import annotations

import os

ENV = "CERTCONFORM_STEP_LOOKUP_CACHE"


def install() -> bool:
    """Wrap pytest-bdd's step lookup with the cache (once); True when it is wrapped."""
    if os.environ.get(ENV) == "0":
        return False
    try:
        from pytest_bdd import scenario
        from pytest_bdd.compat import get_fixture_names
    except ImportError:
        return False
    original = getattr(scenario, "find_fixturedefs_for_step", None)
    if original is None:
        return False
    if getattr(original, "_certconform_cached", False):
        return True
    cache: dict = {}

    def find_fixturedefs_for_step(step, fixturemanager, node):
        parent = getattr(node, "parent", None)
        key = (id(fixturemanager), parent.nodeid if parent is not None else node.nodeid, step.type, step.name,
               len(get_fixture_names(fixturemanager)))
        found = cache.get(key)
        if found is None:
            found = cache[key] = tuple(original(step=step, fixturemanager=fixturemanager, node=node))
        return iter(found)

    find_fixturedefs_for_step._certconform_cached = True
    find_fixturedefs_for_step.__wrapped__ = original
    scenario.find_fixturedefs_for_step = find_fixturedefs_for_step
    return True
