"""Every bad input over HTTP: 422 with a one-line message naming the field, nothing changes.

Checked twice: through FastAPI's TestClient and against the real server (`python -m mdm.server`)."""
from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from certconform.mdm.server import create_app

try:
    from tests.test_mock_bad_input import BAD_EVENTS, WORLD, bad_id, check_message
except ImportError:
    from test_mock_bad_input import BAD_EVENTS, WORLD, bad_id, check_message


def load_world(client) -> list:
    assert client.post("/reset").status_code == 204
    for e in WORLD:
        assert client.post("/events", json=e).status_code == 204, e
    return client.get("/certificates").json()


@pytest.fixture(scope="module")
def test_client():
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def server_client(mock_server_url):
    with httpx.Client(base_url=mock_server_url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("case", BAD_EVENTS, ids=bad_id)
@pytest.mark.parametrize("backend", ["testclient", "server"])
def test_bad_event_is_422_naming_the_field(case, backend, request):
    client = request.getfixturevalue("test_client" if backend == "testclient" else "server_client")
    event, field, word = case
    before = load_world(client)
    response = client.post("/events", json=event)
    assert response.status_code == 422, response.text
    check_message(response.json()["error"], field, word)
    assert client.get("/certificates").json() == before
    # the state behind the inventory is unchanged: the same follow-up works as before
    assert client.post("/events", json={"type": "delete_certificate", "device": "d1", "profile": "s1"}).status_code == 204
    assert client.post("/events", json={"type": "check_in", "device": "d1"}).status_code == 204
    assert len(client.get("/certificates").json()) == 2


@pytest.mark.parametrize("backend", ["testclient", "server"])
def test_rejected_and_unparseable_over_http(backend, request):
    client = request.getfixturevalue("test_client" if backend == "testclient" else "server_client")
    before = load_world(client)
    assert client.post("/events", json={"type": "wipe", "device": "d2"}).status_code == 409
    assert client.post("/events", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/events", content=b"x" * (70 * 1024)).status_code == 413
    assert client.get("/certificates").json() == before
