"""cucumber.json for a conformance run, in process or under pytest-xdist.

pytest-bdd's own writer keeps what it knows about a scenario in a registry keyed by the report
object, which never leaves an xdist worker, so under `-n` it writes `[]`. This module builds the
same JSON from pytest-bdd's public hooks instead:

- every process (the only one, or each worker) records the scenario it runs and the outcome of
  each step (`record_*`, called from the plugin's pytest_bdd_* hooks) and attaches the record to
  the call-phase report as `report.certconform_cucumber` (plain JSON data, so xdist ships it);
- the writer (`CucumberWriter`, in the process that writes reports: the only one or the xdist
  controller) turns each such report into a cucumber element and writes one file at the end.

What it knows: the cucumber JSON shape pytest-bdd writes (features with their scenario elements
and steps, durations in nanoseconds, the failure text on the first failing step) and the
attributes of the feature / scenario / step objects pytest-bdd's hooks pass.
What it does not know: verdicts or the document (certconform/reports.py).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

RECORD_KEY = pytest.StashKey[dict]()


def record_scenario(node, feature, scenario) -> None:
    """pytest_bdd_before_scenario: remember the scenario and its feature on the test item."""
    node.stash[RECORD_KEY] = {
        "feature": {
            "keyword": feature.keyword, "name": feature.name, "uri": feature.rel_filename,
            "line": feature.line_number, "description": feature.description, "language": feature.language,
            "tags": sorted(feature.tags),
        },
        "scenario": {
            "keyword": scenario.keyword, "name": scenario.name, "line": scenario.line_number,
            "description": scenario.description, "tags": sorted(scenario.tags),
        },
        "all_steps": [_step(s) for s in scenario.steps],
        "steps": [],  # the steps reached, with their outcome
    }


def _step(step) -> dict:
    return {"keyword": step.keyword, "name": step.name, "line": step.line_number, "failed": False, "duration": 0.0}


def record_step_start(node, step) -> None:
    record = node.stash.get(RECORD_KEY, None)
    if record is not None:
        record["steps"].append(dict(_step(step), started=time.perf_counter()))


def record_step_end(node, failed: bool) -> None:
    """pytest_bdd_after_step (failed=False) or pytest_bdd_step_error (failed=True); a failing step
    fails the steps it left unrun too, as pytest-bdd's writer reports them."""
    record = node.stash.get(RECORD_KEY, None)
    if record is None or not record["steps"]:
        return
    current = record["steps"][-1]
    current["duration"] = time.perf_counter() - current.pop("started", time.perf_counter())
    current["failed"] = failed
    if failed:
        record["steps"].extend(dict(s, failed=True) for s in record["all_steps"][len(record["steps"]):])


def report_data(node) -> dict | None:
    """What the call-phase report carries to the writer (JSON data), or None for a non-bdd test."""
    record = node.stash.get(RECORD_KEY, None)
    if record is None:
        return None
    steps = [{k: v for k, v in s.items() if k != "started"} for s in record["steps"]]
    if record["steps"] and "started" in record["steps"][-1]:
        # A step that never ended: a BaseException left it, which pytest-bdd's step_error hook does
        # not see (pytest.skip, e.g. "not supported: ..." from steps/driver.py). It and the steps
        # not reached are not passed: the writer reports them with the test's outcome.
        steps[-1]["failed"] = True
        steps += [dict(s, failed=True) for s in record["all_steps"][len(steps):]]
    return {"feature": record["feature"], "scenario": record["scenario"], "steps": steps}


class CucumberWriter:
    """Collects the scenario elements of the run's reports and writes one cucumber.json."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.features: dict[str, dict] = {}

    def add(self, report) -> None:
        data = getattr(report, "certconform_cucumber", None)
        if report.when != "call" or not isinstance(data, dict) or not data.get("steps"):
            return  # a scenario skipped before its first step has no result to report
        feature = data["feature"]
        entry = self.features.setdefault(feature["uri"], {
            "keyword": feature["keyword"], "uri": feature["uri"], "name": feature["name"] or feature["uri"],
            "id": feature["uri"].lower().replace(" ", "-"), "line": feature["line"],
            "description": feature["description"], "language": feature["language"],
            "tags": _tags(feature), "elements": []})
        scenario = data["scenario"]
        first_failure = True
        steps = []
        for step in data["steps"]:
            result: dict = {"status": "passed", "duration": math.floor(10**9 * step["duration"])}
            if report.outcome != "passed" and step["failed"]:
                result["status"] = "failed" if report.outcome == "failed" else "skipped"
                if report.outcome == "failed":
                    result["error_message"] = str(report.longrepr) if first_failure else ""
                    first_failure = False
                elif first_failure:
                    # the skip reason on the step that was skipped, e.g. "not supported: the
                    # implementation cannot perform delete_certificate (capabilities 'events')"
                    from certconform.reports import report_message

                    result["error_message"] = report_message(report)
                    first_failure = False
            steps.append({"keyword": step["keyword"], "name": step["name"], "line": step["line"],
                          "match": {"location": ""}, "result": result})
        entry["elements"].append({
            "keyword": scenario["keyword"], "id": report.nodeid.split("::")[-1], "name": scenario["name"],
            "line": scenario["line"], "description": scenario["description"], "tags": _tags(scenario),
            "type": "scenario", "steps": steps})

    def write(self) -> None:
        """Features by file, scenarios by line: the same file whatever order workers finished in."""
        features = [dict(f, elements=sorted(f["elements"], key=lambda e: (e["line"], e["id"])))
                    for _, f in sorted(self.features.items())]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(features), encoding="utf-8")


def _tags(item: dict) -> list[dict]:
    return [{"name": tag, "line": item["line"] - 1} for tag in item["tags"]]
