"""The run's journal: `<report-dir>/journal.jsonl`, appended as things happen (docs/slow-products.md).

One JSON object a line, each with `k` (its kind) and `t` (wall-clock seconds):
    run        a run starts: the implementation, its capabilities, the pytest arguments, cells in
               flight at most, and (`resumed`) the journal it continues
    cell       a cell attempt starts: its id, attempt, name prefix, planned events, devices
    call       one call of a cell's driver: an observation (`inv`: the records that differ from
               the cell's previous one), an application (`event`, `outcome`, `detail`) or the
               settled observation after it (and the wait: `waited`); an adapter error as `error`
    poll       an observation taken while a cell waited (time and size)
    person     a cell needs a person (the one-line instruction)
    clean      a cell's objects cleaned up (its devices released, or an interrupted attempt's objects)
    cell_end   a cell attempt ends: done, skipped (with the reason), stopped (the act ended early)
    test       a finished pytest test as the reports see it (certconform/reports.py TestRecord)
    coverage   a stateful shard's tally (conformance/coverage.py)
    end        the run ends: its metadata for results.json (plan vs actual included)
The synchronous fast path (no windows, no cells) writes run, test, coverage and end only.

What this module knows: writing (thread-safe, one write a line so a killed run leaves whole lines
behind but maybe a torn last one, which readers skip), reading back which cell attempts finished
(`finished_cells`: their calls, to replay instead of redoing) and which were in flight (`in_flight`:
their objects, to clean), and rebuilding the reports from the test records alone (`rebuild`,
`certconform report --journal DIR`). What it does not know: how cells run or are judged.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

NAME = "journal.jsonl"


class Journal:
    """Appends one JSON line per write. `write` returns False when a value was not JSON (then
    written as its repr: the line cannot be replayed exactly)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, obj: dict) -> bool:
        exact = [True]

        def default(value):
            exact[0] = False
            return repr(value)

        if "t" not in obj:
            obj = {"k": obj.get("k"), "t": round(time.time(), 4), **obj}
        line = json.dumps(obj, default=default, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
        with self._lock:
            if self._file is None:
                return exact[0]
            self._file.write(line + "\n")
            self._file.flush()
        return exact[0]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read(path: Path) -> list[dict]:
    """Every whole line of a journal (a torn last line, from a killed run, is skipped)."""
    out = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
    return out


def path_of(directory) -> Path:
    directory = Path(directory)
    return directory if directory.name.endswith(".jsonl") else directory / NAME


def first_run(entries: list[dict]) -> dict | None:
    return next((e for e in entries if e.get("k") == "run"), None)


def finished_cells(entries: list[dict]) -> dict:
    """{cell id: (attempt, status, reason, calls, planned events)} of every attempt that ended
    (done or skipped) and was journaled exactly: a resumed run replays these instead of acting
    them again (when it plans the same events for the cell)."""
    calls: dict[tuple, list] = {}
    planned: dict[tuple, list] = {}
    out = {}
    for e in entries:
        k = e.get("k")
        key = (e.get("cell"), e.get("attempt"))
        if k == "cell":
            calls[key], planned[key] = [], e.get("events")
        elif k == "call" and key in calls:
            calls[key].append({f: v for f, v in e.items() if f not in ("k", "t", "cell", "attempt")})
        elif k == "cell_end" and key in calls:
            if e.get("status") in ("done", "skipped") and e.get("exact", True):
                out[e["cell"]] = (e["attempt"], e["status"], e.get("reason"), calls[key], planned[key])
    return out


def in_flight(entries: list[dict]) -> dict:
    """{cell id: {"attempt", "prefix", "applied"}} of the latest attempt of every cell that
    started and never ended: its objects exist in the product under its prefix."""
    started, ended, applied = {}, set(), {}
    for e in entries:
        k = e.get("k")
        if k == "cell":
            started[e["cell"]] = e
        elif k == "cell_end":
            ended.add((e.get("cell"), e.get("attempt")))
        elif k == "call" and e.get("call") == "apply" and "event" in e:
            applied.setdefault((e.get("cell"), e.get("attempt")), []).append(e["event"])
    done = finished_cells(entries)
    return {cell: {"attempt": e.get("attempt", 1), "prefix": e.get("prefix"),
                   "applied": applied.get((cell, e.get("attempt")), [])}
            for cell, e in started.items() if (cell, e.get("attempt")) not in ended and cell not in done}


def attempts(entries: list[dict]) -> dict:
    """{cell id: the highest attempt number journaled}."""
    out: dict = {}
    for e in entries:
        if e.get("k") == "cell":
            out[e["cell"]] = max(out.get(e["cell"], 0), e.get("attempt", 1))
    return out


# ----------------------------------------------------------------------------- rebuilding the reports
def rebuild(directory, out_dir=None) -> str:
    """Write results.json, index.html, coverage.json, traceability.json and junit.xml into
    `out_dir` (default: the journal's directory) from the journal alone; return the summary line.
    The latest record of each test wins (a resumed run judges every test again)."""
    from certconform.reports import Collector, TestRecord, write_reports

    path = path_of(directory)
    entries = read(path)
    out = Path(out_dir) if out_dir is not None else path.parent
    tests: dict[str, TestRecord] = {}
    coverage: dict[str, dict] = {}
    meta = None
    run = first_run(entries)
    for e in entries:
        if e.get("k") == "test":
            tests[e["nodeid"]] = TestRecord(e["nodeid"], e.get("name") or e["nodeid"], e.get("feature"),
                                            tuple(e.get("statements") or ()), e.get("outcome", "passed"),
                                            e.get("message"), float(e.get("duration") or 0.0), list(e.get("log") or []))
        elif e.get("k") == "coverage":
            coverage[str(e.get("data", {}).get("shard"))] = e.get("data")
        elif e.get("k") == "end":
            meta = e.get("meta")
    if meta is None:  # an interrupted run: what the run record says
        meta = {"implementation": (run or {}).get("spec"), "capabilities": (run or {}).get("caps"),
                "started": (run or {}).get("t"), "duration": None,
                "cut_short": "the journal ends before the run did (interrupted)"}
    meta = dict(meta, rebuilt_from=str(path))
    out.mkdir(parents=True, exist_ok=True)
    if coverage:
        from certconform.conformance import coverage as coverage_module

        coverage_module.write(out, list(coverage.values()))
    collector = Collector(started=meta.get("started") or time.time())
    collector.tests = tests
    summary = write_reports(collector, out, meta)
    _write_traceability(tests, out, meta)
    _write_junit(tests, out)
    return summary


def _write_traceability(tests, out: Path, meta: dict) -> None:
    from certconform.traceability import build

    ran: dict[str, list[str]] = {}
    for t in tests.values():
        for sid in t.statements:
            ran.setdefault(sid, []).append(t.nodeid.split("::")[-1])
    data = build(ran, meta.get("document_path"))
    data["cut_short"] = meta.get("cut_short")
    (out / "traceability.json").write_text(json.dumps(data, indent=2) + "\n")


def _write_junit(tests, out: Path) -> None:
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name="certconform", tests=str(len(tests)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for t in tests.values():
        case = ET.SubElement(suite, "testcase", classname=t.nodeid.split("::")[0], name=t.nodeid.split("::")[-1],
                             time=f"{t.duration:.3f}")
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(t.outcome)
        if tag:
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[tag]] += 1
            ET.SubElement(case, tag, message=(t.message or "")[:4000])
    for name, n in counts.items():
        suite.set(name, str(n))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)
