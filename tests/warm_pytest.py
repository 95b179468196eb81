"""pytest runs in child processes forked from a warm one (the mutant catalogue's launcher).

What it knows: how to run `python -m pytest ARGS` with an environment and a working directory and
get its exit code and output, without paying for a fresh interpreter's imports each time. What it
does not know: what the run tests (tests/mutants.py builds the arguments and reads the output).

The catalogue runs the conformance suite about 140 times. A fresh interpreter spends about 0.6 s of
CPU importing pytest, Hypothesis, pytest-bdd and the other libraries before a run starts; here one
server process (multiprocessing's forkserver) imports them once, and each run is a child forked
from it that calls `pytest.main(ARGS)` in the run's environment and working directory, its output
in a file. Only third-party libraries are preloaded: certconform, the features and the suite's
own modules are imported by each run, after its environment is set, exactly as under
`python -m pytest` (pytest's assertion rewriting and the suite's import-time settings see them
the same way).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
from pathlib import Path

# Imported once by the server process. (Plugins among them -- pytest-bdd, xdist, Hypothesis'
# pytest plugin -- are then not assertion-rewritten by the runs: pytest warns, see ARGS.)
PRELOAD = ["tests.warm_preload"]
# pytest's PytestAssertRewriteWarning for the preloaded plugins ("Module already imported so
# cannot be rewritten"): those libraries' own asserts keep Python's plain messages; nothing of the
# suite is concerned, so the warning is not shown in every run's output
ARGS = ("-W", "ignore::pytest.PytestAssertRewriteWarning")

_lock = threading.Lock()
_context = None


def available() -> bool:
    """Whether this platform has multiprocessing's forkserver (not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def _server():
    """The forkserver context, its preload set (started by the first run)."""
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


def _child(args: list[str], env: dict, cwd: str, out: str) -> None:
    """In the forked child: the run's output to `out`, its environment and directory, then pytest."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [sys.executable, "-m", "pytest", *args]
    if cwd not in sys.path:  # as `python -m pytest` puts the working directory first
        sys.path.insert(0, cwd)
    import pytest

    code = pytest.main([*ARGS, *args])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(code))


def run(args: list[str], env: dict, cwd: str | Path, timeout: float) -> tuple[int, str]:
    """(exit code, output) of `python -m pytest ARGS` in `cwd` with environment `env`, forked
    from the warm server; exit code -1 and the output so far when it outlived `timeout` seconds."""
    ctx = _server()
    with tempfile.TemporaryDirectory(prefix="certconform-warm-") as tmp:
        out = os.path.join(tmp, "output")
        proc = ctx.Process(target=_child, args=(list(args), dict(env), str(cwd), out), daemon=True)
        proc.start()
        proc.join(timeout)
        timed_out = proc.is_alive()
        if timed_out:
            proc.kill()
            proc.join()
        output = Path(out).read_text(errors="replace") if os.path.exists(out) else ""
    if timed_out:
        return -1, f"timeout after {timeout}s\n{output}"
    return proc.exitcode, output
