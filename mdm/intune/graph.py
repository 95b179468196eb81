"""A small Microsoft Graph REST client over httpx: bearer auth, throttling, paging, errors, dry run.

What this module knows: how Graph answers (JSON, `{"error": {"code", "message"}}`), throttling
(429, and 503 with Retry-After: wait, retry, bounded), Graph's documented per-app limits (a
request budget: the client waits before it would exceed them, mapping.GRAPH_LIMITS), an expired
or revoked token (401: renewed once through the token provider, then the request is sent again),
paging (`@odata.nextLink`, an absolute URL
followed only on the configured host, so the token never goes elsewhere), redaction (no request
body, header or message this module writes contains a secret) and the dry run (every request
printed, none sent; DryRunTransport answers with placeholders).
What it does not know: which requests make a contract event (adapter.py, mapping.py).
"""
from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import httpx

REDACTED = "<redacted>"
# body keys whose values are never printed or reported
SECRET_KEYS = frozenset({"password", "clientSecret", "client_secret", "access_token", "refresh_token", "token"})


class GraphError(RuntimeError):
    """Graph answered with an error: one line with the request, status, Graph's code and message."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def redact(value, secrets: list[str] = ()):
    """A copy of a JSON-able value with secret keys' values and secret strings replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS else redact(v, secrets)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for s in secrets:
            if s and s in value:
                value = value.replace(s, REDACTED)
    return value


class GraphClient:
    def __init__(self, base_url: str, token, *, timeout: float = 30.0, max_retries: int = 6,
                 max_retry_wait_s: float = 120.0, secrets: list[str] = (), transport: httpx.BaseTransport | None = None,
                 sleep=time.sleep, limits=()) -> None:
        """`token`: a zero-argument callable returning the bearer token. `transport`: httpx's
        (tests pass httpx.MockTransport, the dry run DryRunTransport)."""
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._secrets = list(secrets)
        self.max_retries, self.max_retry_wait_s = max_retries, max_retry_wait_s
        self._sleep = sleep
        self.requests = 0  # sent (retries included), for reports and tests
        self.throttled = 0  # 429/503 answers waited out
        self._host = urlsplit(self.base_url).netloc
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport,
                                    follow_redirects=False)
        self.budget = Budget(limits, sleep=sleep)

    def _renewed(self) -> bool:
        renew = getattr(self._token, "renew", None)
        try:
            return bool(renew()) if callable(renew) else False
        except Exception as exc:
            raise GraphError(redact(str(exc), self._secrets)) from None

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(self, method: str, path: str, body: dict | None = None):
        """Send one request (retrying throttled ones); the answer's JSON, or None for an empty body."""
        url = self.url(path)
        if urlsplit(url).netloc != self._host:
            raise GraphError(f"Graph {method} {self._show(url)}: refusing to send the token to another host than {self._host}")
        renewed = 0
        for attempt in itertools.count():
            self.budget.take(method, urlsplit(url).path)
            try:
                token = self._token()
            except Exception as exc:  # e.g. azure-identity refused: a failure of the call, never "bad input"
                raise GraphError(redact(str(exc), self._secrets)) from None
            try:
                response = self._client.request(method, url, json=body, headers={
                    "Authorization": f"Bearer {token}", "Accept": "application/json"})
            except httpx.TimeoutException:
                raise TimeoutError(f"Graph {method} {self._show(url)}: timed out") from None
            except httpx.HTTPError as exc:
                raise GraphError(f"Graph {method} {self._show(url)} failed: "
                                 f"{redact((str(exc).splitlines() or [type(exc).__name__])[0], self._secrets)}") from None
            self.requests += 1
            if response.status_code == 401 and renewed < 2 and self._renewed():
                renewed += 1  # the token expired (or was revoked): a new one, the same request again
                continue
            throttled = response.status_code == 429 or (response.status_code == 503 and "Retry-After" in response.headers)
            if throttled and attempt < self.max_retries:
                self.throttled += 1
                self._sleep(self._retry_after(response, attempt))
                continue
            break
        if response.status_code >= 400:
            raise self._error(method, url, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise GraphError(f"Graph {method} {self._show(url)} answered HTTP {response.status_code} with a body "
                             f"that is not JSON: {response.content[:80]!r}", response.status_code) from None

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        """Retry-After seconds (Graph sends seconds), else exponential backoff; at most max_retry_wait_s."""
        try:
            wait = float(response.headers.get("Retry-After", ""))
        except ValueError:
            wait = min(2.0 ** attempt, 60.0)
        return max(0.0, min(wait, self.max_retry_wait_s))

    def _error(self, method: str, url: str, response: httpx.Response) -> GraphError:
        code, message = "", ""
        try:
            err = response.json().get("error", {})
            code, message = str(err.get("code", "")), str(err.get("message", ""))
        except (ValueError, AttributeError):
            message = repr(response.content[:80])
        text = f"Graph {method} {self._show(url)} answered HTTP {response.status_code}"
        if response.status_code == 401 and "expired" in message.lower():
            text += " (the token expired: a token lasts about an hour; give client credentials, which renew)"
        if response.status_code in (429, 503):
            text += f" (still throttled after {self.max_retries} retries)"
        text += f": {code}: {message}" if code else f": {message}"
        return GraphError(redact(" ".join(text.split()), self._secrets)[:400], response.status_code, code)

    def _show(self, url: str) -> str:
        return redact(url.removeprefix(self.base_url), self._secrets)

    def get(self, path: str):
        return self.request("GET", path)

    def get_all(self, path: str) -> list[dict]:
        """Every item of a collection, following @odata.nextLink page by page."""
        items: list[dict] = []
        url: str | None = path
        pages = 0
        while url:
            page = self.request("GET", url) or {}
            items.extend(page.get("value", []))
            url = page.get("@odata.nextLink")
            pages += 1
            if pages > 10_000:
                raise GraphError(f"Graph GET {self._show(self.url(path))}: more than 10000 pages (a nextLink loop?)")
        return items

    def close(self) -> None:
        self._client.close()


class Budget:
    """Graph's per-app limits as a request budget: before a request that would exceed a limit
    (path prefix, any requests, writes, window seconds) in the current window, wait for the next
    window. Throttled answers are still retried (GraphClient.request); this keeps them rare."""

    def __init__(self, limits, sleep=time.sleep, clock=time.monotonic) -> None:
        self.limits, self._sleep, self._clock = tuple(limits or ()), sleep, clock
        self._windows: dict[str, list] = {}  # prefix -> [window start, any, writes]
        self.waited = 0.0
        self._lock = threading.Lock()  # requests may come from several threads (observe's readers)

    def take(self, method: str, path: str) -> None:
        with self._lock:
            self._take(method, path)

    def _take(self, method: str, path: str) -> None:
        write = method in ("POST", "PUT", "PATCH", "DELETE")
        for prefix, any_limit, write_limit, window in self.limits:
            if not path.startswith(prefix):
                continue
            slot = self._windows.setdefault(prefix, [self._clock(), 0, 0])
            if self._clock() - slot[0] >= window:
                slot[:] = [self._clock(), 0, 0]
            if slot[1] >= any_limit or (write and slot[2] >= write_limit):
                wait = max(0.0, slot[0] + window - self._clock())
                self.waited += wait
                self._sleep(wait)
                slot[:] = [self._clock(), 0, 0]
            slot[1] += 1
            slot[2] += write


class DryRunTransport(httpx.BaseTransport):
    """Prints each request (method, URL, body with secrets redacted; never a header) and answers
    without sending anything: a create gets a new placeholder id, a collection is empty, a
    managed-device lookup by name finds one placeholder device enrolled by a placeholder user,
    everything else is 204."""

    def __init__(self, secrets: list[str] = (), stream=None) -> None:
        self._secrets = list(secrets)
        self._stream = stream
        self._n = itertools.count(1)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        line = f"dry-run: {request.method} {redact(str(request.url), self._secrets)}"
        if body is not None:
            line += " " + json.dumps(redact(body, self._secrets), sort_keys=True)
        print(line, file=self._stream or sys.stderr, flush=True)
        path = request.url.path
        if request.method == "POST" and path.rstrip("/").split("/")[-1] in ("users", "groups", "deviceConfigurations"):
            fake = str(uuid.UUID(int=next(self._n)))
            return httpx.Response(201, json={**(body or {}), "id": fake})
        if request.method == "GET":
            query = str(request.url.params.get("$filter", ""))
            if path.endswith("/managedDevices") and query.startswith("deviceName eq "):
                name = query.split("'")[1]
                n = next(self._n)
                return httpx.Response(200, json={"value": [{"id": str(uuid.UUID(int=n)), "deviceName": name,
                                                            "azureADDeviceId": str(uuid.UUID(int=n + 1 << 64)),
                                                            "userId": str(uuid.UUID(int=n + 2 << 64)),
                                                            "userPrincipalName": f"user-of-{name}",
                                                            "managementState": "managed"}]})
            if path.endswith("/devices") and query.startswith("deviceId eq "):
                return httpx.Response(200, json={"value": [{"id": str(uuid.UUID(int=next(self._n))),
                                                            "deviceId": query.split("'")[1]}]})
            return httpx.Response(200, json={"value": []})
        return httpx.Response(204)
