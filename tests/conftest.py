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
    """The mutant catalogue first: it is the longest part of the self-tests (it runs the whole
    conformance suite per entry, see tests/test_mutants.py). Under `-n` (dev.py selftest) xdist's
    first batch of items then goes to one worker, which runs the catalogue while the other workers
    take everything else, instead of starting it last and waiting for it at the end."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_mutants.py") else 1)
