"""The mock MDM's HTTP binding (mdm/server.py), through FastAPI's TestClient."""
from __future__ import annotations

import json

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from certconform.mdm.mock import MockMDM
from certconform.mdm.server import MAX_BODY, create_app

SETUP = [
    {"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
    {"type": "enroll", "device": "mac", "platform": "macos", "user": "u"},
    {"type": "add_member", "group": "g", "member": "mac"},
    {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
    {"type": "assign_profile", "profile": "r", "group": "g"},
    {"type": "assign_profile", "profile": "s", "group": "g"},
    {"type": "check_in", "device": "mac"},
]


@pytest.fixture
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def loaded(client):
    for e in SETUP:
        assert client.post("/events", json=e).status_code == 204
    return client


def test_events_then_certificates(loaded):
    records = loaded.get("/certificates").json()
    assert [(r["profile"], r["kind"], r["installed"], r["revoked"]) for r in records] == [
        ("r", "trusted_root", True, False), ("s", "scep", True, False)]


def test_reset_is_204_and_forgets(loaded):
    response = loaded.post("/reset")
    assert response.status_code == 204 and response.content == b""
    assert loaded.get("/certificates").json() == []


def test_rejected_event_is_409_and_changes_nothing(loaded):
    before = loaded.get("/certificates").json()
    response = loaded.post("/events", json={"type": "wipe", "device": "mac"})
    assert response.status_code == 409
    assert "wipe" in response.json()["error"]
    assert loaded.get("/certificates").json() == before


def test_unparseable_json_is_400(loaded):
    before = loaded.get("/certificates").json()
    for body in (b"{not json", b"\xff\xfe\x00", b"", b"[" * 60000):
        response = loaded.post("/events", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
        assert "JSON" in response.json()["error"]
    assert loaded.get("/certificates").json() == before


def test_body_over_64_kib_is_413(loaded):
    before = loaded.get("/certificates").json()
    event = {"type": "create_user", "user": "x" * (MAX_BODY + 10)}
    response = loaded.post("/events", content=json.dumps(event), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "64" in response.json()["error"] or str(MAX_BODY) in response.json()["error"]

    def chunks():  # no content-length: the limit is enforced while reading
        for _ in range(5):
            yield b" " * 20000

    response = loaded.post("/events", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert loaded.get("/certificates").json() == before


def test_body_just_under_the_limit_is_read(loaded):
    event = json.dumps({"type": "create_user", "user": "y" * 1000}).ljust(MAX_BODY)
    assert len(event) == MAX_BODY
    assert loaded.post("/events", content=event, headers={"content-type": "application/json"}).status_code == 204


@pytest.mark.parametrize("content_type", [None, "text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/jsonx", "json"])
def test_events_need_a_json_content_type(loaded, content_type):
    """A page can post text/plain (or a form) cross-site without a CORS preflight: refused."""
    before = loaded.get("/certificates").json()
    headers = {"content-type": content_type} if content_type else {}
    response = loaded.post("/events", content=b'{"type": "create_user", "user": "v"}', headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"] and "\n" not in response.json()["error"]
    assert loaded.get("/certificates").json() == before
    assert loaded.post("/events", json={"type": "create_user", "user": "v"}).status_code == 204  # v was not created


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_json_content_type_with_parameters_is_read(loaded, content_type):
    response = loaded.post("/events", content=b'{"type": "create_user", "user": "v"}',
                           headers={"content-type": content_type})
    assert response.status_code == 204


def test_reset_takes_no_content_type_or_json_only(loaded):
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = loaded.post("/reset", content=b"", headers={"content-type": content_type})
        assert response.status_code == 415 and "application/json" in response.json()["error"]
        assert loaded.get("/certificates").json() != []
    assert loaded.post("/reset", headers={"content-type": "application/json"}).status_code == 204
    loaded.post("/events", json={"type": "create_user", "user": "u"})
    assert loaded.post("/reset").status_code == 204  # no content type, no body


def test_capabilities(client):
    caps = client.get("/capabilities").json()
    assert set(caps["platforms"]) == {"windows", "ios", "macos", "android_knox", "android_work", "android_legacy"}
    assert set(caps["kinds"]) == {"trusted_root", "scep", "pkcs", "pkcs_imported"}
    assert set(caps["cas"]) == {"intune", "third_party"}


def test_ca_and_crl_are_pem_and_the_crl_verifies(loaded):
    loaded.post("/events", json={"type": "remove_member", "group": "g", "member": "mac"})
    ca = loaded.get("/ca")
    crl = loaded.get("/crl")
    assert ca.status_code == crl.status_code == 200
    issuing, _root = x509.load_pem_x509_certificates(ca.content)
    parsed = x509.load_pem_x509_crl(crl.content)
    assert parsed.is_signature_valid(issuing.public_key())
    revoked = {r["serial"] for r in loaded.get("/certificates").json() if r["revoked"]}
    assert revoked and {format(e.serial_number, "X") for e in parsed} == revoked


def test_openapi_describes_every_event_type(client):
    from certconform.mdm.mock.events import EVENT_FIELDS

    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Event"}
    event = doc["components"]["schemas"]["Event"]
    refs = [v["$ref"].rsplit("/", 1)[1] for v in event["oneOf"]]
    types = set()
    for name in refs:
        schema = doc["components"]["schemas"][name]
        types.add(schema["properties"]["type"]["const"])
        assert set(EVENT_FIELDS[schema["properties"]["type"]["const"]]) <= set(schema["required"])
    assert types == set(EVENT_FIELDS)
    assert event["discriminator"]["propertyName"] == "type"
    statuses = set(doc["paths"]["/events"]["post"]["responses"])
    assert {"204", "400", "401", "409", "413", "422"} <= statuses


ENDPOINTS = [("post", "/reset"), ("post", "/events"), ("get", "/certificates"), ("get", "/capabilities"),
             ("get", "/ca"), ("get", "/crl"), ("get", "/openapi.json")]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_token_is_required_on_every_endpoint(method, path):
    service = MockMDM()
    with TestClient(create_app(service, token="s3cret"), base_url="http://127.0.0.1") as c:
        kwargs = {"json": {"type": "create_user", "user": "u"}} if path == "/events" else {}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = getattr(c, method)(path, headers=headers, **kwargs)
            assert response.status_code == 401, headers
            assert "token" in response.json()["error"]
        assert service.observe() == []
        response = getattr(c, method)(path, headers={"Authorization": "Bearer s3cret"}, **kwargs)
        assert response.status_code in (200, 204)


def test_service_can_be_injected():
    service = MockMDM()
    with TestClient(create_app(service), base_url="http://127.0.0.1") as c:
        c.post("/events", json={"type": "create_user", "user": "u"})
    with pytest.raises(ValueError, match="already"):
        service.apply({"type": "create_user", "user": "u"})
