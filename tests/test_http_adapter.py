"""HttpAdapter (mdm/http_adapter.py) against the real mock server, and its error paths."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from certconform import mdm
from certconform.mdm.http_adapter import HttpAdapter

try:
    from tests.servers import PROJECT_ROOT, fake_http_adapter, free_port
except ImportError:
    from servers import PROJECT_ROOT, fake_http_adapter, free_port

PROBE = Path("/work/shared/tools/contract-probe")

SCENARIO = [
    {"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
    {"type": "enroll", "device": "k", "platform": "android_knox", "user": "u"},
    {"type": "enroll", "device": "m", "platform": "macos", "user": "u"},
    {"type": "add_member", "group": "g", "member": "u"},
    {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
    {"type": "create_profile", "profile": "p", "kind": "pkcs", "root": "r", "ca": "third_party"},
    {"type": "assign_profile", "profile": "r", "group": "g"},
    {"type": "assign_profile", "profile": "s", "group": "g"},
    {"type": "assign_profile", "profile": "p", "group": "g"},
    {"type": "check_in", "device": "k"}, {"type": "check_in", "device": "m"},
    {"type": "retire", "device": "k"},
    {"type": "delete_certificate", "device": "m", "profile": "s"},
    {"type": "check_in", "device": "m"},
    {"type": "update_profile", "profile": "s"},
]


def without_serials(records):
    return [{k: v for k, v in r.items() if k != "serial"} for r in records]


def test_adapter_agrees_with_the_in_process_mock(mock_server_url):
    remote = mdm.load_adapter(mock_server_url)
    local = mdm.load_adapter("mock")
    assert isinstance(remote, HttpAdapter)
    remote.reset()
    local.reset()
    for e in SCENARIO:
        remote.apply(e)
        local.apply(e)
        assert without_serials(remote.observe()) == without_serials(local.observe()), e
    assert any(r["revoked"] for r in remote.observe())
    remote.reset()
    assert remote.observe() == []


def test_adapter_maps_statuses_to_exceptions(mock_server_url):
    adapter = HttpAdapter(mock_server_url)
    adapter.reset()
    for e in SCENARIO[:4]:
        adapter.apply(e)
    with pytest.raises(mdm.EventRejected, match="wipe"):
        adapter.apply({"type": "wipe", "device": "m"})
    with pytest.raises(ValueError, match="device"):
        adapter.apply({"type": "check_in", "device": "nope"})
    with pytest.raises(ValueError, match="type"):
        adapter.apply({"type": "no_such_event"})
    caps = adapter.capabilities()
    assert "macos" in caps["platforms"]


def test_unreachable_server_is_one_line_spec_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(mdm.AdapterSpecError) as raised:
        mdm.load_adapter(url)
    message = str(raised.value)
    assert "\n" not in message
    assert url in message and "cannot reach" in message and "refused" in message


def test_token_server(mock_server_with_token):
    url, token = mock_server_with_token
    for wrong in (None, "wrong"):
        with pytest.raises(mdm.AdapterSpecError) as raised:
            HttpAdapter(url, token=wrong)
        assert "token" in str(raised.value) and "\n" not in str(raised.value)
    adapter = HttpAdapter(url, token=token)
    adapter.reset()
    adapter.apply({"type": "create_user", "user": "t"})
    assert adapter.observe() == []


def test_token_from_environment(mock_server_with_token, monkeypatch):
    url, token = mock_server_with_token
    monkeypatch.setenv("MDM_TOKEN", token)
    mdm.load_adapter(url).reset()
    monkeypatch.setenv("MDM_TOKEN", "nope")
    with pytest.raises(mdm.AdapterSpecError, match="token"):
        mdm.load_adapter(url)


def test_other_statuses_are_runtime_errors_naming_status_and_body():
    adapter = fake_http_adapter(lambda method, url: (500, b'{"error": "database on fire"}'))
    with pytest.raises(RuntimeError, match="500.*database on fire"):
        adapter.apply({"type": "create_user", "user": "u"})
    with pytest.raises(RuntimeError, match="500"):
        adapter.observe()
    with pytest.raises(RuntimeError, match="500"):
        adapter.reset()


def test_401_mid_run_is_a_spec_error():
    adapter = fake_http_adapter(lambda method, url: (401, b'{"error": "wrong bearer token"}'))
    with pytest.raises(mdm.AdapterSpecError, match="rejected the token"):
        adapter.apply({"type": "create_user", "user": "u"})


def test_non_mdm_server_is_a_spec_error():
    """Any other server on that port (an nginx 404 page): one line saying it is not an MDM server."""
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(mdm.AdapterSpecError, match="404") as raised:
            HttpAdapter(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert "\n" not in str(raised.value)


@pytest.mark.skipif(not PROBE.exists(), reason="contract-probe not available")
def test_contract_probe_passes_over_http(mock_server_url):
    env = dict(os.environ)
    env.pop("MDM_TOKEN", None)
    result = subprocess.run([sys.executable, str(PROBE), mock_server_url], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contract shape OK" in result.stdout


@pytest.mark.skipif(not PROBE.exists(), reason="contract-probe not available")
def test_contract_probe_passes_in_process():
    result = subprocess.run([sys.executable, str(PROBE), "mock"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
