"""Shared fixtures of the self-tests: a real mock MDM HTTP server (see tests/servers.py)."""
from __future__ import annotations

import pytest

try:
    from tests.servers import running_mock_server
except ImportError:  # tests/ on sys.path (rootdir-relative import mode) rather than the project root
    from servers import running_mock_server

MOCK_TOKEN = "certconform-test-token"


@pytest.fixture(scope="session")
def mock_server_url():
    """Base URL of a mock MDM server (no token) shared by the session; reset it before use."""
    with running_mock_server() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def mock_server_with_token():
    """(base URL, token) of a mock MDM server that requires a bearer token."""
    with running_mock_server(token=MOCK_TOKEN) as base_url:
        yield base_url, MOCK_TOKEN


# The self-tests that take longest, first (dev.py selftest runs `-n auto --dist loadfile`: one file
# is one unit of work, so each of these starts early on a worker of its own while the other workers
# take the many short files). The mutant catalogue runs the conformance suite dozens of times (see
# tests/test_mutants.py); its tests stay in one file so that one worker runs it once and nobody waits
# behind its file lock. (Not `--dist loadgroup`: with pytest 9.2 xdist 3.8 no longer applies
# `xdist_group` marks, pytest-dev/pytest-xdist#1386.)
LONGEST_FIRST = ("tests/test_mutants.py", "tests/test_slow_resume.py", "tests/test_intune_e2e.py", "tests/test_slow_runs.py",
                 "tests/test_intune_faults.py", "tests/test_realistic_runs.py",
                 "tests/test_realistic_proof.py", "tests/test_conformance_runs.py", "tests/test_reports_run.py",
                 "tests/test_fuzz.py")


def pytest_collection_modifyitems(config, items):
    """Order the files so that the longest start first (see LONGEST_FIRST); the order of the tests
    within a file is kept."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
