"""One implementation under test shared by concurrent cells (docs/slow-products.md).

What this module knows:
  - `SharedProduct`: the adapter behind one lock (the contract does not promise that an adapter
    is thread-safe: calls go one at a time, each fast; cells wait *between* calls), a request
    budget shared by every call of every cell (capabilities `max_requests_per_s`: calls are
    spaced 1/rate apart), a count of the requests made, and the *observation hub*: a cell asks
    for "an observation asked for at or after time t" and one observe() serves every cell that
    asks for one by then. The hub keeps the whole inventory and which cell each record belongs
    to, so one observation costs the same however many cells read it; with the optional
    `observe_since(cursor)` (the mock in process, and any server declaring `observe_since` over
    HTTP: mdm/observe_since.py) it costs only what changed, not the inventory, which grows for the
    whole run since cells never reset the product.
  - `CellAdapter`: what one cell's driver talks to. Every name it sends (user, group, member,
    device, profile, root) carries the cell's prefix (`c17-`: inserted after any leading white
    space, so look-alike names stay look-alikes), and it sees only the records of its own devices
    with the prefix taken off again (records that belong to no cell, e.g. malformed ones, are
    shown to every cell: a product's contract break is nobody's to hide). reset() never reaches
    the product: other cells are in flight; a cell's namespace is empty by construction.
What it does not know: what is judged (steps/driver.py), which cells run (conformance/scheduler.py).
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from collections import Counter

from certconform import mdm
from certconform.mdm.observe_since import apply_changes, contract_finding, left_out_changes, spot_checked

NAME_FIELDS = ("user", "group", "member", "device", "profile", "root")
PREFIX = re.compile(r"c\d+(?:x\d+)?-")


def cell_prefix(index: int, attempt: int = 1) -> str:
    """'c17-' (first attempt) or 'c17x2-' (a cell restarted after an interrupted run)."""
    return f"c{index}-" if attempt <= 1 else f"c{index}x{attempt}-"


def prefixed(name, prefix: str):
    """`name` with `prefix` inserted after its leading white space; anything but a non-empty
    string (bad input the contract must refuse) is sent as it is."""
    if not isinstance(name, str) or not name:
        return name
    stripped = name.lstrip()
    return name[:len(name) - len(stripped)] + prefix + stripped


def unprefixed(name, prefix: str):
    if not isinstance(name, str):
        return name
    stripped = name.lstrip()
    if stripped.startswith(prefix):
        return name[:len(name) - len(stripped)] + stripped[len(prefix):]
    return name


def key_of(record) -> str | None:
    """The cell prefix a record's device name carries, or None (malformed, or no cell's)."""
    if not isinstance(record, dict):
        return None
    device = record.get("device")
    if not isinstance(device, str):
        return None
    m = PREFIX.match(device.lstrip())
    return m.group(0) if m else None


class RequestBudget:
    """At most `rate` calls a second, over every thread (calls spaced 1/rate apart)."""

    def __init__(self, rate: float | None):
        self.gap = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def take(self) -> None:
        if not self.gap:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.gap
        if at > now:
            time.sleep(at - now)


class Budgeted:
    """An adapter whose every call waits for the request budget (a run without cells)."""

    def __init__(self, adapter, rate: float):
        self.adapter, self.budget = adapter, RequestBudget(rate)

    def reset(self):
        self.budget.take()
        return self.adapter.reset()

    def apply(self, event):
        self.budget.take()
        return self.adapter.apply(event)

    def observe(self):
        self.budget.take()
        return self.adapter.observe()

    def __getattr__(self, name):
        value = getattr(self.__dict__["adapter"], name)
        if not callable(value):
            return value

        def call(*args):
            self.budget.take()
            return value(*args)
        return call


class SharedProduct:
    """The adapter, shared: one call at a time, the request budget, the observation hub."""

    def __init__(self, adapter, caps):
        self.adapter, self.caps = adapter, caps
        self.budget = RequestBudget(caps.max_requests_per_s)
        self.requests: Counter = Counter()
        self._call_lock = threading.Lock()
        self._cv = threading.Condition()
        self._busy = False  # an observation is being taken
        self._asked = float("-inf")  # when the last observation was asked for
        self._next = float("-inf")  # no observation starts before (half the time at most goes to observing)
        self._error: BaseException | None = None  # what the last observation raised
        self._raw = None  # the last observe() answer when it was not a list
        self._records: list = []
        self._keys: list = []  # per index: the cell prefix of its record (None: shared)
        self._cells: dict = {}  # cell prefix (or None) -> sorted positions
        self._cursor: str | None = None
        self._since = callable(getattr(adapter, "observe_since", None))
        self._answers = 0  # change answers taken (the checked ones: mdm/http_adapter.py's rule)
        self.contract_findings: list[dict] = []
        self.observations = 0

    # ------------------------------------------------------------------ calls
    def call(self, name: str, *args):
        self.budget.take()
        with self._call_lock:
            self.requests[name] += 1
            return getattr(self.adapter, name)(*args)

    def reset(self) -> None:
        self.call("reset")
        with self._cv:
            self._records, self._keys, self._cells, self._cursor, self._raw = [], [], {}, None, None
            self._asked = float("-inf")

    # ------------------------------------------------------------------ observation hub
    def observe_after(self, key: str, t: float) -> tuple[float, object]:
        """(when it was asked, cell `key`'s view) of an observation asked for at or after `t`."""
        with self._cv:
            while True:
                if self._asked >= t and not self._busy:
                    if self._error is not None:
                        raise self._error
                    return self._asked, self._view(key)
                if self._busy:
                    self._cv.wait()
                    continue
                now = time.monotonic()
                start = max(t, self._next)
                if now < start:
                    self._cv.wait(start - now)
                    continue
                self._busy, asked = True, now
                break
        error = None
        try:
            self._snapshot()
        except BaseException as exc:  # noqa: BLE001 - handed to every cell that waits for this observation
            error = exc
        with self._cv:
            # at most half of the time observing: however many cells poll, however large the
            # inventory, acting and judging keep the other half (the next observation serves all)
            self._next = asked + 2 * (time.monotonic() - asked)
            self._busy, self._asked, self._error = False, asked, error
            self._cv.notify_all()
            if error is not None:
                raise error
            return asked, self._view(key)

    def _snapshot(self) -> None:
        self.observations += 1
        records = None
        if self._since:
            # some change answers are checked against plain observe() calls before and after
            # (mdm/observe_since.py spot_checked: the rule the HTTP adapter follows without cells)
            checking = spot_checked(self._answers + 1)
            before = self.call("observe") if checking else None
            answer = self.call("observe_since", self._cursor)
            rebuilt = apply_changes(self._records, answer)
            if rebuilt is None:
                self._drop_since(f"observe_since({self._cursor!r}) answered a change list that does not add up "
                                 "(see mdm/observe_since.py)")
            else:
                self._answers += 1
                if checking:
                    records = self.call("observe")
                    if left_out_changes(before, records, rebuilt[0]):
                        self._drop_since(f"observe_since({self._cursor!r}) left out changes: the inventory it "
                                         "rebuilds differs from what observe() answers before and after")
                    else:
                        records = None
                if self._since:
                    self._absorb_changes(answer, rebuilt)
                    return
        if records is None:
            records = self.call("observe")
        if not isinstance(records, list):
            self._raw = records
            return
        self._raw = None
        old = self._records
        changed = [i for i, (a, b) in enumerate(zip(records, old)) if a != b]
        changed += range(len(old), len(records))
        self._set(records, changed)

    def _absorb_changes(self, answer, rebuilt: tuple) -> None:
        """Take a change answer that adds up (`rebuilt`: apply_changes' list and cursor)."""
        records, self._cursor = rebuilt
        self._raw = None
        if answer["full"]:
            self._records, self._keys, self._cells = [], [], {}
        self._set(records, sorted({c["index"] for c in answer["changes"]}))

    def _drop_since(self, why: str) -> None:
        """Plain observe() from now on (the hub's copy is rebuilt from it) and report why, once, as a
        contract finding (results.json `run.extension_findings`), never as a verdict."""
        self._since = False
        self._records, self._keys, self._cells, self._cursor = [], [], {}, None
        self.contract_findings.append(contract_finding(why, "plain observe()"))

    def _set(self, records: list, changed) -> None:
        """Records now `records`; re-key the changed (and new) positions, drop those past the end."""
        keys, cells = self._keys, self._cells
        for i in range(len(records), len(keys)):  # the inventory got shorter: a product breaking the rules
            positions = cells.get(keys[i])
            if positions is not None:
                positions.remove(i)
        del keys[len(records):]
        for i in changed:
            key = key_of(records[i])
            if i < len(keys):
                if keys[i] == key:
                    continue
                cells[keys[i]].remove(i)
                keys[i] = key
                bisect.insort(cells.setdefault(key, []), i)
            else:
                keys.append(key)
                cells.setdefault(key, []).append(i)
        self._records = records

    def _view(self, key: str):
        """Fresh copies of the records of cell `key` (and of no cell), names without the prefix."""
        if self._raw is not None:
            return self._raw
        records = self._records
        mine, shared = self._cells.get(key, ()), self._cells.get(None, ())
        positions = sorted(mine + shared) if shared else mine
        out = []
        for i in positions:
            r = records[i]
            if isinstance(r, dict) and self._keys[i] == key:
                r = dict(r)
                r["device"] = unprefixed(r["device"], key)
                if "profile" in r:
                    r["profile"] = unprefixed(r["profile"], key)
            elif isinstance(r, dict):
                r = dict(r)
            out.append(r)
        return out


class CellAdapter:
    """One cell's view of the shared product (names prefixed, its own records only)."""

    def __init__(self, product: SharedProduct, prefix: str):
        self.product, self.prefix = product, prefix
        self.enrolled: dict[str, str] = {}  # contract device -> platform, while enrolled
        self.ended: list[tuple[str, str, str]] = []  # (device, platform, event type) that ended management
        self.users: list[str] = []
        self.groups: list[str] = []

    def reset(self) -> None:
        """Nothing reaches the product (other cells are in flight)."""

    def apply(self, event: dict) -> None:
        sent = {k: prefixed(v, self.prefix) if k in NAME_FIELDS else v for k, v in event.items()} \
            if isinstance(event, dict) else event
        try:
            self.product.call("apply", sent)
        except (mdm.EventRejected, ValueError) as exc:
            raise type(exc)(str(exc).replace(self.prefix, "")) from None
        self._note(event)

    def _note(self, event) -> None:
        """Which of the cell's objects exist (to release its pool devices, or clean them up)."""
        etype = event.get("type") if isinstance(event, dict) else None
        if etype == "enroll":
            self.enrolled[event["device"]] = event["platform"]
        elif etype in ("unenroll", "wipe", "retire") and event.get("device") in self.enrolled:
            self.ended.append((event["device"], self.enrolled.pop(event["device"]), etype))
        elif etype == "create_user":
            self.users.append(event["user"])
        elif etype == "create_group":
            self.groups.append(event["group"])

    def observe(self):
        return self.product.observe_after(self.prefix, time.monotonic())[1]

    def observe_after(self, t: float):
        return self.product.observe_after(self.prefix, t)

    def capabilities(self):
        return self.product.call("capabilities")
