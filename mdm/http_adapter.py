# What this module knows: the client side of the contract's HTTP binding -- which request each
# adapter call becomes and what each status code means. What it does not know: anything about
# certificates; it forwards events and inventories unchanged. A request that gets no answer
# within `timeout` seconds raises TimeoutError (mdm/guarded.py reports it as that call's
# timeout); an answer that is not the JSON the binding promises names the request and shows the
# start of the body.
"""HttpAdapter: the adapter contract over HTTP (spec "http://HOST:PORT" or "https://...").

The requests go through urllib3 2.x (one connection pool, connections kept alive and checked
before reuse; a request is never resent, so an event is never applied twice): as fast as the
hand-written keep-alive transport it replaced, well within 15 % (benchmarks/README.md, "HTTP client").

When the server declares `"observe_since": true` in GET /capabilities, observe() asks only for
what changed since its last answer (GET /certificates?since=CURSOR, see observe_since.py) and
rebuilds the whole list from its copy; otherwise, or after an answer that does not add up, it
sends plain GET /certificates. Either way observe() returns what a plain GET would.
"""
from __future__ import annotations

import http.client
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import (ConnectTimeoutError, HTTPError as TransportError, NameResolutionError,
                                NewConnectionError, ProtocolError, ReadTimeoutError)

from certconform.mdm import AdapterSpecError, EventRejected
from certconform.mdm.observe_since import apply_changes, contract_finding, left_out_changes, spot_checked


BODY_PREVIEW = 80  # bytes of a body that is not JSON shown in the message
Response = urllib3.BaseHTTPResponse


def _preview(response: Response) -> str:
    body = response.data
    return repr(body[:BODY_PREVIEW]) + (f" ... ({len(body)} bytes)" if len(body) > BODY_PREVIEW else "")


def _json(method: str, path: str, response: Response):
    """The body as JSON; a body that is not JSON is a RuntimeError naming the request."""
    try:
        return response.json()
    except ValueError:
        raise RuntimeError(f"{method} {path} answered HTTP {response.status} with a body that is not JSON: "
                           f"{_preview(response)}") from None


def _error_text(method: str, path: str, response: Response) -> str:
    """The server's one-line error (`{"error": ...}`); anything else names the request and shows the body."""
    try:
        body = response.json()
    except ValueError:
        return f"{method} {path} answered HTTP {response.status} with a body that is not JSON: {_preview(response)}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return f"{method} {path} answered HTTP {response.status} without an \"error\" field: {_preview(response)}"


def _is_timeout(exc: Exception) -> bool:
    # urllib3 makes NewConnectionError (refused, unknown host) a ConnectTimeoutError for compatibility
    return isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)) and not isinstance(exc, NewConnectionError)


def _connection_dropped(exc: BaseException) -> bool:
    """Whether a ProtocolError says the server dropped the connection before it answered."""
    cause = exc.args[1] if len(exc.args) > 1 else exc.__cause__
    return isinstance(cause, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected))


def _why(exc: Exception) -> str:
    if isinstance(exc, NameResolutionError):
        return "unknown host"
    if _is_timeout(exc):
        return "connection timed out" if isinstance(exc, ConnectTimeoutError) else "timed out"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "unknown host"
    return (str(exc).splitlines() or [type(exc).__name__])[0]


class HttpAdapter:
    """Talks to any server that speaks the contract's HTTP binding."""

    # incremental observation (class defaults, set per instance once used)
    _since: bool | None = None  # does the server offer GET /certificates?since= (None: not asked yet)
    _copy: tuple | list = ()  # the inventory as of _cursor
    _cursor = ""
    _answers = 0  # incremental answers so far: the 1st, 2nd, 4th, 8th, ... are checked against a plain GET

    def __init__(self, base_url: str, token: str | None = None, timeout: float | None = 10.0) -> None:
        """`timeout`: seconds each request may take (None: no limit; connecting takes at most 5 s)."""
        # faults of an optional extension, each reported once (certconform/plugin.py puts them in
        # the reports as contract findings naming the extension); the run falls back and goes on
        self.contract_findings: list[dict] = []
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._prefix = urlsplit(self.base_url).path.rstrip("/")  # a server mounted under a path
        self._pool = urllib3.connection_from_url(
            self.base_url, headers=headers, maxsize=4, block=False, retries=False,
            timeout=urllib3.Timeout(connect=min(timeout or 5.0, 5.0), read=timeout))
        try:
            response = self._pool.request("GET", self._prefix + "/certificates")
        except (TransportError, OSError) as exc:
            self._pool.close()
            raise AdapterSpecError(f"cannot reach {self.base_url} ({_why(exc)}): is the server running?") from None
        if response.status == 401:
            self._pool.close()
            detail = "no token was sent (use --mdm-token or MDM_TOKEN)" if not token else "check --mdm-token / MDM_TOKEN"
            raise AdapterSpecError(f"{self.base_url} rejected the token (HTTP 401): {detail}")
        if response.status in (403, 421):  # the server refuses this Host / Origin: say why
            self._pool.close()
            raise AdapterSpecError(f"{self.base_url}/certificates answered HTTP {response.status}: "
                                   f"{_error_text('GET', '/certificates', response)}")
        if response.status != 200:
            self._pool.close()
            raise AdapterSpecError(
                f"{self.base_url}/certificates answered HTTP {response.status}, want 200: "
                "is this a certconform MDM server?"
            )

    def _request(self, method: str, path: str, json=None, params: dict | None = None) -> Response:
        url = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        try:
            try:
                response = self._pool.request(method, url, json=json)
            except ProtocolError as exc:
                # A kept-alive connection the server closed as this request went out (a server
                # closes one after an error of its own, e.g. uvicorn after an exception in the
                # app): a request that only reads or resets is sent again, once, on a new
                # connection; an event is never sent twice (its error is reported).
                if not (method == "GET" or path == "/reset") or not _connection_dropped(exc):
                    raise
                response = self._pool.request(method, url, json=json)
        except (TransportError, OSError) as exc:
            if _is_timeout(exc):
                limit = getattr(self, "timeout", None)
                raise TimeoutError(f"{method} {self.base_url}{path}: {_why(exc)}"
                                   + (f" after {limit:g} s" if limit else "")) from None
            raise RuntimeError(f"{method} {self.base_url}{path} failed: {_why(exc)}") from None
        if response.status == 401:
            raise AdapterSpecError(f"{self.base_url} rejected the token (HTTP 401): "
                                   f"{_error_text(method, path, response)}")
        return response

    def _unexpected(self, method: str, path: str, response: Response) -> RuntimeError:
        text = _error_text(method, path, response)
        if text.startswith(f"{method} {path} answered HTTP"):  # it names the request already
            return RuntimeError(text)
        return RuntimeError(f"{method} {path} answered HTTP {response.status}: {text}")

    def reset(self) -> None:
        response = self._request("POST", "/reset")
        if response.status not in (200, 204):
            raise self._unexpected("POST", "/reset", response)

    def apply(self, event: dict) -> None:
        response = self._request("POST", "/events", json=event)
        status = response.status
        if status in (200, 204):
            return
        if status in (400, 409, 422):
            _json("POST", "/events", response)  # the binding's answer is {"error": ...}: JSON at least
        if status == 409:
            raise EventRejected(_error_text("POST", "/events", response))
        if status in (400, 422):
            raise ValueError(_error_text("POST", "/events", response))
        raise self._unexpected("POST", "/events", response)

    def observe(self) -> list[dict]:
        if self._since is None:
            self._since = self._offers_since()
        if self._since:
            inventory = self._observe_since()
            if inventory is not None:
                return inventory
        response = self._request("GET", "/certificates")
        if response.status != 200:
            raise self._unexpected("GET", "/certificates", response)
        return _json("GET", "/certificates", response)

    def _offers_since(self) -> bool:
        try:
            caps = self.capabilities()
        except RuntimeError:  # a malformed answer: the extension is not offered
            return False
        return isinstance(caps, dict) and caps.get("observe_since") is True

    def _observe_since(self) -> list[dict] | None:
        """The inventory from GET /certificates?since=CURSOR and the local copy; None (and plain
        GETs from now on) when the server's answer is not a change answer that adds up."""
        checking = spot_checked(self._answers + 1)
        first = self._plain() if checking else None
        response = self._request("GET", "/certificates", params={"since": self._cursor})
        if response.status != 200:
            raise self._unexpected("GET", "/certificates?since=", response)
        try:
            rebuilt = apply_changes(self._copy, response.json())
        except ValueError:
            rebuilt = None
        if rebuilt is None:
            return self._drop_since(f"GET /certificates?since={self._cursor} answered a change list that does not "
                                    f"add up (see observe_since.py): {_preview(response)}")
        self._answers += 1
        if checking:  # plain GETs before and after; a product that settles may change in between: then skip
            if left_out_changes(first, self._plain(), rebuilt[0]):
                return self._drop_since(f"GET /certificates?since={self._cursor} left out changes: the inventory "
                                        "it rebuilds differs from what plain GET /certificates answers before and after")
        self._copy, self._cursor = rebuilt
        # fresh records each call, as a plain GET gives: callers may change what they get
        return [dict(r) if isinstance(r, dict) else r for r in self._copy]

    def _plain(self) -> list | None:
        response = self._request("GET", "/certificates")
        return _json("GET", "/certificates", response) if response.status == 200 else None

    def _drop_since(self, why: str) -> None:
        """Stop using the observe_since extension (plain GETs from now on) and report why, once."""
        self._since, self._copy, self._cursor = False, (), ""
        self.__dict__.setdefault("contract_findings", []).append(contract_finding(why, "plain GET /certificates"))
        return None

    def observe_since(self, cursor: str | None = None) -> dict | None:
        """The server's change answer to GET /certificates?since=CURSOR (mdm/observe_since.py; the
        caller rebuilds the list with apply_changes and keeps the cursor), or None when the server
        does not offer the extension. conformance/product.py uses it: one small answer serves every
        concurrent cell, whatever the size of the inventory."""
        if self._since is None:
            self._since = self._offers_since()
        if not self._since:
            return None
        response = self._request("GET", "/certificates", params={"since": cursor or ""})
        if response.status != 200:
            raise self._unexpected("GET", "/certificates?since=", response)
        return _json("GET", "/certificates?since=", response)

    def awaiting_person(self) -> list | None:
        """GET /awaiting-person (optional): pool devices out of the pool until a person acts, or
        None when the server does not offer the route (404)."""
        response = self._request("GET", "/awaiting-person")
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._unexpected("GET", "/awaiting-person", response)
        return _json("GET", "/awaiting-person", response)

    def capabilities(self) -> dict | None:
        """The server's GET /capabilities answer, or None when it has none (the route is optional)."""
        response = self._request("GET", "/capabilities")
        if response.status != 200:
            return None
        caps = _json("GET", "/capabilities", response)
        if not isinstance(caps, dict):
            raise RuntimeError(f"GET /capabilities answered {type(caps).__name__}, want an object: {_preview(response)}")
        return caps

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"HttpAdapter({self.base_url!r})"
