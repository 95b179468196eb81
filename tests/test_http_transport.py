"""The HTTP adapter's connection handling (urllib3, mdm/http_adapter.py) against small stdlib
servers that close connections, chunk and compress answers, stall, hang up or are not there:
connections are kept alive and never reused once closed, bodies arrive whole and decoded, an event
is never resent (a reset or a read the server hung up on is, once), and timeouts and refusals become the one-line errors mdm/guarded.py reports."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from certconform.mdm.http_adapter import HttpAdapter

try:
    from tests.servers import free_port
except ImportError:
    from servers import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list = []
    drops: dict = {}  # path -> how many more requests to it are hung up on without an answer

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
        if type(self).drops.get(self.path, 0) > 0:  # the next N requests to this path: hung up on
            type(self).drops[self.path] -= 1
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
    _Handler.received, _Handler.drops = [], {}
    httpd = _Counting(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _Counting(ThreadingHTTPServer):
    """Counts the connections it accepts (keep-alive keeps this low)."""

    accepted = 0

    def get_request(self):
        type(self).accepted += 1
        return super().get_request()


def _adapter(url: str, timeout: float | None = 10.0) -> HttpAdapter:
    adapter = HttpAdapter(url, timeout=timeout)  # its construction check is one GET /certificates
    _Handler.received.clear()
    return adapter


def test_connections_are_reused_and_bodies_arrive_whole(server):
    adapter = _adapter(server)
    before = _Counting.accepted
    for n in range(5):
        assert adapter._request("POST", "/events", json={"type": "check_in", "device": f"d{n}"}).status == 204
        assert adapter._request("GET", "/certificates").json() == []
    assert _Counting.accepted == before, "a new connection for a request that could reuse one"
    posted = [(json.loads(body), ctype) for path, body, ctype in _Handler.received if path == "/events"]
    assert posted == [({"type": "check_in", "device": f"d{n}"}, "application/json") for n in range(5)]


def test_a_connection_the_server_closed_is_not_reused(server):
    adapter = _adapter(server)
    before = _Counting.accepted
    assert adapter._request("GET", "/hang-up-after").json() == {"ok": 1}
    time.sleep(0.2)  # let the server's close arrive (ordering, not a timing assertion)
    assert adapter._request("GET", "/certificates").status == 200
    assert adapter._request("GET", "/close").json() == []  # says Connection: close
    assert adapter._request("GET", "/certificates").status == 200
    assert _Counting.accepted - before == 2


def test_chunked_and_compressed_answers_are_decoded(server):
    assert _adapter(server)._request("GET", "/chunked-gzip").json() == [{"serial": "A"}]


def test_a_post_the_server_hung_up_on_is_reported_not_resent(server):
    adapter = _adapter(server)
    adapter._request("GET", "/certificates")  # a kept-alive connection exists
    with pytest.raises(RuntimeError, match="POST .*/drop failed"):
        adapter._request("POST", "/drop", json={"type": "wipe", "device": "d"})
    assert [path for path, _, _ in _Handler.received].count("/drop") == 1


def test_a_reset_the_server_hung_up_on_is_sent_again_once(server):
    """A kept-alive connection the server dropped as reset() went out (uvicorn closes one after an
    exception in the app): reset, which can be repeated, is sent again on a new connection, once;
    an event never is (above)."""
    adapter = _adapter(server)
    _Handler.drops["/reset"] = 1
    adapter.reset()
    assert [path for path, _, _ in _Handler.received].count("/reset") == 2
    _Handler.drops["/reset"] = 2
    with pytest.raises(RuntimeError, match="POST .*/reset failed"):
        adapter.reset()
    assert [path for path, _, _ in _Handler.received].count("/reset") == 4


def test_timeouts_and_refusals_are_the_errors_the_guard_words(server):
    adapter = _adapter(server, timeout=0.2)  # the plain server: no observe_since, answers "[]"
    assert adapter.observe() == []
    with pytest.raises(TimeoutError, match=r"GET .*/slow: timed out after 0.2 s$"):  # mdm/guarded.py: a timeout
        adapter._request("GET", "/slow")
    with pytest.raises(Exception, match=r"cannot reach .* \(connection refused\): is the server running\?"):
        HttpAdapter(f"http://127.0.0.1:{free_port()}")


def test_a_server_under_a_path_prefix_is_asked_there(server):
    adapter = HttpAdapter(server + "/mdm/")
    adapter.observe()
    assert [path for path, _, _ in _Handler.received][-1].startswith("/mdm/certificates")
