"""Incremental observation (GET /certificates?since=CURSOR, mdm/observe_since.py): the answer
rebuilds exactly what a plain GET returns, the capability is declared and documented, stale
cursors get a full answer, and servers without the capability (or with a broken one) get plain
GETs from the adapter."""
from __future__ import annotations

import json
import random

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certconform.mdm.http_adapter import HttpAdapter
from certconform.mdm.mock import MockMDM
from certconform.mdm.observe_since import InventoryJournal, apply_changes
from certconform.mdm.server import create_app
from tests.servers import TestClientPool, adapter_over

PLATFORMS = ["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]
DEVICES = [f"d{i}" for i in range(6)]
# A tenant where check-ins deliver at once (d0..d3 enrolled, in groups that have profiles), so
# random events revoke, remove and reissue often; d4, d5 are left for `enroll` events.
SETUP = [{"type": "create_user", "user": u} for u in ("u1", "u2")] + [
    {"type": "create_group", "group": g} for g in ("g1", "g2")] + [
    {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
    {"type": "create_profile", "profile": "p", "kind": "pkcs", "root": "r", "ca": "third_party"},
    {"type": "create_profile", "profile": "i", "kind": "pkcs_imported"}] + [
    {"type": "enroll", "device": d, "platform": PLATFORMS[n], "user": "u1" if n < 2 else "u2"}
    for n, d in enumerate(DEVICES[:4])] + [
    {"type": "add_member", "group": "g1", "member": "d0"}, {"type": "add_member", "group": "g1", "member": "d1"},
    {"type": "add_member", "group": "g2", "member": "u2"}] + [
    {"type": "assign_profile", "profile": p, "group": g} for p, g in (("r", "g1"), ("s", "g1"), ("r", "g2"),
                                                                        ("p", "g2"), ("i", "g2"), ("s", "g2"))]


def _event_strategy():
    device, user, group = st.sampled_from(DEVICES), st.sampled_from(["u1", "u2"]), st.sampled_from(["g1", "g2"])
    profile = st.sampled_from(["r", "s", "p", "i"])
    member = st.sampled_from(DEVICES + ["u1", "u2"])
    return st.one_of(
        st.builds(lambda d, p, u: {"type": "enroll", "device": d, "platform": p, "user": u},
                  device, st.sampled_from(PLATFORMS), user),
        st.builds(lambda g, m: {"type": "add_member", "group": g, "member": m}, group, member),
        st.builds(lambda g, m: {"type": "remove_member", "group": g, "member": m}, group, member),
        st.builds(lambda p, g: {"type": "assign_profile", "profile": p, "group": g}, profile, group),
        st.builds(lambda p, g: {"type": "unassign_profile", "profile": p, "group": g}, profile, group),
        st.builds(lambda d: {"type": "check_in", "device": d}, device),
        st.builds(lambda d: {"type": "check_in", "device": d}, device),
        st.builds(lambda p: {"type": "update_profile", "profile": p}, profile),
        st.builds(lambda d, p: {"type": "delete_certificate", "device": d, "profile": p}, device, profile),
        st.builds(lambda t, d: {"type": t, "device": d}, st.sampled_from(["wipe", "retire", "unenroll"]), device),
        st.builds(lambda t, u: {"type": t, "user": u},
                  st.sampled_from(["lose_license", "withdraw_license", "delete_user"]), user),
        st.builds(lambda g: {"type": "delete_group", "group": g}, group),
        st.just({"type": "reset"}),  # POST /reset (then the set-up again): every cursor goes stale
    )


def _in_process_adapter(client: TestClient) -> HttpAdapter:
    """The real HttpAdapter, talking to an in-process app through `client`."""
    return adapter_over(TestClientPool(client), "http://127.0.0.1")


def _apply(client: TestClient, event: dict) -> None:
    if event["type"] == "reset":
        assert client.post("/reset").status_code == 204
        for e in SETUP:
            assert client.post("/events", json=e).status_code == 204
        return
    assert client.post("/events", json=event).status_code in (204, 409, 422)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event_strategy(), min_size=1, max_size=40))
def test_since_observe_equals_a_full_get_after_every_event(events):
    with TestClient(create_app(MockMDM()), base_url="http://127.0.0.1") as client:
        adapter = _in_process_adapter(client)
        _apply(client, {"type": "reset"})
        assert adapter.observe() == client.get("/certificates").json()
        for event in events:
            _apply(client, event)
            assert adapter.observe() == client.get("/certificates").json(), event
        assert adapter._since is True  # it really went through ?since= all along


# -- the journal alone, against any sequence of lists (records that change, move, vanish) ---------
_record = st.fixed_dictionaries({"serial": st.sampled_from("ABCDE"), "installed": st.booleans()})


@settings(max_examples=200, deadline=None)
@given(states=st.lists(st.lists(_record, max_size=6), min_size=1, max_size=12),
       lags=st.lists(st.integers(0, 3), min_size=12, max_size=12))
def test_journal_answers_rebuild_every_state_whatever_the_client_missed(states, lags):
    """Clients that observe after every state, or only now and then, all rebuild the list exactly."""
    journal = InventoryJournal()
    every = ([], "")
    sometimes = ([], "")
    for n, state in enumerate(states):
        journal.update(state)
        every = apply_changes(every[0], json.loads(json.dumps(journal.answer(every[1]))))
        assert every is not None and every[0] == state
        if lags[n] == 0 or n == len(states) - 1:
            sometimes = apply_changes(sometimes[0], journal.answer(sometimes[1]))
            assert sometimes is not None and sometimes[0] == state


def test_journal_sends_only_what_changed_and_stale_cursors_get_everything():
    journal = InventoryJournal()
    journal.update([{"s": 1}, {"s": 2}])
    first = journal.answer("")
    assert first["full"] is True and first["count"] == 2 and len(first["changes"]) == 2
    journal.update([{"s": 1}, {"s": 2, "revoked": True}, {"s": 3}])
    second = journal.answer(first["cursor"])
    assert second["full"] is False and second["count"] == 3
    assert [c["index"] for c in second["changes"]] == [1, 2]
    journal.update([{"s": 1}, {"s": 2, "revoked": True}, {"s": 3}])
    assert journal.answer(second["cursor"])["changes"] == []  # nothing changed
    epoch, _, revision = second["cursor"].partition(".")
    for stale in (f"{epoch}.{int(revision) + 5}", f"other.{revision}", "garbage", "1", f"{epoch}.-1", f"{epoch}."):
        answer = journal.answer(stale)
        assert answer["full"] is True and len(answer["changes"]) == 3, stale
    journal.reset()  # POST /reset
    journal.update([])
    after = journal.answer(second["cursor"])
    assert after["full"] is True and after["count"] == 0


@pytest.mark.parametrize("answer", [
    None, [], {"cursor": 1, "full": False, "count": 0, "changes": []},
    {"cursor": "c", "full": "no", "count": 0, "changes": []},
    {"cursor": "c", "full": False, "count": -1, "changes": []},
    {"cursor": "c", "full": False, "count": True, "changes": []},
    {"cursor": "c", "full": False, "count": 3, "changes": []},  # index 2 never sent
    {"cursor": "c", "full": False, "count": 1, "changes": [{"index": 1, "record": {}}]},
    {"cursor": "c", "full": False, "count": 1, "changes": [{"index": "0", "record": {}}]},
    {"cursor": "c", "full": False, "count": 1, "changes": [{"index": 0}]},
    {"cursor": "c", "full": True, "count": 2, "changes": [{"index": 0, "record": {}}]},
])
def test_answers_that_do_not_add_up_are_refused(answer):
    assert apply_changes([{"a": 1}, {"b": 2}], answer) is None


# -- over HTTP: capability, OpenAPI, stale cursors ----------------------------------------------
def test_capability_is_declared_and_the_parameter_documented():
    with TestClient(create_app(MockMDM()), base_url="http://127.0.0.1") as client:
        assert client.get("/capabilities").json()["observe_since"] is True
        doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/certificates"]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "since"]
    assert param["in"] == "query" and not param.get("required") and "observe_since" in param["description"]
    answers = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"$ref": "#/components/schemas/CertificateChanges"} in answers
    changes = doc["components"]["schemas"]["CertificateChanges"]
    assert set(changes["required"]) == {"cursor", "full", "count", "changes"}


def test_reset_makes_every_cursor_stale():
    with TestClient(create_app(MockMDM()), base_url="http://127.0.0.1") as client:
        for e in [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
                  {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
                  {"type": "enroll", "device": "d", "platform": "ios", "user": "u"},
                  {"type": "add_member", "group": "g", "member": "d"},
                  {"type": "assign_profile", "profile": "r", "group": "g"}, {"type": "check_in", "device": "d"}]:
            assert client.post("/events", json=e).status_code == 204
        first = client.get("/certificates", params={"since": ""}).json()
        assert first["full"] is True and first["count"] == 1
        assert client.get("/certificates", params={"since": first["cursor"]}).json()["changes"] == []
        client.post("/reset")
        after = client.get("/certificates", params={"since": first["cursor"]}).json()
        assert after == {"cursor": after["cursor"], "full": True, "count": 0, "changes": []}
        assert after["cursor"].split(".")[0] != first["cursor"].split(".")[0]  # a new epoch
        other = TestClient(create_app(MockMDM()), base_url="http://127.0.0.1")
        assert other.get("/certificates", params={"since": first["cursor"]}).json()["full"] is True


# -- servers without the capability, or with a broken one ---------------------------------------
def _plain_app(service: MockMDM, capabilities: dict, since_answer=None) -> tuple[FastAPI, list]:
    """A minimal server of the contract's binding (no ?since= unless `since_answer` is given)."""
    app, seen = FastAPI(), []

    @app.post("/reset")
    async def reset() -> Response:
        service.reset()
        return Response(status_code=204)

    @app.post("/events")
    async def events(request: Request) -> Response:
        try:
            service.apply(await request.json())
        except ValueError as bad:
            return JSONResponse({"error": str(bad)}, status_code=422)
        return Response(status_code=204)

    @app.get("/certificates")
    async def certificates(request: Request):
        seen.append(dict(request.query_params))
        if since_answer is not None and "since" in request.query_params:  # a value, or a function of the inventory
            return JSONResponse(since_answer(service.observe()) if callable(since_answer) else since_answer)
        return JSONResponse(service.observe())

    @app.get("/capabilities")
    async def caps():
        return capabilities

    return app, seen


@pytest.mark.parametrize("capabilities,since_answer", [
    ({"platforms": PLATFORMS}, None),  # does not declare it: never asked
    ({"observe_since": "yes"}, None),  # not `true`: not declared
    ({"observe_since": True}, {"cursor": "x", "full": False, "count": 5, "changes": []}),  # declared, broken
    ({"observe_since": True}, ["not", "a", "change", "answer"]),
])
def test_adapter_uses_plain_gets_without_a_working_capability(capabilities, since_answer):
    service = MockMDM()
    app, seen = _plain_app(service, capabilities, since_answer)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        adapter = _in_process_adapter(client)
        rng = random.Random(3)
        for e in SETUP + [{"type": "enroll", "device": "d", "platform": "ios", "user": "u1"},
                          {"type": "add_member", "group": "g1", "member": "d"}]:
            adapter.apply(e)
        for _ in range(20):
            profile = rng.choice(["r", "s", "p", "i"])
            for e in ({"type": "assign_profile", "profile": profile, "group": "g1"}, {"type": "check_in", "device": "d"},
                      {"type": "update_profile", "profile": profile}):
                adapter.apply(e)
            assert adapter.observe() == service.observe()
    with_since = [q for q in seen if "since" in q]
    assert len(with_since) == (0 if since_answer is None else 1)  # a broken answer: asked once, then plain GETs
    # (a plain GET before the first incremental answer, to check it against)
    assert len(seen) - len(with_since) == 20 + len(with_since)
    findings = getattr(adapter, "contract_findings", [])
    if since_answer is None:
        assert findings == []
    else:  # reported once, naming the extension
        [finding] = findings
        assert finding["extension"] == "observe_since" and finding["message"].startswith("[contract: observe_since]")
        assert "does not add up" in finding["message"]


def test_an_incremental_answer_that_loses_changes_is_reported_once_then_plain_gets():
    """An answer that adds up but leaves out a change (here: every record after the first event
    is left out of `changes`) cannot be seen from the answer alone: the adapter checks its 1st,
    2nd, 4th, ... answers against plain GETs, reports the fault once, and falls back."""
    service = MockMDM()
    lossy = {"cursor": "", "count": 0}

    def since_answer_for(current):
        answer = {"cursor": str(len(current)), "full": False, "count": len(current),
                  "changes": [{"index": i, "record": r} for i, r in enumerate(current) if i >= lossy["count"]]}
        lossy["count"] = len(current)  # a changed record below the old count is never sent again
        return answer

    app, seen = _plain_app(service, {"observe_since": True}, since_answer_for)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        adapter = _in_process_adapter(client)
        for e in SETUP + [{"type": "enroll", "device": "d", "platform": "ios", "user": "u1"},
                          {"type": "add_member", "group": "g1", "member": "d"},
                          {"type": "assign_profile", "profile": "s", "group": "g1"}, {"type": "check_in", "device": "d"}]:
            adapter.apply(e)
        assert adapter.observe() == service.observe()
        for e in ({"type": "update_profile", "profile": "s"}, {"type": "remove_member", "group": "g1", "member": "d"}):
            adapter.apply(e)
            assert adapter.observe() == service.observe()  # never a wrong inventory
    [finding] = adapter.contract_findings
    assert "left out changes" in finding["message"] and finding["extension"] == "observe_since"


# -- the real server and the real adapter (urllib3, connections kept alive) ---------------------------------
def test_real_server_incremental_observe_and_keep_alive(mock_server_url):
    adapter = HttpAdapter(mock_server_url)
    adapter.reset()
    full = httpx.Client(base_url=mock_server_url)  # an independent client for the full answers
    rng = random.Random(11)
    for e in SETUP:
        adapter.apply(e)
    opened = adapter._pool.num_connections
    for _ in range(60):
        event = rng.choice([{"type": "check_in", "device": rng.choice(DEVICES[:4])},
                            {"type": "update_profile", "profile": rng.choice("rspi")},
                            {"type": "delete_certificate", "device": rng.choice(DEVICES[:4]),
                             "profile": rng.choice("rspi")}])
        try:
            adapter.apply(event)
        except ValueError:
            pass  # no such certificate installed: a bad input, nothing changed
        assert adapter.observe() == full.get("/certificates").json()
    assert adapter._since is True
    # 180 requests, all on the connection already open: keep-alive works end to end
    assert adapter._pool.num_connections == opened
    full.close()
    adapter.close()
