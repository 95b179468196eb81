"""A conformance run against a product that takes time: the cells, the scheduler, the judging.

certconform/plugin.py creates one `CellRun` when the implementation declares latencies (or
`--cells N` asks for cells) and hands it the collected items; the feature steps' `driver`
fixture and the stateful test ask it for their cells. What this module knows: which items become
which cells (conformance/cells.py), the stateful sequences generated up front
(conformance/sequences.py), the scheduler (conformance/scheduler.py) and the shared product
(conformance/product.py), and how a test judges its cell: a Driver (steps/driver.py) over a
ReplayAdapter (conformance/replay.py), so the oracle, the invariants and the messages are those
of a serial run. It also shrinks a failing sequence with replays that run as cells, against a
time budget (conformance/minimize.py `minimize_batched`), and sums up planned and actual figures
for results.json. What it does not know: pytest hooks, reports.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time

import pytest

from certconform.conformance import cells as cells_module
from certconform.conformance.product import SharedProduct
from certconform.conformance.replay import ReplayAdapter
from certconform.conformance.scheduler import Scheduler


class CellRun:
    def __init__(self, config, sut, caps, limit: int, journal=None, resume: list | None = None,
                 shrink_budget_s: float = 300.0):
        from certconform import journal as journal_module

        _import_everything_threads_use()
        _serialize_ast_parse(True)
        self.config, self.caps, self.limit = config, caps, limit
        self.journal = journal
        self.unattended = bool(config.getoption("unattended"))
        self.strict = bool(config.getoption("strict_readings"))
        self.shrink_budget_s = shrink_budget_s
        self.product = SharedProduct(sut, caps)
        resume = resume or []
        self.resumed = bool(resume)
        self._messages: queue.SimpleQueue = queue.SimpleQueue()  # lines for the terminal, from any thread
        self.scheduler = Scheduler(self.product, caps, limit, journal,
                                   {"poll_s": config.getoption("poll"), "quiet_s": config.getoption("quiet_period"),
                                    "unattended": self.unattended},
                                   finished=journal_module.finished_cells(resume),
                                   in_flight=journal_module.in_flight(resume),
                                   attempts=journal_module.attempts(resume), say=self._messages.put)
        self._index = _highest_index(resume)
        self.journaled_sequences = {e["shard"]: [(list(ev), list(bad)) for ev, bad in e["sequences"]]
                                    for e in resume if e.get("k") == "sequences"}
        self.sequences: dict[str, list] = {}  # shard nodeid -> [(spec, events, intended_bad)]
        self._generated: dict[str, threading.Event] = {}
        self._generator: threading.Thread | None = None
        self._stop_generating = threading.Event()
        self._generation_errors: dict[str, str] = {}
        self.specs: list = []
        self.started = time.monotonic()
        self.plan: dict | None = None
        self._minimized = 0

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    # ------------------------------------------------------------------ the terminal
    def say(self, line: str) -> None:
        """A line for the terminal now (from the main thread: pytest's capture is set aside)."""
        self._messages.put(line)
        self.flush_messages()

    def flush_messages(self) -> None:
        """Write the lines the cells' threads left (a person is needed, progress) to the terminal;
        only the main thread writes (pytest's terminal and capture are not thread-safe)."""
        if threading.current_thread() is not threading.main_thread() or self._messages.empty():
            return
        lines = []
        while not self._messages.empty():
            lines.append(self._messages.get())
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            import sys

            for line in lines:
                print(line, file=sys.stderr, flush=True)
            return
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.ensure_newline()
            for line in lines:
                reporter.write_line(line)

    # ------------------------------------------------------------------ building the cells
    def begin(self, items) -> None:
        """Reset the product once (not when resuming), queue every feature scenario's cell, start
        acting them, then generate each stateful shard's sequences and queue them too."""
        if not self.resumed:
            self.product.reset()
        self.scheduler.add(self.build_features(items))
        self.scheduler.start()
        shards = [item for item in items if item.get_closest_marker("stateful") is not None]
        for item in shards:
            self._generated[item.nodeid] = threading.Event()
        if shards:  # generated beside the feature cells acting and their tests judging
            self._generator = threading.Thread(target=self._generate_all, args=(shards,), name="certconform-sequences",
                                               daemon=True)
            self._generator.start()

    def _generate_all(self, shards) -> None:
        for item in shards:
            if self._stop_generating.is_set():
                self._generated[item.nodeid].set()
                continue
            try:
                self.sequences[item.nodeid] = self._generate(item)
                self.scheduler.add([spec for spec, _, _ in self.sequences[item.nodeid]])
            except BaseException as exc:  # noqa: BLE001 - the shard's test reports it
                self._generation_errors[item.nodeid] = f"generating the sequences failed: {type(exc).__name__}: {exc}"
            finally:
                self._generated[item.nodeid].set()

    def build_features(self, items) -> list:
        """The cells of the collected feature scenarios, in collection order."""
        features = []
        for item in items:
            if item.get_closest_marker("stateful") is None:
                spec = cells_module.feature_cell(item, self._next_index(), self.caps, {"unattended": self.unattended})
                if spec is not None:
                    features.append(spec)
        self.specs.extend(features)
        return features

    def build_sequences(self, items) -> list:
        """The cells of every stateful shard's sequences (generated now, against the reference)."""
        out = []
        for item in items:
            if item.get_closest_marker("stateful") is not None:
                self.sequences[item.nodeid] = self._generate(item)
                out += [spec for spec, _, _ in self.sequences[item.nodeid]]
        return out

    def _generate(self, item) -> list:
        from hypothesis import settings

        from certconform.conformance.sequences import cell_caps, generate
        from certconform.conformance.test_stateful import fix_seed

        shard = item.callspec.params["shard"]
        recorded = self.journaled_sequences.get(str(shard))
        if recorded is None:  # (a resumed run takes the interrupted run's: Hypothesis's draws depend on
            _, seed = fix_seed(self.config, settings())  # more than the seed, e.g. what the process imported)
            recorded = generate(shard, settings(), self.caps, self.unattended, seed, self._stop_generating)
            if self.journal is not None:
                self.journal.write({"k": "sequences", "shard": str(shard), "sequences": recorded})
        caps = cell_caps(self.caps, self.unattended)
        out = []
        for k, (events, bad) in enumerate(recorded, 1):
            spec = cells_module.sequence_cell(f"s:{shard}:{k}", self._next_index(), item.nodeid, events, caps)
            out.append((spec, events, bad))
        self.specs.extend(s for s, _, _ in out)
        return out

    # ------------------------------------------------------------------ judging
    def _wait(self, cell_id: str):
        state = self.scheduler.wait(cell_id, tick=lambda s: self.say(s.progress()))
        if state.error:
            raise RuntimeError(state.error)
        return state

    def replay_driver(self, state, caps, log=None):
        from certconform.steps.driver import Driver

        return Driver(ReplayAdapter(state.record), log=log, strict=self.strict, caps=caps, replay=True,
                      unattended=self.unattended)

    def feature_driver(self, node, log):
        """The driver a scenario's steps use: its cell's journaled answers."""
        from certconform.steps.driver import NOT_SUPPORTED

        cell_id = f"f:{node.nodeid}"
        if cell_id not in self.scheduler.states:
            raise RuntimeError(f"no cell was made for {node.nodeid} (a scenario the run did not collect at the start)")
        state = self._wait(cell_id)
        if state.skip:
            pytest.skip(NOT_SUPPORTED + state.skip)
        driver = self.replay_driver(state, state.spec.caps, log)
        driver.reset()
        return driver

    def judge_shard(self, node, shard, log, tally, progress, minimizing: bool) -> None:
        from collections import Counter

        from certconform.conformance.test_stateful import AdapterStopped, SequenceFailed, adapter_failure, judge_sequence

        logged = Counter()
        generated = self._generated.get(node.nodeid)
        if generated is not None:
            while not generated.wait(5.0):
                self.say(self.scheduler.progress() + " (generating the stateful sequences)")
        if node.nodeid in self._generation_errors:
            raise RuntimeError(self._generation_errors[node.nodeid])
        for spec, events, bad in self.sequences.get(node.nodeid, []):
            progress.sequence()
            state = self._wait(spec.id)
            if state.skip:
                continue  # (the pool had no device for it: its events were not sent)
            driver = self.replay_driver(state, spec.caps)
            driver.reset()
            try:
                judge_sequence(driver, events, bad, log, tally, progress, logged)
            except AdapterStopped as stop:
                raise adapter_failure(stop, log) from None
            except SequenceFailed as exc:
                if not minimizing:
                    raise
                raise self._shrunk(exc, spec, log, progress) from None

    # ------------------------------------------------------------------ shrinking
    def _shrunk(self, failure, spec, log, progress):
        """The failure with its counterexample shrunk by replays run as cells (time budget)."""
        from certconform.conformance import minimize
        from certconform.conformance.test_stateful import SequenceFailed, shrunk_message, signature_judge

        flags = dict(zip(map(id, failure.events), failure.intended_bad))
        last: dict = {}
        judge = signature_judge(self.strict, last)

        def run_batch(candidates):
            made = []
            for candidate in candidates:
                self._minimized += 1
                cbad = [flags[id(e)] for e in candidate]
                made.append(cells_module.CellSpec(
                    f"m:{spec.id}:{self._minimized}", self._next_index(), spec.test,
                    lambda d, c=candidate, b=cbad: minimize.replay_on(d, c, b, None), spec.caps))
            self.scheduler.add(made, front=True)
            out = []
            for cell, candidate in zip(made, candidates):
                driver = self.replay_driver(self._wait(cell.id), spec.caps)
                driver.reset()
                out.append(minimize.replay_on(driver, candidate, [flags[id(e)] for e in candidate], judge))
            return out

        progress.say(f"shrinking the counterexample of {len(failure.events)} events with replays run as cells "
                     f"(at most {self.shrink_budget_s:g} s)")
        deadline = time.monotonic() + self.shrink_budget_s
        events, minimal, replays = minimize.minimize_batched(failure.events, run_batch, deadline)
        replayed = run_batch([events])[0]
        if replayed.signature != failure.signature or "ev" not in last:
            return failure
        message = shrunk_message(replayed.events, failure, last, log, minimal,
                                 f"the shrinking budget of {self.shrink_budget_s:g} s ran out after {replays} replays")
        return SequenceFailed(message, replayed.events, [flags[id(e)] for e in replayed.events], failure.signature,
                              failure.ids, failure.summary)

    # ------------------------------------------------------------------ the end
    def finish(self) -> None:
        """Stop acting and generating. The generator is waited for: Python 3.11's ast module is not
        thread-safe (Hypothesis reads lambdas' source while the main thread may import a module
        pytest rewrites), so nothing else runs beside the end of the session."""
        self.scheduler.stop()
        self._stop_generating.set()
        if self._generator is not None:
            self._generator.join(timeout=60)
        if self._generator is None or not self._generator.is_alive():
            _serialize_ast_parse(False)

    def actual(self) -> dict:
        s = self.scheduler
        return {"cells": s.acted_cells, "replayed_from_journal": s.replayed_cells, "events": s.events,
                "requests": dict(self.product.requests), "requests_total": sum(self.product.requests.values()),
                "observations": self.product.observations, "cells_in_flight_at_most": s.peak,
                "act_seconds": round(((s.last_ended or time.monotonic()) - s.started), 2),
                "wall_seconds": round(time.monotonic() - self.started, 2)}

    def planned(self) -> dict:
        if self.plan is None:
            from certconform.plan import plan_of

            self.plan = plan_of(self.specs, self.caps, self.limit, self.unattended)
        return self.plan


def _highest_index(entries: list) -> int:
    import re

    highest = 0
    for e in entries:
        prefix = e.get("prefix") if e.get("k") == "cell" else None
        m = re.match(r"c(\d+)", prefix or "")
        if m:
            highest = max(highest, int(m.group(1)))
    return highest


def _import_everything_threads_use() -> None:
    """Import, in the main thread and before any thread starts, every module a cell, the generator
    or the end of the session imports: pytest rewrites the suite's modules as they are imported
    (ast.parse), and Python 3.11's ast is not thread-safe ("AST constructor recursion depth
    mismatch" when two threads parse at once)."""
    import importlib

    for name in ("certconform.steps.driver", "certconform.steps.scenario_steps", "certconform.steps.replay_steps",
                 "certconform.conformance.minimize", "certconform.conformance.sequences",
                 "certconform.conformance.test_stateful", "certconform.conformance.coverage",
                 "certconform.conformance.counterexample", "certconform.model.reference", "certconform.model.judge",
                 "certconform.model.settle", "certconform.plan", "certconform.journal", "certconform.reports",
                 "certconform.traceability", "certconform.cucumber", "certconform.document"):
        importlib.import_module(name)


_AST_LOCK = threading.Lock()
_AST_PARSE = None  # the original ast.parse while the serialized one is installed


def _serialize_ast_parse(on: bool) -> None:
    """Let one thread at a time run ast.parse while cells run (on) or stop doing so (off).
    Python 3.11's ast is not thread-safe: a failing test's traceback (pytest reads its source with
    ast.parse, in the main thread) while the sequence generator's Hypothesis reads a lambda's
    source in its thread ended a run with INTERNALERROR "AST constructor recursion depth
    mismatch". Importing first (above) covers imports, not these."""
    import ast

    global _AST_PARSE
    if on and _AST_PARSE is None:
        original = _AST_PARSE = ast.parse

        def parse(*args, **kwargs):
            with _AST_LOCK:
                return original(*args, **kwargs)

        parse.__wrapped__ = original
        ast.parse = parse
    elif not on and _AST_PARSE is not None:
        ast.parse, _AST_PARSE = _AST_PARSE, None
