"""The suite as users run it (`certconform run` / pytest in a subprocess) against implementations
that hang, answer slowly, crash or are interrupted: the run is cut off within --call-timeout,
stops after --max-adapter-errors, and always writes every report, saying it was cut short.

What these tests know: the report files' names and shapes, the adapters in tests/adapters_hung.py.
Every subprocess has a timeout as a safety net: a hang that the suite failed to cut off ends
the test as a failure instead of blocking the self-tests.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ("junit.xml", "cucumber.json", "traceability.json", "results.json", "index.html")
SAFETY_NET = 120  # seconds: far above a cut-off run, far below what the hang would cost


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "certconform.cli", "run", *args, "-p", "no:randomly", "-m", "not stateful"]


def run(*args: str, timeout: float = SAFETY_NET) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def assert_reports_say_cut_short(report_dir: Path, words: str) -> dict:
    for name in REPORTS:
        assert (report_dir / name).is_file(), name
    results = json.loads((report_dir / "results.json").read_text())
    assert words in (results["run"]["cut_short"] or ""), results["run"]["cut_short"]
    assert words in json.loads((report_dir / "traceability.json").read_text())["cut_short"]
    assert "This run was cut short" in (report_dir / "index.html").read_text()
    junit = ET.parse(report_dir / "junit.xml").getroot()
    assert any(p.get("name") == "cut_short" and words in p.get("value") for p in junit.iter("property"))
    json.loads((report_dir / "cucumber.json").read_text())
    return results


def junit_suite(report_dir: Path):
    root = ET.parse(report_dir / "junit.xml").getroot()
    return root if root.tag == "testsuite" else root.find("testsuite")


@pytest.mark.parametrize("adapter, call", [("HangsOnCheckIn", 'apply({"type": "check_in", "device": "dev1"})'),
                                           ("HangsOnObserve", "observe()")])
def test_a_hung_adapter_is_cut_off_and_fail_fast_stops_the_run(tmp_path, adapter, call):
    r = run(f"--mdm=tests.adapters_hung:{adapter}", f"--report-dir={tmp_path}", "--call-timeout=1",
            "--max-adapter-errors=3", "-k", "winscep")
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-3000:]  # interrupted by fail-fast
    assert f"[contract: CONTRACT] {call} did not return within 1 s (--call-timeout)" in out
    assert "certconform stopped after 3 consecutive tests ended by an adapter error" in out
    results = assert_reports_say_cut_short(tmp_path, "stopped after 3 consecutive tests")
    assert results["totals"]["tests"] == 3 and results["totals"]["tests_error"] == 3
    assert results["totals"]["fail"] == 0 and results["totals"]["error"] >= 1
    errors = [s for s in results["statements"].values() if s["verdict"] == "error"]
    assert any(call in e["message"] for s in errors for e in s["errors"])
    suite = junit_suite(tmp_path)
    assert suite.get("failures") == "0" and int(suite.get("errors")) == 3


def test_max_adapter_errors_zero_never_stops(tmp_path):
    r = run("--mdm=tests.adapters_hung:HangsOnCheckIn", f"--report-dir={tmp_path}", "--call-timeout=1",
            "--max-adapter-errors=0", "-k", "winsceprr")
    assert r.returncode == 1, (r.stdout + r.stderr)[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["run"]["cut_short"] is None and results["totals"]["tests_error"] == results["totals"]["tests"] > 3


class SlowServer(BaseHTTPRequestHandler):
    """The contract's HTTP binding, answering POST /events only after 60 s (or at shutdown)."""

    released = threading.Event()

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._answer(200, b"[]") if self.path == "/certificates" else self._answer(404, b'{"error": "no route"}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/events":
            self.released.wait(60)
        try:
            self._answer(204)
        except OSError:  # the client gave up long ago
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        SlowServer.released.set()
        server.shutdown()
        server.server_close()


def test_a_slow_server_is_cut_off_at_the_deadline(tmp_path, slow_server):
    r = run(f"--mdm={slow_server}", f"--report-dir={tmp_path}", "--call-timeout=1", "-k", "winscep")
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-3000:]
    # worded as docs/running.md says a timeout is, whichever deadline (the guard's or the adapter's) fired first
    assert 'apply({"type": "create_user", "user": "alice"}) did not return within 1 s (--call-timeout): POST ' in out
    assert "after 1 s" in out and "stopped after 5 consecutive tests" in out
    results = assert_reports_say_cut_short(tmp_path, "stopped after 5 consecutive tests")
    assert results["totals"]["tests_error"] == 5 and results["totals"]["tests_failed"] == 0


def test_ctrl_c_during_a_hung_call_still_writes_every_report(tmp_path):
    mark = tmp_path / "hanging"
    reports = tmp_path / "reports"
    env = dict(os.environ, CERTCONFORM_TEST_HANG_MARK=str(mark))
    # SIGINT as a terminal delivers it: a process started in the background by a shell (`cmd &`,
    # as CI scripts and nohup do) inherits SIGINT *ignored*, and Python then installs no
    # KeyboardInterrupt handler, so the child is given the default disposition back.
    proc = subprocess.Popen(command("--mdm=tests.adapters_hung:HangsOnCheckIn", f"--report-dir={reports}",
                                    "--call-timeout=600", "-k", "winsceprr"),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + SAFETY_NET
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for the adapter to start hanging, not a timing assertion
        assert mark.exists(), "the adapter never started hanging"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=SAFETY_NET)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, out[-3000:]
    assert "certconform run cut short" in out
    assert_reports_say_cut_short(reports, "interrupted")


def test_a_crashing_adapter_is_verdict_error_not_fail(tmp_path):
    r = run("--mdm=tests.adapters_hung:CrashesOnWipe", f"--report-dir={tmp_path}", "-k", "winsceprr")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    wipe = results["statements"]["WIN-SCEP-RR-2"]
    assert wipe["verdict"] == "error" and wipe["failures"] == []
    assert "raised RuntimeError: database connection lost" in wipe["errors"][0]["message"]
    assert results["statements"]["WIN-SCEP-RR-1"]["verdict"] == "pass"
    assert results["totals"]["fail"] == 0 and results["totals"]["error"] == 1 and results["totals"]["tests_error"] == 1
    assert results["contract"]["verdict"] == "error" and results["run"]["cut_short"] is None
    suite = junit_suite(tmp_path)
    assert suite.get("failures") == "0" and suite.get("errors") == "1"
    [case] = [c for c in suite.iter("testcase") if c.find("error") is not None]
    assert "winsceprr2" in case.get("name")
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["verdict"] == "error"
    html = (tmp_path / "index.html").read_text()
    assert '<span class="badge v-error">ERROR</span> WIN-SCEP-RR-2' in html and "v-fail\">FAIL</span> WIN" not in html


def test_an_event_mutating_adapter_passes(tmp_path):
    r = run("--mdm=tests.adapters_hung:MutatesEvents", f"--report-dir={tmp_path}", "-k", "winscep or iosscep")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


@pytest.mark.parametrize("value, words", [("-1", "--call-timeout '-1': want a number >= 0"),
                                          ("soon", "--call-timeout 'soon': want a number >= 0")])
def test_a_bad_call_timeout_is_a_usage_error(tmp_path, value, words):
    r = run("--mdm=reference", f"--report-dir={tmp_path}", f"--call-timeout={value}")
    assert r.returncode == 4 and words in r.stderr and "Traceback" not in r.stderr + r.stdout, r.stderr


def _mock_whose_wipe_fails():
    """The bundled mock, except that every wipe crashes inside the service (the server answers HTTP 500)."""
    from certconform.mdm.mock import MockMDM

    class WipeFails(MockMDM):
        def apply(self, event):
            if event.get("type") == "wipe":
                raise RuntimeError("storage unavailable")
            return super().apply(event)

    return WipeFails()


@pytest.fixture
def wipe_500_server():
    """The mock over HTTP (uvicorn in a thread) whose wipe answers HTTP 500."""
    import uvicorn

    from certconform.mdm.server import create_app
    from tests.servers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(_mock_whose_wipe_fails(), port=port), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_http_500_is_one_error_line_per_test_as_junit_says(tmp_path, wipe_500_server):
    """A vendor's server failing on wipe: each test is an ERROR (as in junit.xml), shown as the
    adapter error's one line, not pytest's and pytest-bdd's traceback."""
    r = run(f"--mdm={wipe_500_server}", f"--report-dir={tmp_path}", "--max-adapter-errors=0", "-k", "wipe and not macos")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    messages = [line for line in out.splitlines() if line.startswith("[contract: CONTRACT] apply(")]
    suite = junit_suite(tmp_path)
    errors = int(suite.get("errors"))
    assert errors >= 3 and int(suite.get("failures")) == 0
    assert len(messages) == errors, out[-3000:]
    assert messages[0] == ('[contract: CONTRACT] apply({"type": "wipe", "device": "dev1"}) raised RuntimeError: '
                           "POST /events answered HTTP 500 with a body that is not JSON: b'Internal Server Error'")
    assert "Traceback" not in out and "fixturefunc" not in out and "FAILED" not in out
    assert len([line for line in out.splitlines() if line.startswith("ERROR ")]) == errors
    assert f"{errors} error" in out.splitlines()[-1]
