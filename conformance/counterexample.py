"""Turn a failing event sequence into a Gherkin feature that replays it.

The output pastes as a new file under features/regressions/ and fails the same way: each event
is one `When the event {...} is applied` step (steps/replay_steps.py), and the final Then step
runs the same oracle and invariants over every event.
"""
from __future__ import annotations

import json

from certconform.model.behaviour import default


def gherkin(events: list[dict], statements: list[str], summary: str) -> str:
    b = default()
    known = [s for s in dict.fromkeys(statements) if s in b.by_id or any(i.id == s for i in b.interpretations)]
    tags = " ".join(["@regression", *("@" + s for s in known)])
    lines = [
        "# Save as features/regressions/<name>.feature; it replays the shrunk sequence.",
        "Feature: Regression found by the Hypothesis state machine",
        "",
        f"  {tags}",
        f"  Scenario: {summary}",
    ]
    for i, ev in enumerate(events):
        lines.append(f"    {'When' if i == 0 else 'And'} the event {json.dumps(ev, sort_keys=False)} is applied")
    lines.append("    Then every event conformed to the document and the contract")
    return "\n".join(lines) + "\n"
