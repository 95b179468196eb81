"""Project-wide pytest setup: the certconform plugin and the feature step definitions.

`pytest` (no path) runs the conformance suite in conformance/ against --mdm (default: mock).
`pytest tests` runs the suite's own self-tests.
"""
pytest_plugins = ["certconform.plugin"]

from steps.scenario_steps import *  # noqa: E402,F401,F403  (pytest-bdd finds steps through conftest)
