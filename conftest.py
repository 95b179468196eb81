"""Project-wide pytest setup: the certconform plugin, Hypothesis profiles and the step definitions.

`pytest` (no path) runs the conformance suite in conformance/ against --mdm (default: mock).
`pytest tests` runs the suite's own self-tests.
"""
pytest_plugins = ["certconform.plugin"]

import certconform.profiles  # noqa: E402,F401  (registers the ci / thorough Hypothesis profiles)
from steps.replay_steps import *  # noqa: E402,F401,F403
from steps.scenario_steps import *  # noqa: E402,F401,F403  (pytest-bdd finds steps through conftest)
