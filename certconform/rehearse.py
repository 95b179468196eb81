"""`certconform rehearse`: the Intune campaign against the Graph emulator, from the installed package.

    certconform rehearse [--time-scale 3600] [--pool 8] [--shards 4] [--profile ci] [--no-features]
                         [--no-stateful] [--allow-destructive [--allow-macos-wipe]] [--dry-run]
                         [--fault NAME] [--report-dir DIR] [-k EXPR] [--cells N] [--unattended]

What it does: starts one Graph emulator (`certconform serve --graph`, on a free loopback port,
Intune's documented delays compressed by --time-scale, --pool devices per platform), configures
the Intune adapter exactly as an administrator would (CERTCONFORM_INTUNE_* settings: the
emulator's pool, its CA roots, client credentials whose tokens expire and renew), prints what
`certconform plan --mdm intune` says the run will take, and runs `certconform run --mdm intune`
against it: the feature scenarios and the stateful shards in one run, as concurrent cells within
the adapter's declared windows (docs/slow-products.md). It prints a line when the run starts and
ends, the suite's own progress lines, and a line every minute; then the verdict totals, the plan
beside the actual wall time (results.json `run.cells`), and where the reports are. Exit 0 only
when the run passed. With --dry-run nothing is sent and nothing is judged: the reports say so.

What it does not know: what the suite judges (it reads only the exit code and the reports).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from contextlib import ExitStack, contextmanager
from pathlib import Path

SECRET = "rehearsal-client-secret"  # the emulator's client secret (a loopback emulator's, no tenant's)
PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_legacy", "android_work")
POOL_SIZE = 4  # the emulator's default pool, per platform (certconform serve --graph)
REHEARSAL_POOL = 8  # the rehearsal's: more devices, more cells at once
HEARTBEAT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_emulator(*options: str, time_scale: float = 3600.0, token: str = SECRET, timeout: float = 60.0):
    """`certconform serve --graph` in a subprocess on a free loopback port; yields its base URL."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "certconform.cli", "serve", "--graph", "--port", str(port), "--token", token,
               "--time-scale", f"{time_scale:g}", *options]
    env = {k: v for k, v in os.environ.items() if k != "CERTCONFORM_TOKEN"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Graph emulator exited with {process.returncode}: "
                                   f"{(process.stdout.read() if process.stdout else '').strip()[-300:]}")
            try:
                if httpx.get(f"{url}/certconform/pki-roots", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Graph emulator at {url} did not answer within {timeout:.0f} s")
            time.sleep(0.05)  # waiting for a server to start
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server this module (or a self-test) started: terminate, kill if it will not stop."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def emulator_settings(url: str, workdir: Path, time_scale: float, token: str = SECRET,
                      pool_size: int = POOL_SIZE, platforms=PLATFORMS) -> dict[str, str]:
    """The CERTCONFORM_INTUNE_* settings an administrator would give for the emulator at `url`:
    its pool (lab-PLATFORM-NN, each enrolled by its lab user), its CA roots (written to `workdir`),
    client credentials (the emulator's token endpoint; its tokens expire), the licence its lab
    users hold, the time scale."""
    import base64

    import httpx

    from certconform.mdm.graph_emulator.tenant import LAB_SKU

    roots = httpx.get(f"{url}/certconform/pki-roots", timeout=10).json()
    files = {}
    for ca, der in roots.items():
        path = workdir / f"{ca}-root.cer"
        path.write_bytes(base64.b64decode(der))
        files[ca] = str(path)
    pool = ";".join(f"{p}=" + ",".join(f"lab-{p}-{i:02d}" for i in range(1, pool_size + 1)) for p in platforms)
    return {"CERTCONFORM_INTUNE_GRAPH_URL": url, "CERTCONFORM_INTUNE_TENANT_ID": "lab-tenant",
            "CERTCONFORM_INTUNE_CLIENT_ID": "certconform-rehearsal", "CERTCONFORM_INTUNE_CLIENT_SECRET": token,
            "CERTCONFORM_INTUNE_POOL": pool, "CERTCONFORM_INTUNE_LICENSE_SKU": LAB_SKU,
            "CERTCONFORM_INTUNE_ROOT_CERTIFICATE": files["intune"],
            "CERTCONFORM_INTUNE_THIRD_PARTY_ROOT_CERTIFICATE": files["third_party"],
            "CERTCONFORM_INTUNE_TIME_SCALE": f"{time_scale:g}"}


def typical_setting(delays: list[str]) -> str:
    """The adapter's `typical` setting for an emulator run with `--delay NAME=S` items (its other
    delays are the defaults the adapter's own typical figures match): a device answers a
    notification (delivery, removal, a device action) after `notify`, the connector revokes
    after `revocation`, a group change propagates after `propagation`; each within its bound."""
    from certconform.mdm.graph_emulator.serve import parse_delays
    from certconform.mdm.intune.mapping import WINDOWS

    d = parse_delays(delays)
    figures = {"delivery": d.notify_s, "removal": d.notify_s, "device_action": d.notify_s,
               "revocation": d.revocation_s, "propagation": d.propagation_s}
    return ";".join(f"{c}={min(s, WINDOWS[c]):g}" for c, s in figures.items())


def clean_environ() -> dict[str, str]:
    """The environment without an administrator's own Intune settings (a rehearsal uses the emulator's)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("CERTCONFORM_INTUNE_", "MDM_"))}


class Run:
    """One `certconform run --mdm intune` in a subprocess; its progress lines go to `say`."""

    PROGRESS = ("certconform stateful:", "certconform results:", "certconform run cut short", "certconform cells:",
                "certconform: cell")

    def __init__(self, label: str, args: list[str], env: dict, report_dir: Path, say) -> None:
        self.label, self.report_dir, self.say = label, report_dir, say
        self.command = [sys.executable, "-m", "certconform.cli", "run", "--mdm", "intune",
                        f"--report-dir={report_dir}", *args]
        self.env, self.started, self.exit, self.seconds, self.tail = env, 0.0, None, 0.0, []

    def __call__(self) -> "Run":
        self.started = time.monotonic()
        self.say(f"{self.label}: started")
        process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
        last_cells = 0.0
        for line in process.stdout:
            line = line.rstrip()
            self.tail = (self.tail + [line])[-40:]
            if line.startswith(self.PROGRESS):
                if line.startswith("certconform cells:"):  # at most one a minute
                    if time.monotonic() < last_cells + HEARTBEAT_S:
                        continue
                    last_cells = time.monotonic()
                if line.startswith("certconform: cell "):  # the instruction, without the (long) cell id
                    _, found, instruction = line.rpartition("a person is needed: ")
                    line = f"certconform a person is needed: {instruction}" if found else line
                    line = line if len(line) < 200 else line[:197] + "..."
                self.say(f"{self.label}: {line.removeprefix('certconform ')}")
        self.exit = process.wait()
        self.seconds = time.monotonic() - self.started
        self.say(f"{self.label}: finished, exit {self.exit}, {self.seconds:.0f} s")
        return self

    def counts(self) -> dict:
        junit = self.report_dir / "junit.xml"
        if not junit.exists():
            return {}
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}

    def cells(self) -> dict:
        """results.json `run.cells` (the plan beside what happened), or {}."""
        results = self.report_dir / "results.json"
        if not results.exists():
            return {}
        return (json.loads(results.read_text()).get("run") or {}).get("cells") or {}


def plan_lines(env: dict, args: list[str]) -> list[str]:
    """What `certconform plan --mdm intune` prints for the run (it sends no Graph request)."""
    result = subprocess.run([sys.executable, "-m", "certconform.cli", "plan", "--mdm", "intune", *args], env=env,
                            capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith(("certconform plan", "  "))]
    if result.returncode != 0 or not lines:
        return [f"certconform plan failed (exit {result.returncode}): "
                + " ".join((result.stdout + result.stderr).split())[-300:]]
    return lines


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="certconform rehearse", description=__doc__.splitlines()[0])
    ap.add_argument("--time-scale", type=float, default=3600.0,
                    help="seconds of Intune's time per real second (default 3600: an hour of Intune is a second)")
    ap.add_argument("--pool", type=int, default=REHEARSAL_POOL,
                    help=f"the emulator's lab devices per platform (default {REHEARSAL_POOL}; cells are bounded by it)")
    ap.add_argument("--shards", type=int, default=4, help="stateful shards (default 4)")
    ap.add_argument("--profile", default="ci", help="Hypothesis profile of the stateful shards (default ci)")
    ap.add_argument("--no-features", action="store_true", help="leave out the feature scenarios")
    ap.add_argument("--no-stateful", action="store_true", help="leave out the stateful shards")
    ap.add_argument("--allow-destructive", action="store_true", help="as for a real run: wipe, retire, delete_user")
    ap.add_argument("--allow-macos-wipe", action="store_true", help="as for a real run: let a wipe reach a Mac")
    ap.add_argument("--no-graph-limits", action="store_true",
                    help="neither the emulator nor the adapter keeps Graph's per-app request limits (quicker, kinder "
                         "than Graph: self-tests only)")
    ap.add_argument("--dry-run", action="store_true", help="print the Graph requests, send none, judge nothing")
    ap.add_argument("--fault", default=None, metavar="NAME", help="a faulty emulator (self-tests; docs/graph-wire.md)")
    ap.add_argument("--delay", action="append", default=None, metavar="NAME=S",
                    help="one of the emulator's delays in Intune's seconds (serve --graph --delay); default: as "
                         "documented (docs/graph-wire.md)")
    ap.add_argument("--report-dir", default="rehearsal", help="where the reports go (default ./rehearsal)")
    ap.add_argument("-k", dest="keyword", default=None, help="pytest -k expression (a subset of the scenarios)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if args.shards < 1 or not args.time_scale > 0 or not 1 <= args.pool <= 50:
        print("certconform rehearse: --shards must be at least 1, --time-scale above 0, --pool 1 to 50",
              file=sys.stderr)
        return 2
    if args.no_features and args.no_stateful:
        print("certconform rehearse: nothing to run (--no-features and --no-stateful)", file=sys.stderr)
        return 2
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    selection = (["-m", "stateful"] if args.no_features else ["-m", "not stateful"] if args.no_stateful else [])
    common = [*selection, f"--stateful-shards={args.shards}", "--hypothesis-profile", args.profile,
              *(["--allow-destructive"] if args.allow_destructive else []),
              *(["--dry-run"] if args.dry_run else []), *(["-k", args.keyword] if args.keyword else []), *extra]
    report_dir = Path(args.report_dir).resolve()
    delays = list(args.delay or [])
    emulator = [*(["--fault", args.fault] if args.fault else []), *[f"--delay={d}" for d in delays],
                "--pool", ",".join(f"{p}={args.pool}" for p in PLATFORMS),
                *(["--no-graph-limits"] if args.no_graph_limits else [])]
    say(f"--mdm intune against a Graph emulator (time scale {args.time_scale:g}: {3600 / args.time_scale:g} s an "
        f"Intune hour; delays {' '.join(delays) or 'as documented'}; {args.pool} lab devices per platform)"
        f"{'; DRY RUN: nothing is sent, nothing is judged' if args.dry_run else ''}")
    with tempfile.TemporaryDirectory(prefix="certconform-rehearsal-") as tmp, ExitStack() as stack:
        url = stack.enter_context(running_emulator(*emulator, time_scale=args.time_scale))
        env = {**clean_environ(), **emulator_settings(url, Path(tmp), args.time_scale, pool_size=args.pool)}
        if args.allow_macos_wipe:
            env["CERTCONFORM_INTUNE_ALLOW_MACOS_WIPE"] = "1"
        if args.no_graph_limits:
            env["CERTCONFORM_INTUNE_GRAPH_LIMITS"] = "0"
        if delays:  # the tenant's typical figures for the plan, as its administrator would give them
            env["CERTCONFORM_INTUNE_TYPICAL"] = typical_setting(delays)
        for line in plan_lines(env, common):
            say(line)
        run = Run("campaign", ["--call-timeout", "0", "-q", *common], env, report_dir, say)
        thread = threading.Thread(target=run, daemon=True)
        start = time.monotonic()
        thread.start()
        while thread.is_alive():
            thread.join(timeout=HEARTBEAT_S)
            if thread.is_alive():
                say(f"running for {time.monotonic() - start:.0f} s")
    c = run.counts()
    judged = c.get("tests", 0) - c.get("skipped", 0)
    failed = c.get("failures", 0) + c.get("errors", 0)
    say(f"exit {run.exit}: {judged - failed} passed, {failed} failed, {c.get('skipped', 0)} not judged; "
        f"{run.seconds:.0f} s; reports in {report_dir}")
    cells = run.cells()
    planned, actual = cells.get("planned") or {}, cells.get("actual") or {}
    if planned.get("expected_wall_seconds") is not None and actual.get("wall_seconds") is not None:
        say(f"plan {planned['expected_wall_seconds']:.0f} s, actual {actual['wall_seconds']:.0f} s "
            f"({actual.get('cells', 0)} cells, at most {actual.get('cells_in_flight_at_most', 0)} at once, "
            f"{actual.get('events', 0)} events, {actual.get('requests_total', 0)} adapter calls)")
    if run.exit != 0:
        print("\n--- last lines ---\n" + "\n".join(run.tail), flush=True)
    say(("the run passed" if run.exit == 0 else "the run failed") + ("; DRY RUN: nothing was judged" if args.dry_run else ""))
    return 0 if run.exit == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
