# What this module knows: the contract's HTTP binding (../shared/CONTRACT.md) in front of one
# in-process MDM service (the mock by default): routes, status codes, bearer-token check, Host and
# Origin allow-list, JSON content type, body size limit, one lock around the service. What it does
# not know: certificate behaviour.
"""HTTP server for the bundled mock MDM.

    python -m mdm.server --port 8000 [--host 127.0.0.1] [--token TOKEN | --token-file PATH]
                         [--allow-host NAME ...]          (token also from env CERTCONFORM_TOKEN)

Endpoints: POST /reset (204), POST /events (204 / 409 / 422 / 400 / 413 / 415), GET /certificates
(and GET /certificates?since=CURSOR, only what changed: observe_since.py), GET /capabilities, GET /ca
and GET /crl (PEM), GET /openapi.json. With a token configured every
request must carry exactly one `Authorization: Bearer TOKEN` header (401 otherwise).

Requests from web pages are kept out: the Host header must name the bound address (with the
loopback names when bound to loopback or a wildcard address) or a name given with --allow-host
(421 otherwise: DNS rebinding), an Origin header must name such a host too (403: cross-site
requests), and a POST body must be declared `application/json` (415: a page can post text/plain
without a CORS preflight). Every error answer is `{"error": "<one line>"}`.
"""
from __future__ import annotations

import argparse
import hmac
import json
import sys
import threading
from typing import Annotated, Any, Iterable, Literal, Mapping, Optional, Union
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from certconform.mdm import EventRejected
from certconform.mdm.mock.events import parse_event
from certconform.mdm.observe_since import InventoryJournal
from certconform.mdm.serve_options import (LOOPBACK_NAMES, TOKEN_ENV, ServeError, add_serve_options, bare_host, exposure_warning,
                               is_loopback, is_wildcard, resolve_token, serve_from_args, split_host)

MAX_BODY = 64 * 1024
PEM_MEDIA_TYPE = "application/x-pem-file"
__all__ = ["MAX_BODY", "PEM_MEDIA_TYPE", "HostPolicy", "ServeError", "create_app", "exposure_warning", "main",
           "resolve_token", "serve", "TOKEN_ENV", "LOOPBACK_NAMES", "is_loopback"]

Name = Annotated[str, Field(min_length=1, strict=True)]
Platform = Literal["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]
Kind = Literal["trusted_root", "scep", "pkcs", "pkcs_imported"]
Ca = Literal["intune", "third_party"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateUser(_Event):
    type: Literal["create_user"]
    user: Name


class CreateGroup(_Event):
    type: Literal["create_group"]
    group: Name


class AddMember(_Event):
    type: Literal["add_member"]
    group: Name
    member: Name


class RemoveMember(_Event):
    type: Literal["remove_member"]
    group: Name
    member: Name


class Enroll(_Event):
    type: Literal["enroll"]
    device: Name
    platform: Platform
    user: Name


class CreateProfile(_Event):
    """`root` (a trusted_root profile) and `ca` are required for kinds scep and pkcs."""

    type: Literal["create_profile"]
    profile: Name
    kind: Kind
    root: Optional[Name] = None
    ca: Optional[Ca] = None


class AssignProfile(_Event):
    type: Literal["assign_profile"]
    profile: Name
    group: Name


class UnassignProfile(_Event):
    type: Literal["unassign_profile"]
    profile: Name
    group: Name


class UpdateProfile(_Event):
    type: Literal["update_profile"]
    profile: Name


class CheckIn(_Event):
    type: Literal["check_in"]
    device: Name


class DeleteCertificate(_Event):
    type: Literal["delete_certificate"]
    device: Name
    profile: Name


class Unenroll(_Event):
    type: Literal["unenroll"]
    device: Name


class Wipe(_Event):
    type: Literal["wipe"]
    device: Name


class Retire(_Event):
    type: Literal["retire"]
    device: Name


class LoseLicense(_Event):
    type: Literal["lose_license"]
    user: Name


class WithdrawLicense(_Event):
    type: Literal["withdraw_license"]
    user: Name


class DeleteUser(_Event):
    type: Literal["delete_user"]
    user: Name


class DeleteGroup(_Event):
    type: Literal["delete_group"]
    group: Name


AnyEvent = Annotated[
    Union[CreateUser, CreateGroup, AddMember, RemoveMember, Enroll, CreateProfile, AssignProfile,
          UnassignProfile, UpdateProfile, CheckIn, DeleteCertificate, Unenroll, Wipe, Retire,
          LoseLicense, WithdrawLicense, DeleteUser, DeleteGroup],
    Field(discriminator="type"),
]


_EVENT_ADAPTER: TypeAdapter = TypeAdapter(AnyEvent)
_EVENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}}}


class Certificate(BaseModel):
    device: str
    profile: str
    kind: Kind
    serial: str
    installed: bool
    revoked: bool


class Error(BaseModel):
    error: str


class CertificateChange(BaseModel):
    index: int = Field(ge=0, description="0-based position in the inventory")
    record: Certificate


class CertificateChanges(BaseModel):
    """The answer to GET /certificates?since=CURSOR (see mdm/observe_since.py)."""

    cursor: str = Field(description="opaque: send it as `since` with the next request")
    full: bool = Field(description="true: the cursor could not be used and `changes` holds every record")
    count: int = Field(ge=0, description="the length of the whole inventory now")
    changes: list[CertificateChange] = Field(
        description="the records that changed or are new since the cursor, by index; every other index "
                    "below `count` holds the record it held then")


_SINCE_DESCRIPTION = (
    "Optional (declared by `\"observe_since\": true` in GET /capabilities): the `cursor` of the "
    "client's last answer. With it, the answer is a CertificateChanges object holding only what "
    "changed since then; an empty, unknown or stale cursor (another server process, or a reset since) "
    "gets a full answer (`full: true`). Without it, the answer is the whole inventory as a list.")


def _json(content: Any) -> Response:
    """A compact JSON answer (no spaces; non-ASCII kept as UTF-8), encoded once, no validation pass."""
    return Response(json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(),
                    media_type="application/json")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


class PemResponse(Response):
    """A PEM document; the OpenAPI document takes its media type from here, as the routes do."""

    media_type = PEM_MEDIA_TYPE


class HostPolicy:
    """The hosts a request's Host (and Origin) may name: the bound address and, when it is a
    loopback or wildcard address (which listens on loopback too), the loopback names, all at the
    server's port when it is known; and the --allow-host names, at any port unless one is given."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, allow: Iterable[str] = ()) -> None:
        self.port = port
        bound = [host] + (list(LOOPBACK_NAMES) if is_loopback(host) or is_wildcard(host) else [])
        self.at_port: set[str] = set()  # names accepted at the server's port
        for name in bound:
            self.at_port.add(split_host(name)[0])
        self.any_port: set[str] = set()
        self.exact: set[tuple[str, int]] = set()
        for value in allow:
            name, given = split_host(value)
            if given is None:
                self.any_port.add(name)
            else:
                self.exact.add((name, given))

    def admits(self, name: str, port: int | None, default_port: int) -> bool:
        if name in self.any_port:
            return True
        effective = port if port is not None else default_port
        if (name, effective) in self.exact:
            return True
        return name in self.at_port and (self.port is None or effective == self.port)

    def describe(self) -> str:
        at = sorted(self.at_port)
        names = [f"{n}:{self.port}" for n in at] if self.port is not None else at
        names += sorted(self.any_port) + sorted(f"{n}:{p}" for n, p in self.exact)
        return ", ".join(names)


def _header_values(scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key == name]


class _Guard:
    """ASGI middleware, before any routing: Host (421) and Origin (403) allow-list, bearer token
    (401), request body limit (413)."""

    def __init__(self, app, token: str | None, max_body: int = MAX_BODY,
                 hosts: HostPolicy | None = None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body = max_body
        self.hosts = hosts or HostPolicy()
        # (Host, Origin or None) header pairs already found acceptable: a client sends the same
        # ones on every request, so the policy runs once per pair (bounded: a hostile client
        # cannot grow it past _ADMITTED_MAX)
        self._admitted: set[tuple[bytes, bytes | None]] = set()

    _ADMITTED_MAX = 64

    def _host_problem(self, scope) -> JSONResponse | None:
        hosts = _header_values(scope, b"host")
        origins = _header_values(scope, b"origin")
        seen = (hosts[0] if len(hosts) == 1 else None, origins[0] if len(origins) == 1 else None)
        if seen[0] is not None and len(origins) <= 1 and seen in self._admitted:
            return None
        refused = self._check_hosts(hosts, origins)
        if refused is None and seen[0] is not None and len(self._admitted) < self._ADMITTED_MAX:
            self._admitted.add(seen)
        return refused

    def _check_hosts(self, hosts: list[bytes], origins: list[bytes]) -> JSONResponse | None:
        if len(hosts) != 1:
            why = "no Host header" if not hosts else "more than one Host header"
            return _error(421, f"{why}: send exactly one naming {self.hosts.describe()}")
        host = hosts[0].decode("latin-1")
        try:
            name, port = split_host(host)
        except ValueError:
            name, port = "", None
        if not name or not self.hosts.admits(name, port, 80):
            return _error(421, f"Host {host!r} is not served here (allowed: {self.hosts.describe()}; "
                               "start the server with --allow-host NAME to add one)")
        if len(origins) > 1:
            return _error(403, "more than one Origin header")
        if origins:
            origin = origins[0].decode("latin-1")
            parts = urlsplit(origin)
            try:
                name, port = split_host(parts.netloc) if parts.scheme in ("http", "https") and parts.netloc \
                    else ("", None)
            except ValueError:
                name, port = "", None
            if not name or not self.hosts.admits(name, port, 443 if parts.scheme == "https" else 80):
                return _error(403, f"Origin {origin!r} is not an allowed host: requests from other sites' "
                                   f"web pages are refused (allowed: {self.hosts.describe()})")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = self._host_problem(scope)
        if refused is not None:
            return await refused(scope, receive, send)
        if self.expected is not None:
            given = _header_values(scope, b"authorization")
            if len(given) > 1:
                return await _error(401, "more than one Authorization header: send exactly one "
                                         "'Authorization: Bearer <token>'")(scope, receive, send)
            if not given or not hmac.compare_digest(given[0], self.expected):
                why = "missing bearer token" if not given else "wrong bearer token"
                return await _error(401, f"{why}: send 'Authorization: Bearer <token>'")(scope, receive, send)
        declared = _header_values(scope, b"content-length")
        if any(d.isdigit() and int(d) > self.max_body for d in declared):
            return await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
        if scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        # Read the body here (bounded), then replay it to the application.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _content_type_problem(request: Request, body_required: bool) -> JSONResponse | None:
    """415 unless the request declares JSON (a route without a body also takes no content type)."""
    values = request.headers.getlist("content-type")
    if len(values) == 1 and values[0].split(";", 1)[0].strip().lower() == "application/json":
        return None  # the usual case, before building any message
    route = f"{request.method} {request.scope['path']}"
    if not values:
        if not body_required:
            return None
        return _error(415, f"{route} needs 'Content-Type: application/json' (none was sent)")
    if len(values) > 1:
        return _error(415, f"{route}: more than one Content-Type header")
    media = values[0].split(";", 1)[0].strip().lower()
    if media != "application/json":
        return _error(415, f"{route} accepts 'Content-Type: application/json' only, not {values[0]!r}")
    return None


def _bad_event_message(body: Any, exc: ValidationError) -> str:
    """One line naming the field, for an event that failed the request models."""
    # Prefer the service's own wording (the same message as in process) when it has one.
    try:
        parse_event(body)
    except ValueError as bad:
        return str(bad)
    err = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in err.get("loc", ())]
    field = loc[-1] if loc else "event"
    etype = body.get("type") if isinstance(body, dict) else None
    prefix = f"{etype}: " if isinstance(etype, str) else ""
    return f"{prefix}field '{field}': {err.get('msg', 'invalid')}"


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# Answers any route can give, before or instead of its own (all with the Error body).
_COMMON_ERRORS = {
    "401": "missing or wrong bearer token, or more than one Authorization header "
           "(only when the server was started with a token)",
    "403": "the Origin header names a host that is not allowed (a request from another site's page)",
    "404": "no such route",
    "405": "method not allowed on this path",
    "421": "the Host header names a host this server does not serve (see --allow-host)",
}
_POST_ERRORS = {
    "413": "body over 64 KiB",
    "415": "the body is not declared 'Content-Type: application/json'",
}
_SECURITY_NOTE = (
    "Bearer token: required only when the server was started with a token (--token, --token-file or "
    f"env {TOKEN_ENV}); a server started without one ignores the Authorization header."
)


def _openapi_schema(app: FastAPI) -> dict:
    """FastAPI's document plus the Event union as the POST /events request body, the bearer
    security scheme, and the error answers every route can give."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        event_schema = _EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.update(event_schema.pop("$defs", {}))
        schemas["Event"] = event_schema
        schemas["Error"] = Error.model_json_schema()
        # GET /certificates answers a list, or with ?since= the change object (observe_since.py)
        changes = CertificateChanges.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(changes.pop("$defs", {}))
        schemas["CertificateChanges"] = changes
        listing = schema["paths"]["/certificates"]["get"]["responses"]["200"]["content"]["application/json"]
        listing["schema"] = {"oneOf": [listing["schema"], {"$ref": "#/components/schemas/CertificateChanges"}]}
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                        "description": _SECURITY_NOTE}}
        schema["security"] = [{"bearerAuth": []}]
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                errors = dict(_COMMON_ERRORS, **(_POST_ERRORS if method == "post" else {}))
                for status, description in errors.items():
                    responses.setdefault(status, {"description": description, "content": _ERROR_REF})
        app.openapi_schema = schema
    return app.openapi_schema


def _http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """404 / 405 (and any other routing error) as `{"error": ...}`, like every other answer."""
    route = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        message = f"no such route: {route} (see GET /openapi.json)"
    elif exc.status_code == 405:
        allowed = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
        message = f"method not allowed: {route}" + (f" (allowed: {allowed})" if allowed else "")
    else:
        message = f"{route}: {exc.detail}"
    return _error(exc.status_code, message, exc.headers)


def create_app(service=None, token: str | None = None, *, host: str = "127.0.0.1", port: int | None = None,
               allow_hosts: Iterable[str] = ()) -> FastAPI:
    """The FastAPI application around `service` (a new MockMDM by default).

    `host` and `port` are where it is served (`port` None: in process, any port is accepted for
    the bound names); `allow_hosts` are further names a request's Host or Origin may give."""
    hosts = HostPolicy(host, port, allow_hosts)
    if service is None:
        from certconform.mdm.mock import MockMDM

        service = MockMDM()
    lock = threading.Lock()
    journal = InventoryJournal()  # what GET /certificates?since= answers from
    app = FastAPI(
        title="certconform mock MDM",
        version="1.0",
        description="The adapter contract's HTTP binding, served by the bundled mock MDM. " + _SECURITY_NOTE
        + " Every request's Host (and Origin, when sent) must name an allowed host; POST bodies must be "
          "'application/json'. Every error answer is {\"error\": \"<one line>\"}.",
    )
    app.state.service = service
    app.state.hosts = hosts

    app.openapi = lambda: _openapi_schema(app)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)

    @app.post("/reset", status_code=204, response_class=Response, summary="Forget everything",
              description="No body; send no Content-Type or 'application/json'.")
    async def reset(request: Request) -> Response:
        refused = _content_type_problem(request, body_required=False)
        if refused is not None:
            return refused
        with lock:
            service.reset()
            journal.reset()
        return Response(status_code=204)

    @app.post(
        "/events", status_code=204, response_class=Response, summary="Apply one event",
        responses={400: {"model": Error, "description": "body is not JSON"},
                   409: {"model": Error, "description": "the MDM refused the action (EventRejected)"},
                   422: {"model": Error, "description": "bad input: the message names the field"}},
        openapi_extra=_EVENT_BODY,
    )
    async def post_event(request: Request) -> Response:
        refused = _content_type_problem(request, body_required=True)
        if refused is not None:
            return refused
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError as bad:  # UnicodeDecodeError is a ValueError too
            return _error(400, f"request body is not valid JSON: {bad}")
        except RecursionError:
            return _error(400, "request body is not valid JSON: nested too deeply")
        try:
            event = _EVENT_ADAPTER.validate_python(body)
        except ValidationError as bad:
            return _error(422, _bad_event_message(body, bad))
        payload = event.model_dump(exclude_none=True)
        try:
            with lock:
                service.apply(payload)
        except EventRejected as refused:
            return _error(409, str(refused))
        except ValueError as bad:
            return _error(422, str(bad))
        return Response(status_code=204)

    @app.get("/certificates", response_model=list[Certificate], summary="The certificate inventory",
             description="The whole inventory, or with `since` only what changed since the client's last answer.")
    async def certificates(since: Annotated[Optional[str], Query(description=_SINCE_DESCRIPTION)] = None) -> Any:
        with lock:
            if since is None:
                return _json(service.observe())
            native = getattr(service, "observe_since", None)
            if native is not None:  # the service tracks its own changes (the mock: O(changes), not O(inventory))
                return _json(native(since))
            journal.update(service.observe())
            return _json(journal.answer(since))

    @app.get("/capabilities", summary="What this MDM supports",
             description="The service's capabilities, plus `\"observe_since\": true` (GET /certificates?since=).")
    async def capabilities() -> Any:
        caps = getattr(service, "capabilities", None)
        answer = caps() if callable(caps) else {}
        return dict(answer, observe_since=True) if isinstance(answer, dict) else answer

    @app.get("/awaiting-person", summary="Pool devices waiting for a person (optional)",
             description="Devices out of the pool until a person acts (e.g. re-enrolment after a wipe): "
                         "[{platform, device, instruction}]. 404 when the service has no such notion.")
    async def awaiting_person() -> Any:
        waiting = getattr(service, "awaiting_person", None)
        if not callable(waiting):
            return _error(404, "no such route: GET /awaiting-person (the service has no devices waiting for a person)")
        with lock:
            return _json(waiting())

    @app.get("/ca", response_class=PemResponse, summary="Issuing CA and tenant root (PEM)")
    async def ca() -> PemResponse:
        with lock:
            return PemResponse(service.ca_pem())

    @app.get("/crl", response_class=PemResponse, summary="The issuing CA's signed CRL (PEM)")
    async def crl() -> PemResponse:
        with lock:
            return PemResponse(service.crl_pem())

    app.add_middleware(_Guard, token=token, hosts=hosts)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          allow_hosts: Iterable[str] = (), service=None) -> None:
    """Serve the mock MDM (or `service`, e.g. a realistic MockMDM) over HTTP until interrupted (blocking)."""
    import uvicorn

    app = create_app(service, token=token, host=host, port=port, allow_hosts=allow_hosts)
    shown = f"[{bare_host(host)}]" if ":" in host else host
    print(f"certconform mock MDM on http://{shown}:{port}" + (" (bearer token required)" if token else "")
          + f"; accepted Host names: {app.state.hosts.describe()}", file=sys.stderr, flush=True)
    warning = exposure_warning(host, token)
    if warning:
        print(f"certconform serve: {warning}", file=sys.stderr, flush=True)
    # http="auto" picks httptools (a declared dependency: its C parser costs about a third less
    # per request than h11) and falls back to h11 when it is missing. Keep-alive is uvicorn's
    # default. No proxy sits in front of this server, so X-Forwarded-* headers are not trusted.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, http="auto",
                proxy_headers=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdm.server", description="Serve the mock MDM over HTTP.")
    add_serve_options(parser)
    return serve_from_args(parser.parse_args(argv), "python -m mdm.server")


if __name__ == "__main__":
    sys.exit(main())
