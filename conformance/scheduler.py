"""The scheduler: up to N cells in flight against one product, each in a thread of its own.

"Act concurrently, judge per test" (docs/slow-products.md). A run against a product that takes
time (declared windows) is a set of independent cells (conformance/cells.py): every feature
scenario and every stateful sequence, each with its own names (conformance/product.py). This
module acts them: each admitted cell runs its steps through the ordinary driver (steps/driver.py)
in its own thread, against the shared product, waiting on its own windows, while a `Recorder`
(conformance/replay.py) journals every call. Each pytest test then waits for its cell (`wait`)
and judges the journaled answers with the full oracle, in its own order, in the main thread: so
the verdicts, messages and reports are exactly those of a serial run, and the wall time tends to
the longest chain of waits instead of their sum.

Why threads, and why acting and judging apart: waiting is what a slow product costs, and a thread
that waits costs nothing; pytest, its hooks and its reports are not thread-safe, so every test
still runs, one after another, in the main thread, judging a cell that has already been acted
(most of the time: the tests run in collection order and the cells are admitted in that order).

What this module knows: admission (at most `limit` cells in flight: the smallest of --cells, the
product's `cells` capability and the default 32; and within the device pool: a cell reserves
the devices it enrolls and gets them back once its still-enrolled devices are released with the
optional `release(device)` or, where it can be performed without a person, `unenroll`), people
(a device ended by an event the capabilities name in `needs_person` is away until a person acts:
the instruction goes to the terminal and the journal, and a cell that needs a device of that
platform pauses, polling the optional `awaiting_person()` slowly, while the others go on),
stopping (fail-fast, Ctrl-C: cells in flight stop at their next call and stay "in flight" in
the journal), and resuming (cells a journal shows finished are not acted again, their calls are
replayed; cells it shows in flight have their objects cleaned up, then start again under a new
prefix). What it does not know: what a cell does or how it is judged.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from certconform.conformance.cells import CellSpec, ExpectOnly
from certconform.conformance.product import CellAdapter, SharedProduct, cell_prefix, prefixed
from certconform.conformance.replay import CellRecord, Recorder

DEFAULT_CELLS = 32


def _plain(events):
    """`events` as the journal's JSON gives them back."""
    import json

    return json.loads(json.dumps(events, default=repr))


class CellStopped(BaseException):
    """The run stops (fail-fast, Ctrl-C, the end of the session): a cell in flight ends where it is."""


@dataclass
class CellState:
    spec: CellSpec
    record: CellRecord | None = None
    acted: threading.Event = field(default_factory=threading.Event)
    skip: str | None = None  # not acted: why (its test reports not-supported)
    error: str | None = None  # the suite failed to act it (a bug, not the product)
    started: float | None = None
    ended: float | None = None


class _Stoppable(CellAdapter):
    """A CellAdapter that ends its cell at the next call once the run stops."""

    def __init__(self, product, prefix, stop: threading.Event):
        super().__init__(product, prefix)
        self._stop = stop

    def _check(self):
        if self._stop.is_set():
            raise CellStopped()

    def apply(self, event):
        self._check()
        super().apply(event)

    def observe(self):
        self._check()
        return super().observe()

    def observe_after(self, t):
        self._check()
        return super().observe_after(t)


class Scheduler:
    def __init__(self, product: SharedProduct, caps, limit: int, journal=None, driver_options: dict | None = None,
                 finished: dict | None = None, in_flight: dict | None = None, attempts: dict | None = None,
                 say=None):
        self.product, self.caps, self.limit = product, caps, max(1, int(limit))
        self.journal = journal
        self.driver_options = dict(driver_options or {})
        self.finished = dict(finished or {})  # resumed: cell id -> (attempt, status, reason, calls)
        self.interrupted = dict(in_flight or {})  # resumed: cell id -> {"attempt", "prefix", "applied"}
        self.attempts = dict(attempts or {})
        self.say = say or (lambda line: (sys.__stderr__.write(line + "\n"), sys.__stderr__.flush()))
        self.states: dict[str, CellState] = {}
        self._queue: list[CellState] = []
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._in_flight = 0
        self.peak = 0
        self._reserved: dict[str, int] = {}
        self._lost: dict[str, int] = {}  # pool devices bound until reset (nothing could release them)
        self._away: dict[str, int] = {}  # pool devices waiting for a person
        self._away_why: dict[str, str] = {}
        self._pausing: set[str] = set()
        self._offers_person = callable(getattr(product.adapter, "awaiting_person", None))
        self._next_person_poll = 0.0
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()
        self.last_ended = None
        self.events = 0
        self.acted_cells = 0
        self.replayed_cells = 0

    # ------------------------------------------------------------------ interface
    def add(self, specs, front: bool = False) -> list[CellState]:
        """Queue cells (in order; `front`: before every cell queued so far, e.g. the replays of a
        counterexample being shrunk, which a test waits for now)."""
        out = []
        with self._cv:
            fresh = []
            for spec in specs:
                st = self.states.get(spec.id)
                if st is None:
                    st = self.states[spec.id] = CellState(spec)
                    fresh.append(st)
                out.append(st)
            if front:
                self._queue[:0] = fresh
            else:
                self._queue.extend(fresh)
            self._cv.notify_all()
        return out

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="certconform-scheduler", daemon=True)
            self._thread.start()

    def wait(self, cell_id: str, tick=None, every: float = 5.0) -> CellState:
        """The cell's state once it has been acted (or skipped); `tick()` every `every` seconds meanwhile."""
        st = self.states[cell_id]
        while not st.acted.wait(every):
            if tick is not None:
                tick(self)
            if self._stop.is_set() and not st.acted.is_set():
                raise RuntimeError(f"the run stopped before cell {cell_id} was acted")
        return st

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def progress(self) -> str:
        done = sum(1 for s in self.states.values() if s.acted.is_set())
        return (f"certconform cells: {done}/{len(self.states)} acted, {self._in_flight} in flight (at most "
                f"{self.limit}), {self.events} events, {sum(self.product.requests.values())} requests, "
                f"{time.monotonic() - self.started:.0f}s")

    # ------------------------------------------------------------------ the admission loop
    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._cv:
                    queued = list(self._queue)
                    if not queued and self._in_flight == 0:
                        self._cv.wait(0.5)
                        continue
                admitted_any = False
                for st in queued:
                    if self._stop.is_set():
                        return
                    with self._cv:
                        if self._in_flight >= self.limit:
                            break
                    if self._admit(st):
                        admitted_any = True
                with self._cv:
                    if not admitted_any and not self._stop.is_set():
                        self._cv.wait(self._person_poll_interval() if self._pausing else 0.5)
                if self._pausing:
                    self._poll_people()
        except BaseException as exc:  # noqa: BLE001 - every waiting test must learn of it
            for st in list(self.states.values()):
                if not st.acted.is_set():
                    st.error = f"the cell scheduler failed: {type(exc).__name__}: {exc}"
                    st.acted.set()

    def _admit(self, st: CellState) -> bool:
        spec = st.spec
        done = self.finished.get(spec.id)
        if done is not None and done[4] is not None and done[4] != _plain(spec.planned()):
            done = None  # the journal's cell planned other events: act it again
        if done is not None:  # a resumed run: replay what the journal holds
            self._dequeue(st)
            attempt, status, reason, calls, _ = done
            record = CellRecord(spec.id, attempt, cell_prefix(spec.index, attempt))
            record.calls, record.status, record.reason = calls, "done", reason
            st.record = record
            if status == "skipped":
                st.skip = reason
            self.replayed_cells += 1
            st.acted.set()
            return True
        spec.planned()
        if not spec.waits and spec.events:  # (for the plan in results.json, worked out while cells wait)
            from certconform.conformance.cells import expected_waits

            spec.waits = expected_waits(spec.events, spec.caps)
        if spec.skip is None and self.driver_options.get("unattended"):
            people = spec.person_events()
            if people:
                from certconform.steps.driver import person_needed

                spec.skip = person_needed(*people[0])
        if spec.skip is not None:
            self._dequeue(st)
            st.skip = spec.skip
            if self.journal is not None:
                self.journal.write({"k": "cell", "cell": spec.id, "attempt": 0, "test": spec.test,
                                    "events": spec.planned()})
                self.journal.write({"k": "cell_end", "cell": spec.id, "attempt": 0, "status": "skipped",
                                    "reason": spec.skip})
            st.acted.set()
            return True
        needs = spec.needs()
        with self._cv:
            short = self._short(needs)
            if not short:
                for p, n in needs.items():
                    self._reserved[p] = self._reserved.get(p, 0) + n
                self._queue.remove(st)
                self._in_flight += 1
                self.peak = max(self.peak, self._in_flight)
                st.started = time.monotonic()
                self._pausing.discard(spec.id)
                threading.Thread(target=self._run, args=(st, needs), name=f"certconform-{spec.id}"[:60],
                                 daemon=True).start()
                return True
            in_flight = self._in_flight
        platform = short[0]
        if self._away.get(platform):
            if spec.id not in self._pausing:
                self._pausing.add(spec.id)
                line = (f"certconform: cell {spec.id} waits for a {platform} device; a person is needed: "
                        f"{self._away_why.get(platform, '')}")
                self.say(line)
                if self.journal is not None:
                    self.journal.write({"k": "person", "cell": spec.id, "waiting": platform, "line": line})
            return False
        if in_flight == 0:  # nothing in flight can give a device back
            self._dequeue(st)
            pool = self.caps.pool(platform)
            st.skip = spec.skip = (f"no free {platform} device: the pool has {pool} (capabilities 'devices'), "
                                   f"{self._lost.get(platform, 0)} of them bound until the next reset")
            st.acted.set()
            return True
        return False

    def _short(self, needs: dict) -> list[str]:
        """Platforms whose free pool devices do not cover `needs` (called under the lock)."""
        out = []
        for p, n in needs.items():
            pool = self.caps.pool(p)
            if pool is None:
                continue
            if pool - self._reserved.get(p, 0) - self._lost.get(p, 0) - self._away.get(p, 0) < n:
                out.append(p)
        return out

    def _dequeue(self, st: CellState) -> None:
        with self._cv:
            if st in self._queue:
                self._queue.remove(st)

    # ------------------------------------------------------------------ a cell's thread
    def _run(self, st: CellState, needs: dict) -> None:
        spec = st.spec
        attempt = max(self.attempts.get(spec.id, 0), self.interrupted.get(spec.id, {}).get("attempt", 0)) + 1
        prefix = cell_prefix(spec.index, attempt)
        adapter = _Stoppable(self.product, prefix, self._stop)
        record = CellRecord(spec.id, attempt, prefix)
        st.record = record
        released: dict[str, int] = {}
        try:
            old = self.interrupted.pop(spec.id, None)
            if old is not None:
                self._clean(spec, old)
            if self.journal is not None:
                self.journal.write({"k": "cell", "cell": spec.id, "attempt": attempt, "prefix": prefix,
                                    "test": spec.test, "events": spec.planned(), "needs": needs})
            from certconform.steps.driver import Driver

            options = self.driver_options
            driver = Driver(adapter, caps=spec.caps, recorder=Recorder(record, self.journal), judge=ExpectOnly(),
                            poll_s=options.get("poll_s"), quiet_s=options.get("quiet_s"),
                            unattended=bool(options.get("unattended")))
            driver.reset()
            try:
                spec.act(driver)
                record.status = "done"
            except CellStopped:
                record.status = "stopped"
                raise
            except BaseException as exc:  # noqa: BLE001 - the test replays to the same step and raises the same
                record.status, record.reason = "done", f"{type(exc).__name__}: {exc}"[:500]
            record.seconds = time.monotonic() - st.started
            with self._cv:
                self.events += record.events
                self.acted_cells += 1
            st.acted.set()
            if self.journal is not None:
                self.journal.write({"k": "cell_end", "cell": spec.id, "attempt": attempt, "status": record.status,
                                    "reason": record.reason, "exact": record.exact, "events": record.events,
                                    "seconds": round(record.seconds, 3)})
            released = self._release(spec, adapter)
        except CellStopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - a suite bug: its test says so
            st.error = f"acting cell {spec.id} failed: {type(exc).__name__}: {exc}"
            st.acted.set()
        finally:
            st.ended = self.last_ended = time.monotonic()
            # devices bound: the enrolments that were applied (a rejected or invalid enroll binds none)
            bound: dict[str, int] = {}
            for platform in [p for _, p, _ in adapter.ended] + list(adapter.enrolled.values()):
                bound[platform] = bound.get(platform, 0) + 1
            with self._cv:
                for p, n in needs.items():
                    self._reserved[p] -= n
                    kept = min(n, bound.get(p, 0)) - released.get(p, 0)
                    if kept > 0 and not self._stop.is_set():
                        self._lost[p] = self._lost.get(p, 0) + kept
                self._in_flight -= 1
                self._cv.notify_all()

    def _release(self, spec: CellSpec, adapter: CellAdapter) -> dict[str, int]:
        """Give the cell's pool devices back: those still enrolled through `release` or an
        unenroll that needs no person; those ended by an event that needs a person are away."""
        caps, out = self.caps, {}
        for device, platform, etype in adapter.ended:
            if etype in caps.needs_person:
                instruction = caps.needs_person[etype].replace("{device}", prefixed(device, adapter.prefix))
                line = f"certconform: cell {spec.id}: a person is needed: {instruction}"
                self.say(line)
                if self.journal is not None:
                    self.journal.write({"k": "person", "cell": spec.id, "device": prefixed(device, adapter.prefix), "line": line})
                with self._cv:
                    self._away[platform] = self._away.get(platform, 0) + 1
                    self._away_why[platform] = instruction
                out[platform] = out.get(platform, 0) + 1  # counted as away, not as lost
            else:
                out[platform] = out.get(platform, 0) + 1
        if not spec.cleanup or not adapter.enrolled:
            return out
        releasing = callable(getattr(self.product.adapter, "release", None))
        unenroll = caps.performs("unenroll") and "unenroll" not in caps.needs_person
        cleaned = []
        for device, platform in list(adapter.enrolled.items()):
            try:
                if releasing:
                    self.product.call("release", prefixed(device, adapter.prefix))
                elif unenroll:
                    adapter.apply({"type": "unenroll", "device": device})
                else:
                    continue
            except Exception as exc:  # noqa: BLE001 - not judged; the device stays bound
                if self.journal is not None:
                    self.journal.write({"k": "clean", "cell": spec.id, "device": device, "error": str(exc)[:300]})
                continue
            cleaned.append(device)
            out[platform] = out.get(platform, 0) + 1
        if cleaned and self.journal is not None:
            self.journal.write({"k": "clean", "cell": spec.id, "released": cleaned})
        return out

    def _clean(self, spec: CellSpec, old: dict) -> None:
        """The objects of an attempt the interrupted run left in flight: its devices released,
        its groups and users deleted (contract events, not judged; failures ignored)."""
        prefix = old.get("prefix") or cell_prefix(spec.index, old.get("attempt", 1))
        adapter = CellAdapter(self.product, prefix)
        for ev in old.get("applied", []):
            try:
                adapter._note(ev)
            except (KeyError, TypeError):
                continue
        done = []
        caps = self.caps
        events = [{"type": "unenroll", "device": d} for d in adapter.enrolled
                  if caps.performs("unenroll") and "unenroll" not in caps.needs_person]
        events += [{"type": "delete_group", "group": g} for g in adapter.groups if caps.performs("delete_group")]
        events += [{"type": "delete_user", "user": u} for u in adapter.users if caps.performs("delete_user")]
        for ev in events:
            try:
                adapter.apply(ev)
                done.append(ev)
            except Exception:  # noqa: BLE001 - gone already, or refused: nothing to clean
                continue
        if self.journal is not None:
            self.journal.write({"k": "clean", "cell": spec.id, "attempt": old.get("attempt"), "prefix": prefix,
                                "events": done})

    # ------------------------------------------------------------------ people
    def _person_poll_interval(self) -> float:
        return min(60.0, max(0.05, self.caps.longest_window / 10))

    def _poll_people(self) -> None:
        now = time.monotonic()
        if now < self._next_person_poll:
            return
        self._next_person_poll = now + self._person_poll_interval()
        if not self._offers_person:
            return
        try:
            waiting = self.product.call("awaiting_person")
        except Exception:  # noqa: BLE001 - ask again later
            return
        if not isinstance(waiting, list):
            return
        counts: dict[str, int] = {}
        for item in waiting:
            if isinstance(item, dict) and isinstance(item.get("platform"), str):
                counts[item["platform"]] = counts.get(item["platform"], 0) + 1
        with self._cv:
            for p in list(self._away):
                self._away[p] = min(self._away[p], counts.get(p, 0))
            self._cv.notify_all()
