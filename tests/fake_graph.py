"""A scripted fake of Microsoft Graph for the Intune adapter's self-tests (httpx.MockTransport).

Not the emulator and not the mock: it keeps the objects the adapter creates, answers with Graph's
shapes (201 + entity, 204, `{"error": {...}}`, `@odata.nextLink`), records every request, and
serves certificate states that the TEST scripts (`states[config_id] = [...]`). It knows nothing
about which event should revoke or remove what. Its pool devices are each enrolled by a user of
their own; a wiped or retired device is gone until the test calls `reenrol(name)`. Knobs:
`page_size`, `throttle` (answer the next N requests 429), `fail` (route substring -> (status,
code, message)).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx

BASE = "http://127.0.0.1:9"  # loopback: the emulator's rules (placeholders and a static token allowed)
TOKEN = "s3cret-token-value"
SKU = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"


class FakeGraph:
    def __init__(self, pool: dict[str, list[str]] | None = None, page_size: int = 100) -> None:
        self.log: list[tuple[str, str, dict | None]] = []  # (method, path?query, body)
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.members: dict[str, set[str]] = {}
        self.configs: dict[str, dict] = {}
        self.assignments: dict[str, list[str]] = {}
        self.states: dict[str, list[dict]] = {}  # config id -> scripted managedDeviceCertificateStates
        self.managed: dict[str, dict] = {}
        self.directory: dict[str, dict] = {}
        self.deleted: dict[str, dict] = {}  # soft-deleted users
        self.page_size, self.throttle, self.retry_after = page_size, 0, "0"
        self.fail: dict[str, tuple[int, str, str]] = {}
        self.out: dict[str, str] = {}  # wiped or retired device name -> its user
        self._ids = itertools.count(1)
        for platform, names in (pool or {"windows": ["lab-win-1", "lab-win-2"], "ios": ["lab-ios-1"]}).items():
            for name in names:
                self.add_device(name)

    def new_id(self) -> str:
        return str(uuid.UUID(int=next(self._ids)))

    def add_device(self, name: str, user_id: str | None = None) -> dict:
        """A pool device enrolled by a user of its own (made for it unless given)."""
        if user_id is None:
            user_id = self.new_id()
            self.users[user_id] = {"id": user_id, "displayName": f"user of {name}",
                                   "userPrincipalName": f"user-{name}@lab.example",
                                   "assignedLicenses": [{"skuId": SKU}]}
        device = {"id": self.new_id(), "deviceName": name, "azureADDeviceId": self.new_id(), "userId": user_id,
                  "userPrincipalName": self.users.get(user_id, {}).get("userPrincipalName", ""),
                  "managementState": "managed", "enrolledDateTime": "2030-01-01T00:00:00Z"}
        self.managed[device["id"]] = device
        self.directory[self.new_id()] = {"deviceId": device["azureADDeviceId"], "displayName": name}
        return device

    def user_of(self, name: str) -> str:
        return next(d["userId"] for d in self.managed.values() if d["deviceName"] == name)

    def reenrol(self, name: str) -> dict:
        """A person enrols a wiped or retired device again: a new id, the same user."""
        device = self.add_device(name, self.out.pop(name))
        device["enrolledDateTime"] = dt.datetime.now(dt.timezone.utc).isoformat()
        return device

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def requests(self, method: str | None = None) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.log if method in (None, m)]

    # ------------------------------------------------------------------ dispatch
    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        url = urlsplit(str(request.url))
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(request.content) if request.content else None
        self._path = path
        self.log.append((request.method, path + (f"?{url.query}" if url.query else ""), body))
        if self.throttle:
            self.throttle -= 1
            return _error(429, "TooManyRequests", "Too many requests", {"Retry-After": self.retry_after})
        for fragment, (status, code, message) in self.fail.items():
            if fragment in path:
                return _error(status, code, message)
        return self.route(request.method, path, query, body)

    def route(self, method: str, path: str, query: dict, body) -> httpx.Response:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1.0", "users"]:
            return self._directory(method, parts[2:], query, body, self.users)
        if parts[:2] == ["v1.0", "groups"]:
            if len(parts) >= 4 and parts[3] == "members":
                return self._members(method, parts, body)
            return self._directory(method, parts[2:], query, body, self.groups)
        if parts[:2] == ["v1.0", "devices"]:
            if len(parts) == 4 and parts[3] == "memberOf":
                return self._page(path, query, [{"id": g, **self.groups[g]} for g, m in self.members.items()
                                                if parts[2] in m])
            want = query.get("$filter", "").split("'")[1]
            return self._page(path, query, [{"id": i, **d} for i, d in self.directory.items() if d["deviceId"] == want])
        if parts[:3] == ["v1.0", "directory", "deletedItems"] and parts[-1] == "restore" and method == "POST":
            user = self.deleted.pop(parts[3], None)
            if user is None:
                return _error(404, "Request_ResourceNotFound", "not a deleted item")
            self.users[user["id"]] = user
            return httpx.Response(200, json=user)
        if parts[:3] == ["beta", "deviceManagement", "managedDevices"]:
            return self._managed(method, parts[3:], query, body)
        if parts[:3] == ["beta", "deviceManagement", "deviceConfigurations"]:
            return self._configs(method, parts[3:], path, query, body)
        return _error(404, "ResourceNotFound", f"no route {path}")

    def _directory(self, method, rest, query, body, store):
        if not rest and method == "POST":
            obj = {"id": self.new_id(), **body}
            store[obj["id"]] = obj
            return httpx.Response(201, json=obj)
        if not rest and method == "GET":
            prefix = query.get("$filter", "startswith(displayName,'')").split("'")[1]
            return self._page("", query, [o for o in store.values() if o["displayName"].startswith(prefix)])
        if rest and rest[0] not in store:
            return _error(404, "Request_ResourceNotFound", f"Resource '{rest[0]}' does not exist")
        if len(rest) == 1 and method == "DELETE":
            gone = store.pop(rest[0])
            if store is self.users:
                self.deleted[rest[0]] = gone
            return httpx.Response(204)
        if len(rest) == 1 and method == "GET":
            return httpx.Response(200, json=store[rest[0]])
        if len(rest) == 2 and rest[1] == "assignLicense":
            held = store[rest[0]].setdefault("assignedLicenses", [])
            held[:] = [x for x in held if x["skuId"] not in body["removeLicenses"]] + body["addLicenses"]
            return httpx.Response(200, json=store[rest[0]])
        return _error(405, "BadRequest", "method not served")

    def _members(self, method, parts, body):
        gid = parts[2]
        if gid not in self.groups:
            return _error(404, "Request_ResourceNotFound", "no group")
        members = self.members.setdefault(gid, set())
        if method == "POST":
            members.add(body["@odata.id"].rsplit("/", 1)[1])
            return httpx.Response(204)
        if method == "DELETE":
            if parts[4] not in members:
                return _error(404, "Request_ResourceNotFound", "not a member")
            members.discard(parts[4])
            return httpx.Response(204)
        return _error(405, "BadRequest", "method not served")

    def _managed(self, method, rest, query, body):
        if not rest:
            name = query.get("$filter", "").split("'")[1]
            return self._page("", query, [d for d in self.managed.values() if d["deviceName"] == name])
        device = self.managed.get(rest[0])
        if device is None:
            return _error(404, "ResourceNotFound", "no managed device")
        action = rest[1] if len(rest) > 1 else ""
        if action in ("syncDevice", "wipe", "retire") and method == "POST":
            if action in ("wipe", "retire"):  # gone from Intune until a person enrols it again (reenrol())
                del self.managed[rest[0]]
                self.out[device["deviceName"]] = device["userId"]
            return httpx.Response(204)
        return _error(405, "BadRequest", "method not served")

    def _configs(self, method, rest, path, query, body):
        if not rest and method == "POST":
            obj = {"id": self.new_id(), **body}
            self.configs[obj["id"]] = obj
            return httpx.Response(201, json=obj)
        if not rest and method == "GET":
            return self._page(path, query, list(self.configs.values()))
        if rest[0] not in self.configs:
            return _error(404, "ResourceNotFound", "no profile")
        if len(rest) == 1 and method == "PATCH":
            self.configs[rest[0]].update(body)
            return httpx.Response(200, json=self.configs[rest[0]])
        if len(rest) == 1 and method == "DELETE":
            del self.configs[rest[0]]
            return httpx.Response(204)
        if len(rest) == 2 and rest[1] == "assign":
            self.assignments[rest[0]] = [a["target"]["groupId"] for a in body["assignments"]]
            return httpx.Response(200, json={"value": []})
        if len(rest) == 3 and rest[2] == "managedDeviceCertificateStates":
            odata = self.configs[rest[0]]["@odata.type"].removeprefix("#")
            if rest[1] != odata:
                return _error(404, "ResourceNotFound", f"{rest[1]} is not the profile's type")
            return self._page(path, query, self.states.get(rest[0], []))
        return _error(405, "BadRequest", "method not served")

    def _page(self, path, query, items):
        start = int(query.get("$skiptoken", "0"))
        page = items[start:start + self.page_size]
        answer = {"value": page}
        if start + self.page_size < len(items):
            answer["@odata.nextLink"] = f"{BASE}{self._path}?$skiptoken={start + self.page_size}"
        return httpx.Response(200, json=answer)


def _error(status: int, code: str, message: str, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


def state(serial: str, device: str, issued: str, issuance: str = "installed", revoke: str = "none") -> dict:
    """A scripted managedDeviceCertificateState."""
    return {"@odata.type": "#microsoft.graph.managedDeviceCertificateState", "id": serial,
            "certificateSerialNumber": serial, "deviceDisplayName": device, "certificateIssuanceDateTime": issued,
            "certificateIssuanceState": issuance, "certificateRevokeStatus": revoke}
