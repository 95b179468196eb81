# What this module knows: the OData conventions Graph answers with -- the error body, @odata.context,
# collection paging with an absolute @odata.nextLink carrying an opaque $skiptoken, $top, and the
# few $filter clauses the emulator understands (startswith(prop,'x') and prop eq 'x').
# What it does not know: which routes exist or what the entities mean.
"""OData helpers of the Graph emulator: errors, paging, $filter."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from typing import Any, Callable, Mapping

MAX_TOP = 999


class GraphError(Exception):
    """An error answer: status, Graph error code, message."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"request-id": str(uuid.uuid4()), "date": now_text()}}}


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(what: str, v1: bool = True) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound" if v1 else "ResourceNotFound",
                      f"Resource '{what}' does not exist or one of its queried reference-property objects are not present.")


def now_text(moment: dt.datetime | None = None) -> str:
    """ISO 8601 in UTC with a Z, as Graph writes DateTimeOffset values."""
    moment = moment or dt.datetime.now(dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


# -- $filter ---------------------------------------------------------------------------------
_LITERAL = r"'((?:[^']|'')*)'"
_STARTSWITH = re.compile(rf"^\s*startswith\(\s*([A-Za-z]+)\s*,\s*{_LITERAL}\s*\)\s*$")
_EQ = re.compile(rf"^\s*([A-Za-z]+)\s+eq\s+{_LITERAL}\s*$")


def parse_filter(text: str | None, allowed: Mapping[str, tuple[str, ...]]) -> Callable[[dict], bool]:
    """A predicate on entities for `$filter` text; `allowed` maps "startswith"/"eq" to the
    properties the route accepts. Anything else: 400."""
    if text is None:
        return lambda entity: True
    for operator, pattern in (("startswith", _STARTSWITH), ("eq", _EQ)):
        match = pattern.match(text)
        if match:
            prop, value = match.group(1), match.group(2).replace("''", "'")
            if prop not in allowed.get(operator, ()):
                break
            if operator == "startswith":
                return lambda entity: str(entity.get(prop) or "").lower().startswith(value.lower())
            return lambda entity: str(entity.get(prop) or "").lower() == value.lower()
    supported = "; ".join(f"{op}: {', '.join(props)}" for op, props in allowed.items())
    raise bad_request(f"Invalid filter clause: {text!r} (this emulator supports {supported or 'no filter'} here)")


# -- paging ----------------------------------------------------------------------------------
def _encode_token(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise bad_request("Invalid $skiptoken") from None
    if not isinstance(state, dict) or not isinstance(state.get("o"), int) or state["o"] < 0:
        raise bad_request("Invalid $skiptoken")
    return state


def query_options(params: Mapping[str, str]) -> dict:
    """$filter and $top of a collection request; with $skiptoken, those it carries (plus offset)."""
    unknown = [k for k in params if k.startswith("$") and k not in ("$filter", "$top", "$skiptoken", "$select")]
    if unknown:
        raise bad_request(f"Query option '{unknown[0]}' is not supported by this emulator")
    if "$skiptoken" in params:
        state = _decode_token(params["$skiptoken"])
        return {"filter": state.get("f"), "top": state.get("t"), "offset": state["o"]}
    top = params.get("$top")
    if top is not None:
        if not top.isdigit() or not 1 <= int(top) <= MAX_TOP:
            raise bad_request(f"Invalid value for $top: {top!r} (1 to {MAX_TOP})")
        top = int(top)
    return {"filter": params.get("$filter"), "top": top, "offset": 0}


def page(items: list[dict], options: dict, page_size: int, self_url: str, context: str) -> dict:
    """One page of `items` (already filtered) with @odata.nextLink when more remain."""
    size = min(page_size, options["top"] or page_size)
    start = options["offset"]
    answer: dict[str, Any] = {"@odata.context": context, "value": items[start:start + size]}
    if start + size < len(items):
        token = _encode_token({"o": start + size, "f": options["filter"], "t": options["top"]})
        answer["@odata.nextLink"] = f"{self_url}?$skiptoken={token}"
    return answer
