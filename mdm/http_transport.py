# What this module knows: how to carry one httpx request over plain HTTP/1.1 with the standard
# library's http.client, on persistent (keep-alive) connections, and how to report failures as the
# httpx exceptions the adapter already understands. What it does not know: the contract; https
# and proxies stay with httpx's own transport.
"""KeepAliveTransport: a lean httpx transport for plain-HTTP servers on the suite's hot path.

The HTTP adapter sends two requests per event (POST /events, GET /certificates). httpx's default
transport (httpcore + h11, pure Python) costs about 300 us of client CPU per request; http.client
does the same work in about 100 us. The httpx API above it is unchanged (timeouts, headers,
status codes, exceptions), so the adapter's code does not change.

- Connections are reused while the server keeps them open; an idle connection is dropped after
  KEEPALIVE_EXPIRY seconds (shorter than uvicorn's 5 s) or when the server has closed it (a
  readable idle socket), so a request never goes out on a connection the server has given up.
- A request whose sending fails on a reused connection (the server closed it just then: nothing
  was read) is sent once more on a fresh connection; any later failure is reported, never retried.
- Per-request timeouts come from httpx (`request.extensions["timeout"]`).
"""
from __future__ import annotations

import http.client
import select
import socket
import threading
import time

import httpx

KEEPALIVE_EXPIRY = 4.0
MAX_IDLE = 4


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read"), timeout.get("write")


def _closed_by_peer(conn: _Connection) -> bool:
    """An idle keep-alive socket that is readable has been closed (or sent garbage): unusable."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class KeepAliveTransport(httpx.BaseTransport):
    """httpx transport: plain http:// over pooled http.client connections; https:// (and anything
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
                if now - since < KEEPALIVE_EXPIRY and not _closed_by_peer(conn):
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
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            return self._fallback.handle_request(request)
        key = (url.host, url.port or 80)
        body = request.read()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"transfer-encoding"]
        if len(headers) != len(request.headers.raw) or (body and not any(
                k.lower() == b"content-length" for k, _ in headers)):
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"Content-Length", str(len(body)).encode()))
        target = url.raw_path.decode("ascii")
        connect_timeout, read_timeout, write_timeout = _timeouts(request)
        conn = self._checkout(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = _Connection(key[0], key[1], timeout=connect_timeout)
                self.connections_opened += 1
                try:
                    conn.connect()
                except socket.timeout:
                    conn.close()
                    raise httpx.ConnectTimeout("timed out", request=request) from None
                except OSError as exc:
                    conn.close()
                    raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
            try:
                conn.sock.settimeout(write_timeout)
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body)  # headers and a bytes body go out in one send
            except socket.timeout:
                conn.close()
                raise httpx.WriteTimeout("timed out", request=request) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused:  # the server closed the kept-alive connection just now: nothing was read
                    conn, reused = None, False
                    continue
                raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from None
            break
        try:
            conn.sock.settimeout(read_timeout)
            response = conn.getresponse()
            content = response.read()
        except socket.timeout:
            conn.close()
            raise httpx.ReadTimeout("timed out", request=request) from None
        except http.client.HTTPException as exc:
            conn.close()
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from None
        except OSError as exc:
            conn.close()
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None
        if response.will_close:
            conn.close()
        else:
            self._checkin(key, conn)
        # http.client has undone any chunked framing; httpx undoes content encodings (gzip ...).
        raw_headers = [(k, v) for k, v in response.getheaders() if k.lower() != "transfer-encoding"]
        return httpx.Response(response.status, headers=raw_headers, stream=httpx.ByteStream(content),
                              request=request, extensions={"http_version": b"HTTP/1.1"})
