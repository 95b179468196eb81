"""The seeded regressions of a fuzz campaign (`certconform fuzz`, certconform/fuzz.py): with env
CERTCONFORM_FUZZ_DATABASE=URL (a directory or redis://...), the failing sequences a campaign saved
in that example database are replayed against --mdm by the same state machine and oracle as the
stateful test, and a failure is reported as that test's are (delta-debugged, as a Gherkin
feature naming the statements it breaks).

Without the variable this module defines no test (nothing is collected, nothing is skipped); with
a database that holds no failing sequence the test is skipped, saying so (it could judge nothing).
Only the database's saved failures run (Hypothesis's `reuse` phase): no new sequence is
generated, so the replay costs what those sequences cost. Their database key is the state
machine's: after its rules change, old entries no longer replay and a new campaign is needed.
"""
from __future__ import annotations

import os

# Nothing else is imported without the variable: a module that only imports still changed what
# the derandomized stateful shards explore in a mutant run (realistic.ReinstallsRemovedCert
# survived with it, was killed without it).
if os.environ.get("CERTCONFORM_FUZZ_DATABASE"):
    import unittest

    import pytest
    from hypothesis import Phase, settings

    from certconform.fuzz import DATABASE_ENV, database

    @pytest.mark.stateful
    def test_replay_fuzz_database(sut, conformance_log, pytestconfig, capabilities):
        """Every failing sequence of the fuzz database, replayed and judged."""
        from certconform.conformance.test_stateful import run_machine

        url = os.environ[DATABASE_ENV]
        conformance_log.append({"type": "run", "seed": f"replay of the fuzz database {url}", "profile": "reuse"})
        replay = settings(settings(), database=database(url), derandomize=False, phases=[Phase.explicit, Phase.reuse])
        try:
            run_machine(sut, conformance_log, replay, minimizing=True, strict=pytestconfig.getoption("strict_readings"),
                        driver_options={"caps": capabilities, "poll_s": pytestconfig.getoption("poll"),
                                        "quiet_s": pytestconfig.getoption("quiet_period")})
        except (pytest.skip.Exception, unittest.SkipTest):  # Hypothesis: no example to run (the reuse phase found none)
            pytest.skip(f"the fuzz database {url} holds no failing sequence of this state machine: nothing to replay")
