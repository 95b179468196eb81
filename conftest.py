"""Project-wide pytest setup for a source checkout.

`pytest` (no path) runs the conformance suite in conformance/ against --mdm (default: mock);
`pytest tests` runs the suite's own self-tests. The certconform plugin (which also registers the
step definitions and the Hypothesis profiles) normally arrives through its `pytest11` entry point;
naming it here covers a checkout that was never installed (same name, so never registered twice).
"""
pytest_plugins = ["certconform.plugin"]
