"""Step definitions for features/: plain-language steps, each one event through the Driver.

Given steps build the situation (and fail the scenario if the implementation refuses them);
When steps perform the event under test; Then steps check exactly what the phrase says, using
the vocabulary in steps/phrases.py, and name the scenario's statement ids and document lines
when they fail. Nothing here knows which implementation is plugged in.
"""
from __future__ import annotations

import pytest
from pytest_bdd import parsers

from certconform.model.behaviour import default as behaviour
from certconform.model.oracle import flags
from certconform.model.rules import Reading
from certconform.model.settle import delivery_key
from certconform.steps.driver import Driver, SetupFailed
from certconform.steps import setup as _setup
from certconform.steps.phrases import CA_WORDS, KIND_WORDS, PLATFORM_WORDS, readings_for
from certconform.steps.registry import given, then, when

KIND_RE = "|".join(sorted(KIND_WORDS, key=len, reverse=True))
PLATFORM_RE = "|".join(sorted(PLATFORM_WORDS, key=len, reverse=True))


@pytest.fixture
def driver(sut, conformance_log, pytestconfig, capabilities, request) -> Driver:
    """The scenario's driver: the implementation itself, reset; or, when cells act concurrently
    against a product that takes time (conformance/cellrun.py), the scenario's cell as it was acted."""
    from certconform.plugin import cell_run, make_driver

    cells = cell_run(pytestconfig)
    if cells is not None:
        return cells.feature_driver(request.node, conformance_log)
    d = make_driver(sut, pytestconfig, capabilities, log=conformance_log)
    d.reset()
    return d


def node_statement_ids(node) -> list[str]:
    """The statement ids a scenario is tagged with, sorted: pytest-bdd keeps a scenario's tags in a
    set, whose order changes with the hash seed, and messages and reports list them in this order."""
    return sorted({m.args[0] for m in node.iter_markers("statement")})


def statement_ids(request) -> list[str]:
    return node_statement_ids(request.node)


def citation(request, tier: str = "document") -> str:
    """'[document: WIN-SCEP-RR-2 (document line 64, c5fd30ff)]': the tier and the scenario's statements."""
    b = behaviour()
    parts = []
    for sid in statement_ids(request):
        st = b.by_id.get(sid)
        parts.append(f"{sid} (document line {st.source.line}, {st.source.sha256_8})" if st else sid)
    return f"[{tier}: {'; '.join(parts) or 'no statement tag'}]"


def check_readings(driver: Driver, request, serials: set | None) -> None:
    """After the document's own check passed: the reading-tier findings of the When block that
    concern the checked certificates (all of the block's, when `serials` is None) are deviations.
    They are already in the report's log; under --strict they fail the scenario."""
    deviations = [f for res in driver.block_results() for f in res.deviations()
                  if serials is None or f.serial in serials]
    if not deviations:
        return
    b = behaviour()
    ids = dict.fromkeys(s for f in deviations for s in f.statements if b.interpretation(s) is not None)
    request.node.user_properties.append(("deviates", ",".join(ids)))
    if driver.strict:
        raise AssertionError("deviates (--strict): " + "; ".join(str(f) for f in deviations))


# ----------------------------------------------------------------------------- Given
# The events behind each Given step come from steps/setup.py, which tools/gen_features.py also
# replays into a model World to choose each scenario's Then phrase.
@given(parsers.re(rf'a licensed user "(?P<user>[^"]+)" who has enrolled the (?P<platform>{PLATFORM_RE}) '
                  r'device "(?P<device>[^"]+)"$'))
def user_with_device(driver: Driver, user: str, platform: str, device: str):
    for event in _setup.user_with_device(user, PLATFORM_WORDS[platform], device):
        driver.given(event)


@given(parsers.re(r'a trusted root profile "(?P<root>[^"]+)" and a (?P<what>SCEP|PKCS) profile "(?P<profile>[^"]+)" '
                  r'chained to it, from the (?P<ca>Intune|third-party) CA$'))
def chained_profiles(driver: Driver, root: str, what: str, profile: str, ca: str):
    for event in _setup.chained_profiles(root, KIND_WORDS[what], profile, CA_WORDS[ca]):
        driver.given(event)


@given(parsers.re(r'an imported PKCS profile "(?P<profile>[^"]+)"$'))
def imported_profile(driver: Driver, profile: str):
    for event in _setup.imported_profile(profile):
        driver.given(event)


@given(parsers.re(r'every profile is assigned to (?P<text>the (device|user) group .+)$'))
def every_profile_assigned(driver: Driver, request, text: str):
    try:
        groups = _setup.parse_targeting(text)
    except ValueError as exc:
        raise AssertionError(f"feature error in {request.node.name}: {exc}") from None
    for what, group, member in groups:
        is_kind = member in (driver.world.devices if what == "device" else driver.world.users)
        if not is_kind:
            raise AssertionError(f"feature error in {request.node.name}: {member!r} is not a known {what}, "
                                 f"so {group!r} cannot be a {what} group")
    for event in _setup.targeting(groups, list(driver.world.profiles), driver.world.groups):
        driver.given(event)


@given(parsers.parse('"{device}" has checked in and holds a certificate from every profile'))
def checked_in(driver: Driver, device: str):
    """The check-in's deliveries are required changes the driver awaits (each within the declared
    delivery window); one that never came means the situation could not be built: a set-up
    error (verdict error) naming the window, never a failure of the statement under test."""
    driver.given({"type": "check_in", "device": device})
    if driver.caps.dry_run:
        return  # nothing was delivered, nothing is judged: the Then step says so
    held = {r["profile"] for r in driver.observe() if r["device"] == device and r["installed"]}
    missing = [name for name, p in driver.world.profiles.items() if name not in held and p.kind in driver.caps.observes]
    if missing:
        waited = "".join(dict.fromkeys(driver.wait_note(delivery_key(name)) for name in missing))
        raise SetupFailed(f"[contract: CONTRACT] set-up: after check-in {device} holds no certificate of "
                          f"{', '.join(missing)}{waited}, so the scenario's situation cannot be built")


# ----------------------------------------------------------------------------- When
def _when(driver: Driver, event: dict):
    driver.when(event)


@when(parsers.parse('the user unenrolls "{device}"'))
def unenroll(driver: Driver, device: str):
    _when(driver, {"type": "unenroll", "device": device})


@when(parsers.re(r'an administrator (?P<action>wipes|retires) "(?P<device>[^"]+)"'))
def wipe_or_retire(driver: Driver, action: str, device: str):
    _when(driver, {"type": "wipe" if action == "wipes" else "retire", "device": device})


@when(parsers.parse('"{member}" is removed from the group "{group}"'))
def remove_member(driver: Driver, member: str, group: str):
    _when(driver, {"type": "remove_member", "group": group, "member": member})


@when(parsers.parse('the assignment of profile "{profile}" to the group "{group}" is removed'))
def unassign(driver: Driver, profile: str, group: str):
    _when(driver, {"type": "unassign_profile", "profile": profile, "group": group})


@when(parsers.parse('an administrator updates the profile "{profile}"'))
def update(driver: Driver, profile: str):
    _when(driver, {"type": "update_profile", "profile": profile})


@when(parsers.parse('"{user}" loses the Intune licence'))
def lose_license(driver: Driver, user: str):
    _when(driver, {"type": "lose_license", "user": user})


@when(parsers.parse('an administrator withdraws the Intune licence of "{user}"'))
def withdraw_license(driver: Driver, user: str):
    _when(driver, {"type": "withdraw_license", "user": user})


@when(parsers.re(r'an administrator deletes the (?P<what>user|group) "(?P<name>[^"]+)" from the directory'))
def delete_from_directory(driver: Driver, what: str, name: str):
    _when(driver, {"type": f"delete_{what}", what: name})


@when(parsers.parse('someone deletes the certificate of profile "{profile}" from "{device}" by hand'))
def manual_delete(driver: Driver, profile: str, device: str):
    _when(driver, {"type": "delete_certificate", "device": device, "profile": profile})


@when(parsers.parse('"{device}" checks in'))
def check_in(driver: Driver, device: str):
    _when(driver, {"type": "check_in", "device": device})


# ----------------------------------------------------------------------------- Then
def _profile(driver: Driver, request, kind: str, named: str | None) -> str:
    """The profile a Then step means: the one it names, else the scenario's only profile of that kind."""
    if named is not None:
        profile = driver.world.profiles.get(named)
        if profile is None or profile.kind != kind:
            raise AssertionError(f"feature error in {request.node.name}: the scenario has no "
                                 f"{kind} profile {named!r}")
        return named
    found = [p.name for p in driver.world.profiles.values() if p.kind == kind]
    if len(found) != 1:
        raise AssertionError(f"feature error in {request.node.name}: {len(found)} {kind} profiles "
                             f"({', '.join(found) or 'none'}); name the one to check")
    return found[0]


def _certificate(records: list[dict], device: str, profile: str) -> dict | None:
    found = [r for r in records if r["device"] == device and r["profile"] == profile and r["installed"]]
    return found[-1] if found else None


@then(parsers.re(rf'the (?P<what>{KIND_RE}) certificate (?:of "(?P<named>[^"]+)" )?on "(?P<device>[^"]+)" '
                 r'(?P<phrase>.+)$'))
def certificate_outcome(driver: Driver, request, what: str, named: str | None, device: str, phrase: str):
    kind = KIND_WORDS[what]
    try:
        pairs = readings_for(phrase)
    except ValueError as exc:
        raise AssertionError(f"feature error in {request.node.name}: {exc}") from None
    driver.require_observable(kind)
    profile = _profile(driver, request, kind, named)
    before_all = driver.end_block()
    old = _certificate(before_all, device, profile)
    if old is None:
        raise AssertionError(f"{citation(request)}: no installed {what} certificate of {profile} on {device} "
                             "before the event")
    if driver.last_outcome != "applied":
        raise AssertionError(f"{citation(request)}: the implementation did not apply the event "
                             f"({driver.last_outcome}: {driver.last_error})")
    new = next((r for r in driver.observe() if r["serial"] == old["serial"]), None)
    if new is None:
        raise AssertionError(f"{citation(request)}: the {what} certificate {old['serial']} vanished from observe() "
                             "(removed certificates must stay listed)")
    if not any(Reading(rv, rm, (), "").allows(old, new) for rv, rm in pairs):
        raise AssertionError(
            f"{citation(request)}: expected the {what} certificate {old['serial']} on {device} {phrase}, "
            f"but observe() reports {flags(new)} "
            f"(before: revoked={old['revoked']}, installed={old['installed']}){driver.wait_note(old['serial'])}")
    check_readings(driver, request, {old["serial"]})


@then(parsers.parse('a refused wipe changes no certificate, and a performed one deviates from our reading I-MACOS-WIPE-REFUSED'))
def wipe_refused(driver: Driver, request):
    """MAC-WIPE-1: what is checked, as the step says: a refusal must leave the inventory as it was
    (the contract); a performed wipe is no departure from the document (its effects are open)
    but deviates from our reading I-MACOS-WIPE-REFUSED (fails only under --strict)."""
    before = driver.end_block()
    if driver.last_outcome == "rejected":
        if driver.observe() != before:
            raise AssertionError(f"[contract: CONTRACT] the refused wipe changed the certificate inventory")
        return
    if driver.last_outcome != "applied":
        raise AssertionError(f"[contract: CONTRACT] the wipe was answered {driver.last_outcome} "
                             f"({driver.last_error}); a refusal is EventRejected (HTTP 409)")
    check_readings(driver, request, None)


@then(parsers.re(rf'"(?P<device>[^"]+)" holds a new (?P<what>{KIND_RE}) certificate with a new serial'))
def new_certificate(driver: Driver, request, device: str, what: str):
    before = driver.end_block()
    driver.require_observable(KIND_WORDS[what])
    profile = _profile(driver, request, KIND_WORDS[what], None)
    known = {r["serial"] for r in before}
    fresh = [r for r in driver.observe() if r["serial"] not in known and r["device"] == device
             and r["profile"] == profile]
    if not fresh:
        raise AssertionError(f"{citation(request)}: expected a new {what} certificate on {device} at check-in, "
                             "found none")
    if not any(r["installed"] and not r["revoked"] for r in fresh):
        raise AssertionError(f"{citation(request)}: the new {what} certificate {fresh[0]['serial']} must be "
                             f"installed and not revoked: {fresh[0]}")
    check_readings(driver, request, None)


@then(parsers.parse('the document makes no promise about the certificates on "{device}"'))
def no_promise(request, device: str):
    pytest.skip(f"not validated: {citation(request)} (Android for Work is not validated by the document)")
