# What this module knows: the contract's HTTP binding (../shared/CONTRACT.md) in front of one
# in-process MDM service (the mock by default): routes, status codes, bearer-token check, body
# size limit, one lock around the service. What it does not know: certificate behaviour.
"""HTTP server for the bundled mock MDM.

    python -m mdm.server --port 8000 [--host 127.0.0.1] [--token TOKEN]

Endpoints: POST /reset (204), POST /events (204 / 409 / 422 / 400 / 413), GET /certificates,
GET /capabilities, GET /ca and GET /crl (PEM), GET /openapi.json. With a token configured every
request must carry `Authorization: Bearer TOKEN` (401 otherwise).
"""
from __future__ import annotations

import argparse
import hmac
import json
import sys
import threading
from typing import Annotated, Any, Literal, Optional, Union

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mdm import EventRejected
from mdm.mock.events import parse_event

MAX_BODY = 64 * 1024

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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _Guard:
    """ASGI middleware: bearer token (401) and request body limit (413), before any routing."""

    def __init__(self, app, token: str | None, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.expected is not None:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                why = "missing bearer token" if not given else "wrong bearer token"
                return await _error(401, f"{why}: send 'Authorization: Bearer <token>'")(scope, receive, send)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
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


def _openapi_schema(app: FastAPI) -> dict:
    """FastAPI's document plus the Event union as the POST /events request body."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        event_schema = _EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event_schema.pop("$defs", {}))
        components["Event"] = event_schema
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(service=None, token: str | None = None) -> FastAPI:
    """The FastAPI application around `service` (a new MockMDM by default)."""
    if service is None:
        from mdm.mock import MockMDM

        service = MockMDM()
    lock = threading.Lock()
    app = FastAPI(
        title="certconform mock MDM",
        version="1.0",
        description="The adapter contract's HTTP binding, served by the bundled mock MDM.",
    )
    app.state.service = service

    app.openapi = lambda: _openapi_schema(app)

    @app.post("/reset", status_code=204, response_class=Response, summary="Forget everything")
    async def reset() -> Response:
        with lock:
            service.reset()
        return Response(status_code=204)

    @app.post(
        "/events", status_code=204, response_class=Response, summary="Apply one event",
        responses={400: {"model": Error, "description": "body is not JSON"},
                   401: {"model": Error, "description": "missing or wrong bearer token"},
                   409: {"model": Error, "description": "the MDM refused the action (EventRejected)"},
                   413: {"model": Error, "description": "body over 64 KiB"},
                   422: {"model": Error, "description": "bad input: the message names the field"}},
        openapi_extra=_EVENT_BODY,
    )
    async def post_event(request: Request) -> Response:
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

    @app.get("/certificates", response_model=list[Certificate], summary="The certificate inventory")
    async def certificates() -> Any:
        with lock:
            records = service.observe()
        return JSONResponse(records)

    @app.get("/capabilities", summary="What this MDM supports")
    async def capabilities() -> Any:
        caps = getattr(service, "capabilities", None)
        return caps() if callable(caps) else {}

    @app.get("/ca", response_class=PlainTextResponse, summary="Issuing CA and tenant root (PEM)")
    async def ca() -> PlainTextResponse:
        with lock:
            return PlainTextResponse(service.ca_pem(), media_type="application/x-pem-file")

    @app.get("/crl", response_class=PlainTextResponse, summary="The issuing CA's signed CRL (PEM)")
    async def crl() -> PlainTextResponse:
        with lock:
            return PlainTextResponse(service.crl_pem(), media_type="application/x-pem-file")

    app.add_middleware(_Guard, token=token)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
    """Serve the mock MDM over HTTP until interrupted (blocking)."""
    import uvicorn

    print(f"certconform mock MDM on http://{host}:{port}" + (" (bearer token required)" if token else ""),
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(token=token), host=host, port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdm.server", description="Serve the mock MDM over HTTP.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN'")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.token)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
