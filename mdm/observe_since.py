# What this module knows: the optional incremental observation of the HTTP binding
# (`GET /certificates?since=CURSOR`, declared by `"observe_since": true` in GET /capabilities):
# the server side (InventoryJournal: which inventory indexes changed since a cursor) and the client
# side (apply_changes: rebuild the full list from a change answer). What it does not know: what a
# record means; records are compared as plain JSON values, so the answer is exact for any service.
"""Incremental observation: `GET /certificates?since=CURSOR` answers only what changed.

Answer (200, JSON object):

    {"cursor": "<opaque>", "full": false, "count": 42,
     "changes": [{"index": 40, "record": {...}}, {"index": 41, "record": {...}}]}

- `count` is the length of the inventory now (the list a plain GET /certificates would return);
- `changes` are the records at the given indexes (0-based) that differ from, or did not exist in,
  the list as of CURSOR; every other index below `count` holds the record it held then;
- `full` true means the server could not vouch for CURSOR (none given, malformed, from another
  server process, or from before a POST /reset): `changes` then holds every record, and the
  client replaces its copy;
- the client sends the `cursor` of its last answer with its next request.

The mock's server diffs the service's current list against the list it last answered with, so the
answer equals a plain GET by construction, whatever the service does (records that change, move or
disappear). `apply_changes` rebuilds the list on the client and refuses (None) an answer that does
not add up, so a faulty server can make the client fall back to plain GETs but never hand the
suite a wrong inventory.
"""
from __future__ import annotations

import secrets
from typing import Any, Iterable


class InventoryJournal:
    """The server side: the last inventory answered, with the revision at which each index last
    changed. Not thread-safe by itself: the server calls it under its service lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new epoch: every cursor handed out before is stale (the client gets a full answer)."""
        self._epoch = secrets.token_hex(8)
        self._revision = 0
        self._records: list[Any] = []
        self._stamps: list[int] = []  # per index: the revision at which its record last changed

    def _cursor(self) -> str:
        return f"{self._epoch}.{self._revision}"

    def _since_revision(self, cursor: str | None) -> int | None:
        """The revision CURSOR names in this epoch, or None when it cannot be vouched for."""
        if not cursor:
            return None
        epoch, _, revision = cursor.partition(".")
        if epoch != self._epoch or not revision.isdigit() or len(revision) > 18:
            return None
        number = int(revision)
        return number if number <= self._revision else None

    def update(self, records: Iterable[Any]) -> None:
        """Take the service's inventory now: stamp the indexes whose record changed or is new."""
        # Shallow copies: a service may hand out live records and change them later.
        current = [dict(r) if isinstance(r, dict) else r for r in records]
        previous, stamps = self._records, self._stamps[:len(current)]
        changed = [i for i in range(len(current)) if i >= len(previous) or previous[i] != current[i]]
        if changed or len(current) != len(previous):
            self._revision += 1
            stamps.extend([self._revision] * (len(current) - len(stamps)))
            for i in changed:
                stamps[i] = self._revision
        self._records, self._stamps = current, stamps

    def answer(self, cursor: str | None) -> dict:
        """The change answer for a client whose copy is as of `cursor` (call `update` first)."""
        since = self._since_revision(cursor)
        records = self._records
        if since is None:
            indexes: Iterable[int] = range(len(records))
        else:
            indexes = [i for i, stamp in enumerate(self._stamps) if stamp > since]
        return {"cursor": self._cursor(), "full": since is None, "count": len(records),
                "changes": [{"index": i, "record": records[i]} for i in indexes]}


def apply_changes(copy: list | tuple, answer: Any) -> tuple[list, str] | None:
    """(the full inventory, the next cursor) from the client's `copy` (as of the cursor it sent)
    and the server's change `answer`; None when the answer is malformed or does not add up."""
    if not isinstance(answer, dict):
        return None
    cursor, full, count, changes = (answer.get(k) for k in ("cursor", "full", "count", "changes"))
    if not isinstance(cursor, str) or not isinstance(full, bool) or not isinstance(changes, list) \
            or not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None
    result: list = [] if full else list(copy[:count])
    missing = count - len(result)
    result.extend([None] * missing)
    filled = set()
    for change in changes:
        if not isinstance(change, dict) or "record" not in change:
            return None
        index = change.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            return None
        result[index] = change["record"]
        filled.add(index)
    # every index the copy did not hold must have come in the answer
    if any(i not in filled for i in range(count - missing, count)):
        return None
    return result, cursor


# ----------------------------------------------------------------------------- client-side checks
# A client keeps its copy from change answers alone, so a server whose answers leave out changes
# would blind it. Both clients (mdm/http_adapter.py without cells, conformance/product.py's
# observation hub with them) check some answers against plain reads taken before and after.

SPOT_CHECK_EVERY = 64


def spot_checked(n: int) -> bool:
    """Whether the client checks its `n`th change answer (1-based): the 1st, 2nd, 4th ... 64th,
    then every 64th (a copy that missed a change stays wrong until a check catches it, and a run
    takes tens of thousands of observations)."""
    return n % SPOT_CHECK_EVERY == 0 if n > SPOT_CHECK_EVERY else n & (n - 1) == 0


def left_out_changes(before: Any, after: Any, rebuilt: list) -> bool:
    """A checked answer left out changes: the plain reads before and after agree (nothing changed
    in between) and the list the answer rebuilt differs from them."""
    return isinstance(before, list) and before == after and rebuilt != before


def contract_finding(why: str, fallback: str) -> dict:
    """The contract finding a client reports, once, when it stops using the extension."""
    return {"extension": "observe_since", "tier": "contract",
            "message": f"[contract: observe_since] {why}; the run went on with {fallback} "
                       "(the extension is optional: this costs speed, not a verdict)"}
