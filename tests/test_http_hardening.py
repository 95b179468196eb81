"""The mock server keeps web pages and stray clients out (mdm/server.py, mdm/serve_options.py):
Host and Origin allow-list, JSON content type, one Authorization header, token sources, the
warning for an exposed server without a token, error bodies and the OpenAPI document."""
from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from certconform.mdm.mock import MockMDM
from certconform.mdm.serve_options import ServeError, exposure_warning, is_loopback, resolve_token, split_host
from certconform.mdm.server import PEM_MEDIA_TYPE, create_app

try:
    from tests.servers import PROJECT_ROOT, free_port, running_mock_server
except ImportError:
    from servers import PROJECT_ROOT, free_port, running_mock_server

USER = {"type": "create_user", "user": "u"}


def client_for(app, host: str = "127.0.0.1") -> TestClient:
    return TestClient(app, base_url=f"http://{host}")


# -- Host ------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "127.0.0.2", "", "a b"])
def test_a_host_not_allowed_is_refused_naming_it_and_nothing_changes(host):
    service = MockMDM()
    with client_for(create_app(service)) as c:
        assert c.post("/events", json=USER).status_code == 204
        before = service.observe()
        for method, path, kwargs in [("post", "/events", {"json": {"type": "create_user", "user": "x"}}),
                                     ("post", "/reset", {}), ("get", "/certificates", {})]:
            response = getattr(c, method)(path, headers={"host": host}, **kwargs)
            assert response.status_code == 421, (path, response.text)
            message = response.json()["error"]
            assert repr(host) in message and "--allow-host" in message and "\n" not in message
        assert service.observe() == before
        with pytest.raises(ValueError, match="already"):  # u still exists, x was never created
            service.apply(USER)
        service.apply({"type": "create_user", "user": "x"})


def test_loopback_names_at_the_servers_port_only():
    app = create_app(port=8080)
    with client_for(app) as c:
        for host in ("127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"):
            assert c.get("/certificates", headers={"host": host}).status_code == 200, host
        for host in ("127.0.0.1:9999", "localhost", "[::1]:80", "[::1"):
            assert c.get("/certificates", headers={"host": host}).status_code == 421, host


def test_a_non_loopback_bind_serves_its_own_address_not_the_loopback_names():
    with client_for(create_app(host="10.1.2.3", port=8080)) as c:
        assert c.get("/certificates", headers={"host": "10.1.2.3:8080"}).status_code == 200
        assert c.get("/certificates", headers={"host": "localhost:8080"}).status_code == 421
    with client_for(create_app(host="0.0.0.0", port=8080)) as c:  # a wildcard listens on loopback too
        assert c.get("/certificates", headers={"host": "localhost:8080"}).status_code == 200
        assert c.get("/certificates", headers={"host": "192.168.1.5:8080"}).status_code == 421


def test_allow_host_admits_a_name():
    app = create_app(host="0.0.0.0", port=8080, allow_hosts=["mdm.lab.example", "proxy.example:443"])
    with client_for(app) as c:
        for host in ("mdm.lab.example", "mdm.lab.example:8080", "MDM.lab.example:1234", "proxy.example:443"):
            assert c.post("/events", json={"type": "create_user", "user": host}, headers={"host": host}
                          ).status_code == 204, host
        for host in ("proxy.example", "proxy.example:8080", "other.lab.example"):
            assert c.get("/certificates", headers={"host": host}).status_code == 421, host


def test_host_names_are_parsed_strictly():
    assert split_host("[::1]:8080") == ("[::1]", 8080)
    assert split_host("::1") == ("[::1]", None)
    assert split_host("Example.COM") == ("example.com", None)
    for bad in ("", "a b", "x:port", "x:0", "x:70000", "[::1", "[::1]x", "user@host"):
        with pytest.raises(ValueError):
            split_host(bad)


# -- Origin ----------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:9999", "null", "file://",
                                    "http://localhost.evil.example:8080"])
def test_a_foreign_origin_is_refused_and_nothing_changes(origin):
    service = MockMDM()
    with client_for(create_app(service, port=8080)) as c:
        host = {"host": "127.0.0.1:8080"}
        assert c.post("/events", json=USER, headers=host).status_code == 204
        before = service.observe()
        for method, path, kwargs in [("post", "/events", {"json": {"type": "create_user", "user": "x"}}),
                                     ("post", "/reset", {}), ("get", "/certificates", {})]:
            response = getattr(c, method)(path, headers={**host, "origin": origin}, **kwargs)
            assert response.status_code == 403, (origin, path)
            assert repr(origin) in response.json()["error"]
        assert service.observe() == before
        service.apply({"type": "create_user", "user": "x"})  # x was never created


def test_an_allowed_origin_is_served():
    with client_for(create_app(port=8080, allow_hosts=["ui.example"])) as c:
        for origin in ("http://127.0.0.1:8080", "http://localhost:8080", "https://ui.example"):
            response = c.post("/events", json={"type": "create_user", "user": origin},
                              headers={"host": "127.0.0.1:8080", "origin": origin})
            assert response.status_code == 204, origin


# -- Authorization ---------------------------------------------------------------------------
def test_more_than_one_authorization_header_is_401():
    service = MockMDM()
    with client_for(create_app(service, token="s3cret")) as c:
        for pair in (["Bearer wrong", "Bearer s3cret"], ["Bearer s3cret", "Bearer s3cret"], ["Bearer s3cret", ""]):
            response = c.post("/events", json=USER, headers=[("authorization", v) for v in pair])
            assert response.status_code == 401, pair
            assert "more than one Authorization" in response.json()["error"]
        assert service.observe() == [] and c.get("/certificates").status_code == 401
        assert c.post("/events", json=USER, headers={"authorization": "Bearer s3cret"}).status_code == 204


def _raw(base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None = None):
    """One request with exactly these headers (repeats kept), over a fresh connection."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_real_server_refuses_duplicate_authorization_and_foreign_host_and_origin(mock_server_with_token):
    base_url, token = mock_server_with_token
    host = urlsplit(base_url).netloc
    right, wrong = f"Bearer {token}", "Bearer wrong"
    assert _raw(base_url, "POST", "/reset", [("Host", host), ("Authorization", right)])[0] == 204
    body = b'{"type": "create_user", "user": "u"}'
    json_type = ("Content-Type", "application/json")
    for headers, status in [
        ([("Host", host), ("Authorization", wrong), ("Authorization", right), json_type], 401),
        ([("Host", "evil.example"), ("Authorization", right), json_type], 421),
        ([("Host", host), ("Host", "evil.example"), ("Authorization", right), json_type], None),  # h11: 400
        ([("Host", host), ("Authorization", right), ("Origin", "https://evil.example"), json_type], 403),
        ([("Host", host), ("Authorization", right), ("Content-Type", "text/plain")], 415),
    ]:
        got, answer = _raw(base_url, "POST", "/events", headers, body)
        assert got == status if status else got in (400, 421), (headers, got, answer)
    assert httpx.get(f"{base_url}/certificates", headers={"Authorization": right}).json() == []
    assert _raw(base_url, "POST", "/events", [("Host", host), ("Authorization", right), json_type], body)[0] == 204


# -- token sources ---------------------------------------------------------------------------
@pytest.mark.parametrize("token_via", ["env", "file"])
def test_token_from_env_or_file(token_via):
    with running_mock_server(token="from-" + token_via, token_via=token_via) as base_url:
        assert httpx.get(f"{base_url}/certificates").status_code == 401
        assert httpx.get(f"{base_url}/certificates", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(f"{base_url}/certificates", headers={"Authorization": f"Bearer from-{token_via}"})
        assert ok.status_code == 200 and ok.json() == []


def test_token_precedence_is_option_then_file_then_env(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {"CERTCONFORM_TOKEN": "from-env"}
    assert resolve_token("from-option", str(token_file), env) == "from-option"
    assert resolve_token(None, str(token_file), env) == "from-file"
    assert resolve_token(None, None, env) == "from-env"
    assert resolve_token(None, None, {"CERTCONFORM_TOKEN": "  "}) is None
    assert resolve_token(None, None, {}) is None


@pytest.mark.parametrize("content", [None, "", "\n", "   \nsecond\n"], ids=["missing", "empty", "blank", "blank-first"])
def test_a_missing_or_empty_token_file_is_one_line_exit_2(tmp_path, content):
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    with pytest.raises(ServeError, match="--token-file"):
        resolve_token(None, str(token_file), {})
    result = subprocess.run([sys.executable, "-m", "certconform.cli", "serve", "--port", str(free_port()),
                             "--token-file", str(token_file)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(token_file) in lines[0] and lines[0].startswith("certconform serve:")


def test_bad_allow_host_is_one_line_exit_2():
    result = subprocess.run([sys.executable, "-m", "certconform.cli", "serve", "--port", str(free_port()),
                             "--allow-host", "a b"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--allow-host" in result.stderr


# -- the warning -----------------------------------------------------------------------------
def test_warning_decision():
    for host in ("0.0.0.0", "::", "192.168.1.10", "mdm.lab.example"):
        warning = exposure_warning(host, None)
        assert warning and host in warning and "token" in warning, host
        assert exposure_warning(host, "s3cret") is None
    for host in ("127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"):
        assert is_loopback(host) and exposure_warning(host, None) is None, host


@contextlib.contextmanager
def _occupied_port(host: str):
    """A port on `host` that something already listens on: the server under test fails to bind
    it and exits, so it is never exposed and cannot hang the run."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _serve_stderr(*args: str, env: dict | None = None) -> str:
    full_env = {k: v for k, v in os.environ.items() if k != "CERTCONFORM_TOKEN"}
    full_env.update(env or {})
    process = subprocess.Popen([sys.executable, "-m", "certconform.cli", "serve", *args], cwd=PROJECT_ROOT,
                               env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return stderr


def test_serving_a_non_loopback_address_without_a_token_warns_on_stderr():
    with _occupied_port("0.0.0.0") as port:
        stderr = _serve_stderr("--host", "0.0.0.0", "--port", str(port))
        warned = [line for line in stderr.splitlines() if "warning" in line]
        assert len(warned) == 1 and "0.0.0.0" in warned[0] and "without a token" in warned[0], stderr
        assert "warning" not in _serve_stderr("--host", "0.0.0.0", "--port", str(port),
                                              env={"CERTCONFORM_TOKEN": "s3cret"})
    with _occupied_port("127.0.0.1") as port:
        assert "warning" not in _serve_stderr("--host", "127.0.0.1", "--port", str(port))


# -- error bodies and the OpenAPI document ---------------------------------------------------
def test_404_and_405_answer_with_error():
    with client_for(create_app()) as c:
        missing = c.get("/nope")
        assert missing.status_code == 404 and "/nope" in missing.json()["error"] and "detail" not in missing.json()
        wrong = c.get("/events")
        assert wrong.status_code == 405 and "POST" in wrong.json()["error"] and "detail" not in wrong.json()
        assert wrong.headers["allow"] == "POST"


def test_openapi_declares_security_pem_and_errors_on_every_route():
    with client_for(create_app()) as c:
        doc = c.get("/openapi.json").json()
        schemes = doc["components"]["securitySchemes"]
        (name, scheme), = schemes.items()
        assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
        assert "only when" in scheme["description"]
        assert doc["security"] == [{name: []}]
        assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
        error_ref = {"$ref": "#/components/schemas/Error"}
        operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
        assert {(p, m) for p, m, _ in operations} >= {("/reset", "post"), ("/events", "post"), ("/ca", "get"),
                                                       ("/crl", "get"), ("/certificates", "get"),
                                                       ("/capabilities", "get")}
        for path, method, op in operations:
            wanted = {"401", "403", "404", "405", "421"} | ({"413", "415"} if method == "post" else set())
            assert wanted <= set(op["responses"]), (path, method)
            for status in wanted:
                assert op["responses"][status]["content"]["application/json"]["schema"] == error_ref
        for path in ("/ca", "/crl"):
            documented = set(doc["paths"][path]["get"]["responses"]["200"]["content"])
            served = c.get(path).headers["content-type"]
            assert documented == {PEM_MEDIA_TYPE} and served == PEM_MEDIA_TYPE, (path, documented, served)


def test_adapter_names_the_refused_host_in_one_line(monkeypatch):
    """Reaching the server by a name it does not serve is a usage error that says which it does."""
    from certconform import mdm
    from certconform.mdm.http_adapter import HttpAdapter

    with client_for(create_app(host="10.1.2.3", port=8080)) as c:
        refused = c.get("/certificates", headers={"host": "localhost:8080"})
    import urllib3

    from tests.servers import AnswerPool

    monkeypatch.setattr(urllib3, "connection_from_url",
                        lambda *args, **kwargs: AnswerPool(lambda method, url: (refused.status_code, refused.content)))
    with pytest.raises(mdm.AdapterSpecError, match="421") as raised:
        HttpAdapter("http://localhost:8080")
    message = str(raised.value)
    assert "\n" not in message and "'localhost:8080'" in message and "10.1.2.3:8080" in message
