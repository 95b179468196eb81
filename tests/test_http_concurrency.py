"""Many clients posting at once leave the real server in a consistent state."""
from __future__ import annotations

import threading

import httpx

THREADS = 8
DEVICES_PER_THREAD = 6


def _worker(base_url: str, n: int, errors: list) -> None:
    try:
        with httpx.Client(base_url=base_url, timeout=30) as c:
            def post(event):
                response = c.post("/events", json=event)
                if response.status_code != 204:
                    errors.append((event, response.status_code, response.text))

            post({"type": "create_user", "user": f"u{n}"})
            post({"type": "create_group", "group": f"g{n}"})
            post({"type": "add_member", "group": f"g{n}", "member": f"u{n}"})
            post({"type": "assign_profile", "profile": "s", "group": f"g{n}"})
            post({"type": "assign_profile", "profile": "r", "group": f"g{n}"})
            for i in range(DEVICES_PER_THREAD):
                device = f"d{n}-{i}"
                post({"type": "enroll", "device": device, "platform": "ios", "user": f"u{n}"})
                post({"type": "check_in", "device": device})
                post({"type": "check_in", "device": device})  # nothing more to deliver
                post({"type": "delete_certificate", "device": device, "profile": "s"})
                post({"type": "check_in", "device": device})
            post({"type": "remove_member", "group": f"g{n}", "member": f"u{n}"})
    except Exception as exc:  # surfaced by the assertion in the test
        errors.append(repr(exc))


def test_concurrent_posts_leave_a_consistent_state(mock_server_url):
    with httpx.Client(base_url=mock_server_url, timeout=30) as c:
        assert c.post("/reset").status_code == 204
        for e in [{"type": "create_profile", "profile": "r", "kind": "trusted_root"},
                  {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"}]:
            assert c.post("/events", json=e).status_code == 204
        errors: list = []
        threads = [threading.Thread(target=_worker, args=(mock_server_url, n, errors)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        records = c.get("/certificates").json()
    devices = THREADS * DEVICES_PER_THREAD
    # per device: one root, a first SCEP (deleted by hand), a reissued SCEP (revoked and removed
    # when the user left the group); the root stays
    assert len(records) == 3 * devices
    assert len({r["serial"] for r in records}) == len(records)
    for n in range(THREADS):
        for i in range(DEVICES_PER_THREAD):
            mine = [r for r in records if r["device"] == f"d{n}-{i}"]
            shape = sorted((r["kind"], r["installed"], r["revoked"]) for r in mine)
            assert shape == [("scep", False, False), ("scep", False, True), ("trusted_root", True, False)]
