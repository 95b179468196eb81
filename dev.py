#!/usr/bin/env python3
"""Bootstrap and run certconform from a fresh clone with nothing but Python 3.11+.

    python3 dev.py conformance [certconform run args]   run the conformance suite against the bundled mock
                                                        (or --mdm SPEC) and write reports/
    python3 dev.py selftest [pytest args]               run the suite's own tests (tests/), which include
                                                        the conformance suite against reference, mock and HTTP,
                                                        on every core (pytest-xdist -n auto; pass -n 0 for serial)
    python3 dev.py rehearse [certconform rehearse args] rehearse the Intune campaign against Graph emulators
                                                        (docs/intune.md)
    python3 dev.py shell-path                           print the virtual environment's bin directory

Both commands first make sure the article (the specification, which the project never contains) is
on this machine: where no copy is found (--document aside: env CERTCONFORM_DOCUMENT, the cache,
../shared/spec-source) they run `certconform document fetch`, which downloads it from its public
repository when the network allows (docs/article.md). The self-tests need it; the conformance run
only checks its citations against it.

The first call creates .venv/ and installs the project (editable) with its dependencies from
pyproject.toml; `selftest` adds the optional extra `selftest` (msgraph-beta-sdk, the self-tests'
independent Graph client; HypoFuzz; MkDocs, which builds docs/). Later calls reinstall only when pyproject.toml changed or an extra is
missing.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".certconform-installed"


def fail(message: str, code: int = 1) -> None:
    print(f"dev.py: {message}", file=sys.stderr)
    sys.exit(code)


def ensure_env(extras: tuple[str, ...] = ()) -> None:
    """Create .venv/ and install the project (with `extras`) unless the stamp says it is there.
    The stamp names pyproject.toml's hash and the extras installed, so a later call asking for
    extras not yet installed (selftest after conformance) reinstalls."""
    if sys.version_info < (3, 11):
        fail(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    have = STAMP.read_text().split() if PY.exists() and STAMP.exists() else []
    if have and have[0] == digest and set(extras) <= set(have[1:]):
        return
    if have and have[0] == digest:
        extras = tuple(sorted(set(extras) | set(have[1:])))  # keep what was installed before
    if not PY.exists():
        print("dev.py: creating .venv/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing certconform and its dependencies into .venv/ ...", flush=True)
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    rc = subprocess.call([str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--editable", target])
    if rc:
        fail(f"pip install failed (exit {rc}); see the messages above", rc)
    warm_rewrite_cache()
    STAMP.write_text(" ".join((digest, *extras)) + "\n")


def warm_rewrite_cache() -> None:
    """Let pytest cache its assertion-rewritten modules once, at install time.

    pytest rewrites the asserts of every module of every package that ships a pytest plugin
    (Hypothesis's ~75 modules, pytest-bdd, xdist, certconform itself) and caches the result in
    __pycache__ only where bytecode may be written; under PYTHONDONTWRITEBYTECODE=1 it parses,
    rewrites and compiles them again on every run (~0.7 s of each `pytest` start on the
    development container, benchmarks/README.md). pip writes the dependencies' ordinary bytecode
    at install whatever that variable says; this does the same for pytest's rewritten copies: one
    collection of the conformance suite with bytecode writing allowed. A failure here only costs
    speed, never the install."""
    import tempfile

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as reports:
        subprocess.call([str(PY), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "conformance",
                         f"--report-dir={reports}"], cwd=ROOT, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ensure_article(needed: bool) -> None:
    """Fetch the editions no place of the lookup order has (certconform/article.py). Without them and
    without the network: one line, then exit 1 if `needed` (the self-tests), else carry on."""
    r = subprocess.run([str(PY), "-m", "certconform.cli", "document", "fetch", "--if-missing"],
                       cwd=ROOT, capture_output=True, text=True)
    fetched = [line for line in r.stdout.splitlines() if "checked" in line]
    if fetched:
        print(f"dev.py: fetched the article into the cache: {'; '.join(fetched)}", flush=True)
    if r.returncode == 0:
        return
    reason = (r.stderr.strip().splitlines() or ["certconform document fetch failed"])[0]
    reason = reason.removeprefix("certconform document fetch: ")
    if needed:
        fail(f"the self-tests need the article, which is not on this machine: {reason}")
    print(f"dev.py: the article's citations will not be checked: {reason}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in ("conformance", "selftest", "rehearse", "shell-path"):
        fail(f"unknown command {command!r}: use conformance, selftest, rehearse or shell-path", 2)
    # the self-tests also need the optional `selftest` extra (msgraph-beta-sdk, tests/test_graph_sdk.py)
    ensure_env(("selftest",) if command == "selftest" else ())
    if command == "shell-path":
        print(BIN)
        return 0
    ensure_article(needed=command == "selftest")
    if command == "conformance":
        return subprocess.call([str(PY), "-m", "certconform.cli", "run", *rest], cwd=ROOT)
    if command == "rehearse":
        return subprocess.call([str(PY), "-m", "certconform.cli", "rehearse", *rest], cwd=ROOT)
    # The self-tests are independent of each other (own ports, own temporary report dirs; the mutant
    # catalogue runs once under a file lock), so they run on every core unless told otherwise.
    parallel = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in rest) \
        else ["-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder"]  # longest files first: tests/conftest.py
    rc = subprocess.call([str(PY), "-m", "pytest", "tests", "-p", "no:cacheprovider", *parallel, *rest], cwd=ROOT)
    if rc == 5:
        fail("pytest collected no test: that is a failure, not a pass", 1)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
