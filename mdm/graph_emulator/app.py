# What this module knows: the HTTP side of the Graph emulator -- the routes of docs/graph-wire.md,
# their status codes and OData envelopes, bearer-token auth (401), every-Nth-request throttling
# (429 with Retry-After, before anything changes) and Graph's error body for every refusal,
# unknown routes and methods included. Directory routes answer under /v1.0 and /beta, Intune's
# under /beta. What it does not know: what a write means for the mock (tenant.py).
"""The Graph emulator's ASGI application (Starlette, under FastAPI's dependency set)."""
from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .odata import GraphError, bad_request, page, parse_filter, query_options
from .tenant import Tenant

DEFAULT_TOKEN = "certconform-graph"
MAX_BODY = 256 * 1024

# $filter clauses per collection
USER_FILTERS = {"startswith": ("displayName", "userPrincipalName"), "eq": ("displayName", "userPrincipalName", "id")}
GROUP_FILTERS = {"startswith": ("displayName",), "eq": ("displayName", "id")}
DEVICE_FILTERS = {"eq": ("deviceId", "displayName", "id")}
MANAGED_FILTERS = {"startswith": ("deviceName",), "eq": ("deviceName", "operatingSystem", "id")}
PROFILE_FILTERS = {"startswith": ("displayName",), "eq": ("displayName", "id")}


class GraphSettings:
    def __init__(self, token: str = DEFAULT_TOKEN, page_size: int = 100, throttle_every: int = 0,
                 retry_after: int = 1, hosts=None) -> None:
        self.token, self.page_size = token, page_size
        self.throttle_every, self.retry_after = throttle_every, retry_after
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
        return collection(request, [d.directory_entity() for d in tenant.devices.values()], "devices", DEVICE_FILTERS)

    async def device(request: Request) -> Response:
        found = tenant.directory_device(request.path_params["id"])
        if found is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{request.path_params['id']}' does not exist.")
        return entity(request, found.directory_entity(), "devices")

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
    return GraphGuard(app, settings)


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


class GraphGuard:
    """ASGI middleware before routing: Host/Origin (421/403), bearer token (401), then
    every-Nth-request throttling (429)."""

    def __init__(self, app, settings: GraphSettings) -> None:
        self.app, self.settings = app, settings
        self.expected = f"Bearer {settings.token}".encode()
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
        given = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(given) != 1 or not hmac.compare_digest(given[0], self.expected):
            message = "Access token is empty." if not given else "Access token validation failure. Invalid audience."
            return await _error(GraphError(401, "InvalidAuthenticationToken", message,
                                           {"WWW-Authenticate": 'Bearer realm=""'}))(scope, receive, send)
        self.count += 1
        every = self.settings.throttle_every
        if every and self.count % every == 0:
            return await _error(GraphError(
                429, "TooManyRequests", "Too many requests: the application is throttled; retry after the time "
                "in the Retry-After header.", {"Retry-After": str(self.settings.retry_after)}))(scope, receive, send)
        return await self.app(scope, receive, send)
