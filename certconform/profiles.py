"""Hypothesis settings profiles for the stateful conformance tests.

    ci        the default: derandomized (same sequences every run), bounded, a few seconds
    thorough  many more and longer sequences, random seed (printed on failure)
    kill      the ci sequences without shrinking (used by the mutant catalogue: fast to fail)

Select with `pytest --hypothesis-profile thorough`. Registered from the project's conftest.py
so the option works from the first line of the run.
"""
from hypothesis import HealthCheck, Phase, settings

COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
              print_blob=True)

settings.register_profile("ci", max_examples=200, stateful_step_count=30, derandomize=True, **COMMON)
settings.register_profile("thorough", max_examples=1000, stateful_step_count=100, **COMMON)
# `kill`: the ci sequences without shrinking, for the mutant catalogue (a kill needs no minimal example)
settings.register_profile("kill", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("ci")
