"""The adapter's keep-alive transport (mdm/http_transport.py) against small stdlib servers that
close connections, chunk and compress answers, stall, or are not there: the httpx API above it
sees what httpx's own transport would show."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from certconform.mdm.http_adapter import HttpAdapter
from certconform.mdm.http_transport import KeepAliveTransport

try:
    from tests.servers import free_port
except ImportError:
    from servers import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        type(self).received.append((self.path, body, self.headers.get("Content-Type")))
        if self.path == "/drop":  # reads the request, then hangs up without answering
            self.close_connection = True
            return
        self._answer(204, b"")

    def do_GET(self) -> None:
        type(self).received.append((self.path, b"", None))
        if self.path == "/hang-up-after":  # answers, then closes without saying so (no Connection: close)
            self._answer(200, b'{"ok": 1}', {"Content-Type": "application/json"})
            self.close_connection = True
        elif self.path == "/close":
            self._answer(200, b"[]", {"Connection": "close"})
            self.close_connection = True
        elif self.path == "/chunked-gzip":
            data = gzip.compress(b'[{"serial": "A"}]')
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            for piece in (data[:5], data[5:]):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, b"[]")
        else:
            self._answer(200, b"[]", {"Content-Type": "application/json"})


@pytest.fixture()
def server():
    _Handler.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _client(url: str, **kwargs) -> tuple[httpx.Client, KeepAliveTransport]:
    transport = KeepAliveTransport()
    return httpx.Client(base_url=url, transport=transport, **kwargs), transport


def test_connections_are_reused_and_bodies_arrive_whole(server):
    client, transport = _client(server)
    for n in range(5):
        response = client.post("/events", json={"type": "check_in", "device": f"d{n}"})
        assert response.status_code == 204
        assert client.get("/certificates").json() == []
    assert transport.connections_opened == 1
    posted = [(json.loads(body), ctype) for path, body, ctype in _Handler.received if path == "/events"]
    assert posted == [({"type": "check_in", "device": f"d{n}"}, "application/json") for n in range(5)]


def test_a_connection_the_server_closed_is_not_reused(server):
    client, transport = _client(server)
    assert client.get("/hang-up-after").json() == {"ok": 1}
    time.sleep(0.2)  # let the server's close arrive (ordering, not a timing assertion)
    assert client.get("/certificates").status_code == 200
    assert client.get("/close").json() == []  # says Connection: close
    assert client.get("/certificates").status_code == 200
    assert transport.connections_opened == 3


def test_chunked_and_compressed_answers_are_decoded(server):
    client, _ = _client(server)
    assert client.get("/chunked-gzip").json() == [{"serial": "A"}]


def test_a_post_the_server_hung_up_on_is_reported_not_resent(server):
    client, _ = _client(server)
    client.get("/certificates")  # a kept-alive connection exists
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/drop", json={"type": "wipe", "device": "d"})
    assert [path for path, _, _ in _Handler.received].count("/drop") == 1


def test_timeouts_and_refusals_are_httpx_errors_the_adapter_words(server):
    client, _ = _client(server, timeout=httpx.Timeout(0.2))
    with pytest.raises(httpx.ReadTimeout):
        client.get("/slow")
    refused, _ = _client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(httpx.ConnectError, match="refused"):
        refused.get("/certificates")
    adapter = HttpAdapter(server, timeout=0.2)  # the plain server: no observe_since, answers "[]"
    assert adapter.observe() == []
    with pytest.raises(TimeoutError, match="timed out"):  # the adapter's per-call timeout (mdm/guarded.py)
        adapter._request("GET", "/slow")


def test_https_goes_to_the_fallback_transport():
    seen = []
    transport = KeepAliveTransport(httpx.MockTransport(lambda request: seen.append(request.url) or httpx.Response(204)))
    client = httpx.Client(transport=transport)
    assert client.get("https://mdm.example/certificates").status_code == 204
    assert [str(u) for u in seen] == ["https://mdm.example/certificates"] and transport.connections_opened == 0
