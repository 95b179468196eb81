"""Hypothesis settings profiles for the stateful conformance tests.

    ci        the default: derandomized (same sequences every run), bounded, a few seconds. A
              failure is shrunk by the delta-debugging pass (conformance/minimize.py), not by
              Hypothesis's shrinker: that one replays ~1,000 whole examples per counterexample
              (minutes with a wrapped adapter); the pass replays only the failing event sequence
              and is deterministic (it counts replays, not seconds)
    thorough  many more and longer sequences, random seed (printed on failure); Hypothesis's
              shrinker, then the delta-debugging pass
    kill      the ci sequences without any shrinking (used by the mutant catalogue: fast to fail)

Select with `pytest --hypothesis-profile thorough`. Registered from the project's conftest.py
so the option works from the first line of the run. `derandomize=True` implies database=None,
so a ci run never replays examples saved by an earlier run: the same code gives the same
counterexample.
"""
from hypothesis import HealthCheck, Phase, settings

COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
              print_blob=True)
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
# Profiles whose failing stateful example goes through the delta-debugging pass before it is
# printed (any other profile, e.g. the mutant catalogue's, prints Hypothesis's example as is).
MINIMIZE_PROFILES = frozenset({"ci", "thorough"})

settings.register_profile("ci", max_examples=200, stateful_step_count=30, derandomize=True, phases=NO_SHRINK,
                          **COMMON)
# derandomize=False said explicitly: under CI=true Hypothesis's own default profile is derandomized,
# and a profile that only inherits would then replay the same sequences on every CI run
settings.register_profile("thorough", max_examples=1000, stateful_step_count=100, derandomize=False, **COMMON)
# `kill`: the ci sequences, no delta debugging either (a kill needs no minimal example)
settings.register_profile("kill", parent=settings.get_profile("ci"))
settings.load_profile("ci")
