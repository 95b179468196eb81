# What this module knows: how to carry one httpx request over plain HTTP/1.1 on persistent
# (keep-alive) sockets, parsing answers with httptools (uvicorn's C parser, a declared
# dependency), and how to report failures as the httpx exceptions the adapter already
# understands. What it does not know: the contract; https, HEAD and proxies stay with httpx's
# own transport.
"""KeepAliveTransport: a lean httpx transport for plain-HTTP servers on the suite's hot path.

The HTTP adapter sends two requests per event (POST /events, GET /certificates). httpx's default
transport (httpcore + h11, pure Python) costs about 300 us of client CPU per request; writing the
request in one send and parsing the answer with httptools costs a few tens. The httpx API above
it is unchanged (timeouts, headers, status codes, content decoding, exceptions), so the adapter's
code does not change.

- Connections are reused while the server keeps them open; an idle connection is dropped after
  KEEPALIVE_EXPIRY seconds (shorter than uvicorn's 5 s) or when the server has closed it (a
  readable idle socket), so a request rarely goes out on a connection the server has given up.
- A request whose sending fails on a reused connection (the server closed it just then: nothing
  was read) is sent once more on a fresh connection; any later failure is reported, never resent.
- Per-request timeouts come from httpx (`request.extensions["timeout"]`).
"""
from __future__ import annotations

import select
import socket
import threading
import time

import httpx
import httptools

KEEPALIVE_EXPIRY = 4.0
MAX_IDLE = 4
_CHUNK = 65536


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read"), timeout.get("write")


class _Answer:
    """httptools callbacks: collects one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code() if self.parser is not None else 0

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # only meaningful while the parser is on this message (it resets after)
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def framed(self) -> bool:
        """Whether the body's end is declared (Content-Length or chunked) rather than the close."""
        return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)


class _Connection:
    def __init__(self, host: str, port: int, timeout: float | None) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def closed_by_peer(self) -> bool:
        """An idle keep-alive socket that is readable has been closed (or sent garbage): unusable."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class KeepAliveTransport(httpx.BaseTransport):
    """httpx transport: plain http:// over pooled keep-alive sockets; https://, HEAD (and anything
    else) is handed to `fallback` (httpx's default transport)."""

    def __init__(self, fallback: httpx.BaseTransport | None = None) -> None:
        self._fallback = fallback or httpx.HTTPTransport()
        self._idle: dict[tuple[str, int], list[tuple[_Connection, float]]] = {}
        self._lock = threading.Lock()
        self.connections_opened = 0  # for self-tests and benchmarks: keep-alive keeps this low

    # -- the pool --------------------------------------------------------------------------------
    def _checkout(self, key: tuple[str, int]) -> _Connection | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                conn, since = idle.pop()
                if now - since < KEEPALIVE_EXPIRY and not conn.closed_by_peer():
                    return conn
                conn.close()
        return None

    def _checkin(self, key: tuple[str, int], conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = list(self._idle.values()), {}
        for idle in pools:
            for conn, _ in idle:
                conn.close()
        self._fallback.close()

    # -- one request -----------------------------------------------------------------------------
    @staticmethod
    def _head(request: httpx.Request, body: bytes) -> bytes:
        """The request line and headers, as httpx prepared them (the body as Content-Length)."""
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
        for name, value in request.headers.raw:
            if name.lower() not in (b"content-length", b"transfer-encoding"):
                lines.append(name + b": " + value)
        if body or request.method not in ("GET", "DELETE", "OPTIONS"):
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _connect(self, key: tuple[str, int], timeout: float | None, request: httpx.Request) -> _Connection:
        try:
            conn = _Connection(key[0], key[1], timeout)
        except socket.timeout:
            raise httpx.ConnectTimeout("timed out", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        self.connections_opened += 1
        return conn

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http" or request.method == "HEAD":
            return self._fallback.handle_request(request)
        key = (url.host, url.port or 80)
        body = request.read()
        message = self._head(request, body) + body
        connect_timeout, read_timeout, write_timeout = _timeouts(request)
        conn = self._checkout(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(key, connect_timeout, request)
            try:
                conn.sock.settimeout(write_timeout)
                conn.sock.sendall(message)  # the request line, headers and body in one send
            except socket.timeout:
                conn.close()
                raise httpx.WriteTimeout("timed out", request=request) from None
            except OSError as exc:
                conn.close()
                if reused:  # the server closed the kept-alive connection just now: nothing was read
                    conn, reused = None, False
                    continue
                raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from None
            break
        answer = _Answer()
        parser = answer.parser = httptools.HttpResponseParser(answer)
        try:
            conn.sock.settimeout(read_timeout)
            while not answer.complete:
                data = conn.sock.recv(_CHUNK)
                if not data:
                    if answer.headers_done and not answer.framed():
                        break  # a body delimited by the server closing the connection
                    raise httpx.RemoteProtocolError("server disconnected without sending a complete response",
                                                    request=request)
                parser.feed_data(data)
        except socket.timeout:
            conn.close()
            raise httpx.ReadTimeout("timed out", request=request) from None
        except httptools.HttpParserError as exc:
            conn.close()
            raise httpx.RemoteProtocolError(f"malformed response: {exc}", request=request) from None
        except OSError as exc:
            conn.close()
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None
        except httpx.RemoteProtocolError:
            conn.close()
            raise
        if answer.complete and answer.keep_alive:
            self._checkin(key, conn)
        else:
            conn.close()
        # chunked framing is undone by the parser; httpx undoes content encodings (gzip ...)
        headers = [(k, v) for k, v in answer.headers if k.lower() != b"transfer-encoding"]
        return httpx.Response(answer.status, headers=headers, stream=httpx.ByteStream(b"".join(answer.body)),
                              request=request, extensions={"http_version": b"HTTP/1.1"})
