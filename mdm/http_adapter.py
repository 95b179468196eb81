# What this module knows: the client side of the contract's HTTP binding -- which request each
# adapter call becomes and what each status code means. What it does not know: anything about
# certificates; it forwards events and inventories unchanged. A request that gets no answer
# within `timeout` seconds raises TimeoutError (mdm/guarded.py reports it as that call's
# timeout); an answer that is not the JSON the binding promises names the request and shows the
# start of the body.
"""HttpAdapter: the adapter contract over HTTP (spec "http://HOST:PORT" or "https://...").

When the server declares `"observe_since": true` in GET /capabilities, observe() asks only for
what changed since its last answer (GET /certificates?since=CURSOR, see observe_since.py) and
rebuilds the whole list from its copy; otherwise, or after an answer that does not add up, it
sends plain GET /certificates. Either way observe() returns what a plain GET would.
"""
from __future__ import annotations

import httpx

from certconform.mdm import AdapterSpecError, EventRejected
from certconform.mdm.http_transport import KeepAliveTransport
from certconform.mdm.observe_since import apply_changes


BODY_PREVIEW = 80  # bytes of a body that is not JSON shown in the message


def _preview(response: httpx.Response) -> str:
    body = response.content
    return repr(body[:BODY_PREVIEW]) + (f" ... ({len(body)} bytes)" if len(body) > BODY_PREVIEW else "")


def _json(method: str, path: str, response: httpx.Response):
    """The body as JSON; a body that is not JSON is a RuntimeError naming the request."""
    try:
        return response.json()
    except ValueError:
        raise RuntimeError(f"{method} {path} answered HTTP {response.status_code} with a body that is not JSON: "
                           f"{_preview(response)}") from None


def _error_text(method: str, path: str, response: httpx.Response) -> str:
    """The server's one-line error (`{"error": ...}`); anything else names the request and shows the body."""
    try:
        body = response.json()
    except ValueError:
        return f"{method} {path} answered HTTP {response.status_code} with a body that is not JSON: {_preview(response)}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return f"{method} {path} answered HTTP {response.status_code} without an \"error\" field: {_preview(response)}"


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
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

    def __init__(self, base_url: str, token: str | None = None, timeout: float | None = 10.0) -> None:
        """`timeout`: seconds each request may take (None: no limit; connecting takes at most 5 s)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_keepalive_connections=4, max_connections=8)
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout or 5.0, 5.0)),
            limits=limits,
            transport=KeepAliveTransport(httpx.HTTPTransport(limits=limits)),  # plain http:// kept alive
        )
        try:
            response = self._client.get("/certificates")
        except httpx.HTTPError as exc:
            self._client.close()
            raise AdapterSpecError(f"cannot reach {self.base_url} ({_why(exc)}): is the server running?") from None
        if response.status_code == 401:
            self._client.close()
            detail = "no token was sent (use --mdm-token or MDM_TOKEN)" if not token else "check --mdm-token / MDM_TOKEN"
            raise AdapterSpecError(f"{self.base_url} rejected the token (HTTP 401): {detail}")
        if response.status_code in (403, 421):  # the server refuses this Host / Origin: say why
            self._client.close()
            raise AdapterSpecError(f"{self.base_url}/certificates answered HTTP {response.status_code}: "
                                   f"{_error_text('GET', '/certificates', response)}")
        if response.status_code != 200:
            self._client.close()
            raise AdapterSpecError(
                f"{self.base_url}/certificates answered HTTP {response.status_code}, want 200: "
                "is this a certconform MDM server?"
            )

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            limit = getattr(self, "timeout", None)
            raise TimeoutError(f"{method} {self.base_url}{path}: {_why(exc)}"
                               + (f" after {limit:g} s" if limit else "")) from None
        except httpx.HTTPError as exc:
            raise RuntimeError(f"{method} {self.base_url}{path} failed: {_why(exc)}") from None
        if response.status_code == 401:
            raise AdapterSpecError(f"{self.base_url} rejected the token (HTTP 401): "
                                   f"{_error_text(method, path, response)}")
        return response

    def _unexpected(self, method: str, path: str, response: httpx.Response) -> RuntimeError:
        return RuntimeError(f"{method} {path} answered HTTP {response.status_code}: "
                            f"{_error_text(method, path, response)}")

    def reset(self) -> None:
        response = self._request("POST", "/reset")
        if response.status_code not in (200, 204):
            raise self._unexpected("POST", "/reset", response)

    def apply(self, event: dict) -> None:
        response = self._request("POST", "/events", json=event)
        status = response.status_code
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
        if response.status_code != 200:
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
        response = self._request("GET", "/certificates", params={"since": self._cursor})
        if response.status_code != 200:
            raise self._unexpected("GET", "/certificates?since=", response)
        try:
            rebuilt = apply_changes(self._copy, response.json())
        except ValueError:
            rebuilt = None
        if rebuilt is None:
            self._since, self._copy, self._cursor = False, (), ""
            return None
        self._copy, self._cursor = rebuilt
        # fresh records each call, as a plain GET gives: callers may change what they get
        return [dict(r) if isinstance(r, dict) else r for r in self._copy]

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
        if response.status_code != 200:
            raise self._unexpected("GET", "/certificates?since=", response)
        return _json("GET", "/certificates?since=", response)

    def awaiting_person(self) -> list | None:
        """GET /awaiting-person (optional): pool devices out of the pool until a person acts, or
        None when the server does not offer the route (404)."""
        response = self._request("GET", "/awaiting-person")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unexpected("GET", "/awaiting-person", response)
        return _json("GET", "/awaiting-person", response)

    def capabilities(self) -> dict | None:
        """The server's GET /capabilities answer, or None when it has none (the route is optional)."""
        response = self._request("GET", "/capabilities")
        if response.status_code != 200:
            return None
        caps = _json("GET", "/capabilities", response)
        if not isinstance(caps, dict):
            raise RuntimeError(f"GET /capabilities answered {type(caps).__name__}, want an object: {_preview(response)}")
        return caps

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpAdapter({self.base_url!r})"
