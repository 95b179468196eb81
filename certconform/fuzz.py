"""`certconform fuzz --mdm SPEC [--workers N] [--database URL]`: a long exploration campaign of the
stateful conformance test on HypoFuzz, over one example database that every worker shares.

How it fits together:
  * certconform/fuzz_target.py is the campaign's only test: the conformance state machine
    (conformance/test_stateful.py, the same rules, oracle and invariants as the CI run) as a
    Hypothesis test that HypoFuzz can fuzz: coverage-guided, one worker per core (`hypothesis
    fuzz -n N`), with its live dashboard (http://localhost:9999 by default).
  * Every worker reads and writes one Hypothesis example database (`--database`): a directory
    (several workers on one machine; a directory on a shared disk, or committed to the
    repository, for several machines) or a Redis database (`redis://HOST:PORT/N`, several
    machines at once). HypoFuzz saves the covering corpus and, when a worker finds a failing
    sequence, the shrunk failure under the test's own key, where Hypothesis's `reuse` phase
    looks: every worker, and every later run over that database, replays it first.
  * The seeded regression: a conformance run with env CERTCONFORM_FUZZ_DATABASE=URL collects
    conformance/test_fuzz_replay.py, which replays the database's failing sequences against
    --mdm with the ordinary oracle (delta debugging and the Gherkin counterexample included).
    `.ci/run` replays the repository's fuzz-db/ against the bundled mock when that folder is
    committed (or point CERTCONFORM_FUZZ_DATABASE at a shared Redis database in any CI), so a
    failure a campaign found fails the next CI run until it is fixed. At the end of a campaign
    this command runs that replay once and prints its verdict.

What this module knows: the command line, the database URL forms, how HypoFuzz is started and
stopped. What it does not know: the state machine (conformance/test_stateful.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

DATABASE_ENV = "CERTCONFORM_FUZZ_DATABASE"
DEFAULT_DATABASE = "fuzz-db"
DEFAULT_PORT = 9999  # HypoFuzz's dashboard
SHARED_SERVER_SPECS = ("http://", "https://", "intune")  # one system that workers would share (and reset)


class FuzzUsageError(ValueError):
    """A bad option: one line."""


def database(url: str):
    """The Hypothesis example database named by `url`: `redis://...` (or rediss://, unix://) for a
    Redis database, anything else a directory (a path, or file://PATH)."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise FuzzUsageError(f"--database {url}: a Redis database needs the redis package "
                                 "(pip install 'certconform[fuzz]')") from None
        return RedisExampleDatabase(redis.Redis.from_url(url), key_prefix=b"certconform-fuzz:")
    return DirectoryBasedExampleDatabase(str(Path(url.removeprefix("file://")).expanduser().resolve()))


def problem(spec: str, workers: int, url: str) -> str | None:
    """The first problem with `fuzz`'s options (None: none)."""
    from certconform.usage import spec_problem

    if workers < 1:
        return f"--workers {workers}: want at least 1"
    if spec.startswith(SHARED_SERVER_SPECS) and workers > 1:
        return (f"--mdm {spec}: {workers} workers would share (and reset) one system; "
                "use --workers 1, or one server per worker")
    found = spec_problem(spec)
    if found:
        return f"--mdm {spec}: {found}"
    if not url.startswith(("redis://", "rediss://", "unix://")):
        path = Path(url.removeprefix("file://")).expanduser()
        if path.exists() and not path.is_dir():
            return f"--database {url}: not a directory"
    try:
        import hypofuzz  # noqa: F401
    except ImportError:
        return "HypoFuzz is not installed: pip install 'certconform[fuzz]'"
    try:
        database(url)
    except FuzzUsageError as exc:
        return str(exc)
    return None


def target() -> Path:
    """The campaign's test module (certconform/fuzz_target.py)."""
    return Path(__file__).resolve().parent / "fuzz_target.py"


def replay_module() -> Path:
    from certconform import package_dir

    return package_dir("conformance") / "test_fuzz_replay.py"


def campaign_command(workers: int, dashboard: bool, port: int) -> list[str]:
    """`hypothesis fuzz` (HypoFuzz's command) on the target, as a command line."""
    dash = ["--port", str(port)] if dashboard else ["--no-dashboard"]
    return [sys.executable, "-c", "from hypothesis.extra.cli import main; main()", "fuzz", "-n", str(workers), *dash,
            "--", str(target()), "-p", "no:cacheprovider", "-p", "no:anyio", "-q"]


def campaign_env(spec: str, url: str, strict: bool) -> dict[str, str]:
    env = dict(os.environ, CERTCONFORM_MDM=spec, **{DATABASE_ENV: url})
    if strict:
        env["CERTCONFORM_STRICT"] = "1"
    # a module spec (my_adapter:MyMDM) is imported from the current directory, as `run` does
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    return env


def run_campaign(spec: str, workers: int, url: str, budget: float | None, log: Path, dashboard: bool = True,
                 port: int = DEFAULT_PORT, strict: bool = False) -> tuple[int, str]:
    """Run HypoFuzz until every target failed (it stops by itself), `budget` seconds passed, or
    Ctrl-C; then stop its workers. HypoFuzz's own output goes to `log` (its workers print
    tracebacks of their broken pipes when the hub stops first). Returns (HypoFuzz's exit code,
    how the campaign ended)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(campaign_command(workers, dashboard, port), env=campaign_env(spec, url, strict),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_sigint_as_a_terminal_sends_it)
        try:
            code = process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            _stop(process)
            return 0, f"the budget of {budget:g} s ran out"
        except KeyboardInterrupt:
            _stop(process)
            return 130, "interrupted"
    _stop(process)  # workers the hub left behind
    text = log.read_text(errors="replace")
    error = next((line for line in text.splitlines() if line.startswith("Error:")), None)
    if error:
        return code, f"HypoFuzz stopped: {error}"
    # HypoFuzz stops by itself once its target has a failure (or when its workers died): the
    # replay below says which
    return code, "HypoFuzz stopped by itself"


def _sigint_as_a_terminal_sends_it() -> None:
    """In the child before it starts HypoFuzz: SIGINT back to its default. A campaign started in
    the background by a shell (`certconform fuzz ... &`, nohup, CI scripts) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler: `_stop`'s Ctrl-C would be
    lost and every stop would wait for the SIGTERM after it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(process: subprocess.Popen) -> None:
    """Stop HypoFuzz and its workers (its own process group): Ctrl-C first, then harder."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def replay(spec: str, url: str, report_dir: str, strict: bool = False, extra: tuple[str, ...] = ()) -> int:
    """`certconform run --mdm SPEC` on the database's failing sequences only (the seeded
    regression a CI run replays); returns its exit code."""
    env = dict(campaign_env(spec, url, strict))
    command = [sys.executable, "-m", "certconform.cli", "run", "--mdm", spec, "--report-dir", report_dir,
               "-k", "replay_fuzz_database", *(["--strict"] if strict else []), *extra]
    return subprocess.call(command, env=env)


def main(args) -> int:
    url = args.database or DEFAULT_DATABASE
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    found = problem(args.mdm, workers, url)
    if found:
        print(f"certconform fuzz: {found}", file=sys.stderr)
        return 2
    budget = f"for {args.budget:g} s" if args.budget else "until Ctrl-C (or until the target fails)"
    where = f"dashboard on http://localhost:{args.port}" if args.dashboard else "no dashboard"
    print(f"certconform fuzz: {workers} HypoFuzz worker(s) on --mdm {args.mdm}, database {url}, {where}, {budget}",
          flush=True)
    log = Path(args.report_dir) / "hypofuzz.log"
    _, how = run_campaign(args.mdm, workers, url, args.budget, log, args.dashboard, args.port, args.strict)
    print(f"certconform fuzz: campaign over: {how} (HypoFuzz's output: {log}); replaying the database's failures "
          f"against --mdm {args.mdm} (CERTCONFORM_FUZZ_DATABASE={url})", flush=True)
    return replay(args.mdm, url, args.report_dir, args.strict)


def add_arguments(parser) -> None:
    parser.add_argument("--mdm", default=os.environ.get("CERTCONFORM_MDM", "mock"),
                        help="the implementation (as for run); http:// and intune take --workers 1")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="HypoFuzz worker processes (default: one per core)")
    parser.add_argument("--database", default=None, metavar="URL",
                        help=f"the shared example database: a directory (default ./{DEFAULT_DATABASE}) or "
                             "redis://HOST:PORT/N")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="stop after this long (default: run until Ctrl-C or until the target fails)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the dashboard's port (default {DEFAULT_PORT})")
    parser.add_argument("--no-dashboard", dest="dashboard", action="store_false", help="serve no dashboard")
    parser.add_argument("--strict", action="store_true", help="departures from our readings fail too (as run --strict)")
    parser.add_argument("--report-dir", default="reports",
                        help="where the closing replay writes its reports (default ./reports)")
