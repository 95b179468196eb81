# What this module knows: the HTTP side of the Graph emulator -- the routes of docs/graph-wire.md,
# their status codes and OData envelopes, the token endpoint (client credentials) and bearer-token
# auth with expiry (401), Graph's documented per-app throttling limits and the self-tests'
# every-Nth-request throttling (429 with Retry-After, before anything changes), and Graph's error
# body for every refusal, unknown routes and methods included. Directory routes answer under
# /v1.0 and /beta, Intune's under /beta. What it does not know: what a write means for the mock,
# or when it takes effect (tenant.py).
"""The Graph emulator's ASGI application (Starlette, under FastAPI's dependency set)."""
from __future__ import annotations

import hmac
import json
import math
import secrets
import time
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .odata import GraphError, bad_request, page, parse_filter, query_options
from .tenant import Tenant
from .timing import THROTTLE_LIMITS

DEFAULT_TOKEN = "certconform-graph"
# Not Graph: the emulator's CA roots, for a rehearsal's configuration, and the remote actions that
# reached it, for the self-tests (docs/graph-wire.md, "Not Graph")
PKI_ROUTE = "/certconform/pki-roots"
ACTIONS_ROUTE = "/certconform/actions"
MIN_TOKEN_S = 30.0
MAX_BODY = 256 * 1024

# $filter clauses per collection
USER_FILTERS = {"startswith": ("displayName", "userPrincipalName"), "eq": ("displayName", "userPrincipalName", "id")}
GROUP_FILTERS = {"startswith": ("displayName",), "eq": ("displayName", "id")}
DEVICE_FILTERS = {"eq": ("deviceId", "displayName", "id")}
MANAGED_FILTERS = {"startswith": ("deviceName",), "eq": ("deviceName", "operatingSystem", "id")}
PROFILE_FILTERS = {"startswith": ("displayName",), "eq": ("displayName", "id")}


class GraphSettings:
    """`token`: the client secret of the token endpoint, also accepted as a bearer token obtained
    elsewhere (which expires like any token, `token_lifetime_s` Intune seconds after the emulator
    starts); `throttle_limits`: Graph's documented per-app limits (timing.THROTTLE_LIMITS; None: off)."""

    def __init__(self, token: str = DEFAULT_TOKEN, page_size: int = 100, throttle_every: int = 0,
                 retry_after: int = 1, hosts=None, throttle_limits=THROTTLE_LIMITS) -> None:
        self.token, self.page_size = token, page_size
        self.throttle_every, self.retry_after = throttle_every, retry_after
        self.throttle_limits = throttle_limits
        # a certconform.mdm.server.HostPolicy: the Host (and Origin) names a request may carry
        # (None: any, as in the in-process tests)
        self.hosts = hosts


def _json(content: Any, status: int = 200) -> Response:
    return Response(json.dumps(content, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


def _error(error: GraphError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _version(request: Request) -> str:
    return request.url.path.split("/", 2)[1]


def _context(request: Request, fragment: str) -> str:
    return f"{_base(request)}/{_version(request)}/$metadata#{fragment}"


async def _body(request: Request, required: bool = True) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise GraphError(413, "RequestEntityTooLarge", f"The request body is over {MAX_BODY} bytes.")
    if not raw.strip():
        if required:
            raise bad_request("The request body is empty: a JSON object is required.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None


def build_app(tenant: Tenant, settings: GraphSettings | None = None) -> Starlette:
    settings = settings or GraphSettings()

    def collection(request: Request, items: list[dict], fragment: str, filters: dict | None = None) -> Response:
        options = query_options(request.query_params)
        keep = parse_filter(options["filter"], filters or {})
        selected = [item for item in items if keep(item)]
        self_url = f"{_base(request)}{request.url.path}"
        return _json(page(selected, options, settings.page_size, self_url, _context(request, fragment)))

    def entity(request: Request, item: dict, fragment: str, status: int = 200) -> Response:
        return _json({"@odata.context": _context(request, f"{fragment}/$entity"), **item}, status)

    # -- users ---------------------------------------------------------------------------------
    async def users(request: Request) -> Response:
        if request.method == "POST":
            return entity(request, tenant.create_user(await _body(request)).entity(), "users", 201)
        return collection(request, [u.entity() for u in tenant.users.values()], "users", USER_FILTERS)

    async def user(request: Request) -> Response:
        user_id = request.path_params["id"]
        if request.method == "DELETE":
            tenant.delete_user(user_id)
            return Response(status_code=204)
        return entity(request, tenant.user(user_id).entity(), "users")

    async def assign_license(request: Request) -> Response:
        return entity(request, tenant.assign_license(request.path_params["id"], await _body(request)).entity(), "users")

    # -- groups --------------------------------------------------------------------------------
    async def groups(request: Request) -> Response:
        if request.method == "POST":
            return entity(request, tenant.create_group(await _body(request)).entity(), "groups", 201)
        return collection(request, [g.entity() for g in tenant.groups.values()], "groups", GROUP_FILTERS)

    async def group(request: Request) -> Response:
        group_id = request.path_params["id"]
        if request.method == "DELETE":
            tenant.delete_group(group_id)
            return Response(status_code=204)
        return entity(request, tenant.group(group_id).entity(), "groups")

    async def members(request: Request) -> Response:
        found = tenant.group(request.path_params["id"])
        return collection(request, [tenant.member_entity(m) for m in found.members], "directoryObjects")

    async def add_member(request: Request) -> Response:
        tenant.add_member(request.path_params["id"], await _body(request))
        return Response(status_code=204)

    async def remove_member(request: Request) -> Response:
        tenant.remove_member(request.path_params["id"], request.path_params["member"])
        return Response(status_code=204)

    # -- directory devices ---------------------------------------------------------------------
    async def devices(request: Request) -> Response:
        return collection(request, [d.entity() for d in tenant.directory.values()], "devices", DEVICE_FILTERS)

    async def device(request: Request) -> Response:
        found = tenant.directory_device(request.path_params["id"])
        if found is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{request.path_params['id']}' does not exist.")
        return entity(request, found.entity(), "devices")

    async def member_of(request: Request) -> Response:
        groups = tenant.member_of(request.path_params["id"])
        return collection(request, [g.entity() for g in groups], "directoryObjects")

    async def deleted_user(request: Request) -> Response:
        return entity(request, tenant.deleted_user(request.path_params["id"]).entity(), "directoryObjects")

    async def restore(request: Request) -> Response:
        await _body(request, required=False)
        return entity(request, tenant.restore_user(request.path_params["id"]).entity(), "directoryObjects")

    # -- managed devices -----------------------------------------------------------------------
    async def managed_devices(request: Request) -> Response:
        items = [d.entity(tenant.users) for d in tenant.devices.values()]
        return collection(request, items, "deviceManagement/managedDevices", MANAGED_FILTERS)

    async def managed_device(request: Request) -> Response:
        return entity(request, tenant.device(request.path_params["id"]).entity(tenant.users),
                      "deviceManagement/managedDevices")

    async def managed_device_users(request: Request) -> Response:
        found = tenant.device(request.path_params["id"])
        items = [tenant.users[found.user].entity()] if found.user in tenant.users else []
        return collection(request, items, "users")

    async def managed_device_user_ref(request: Request) -> Response:
        tenant.set_primary_user(request.path_params["id"], await _body(request))
        return Response(status_code=204)

    async def sync_device(request: Request) -> Response:
        await _body(request, required=False)
        tenant.sync(request.path_params["id"])
        return Response(status_code=204)

    def end_management(action: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            body = await _body(request, required=False)
            if body is not None and not isinstance(body, dict):
                raise bad_request("The request body must be a JSON object.")
            tenant.end_management(request.path_params["id"], action)
            return Response(status_code=204)
        return handler

    # -- profiles ------------------------------------------------------------------------------
    async def profiles(request: Request) -> Response:
        if request.method == "POST":
            return entity(request, tenant.create_profile(await _body(request)).entity(),
                          "deviceManagement/deviceConfigurations", 201)
        return collection(request, [p.entity() for p in tenant.profiles.values()],
                          "deviceManagement/deviceConfigurations", PROFILE_FILTERS)

    async def profile(request: Request) -> Response:
        profile_id = request.path_params["id"]
        if request.method == "DELETE":
            tenant.delete_profile(profile_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            return entity(request, tenant.update_profile(profile_id, await _body(request)).entity(),
                          "deviceManagement/deviceConfigurations")
        return entity(request, tenant.profile(profile_id).entity(), "deviceManagement/deviceConfigurations")

    async def assign(request: Request) -> Response:
        value = tenant.assign(request.path_params["id"], await _body(request))
        return _json({"@odata.context": _context(request, "Collection(microsoft.graph.deviceConfigurationAssignment)"),
                      "value": value})

    async def assignments(request: Request) -> Response:
        found = tenant.profile(request.path_params["id"])
        return collection(request, [found.assignment(g) for g in found.groups],
                          f"deviceManagement/deviceConfigurations('{found.id}')/assignments")

    async def certificate_states(request: Request) -> Response:
        profile_id, type_name = request.path_params["id"], request.path_params["type"]
        items = tenant.certificate_states(profile_id, type_name)
        return collection(request, items, f"deviceManagement/deviceConfigurations('{profile_id}')/"
                                          f"microsoft.graph.{type_name}/managedDeviceCertificateStates")

    async def root_certificate(request: Request) -> Response:
        found = tenant.profile(request.path_params["id"])
        if request.path_params["type"] != found.type.name or found.root is None:
            raise GraphError(404, "ResourceNotFound", "No rootCertificate for this device configuration.")
        return entity(request, tenant.profile(found.root).entity(), "deviceManagement/deviceConfigurations")

    routes = []
    for version in ("v1.0", "beta"):
        v = f"/{version}"
        routes += [
            Route(f"{v}/users", users, methods=["GET", "POST"]),
            Route(f"{v}/users/{{id}}", user, methods=["GET", "DELETE"]),
            Route(f"{v}/users/{{id}}/assignLicense", assign_license, methods=["POST"]),
            Route(f"{v}/groups", groups, methods=["GET", "POST"]),
            Route(f"{v}/groups/{{id}}", group, methods=["GET", "DELETE"]),
            Route(f"{v}/groups/{{id}}/members", members, methods=["GET"]),
            Route(f"{v}/groups/{{id}}/members/$ref", add_member, methods=["POST"]),
            Route(f"{v}/groups/{{id}}/members/{{member}}/$ref", remove_member, methods=["DELETE"]),
            Route(f"{v}/devices", devices, methods=["GET"]),
            Route(f"{v}/devices/{{id}}", device, methods=["GET"]),
            Route(f"{v}/devices/{{id}}/memberOf", member_of, methods=["GET"]),
            Route(f"{v}/users/{{id}}/memberOf", member_of, methods=["GET"]),
            Route(f"{v}/directory/deletedItems/{{id}}", deleted_user, methods=["GET"]),
            Route(f"{v}/directory/deletedItems/{{id}}/restore", restore, methods=["POST"]),
        ]
    dm = "/beta/deviceManagement"
    routes += [
        Route(f"{dm}/managedDevices", managed_devices, methods=["GET"]),
        Route(f"{dm}/managedDevices/{{id}}", managed_device, methods=["GET"]),
        Route(f"{dm}/managedDevices/{{id}}/users", managed_device_users, methods=["GET"]),
        Route(f"{dm}/managedDevices/{{id}}/users/$ref", managed_device_user_ref, methods=["POST"]),
        Route(f"{dm}/managedDevices/{{id}}/syncDevice", sync_device, methods=["POST"]),
        Route(f"{dm}/managedDevices/{{id}}/retire", end_management("retire"), methods=["POST"]),
        Route(f"{dm}/managedDevices/{{id}}/wipe", end_management("wipe"), methods=["POST"]),
        Route(f"{dm}/deviceConfigurations", profiles, methods=["GET", "POST"]),
        Route(f"{dm}/deviceConfigurations/{{id}}", profile, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{dm}/deviceConfigurations/{{id}}/assign", assign, methods=["POST"]),
        Route(f"{dm}/deviceConfigurations/{{id}}/assignments", assignments, methods=["GET"]),
        Route(f"{dm}/deviceConfigurations/{{id}}/microsoft.graph.{{type}}/managedDeviceCertificateStates",
              certificate_states, methods=["GET"]),
        Route(f"{dm}/deviceConfigurations/{{id}}/microsoft.graph.{{type}}/rootCertificate",
              root_certificate, methods=["GET"]),
    ]

    async def graph_error(request: Request, exc: GraphError) -> Response:
        return _error(exc)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            return _error(GraphError(405, "Request_BadRequest" if _version(request) == "v1.0" else "BadRequest",
                                     f"The method {request.method} is not allowed on {request.url.path}."))
        return _error(GraphError(exc.status_code, "ResourceNotFound" if exc.status_code == 404 else "BadRequest",
                                 f"Resource not found for the segment '{request.url.path}'."
                                 if exc.status_code == 404 else str(exc.detail)))

    app = Starlette(routes=routes, exception_handlers={GraphError: graph_error, HTTPException: http_error})
    app.state.tenant, app.state.settings = tenant, settings
    return GraphGuard(app, settings, tenant)


def _host_refusal(scope, hosts) -> GraphError | None:
    """421 unless the Host header names this server; 403 for an Origin that does not (a web page
    you visit must not reach a local emulator, whose default token is public)."""
    from urllib.parse import urlsplit

    from certconform.mdm.serve_options import split_host

    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
    try:
        name, port = split_host(values[0]) if len(values) == 1 else ("", None)
    except ValueError:
        name, port = "", None
    if not name or not hosts.admits(name, port, 80):
        return GraphError(421, "MisdirectedRequest", f"Host {values[0] if values else None!r} is not served here "
                          f"(allowed: {hosts.describe()}; start the emulator with --allow-host NAME to add one)")
    for origin in (v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"):
        parts = urlsplit(origin)
        try:
            name, port = split_host(parts.netloc) if parts.scheme in ("http", "https") and parts.netloc else ("", None)
        except ValueError:
            name, port = "", None
        if not name or not hosts.admits(name, port, 443 if parts.scheme == "https" else 80):
            return GraphError(403, "Forbidden", f"Origin {origin!r} is not an allowed host")
    return None


class Tokens:
    """Access tokens issued by the token endpoint, each with its expiry (real seconds), and the
    configured secret as a bearer token obtained elsewhere, which expires as one issued at start."""

    def __init__(self, settings: GraphSettings, tenant: Tenant) -> None:
        self.settings, self.tenant = settings, tenant
        # Real seconds: a token is about the client's clock. Time-scaled, it lasts at least
        # MIN_TOKEN_S (a loaded machine must not make a just-issued token stale before it is
        # used); under the fault token-expires-early a tenth of it, at least one second.
        lifetime = tenant.clock.real(tenant.delays.token_lifetime_s)
        if tenant.fault == "token-expires-early":
            self.lifetime = max(1.0, lifetime / 10)
        else:
            self.lifetime = max(MIN_TOKEN_S, lifetime)
        self.issued: dict[str, tuple[float, str]] = {}  # token -> (expires at, app)
        self.static_expires = time.monotonic() + self.lifetime

    def issue(self, form: dict) -> Response:
        """POST /{tenant}/oauth2/v2.0/token, grant_type=client_credentials (the Microsoft identity
        platform's client-credentials flow): the secret must be the configured token."""
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "only client_credentials is served"}, 400)
        secret = str(form.get("client_secret") or "")
        if not hmac.compare_digest(secret.encode(), self.settings.token.encode()):
            return JSONResponse({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
                                 "secret provided."}, 401)
        token = "emu." + secrets.token_urlsafe(24)
        now = time.monotonic()
        self.issued = {t: v for t, v in self.issued.items() if v[0] > now}  # forget expired ones
        self.issued[token] = (now + self.lifetime, str(form.get("client_id") or "app"))
        return JSONResponse({"token_type": "Bearer", "expires_in": math.floor(self.lifetime),
                             "ext_expires_in": math.floor(self.lifetime), "access_token": token})

    def check(self, header: bytes | None) -> tuple[str | None, str]:
        """(app, "") for a valid bearer token; (None, why) otherwise."""
        if header is None:
            return None, "Access token is empty."
        text = header.decode("latin-1")
        token = text.removeprefix("Bearer ")
        now = time.monotonic()
        if hmac.compare_digest(token.encode(), self.settings.token.encode()) and text.startswith("Bearer "):
            return ("static", "") if now < self.static_expires else \
                (None, "Lifetime validation failed, the token is expired.")
        found = self.issued.get(token) if text.startswith("Bearer ") else None
        if found is None:
            return None, "Access token validation failure. Invalid audience."
        return (found[1], "") if now < found[0] else (None, "Lifetime validation failed, the token is expired.")


class Throttle:
    """Graph's per-app limits (timing.THROTTLE_LIMITS): fixed windows per (app, service), any
    request and writes counted apart; a request past a limit is 429 with the seconds left."""

    def __init__(self, limits) -> None:
        self.limits = limits or ()
        self.windows: dict[tuple[str, str], list] = {}  # (app, prefix) -> [window start, any, writes]

    def refuse(self, app: str, method: str, path: str) -> int | None:
        """Retry-After seconds if this request is over a limit (it is then not counted), else None."""
        for prefix, any_limit, write_limit, window in self.limits:
            if not path.startswith(prefix):
                continue
            now = time.monotonic()
            slot = self.windows.setdefault((app, prefix), [now, 0, 0])
            if now - slot[0] >= window:
                slot[:] = [now, 0, 0]
            write = method in ("POST", "PUT", "PATCH", "DELETE")
            if slot[1] >= any_limit or (write and slot[2] >= write_limit):
                return max(1, math.ceil(slot[0] + window - now))
            slot[1] += 1
            slot[2] += write
        return None


class GraphGuard:
    """ASGI middleware before routing: Host/Origin (421/403), the token endpoint, bearer token
    (401, expired tokens included), throttling (429: Graph's documented limits and the self-tests'
    every-Nth-request knob); then the effects that are due, then the route."""

    def __init__(self, app, settings: GraphSettings, tenant: Tenant) -> None:
        self.app, self.settings, self.tenant = app, settings, tenant
        self.tokens = Tokens(settings, tenant)
        self.throttle = Throttle(settings.throttle_limits)
        self.count = 0

    @property
    def state(self):
        return self.app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.settings.hosts is not None:
            refused = _host_refusal(scope, self.settings.hosts)
            if refused is not None:
                return await _error(refused)(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if path.endswith("/oauth2/v2.0/token") and method == "POST":
            from urllib.parse import parse_qsl

            body = await Request(scope, receive).body()
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
            return await self.tokens.issue(form)(scope, receive, send)
        if path == PKI_ROUTE and method == "GET":
            return await _json(self.tenant.published_roots())(scope, receive, send)
        if path == ACTIONS_ROUTE and method == "GET":
            return await _json([{"action": a, "platform": p, "device": d}
                                for a, p, d in self.tenant.actions])(scope, receive, send)
        given = [v for k, v in scope["headers"] if k == b"authorization"]
        app_id, why = self.tokens.check(given[0] if len(given) == 1 else None)
        if app_id is None:
            return await _error(GraphError(401, "InvalidAuthenticationToken", why,
                                           {"WWW-Authenticate": 'Bearer realm=""'}))(scope, receive, send)
        self.count += 1
        every = self.settings.throttle_every
        wait = self.throttle.refuse(app_id, method, path)
        if wait is None and every and self.count % every == 0:
            wait = self.settings.retry_after
        if wait is not None:
            return await _error(GraphError(
                429, "TooManyRequests", "Too many requests: the application is throttled; retry after the time "
                "in the Retry-After header.", {"Retry-After": str(wait)}))(scope, receive, send)
        self.tenant.advance()
        return await self.app(scope, receive, send)
