"""Start the real mock MDM HTTP server (`python -m mdm.server`) in a subprocess for self-tests.

    from tests.servers import running_mock_server     # or: from servers import ...
    with running_mock_server(token="s3cret") as base_url:
        adapter = mdm.load_adapter(base_url, token="s3cret")

The server listens on a free loopback port; the context manager waits until it answers and
terminates it (that process only) on exit.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(process: subprocess.Popen, url: str, token: str | None, timeout: float, what: str,
                      any_answer: bool = False) -> None:
    """Poll `url` (with the bearer token, if any) until it answers 200 (with `any_answer`, until it
    answers at all: a throttled 429 is an emulator that is up); a server that exits first or is not
    ready within `timeout` is a RuntimeError naming `what` and its last output."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {output.strip()[-500:]}")
        try:
            if httpx.get(url, headers=headers, timeout=1.0).status_code == 200 or any_answer:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling for readiness, not a timing assertion
    raise RuntimeError(f"{what} at {url} not ready after {timeout:.0f}s")


def _stop(process: subprocess.Popen) -> None:
    """Stop a server started by one of the context managers below (kill it if it will not stop)."""
    from certconform.rehearse import stop

    stop(process)


@contextlib.contextmanager
def running_mock_server(token: str | None = None, host: str = "127.0.0.1",
                        startup_timeout: float = 30.0, token_via: str = "arg",
                        extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `python -m mdm.server` on a free port; yield its base URL ("http://127.0.0.1:PORT").

    The token goes to the server as `--token` (token_via "arg"), in env CERTCONFORM_TOKEN ("env")
    or in a `--token-file` ("file"); `extra_args` are further server options, `env` extra
    environment variables."""
    port = free_port()
    command = [sys.executable, "-m", "certconform.mdm.server", "--host", host, "--port", str(port), *extra_args]
    full_env = dict(os.environ)
    full_env.pop("CERTCONFORM_TOKEN", None)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), full_env.get("PYTHONPATH")]))
    token_dir = tempfile.TemporaryDirectory() if token and token_via == "file" else None
    if token and token_via == "arg":
        command += ["--token", token]
    elif token and token_via == "env":
        full_env["CERTCONFORM_TOKEN"] = token
    elif token_dir is not None:
        token_file = Path(token_dir.name) / "token"
        token_file.write_text(f"  {token}  \nsecond line is ignored\n")
        command += ["--token-file", str(token_file)]
    elif token:
        raise ValueError(f"token_via must be arg, env or file, not {token_via!r}")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=full_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base_url = f"http://{host}:{port}"
    try:
        _wait_until_ready(process, f"{base_url}/capabilities", token, startup_timeout, "mock server")
        yield base_url
    finally:
        _stop(process)
        if token_dir is not None:
            token_dir.cleanup()


@contextlib.contextmanager
def running_graph_emulator(*extra_args: str, token: str = "graph-selftest",
                           startup_timeout: float = 90.0) -> Iterator[str]:
    """Run `certconform serve --graph` on a free loopback port; yield its base URL. The readiness
    probe is one authenticated GET (it counts towards --throttle-every)."""
    port = free_port()
    command = [sys.executable, "-m", "certconform.cli", "serve", "--graph", "--port", str(port),
               "--token", token, *extra_args]
    env = dict(os.environ)
    env.pop("CERTCONFORM_TOKEN", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, f"{base_url}/v1.0/devices?$top=1", token, startup_timeout, "graph emulator",
                          any_answer=True)
        yield base_url
    finally:
        _stop(process)


def adapter_over(pool, base_url: str = "http://fake"):
    """A real HttpAdapter whose requests go to `pool` (anything with urllib3's `request(method,
    url, json=...)` and `close()`), without a server or the construction check."""
    from certconform.mdm.http_adapter import HttpAdapter

    adapter = HttpAdapter.__new__(HttpAdapter)
    adapter.base_url, adapter.timeout, adapter._prefix, adapter._pool = base_url, 1.0, "", pool
    return adapter


def _answer(status: int, body: bytes):
    import urllib3

    return urllib3.HTTPResponse(body=body, status=status, preload_content=True)


class AnswerPool:
    """Every request is answered by `answer(method, url)` -> (status, body bytes)."""

    def __init__(self, answer) -> None:
        self.answer = answer

    def request(self, method: str, url: str, json=None):
        return _answer(*self.answer(method, url))

    def close(self) -> None:
        pass


class TestClientPool(AnswerPool):
    """Requests go to an in-process app through Starlette's TestClient."""

    def __init__(self, client) -> None:
        super().__init__(lambda method, url: None)
        self.client = client

    def request(self, method: str, url: str, json=None):
        response = self.client.request(method, url, json=json)
        return _answer(response.status_code, response.content)


def fake_http_adapter(answer):
    """An HttpAdapter whose every request is answered by `answer(method, url)` -> (status, body bytes)."""
    return adapter_over(AnswerPool(answer))
