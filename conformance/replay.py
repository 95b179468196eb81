"""A cell's calls, recorded as they happen and replayed for judging ("act concurrently, judge per test").

What this module knows: the calls steps/driver.py makes on its adapter, in order (an observation
for a step, an application of an event, the settled observation after it and how long the driver
waited for it), how they are written compactly (each observation as the records that differ from
the cell's previous one: an observation of a long sequence repeats almost all of the last), how a
`Recorder` (the driver's `recorder`) keeps them in memory and appends them to the run's journal
(certconform/journal.py) as it goes, and how a `ReplayAdapter` hands the same answers, in the same
order, to a driver that judges the cell in its pytest test: the oracle, the invariants, the
messages and the reports are those of a live run, because the driver is the same code fed the
same answers. What it does not know: what is judged, or how cells are scheduled.
"""
from __future__ import annotations

import threading
import time

from certconform import mdm
from certconform.mdm import guarded

ERRORS = {cls.__name__: cls for cls in (guarded.AdapterError, guarded.CallTimeout, guarded.AdapterCrash,
                                         guarded.AdapterBusy)}


class JournalOutOfStep(AssertionError):
    """A replaying driver asked for a call the cell's journal does not hold next (a suite bug)."""


def encode(previous: list | None, inventory) -> dict:
    """An observation relative to the cell's previous one: {"n": length, "d": [[index, record]...]}
    for a list (records that differ or are new), {"raw": value} for anything else."""
    if not isinstance(inventory, list):
        return {"raw": inventory}
    prev = previous if isinstance(previous, list) else []
    changed = [[i, r] for i, (r, p) in enumerate(zip(inventory, prev)) if r != p]
    changed += [[i, inventory[i]] for i in range(len(prev), len(inventory))]
    return {"n": len(inventory), "d": changed}


def decode(previous: list | None, token: dict):
    if "raw" in token:
        return token["raw"]
    out = list(previous[:token["n"]]) if isinstance(previous, list) else []
    out.extend([None] * (token["n"] - len(out)))
    for i, record in token["d"]:
        out[i] = record
    return out


def error_of(exc: BaseException) -> dict:
    return {"error": type(exc).__name__, "message": str(exc)}


def raise_error(entry: dict):
    cls = ERRORS.get(entry["error"], guarded.AdapterCrash)
    raise cls(entry["message"])


class CellRecord:
    """One cell attempt's calls: [{"call": "observe"|"apply"|"after", ...}], observations encoded."""

    def __init__(self, cell: str, attempt: int, prefix: str):
        self.cell, self.attempt, self.prefix = cell, attempt, prefix
        self.calls: list[dict] = []
        self.status = "running"  # running | done | skipped | stopped
        self.reason: str | None = None  # skip reason / why the act stopped
        self.started = time.time()
        self.seconds = 0.0
        self.events = 0
        self.exact = True  # every call survives a round trip through the journal's JSON


class Recorder:
    """steps/driver.py's `recorder` in a live cell: every call into `record`, and into `journal`."""

    def __init__(self, record: CellRecord, journal=None):
        self.record, self.journal = record, journal
        self._last: list | None = None
        self.polls = 0

    def call(self, kind: str, inventory=None, *, event=None, outcome=None, detail=None, error=None,
             waited=None, at=None) -> None:
        entry: dict = {"call": kind}
        if kind == "apply":
            entry["event"] = event
            if error is None:
                entry.update(outcome=outcome, detail=detail)
                self.record.events += 1
        if error is not None:
            entry.update(error_of(error))
        elif kind in ("observe", "after"):
            entry["inv"] = encode(self._last, inventory)
            self._last = inventory if isinstance(inventory, list) else None
            if kind == "after" and waited is not None:
                keys, seconds, windows = waited
                entry["waited"] = {"keys": sorted(keys), "seconds": round(seconds, 4),
                                   "windows": {k: [round(w, 6), c] for k, (w, c) in windows.items()}}
        self.record.calls.append(entry)
        if self.journal is not None:
            if not self.journal.write({"k": "call", "cell": self.record.cell, "attempt": self.record.attempt,
                                       "t": round(time.time(), 4), **entry}):
                self.record.exact = False

    def poll(self, inventory, observed_at: float) -> None:
        """An observation taken while waiting (not one the judging driver reads): its time and size."""
        self.polls += 1
        if self.journal is not None:
            n = len(inventory) if isinstance(inventory, list) else None
            self.journal.write({"k": "poll", "cell": self.record.cell, "attempt": self.record.attempt,
                                "t": round(time.time(), 4), "n": n})


class ReplayAdapter:
    """Serves a CellRecord's answers to a driver (steps/driver.py, `replay=True`), in order.

    observe() answers the next journaled observation when the journal holds one next, else the
    last one again (a Then step reading the inventory the live driver did not read twice);
    apply(event) checks the event is the journaled one and answers as the product did."""

    def __init__(self, record: CellRecord):
        self.record = record
        self._i = 0
        self._current: list | object = []
        self._waited = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        pass

    def _next(self, kinds: tuple[str, ...]) -> dict | None:
        calls = self.record.calls
        if self._i < len(calls) and calls[self._i]["call"] in kinds:
            self._i += 1
            return calls[self._i - 1]
        return None

    def _take(self, entry: dict):
        if "error" in entry:
            raise_error(entry)
        self._current = decode(self._current if isinstance(self._current, list) else None, entry["inv"])
        return self._fresh()

    def _fresh(self):
        current = self._current
        return [dict(r) if isinstance(r, dict) else r for r in current] if isinstance(current, list) else current

    def observe(self):
        entry = self._next(("observe", "after"))
        if entry is None:
            return self._fresh()
        if entry["call"] == "after":
            waited = entry.get("waited")
            self._waited = None if not waited else (set(waited["keys"]), waited["seconds"],
                                                    {k: (w, c) for k, (w, c) in waited["windows"].items()})
        return self._take(entry)

    def apply(self, event: dict) -> None:
        entry = self._next(("apply",))
        if entry is None or entry["event"] != event:
            have = self.record.calls[self._i] if self._i < len(self.record.calls) else "the end of the cell's journal"
            raise JournalOutOfStep(f"replaying cell {self.record.cell}: the driver applied {event}, the journal "
                                   f"holds {have} next ({self.record.status}: {self.record.reason})")
        if "error" in entry:
            raise_error(entry)
        if entry["outcome"] == "rejected":
            raise mdm.EventRejected(entry["detail"])
        if entry["outcome"] == "invalid":
            raise ValueError(entry["detail"])

    def last_waited(self):
        """(pending keys, seconds waited, windows) of the last settled observation, or None."""
        return self._waited
