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


def pytest_collection_modifyitems(config, items):
    """The mutant catalogue first, and as one xdist group: it is the longest part of the
    self-tests (it runs the whole conformance suite per entry, see tests/test_mutants.py). Under
    `-n --dist loadgroup` (dev.py selftest) one worker takes all of its tests at the start and runs
    the catalogue while the other workers take everything else. (Spread over several workers,
    each would wait for the one catalogue run behind its file lock.)"""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_mutants.py") else 1)
    for item in items:
        if item.nodeid.startswith("tests/test_mutants.py"):
            item.add_marker(pytest.mark.xdist_group("mutant-catalogue"))
