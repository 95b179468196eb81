"""Every request body the Intune adapter sends is one Microsoft Graph accepts by its own models.

Real Graph answers 400 to a property its type does not have and to an enum value it does not
know; the emulator and the fake Graph are lenient. So the bodies the adapter sends (captured
through tests/fake_graph.py, every platform family, every profile kind, every event with a body)
are parsed with Microsoft's own msgraph-beta-sdk models (kiota's JSON parse node, as the SDK
reads Graph's answers) and must fit them exactly: every property is one of the model's fields (or
an `@odata.bind` of one of its relationships), every value parses (an unknown enum member parses
to nothing), and a device configuration parses into the very type its `@odata.type` names.
What it does not know: which properties a real tenant additionally *requires*; the models do not
say (see docs/validating-intune.md).
"""
from __future__ import annotations

import json
import re

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph_beta.generated.device_management.device_configurations.item.assign.assign_post_request_body import \
    AssignPostRequestBody
from msgraph_beta.generated.device_management.managed_devices.item.wipe.wipe_post_request_body import \
    WipePostRequestBody
from msgraph_beta.generated.models.device_configuration import DeviceConfiguration
from msgraph_beta.generated.models.group import Group
from msgraph_beta.generated.models.reference_create import ReferenceCreate
from msgraph_beta.generated.models.user import User
from msgraph_beta.generated.users.item.assign_license.assign_license_post_request_body import \
    AssignLicensePostRequestBody

from certconform.mdm.intune import load, mapping

try:
    from tests.fake_graph import FakeGraph
    from tests.test_intune_adapter import env
except ImportError:  # tests/ on sys.path rather than the project root
    from fake_graph import FakeGraph
    from test_intune_adapter import env

PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_legacy", "android_work")
POOL = {p: [f"lab-{p}-1", f"lab-{p}-2"] for p in PLATFORMS}

# (method, path pattern) -> the SDK model of the body
MODELS = [
    ("POST", r"/v1\.0/users$", User),
    ("POST", r"/v1\.0/users/[^/]+/assignLicense$", AssignLicensePostRequestBody),
    ("POST", r"/v1\.0/groups$", Group),
    ("POST", r"/members/\$ref$", ReferenceCreate),
    ("POST", r"/managedDevices/[^/]+/users/\$ref$", ReferenceCreate),
    ("POST", r"/deviceManagement/deviceConfigurations$", DeviceConfiguration),
    ("PATCH", r"/deviceManagement/deviceConfigurations/[^/]+$", DeviceConfiguration),
    ("POST", r"/deviceConfigurations/[^/]+/assign$", AssignPostRequestBody),
    ("POST", r"/managedDevices/[^/]+/wipe$", WipePostRequestBody),
]


def _model(method: str, path: str):
    for m, pattern, model in MODELS:
        if m == method and re.search(pattern, path.split("?")[0]):
            return model
    return None


def _attribute(key: str) -> str:
    """kiota's Python name of a JSON property: azureADDeviceId -> azure_a_d_device_id."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), key)


def misfits(parsed, body: dict, where: str = "") -> list[str]:
    """What of `body` the parsed SDK object does not hold: unknown properties, values that did not
    parse, a type other than the @odata.type asked for; nested objects and lists of them too."""
    problems = []
    fields = set(parsed.get_field_deserializers())
    for key, value in body.items():
        at = f"{where}{key}"
        if key == "@odata.type":
            # the SDK finds the class case-insensitively; Graph's type names are exact
            name = value.removeprefix("#microsoft.graph.")
            if type(parsed).__name__ != name[:1].upper() + name[1:]:
                problems.append(f"{at}: {value} parsed as {type(parsed).__name__}")
            continue
        if key == "@odata.id":
            if getattr(parsed, "odata_id", None) != value:
                problems.append(f"{at}: not a reference")
            continue
        if key.endswith("@odata.bind"):
            if key.split("@", 1)[0] not in fields:
                problems.append(f"{at}: {type(parsed).__name__} has no relationship {key.split('@', 1)[0]!r}")
            continue
        if key not in fields:
            problems.append(f"{at}: {type(parsed).__name__} has no property {key!r}")
            continue
        got = getattr(parsed, _attribute(key))
        if value not in (None, [], "") and got in (None, []):
            problems.append(f"{at}: {value!r} does not parse as {type(parsed).__name__}.{key}")
        elif isinstance(value, dict):
            problems += misfits(got, value, f"{at}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, (item, raw) in enumerate(zip(got, value)):
                problems += misfits(item, raw, f"{at}[{i}].")
    return problems


def _parse(model, body: dict):
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(body).encode())
    return node.get_object_value(model)


def _run_every_event_with_a_body() -> FakeGraph:
    fake = FakeGraph(pool=POOL)
    a = load(environ=env(POOL=";".join(f"{p}=" + ",".join(names) for p, names in POOL.items()),
                         ALLOW_DESTRUCTIVE="1"), transport=fake.transport())
    events = [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g1"}]
    for i, platform in enumerate(PLATFORMS):
        events += [{"type": "enroll", "device": f"d{i}", "platform": platform, "user": "u1"},
                   {"type": "add_member", "group": "g1", "member": f"d{i}"}]
    events += [{"type": "add_member", "group": "g1", "member": "u1"},
               {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
               {"type": "create_profile", "profile": "s1", "kind": "scep", "root": "root", "ca": "intune"},
               {"type": "create_profile", "profile": "s3", "kind": "scep", "root": "root", "ca": "third_party"},
               {"type": "create_profile", "profile": "p1", "kind": "pkcs", "root": "root", "ca": "intune"},
               {"type": "create_profile", "profile": "p3", "kind": "pkcs", "root": "root", "ca": "third_party"},
               {"type": "create_profile", "profile": "x1", "kind": "pkcs_imported"}]
    for profile in ("root", "s1", "s3", "p1", "p3", "x1"):
        events += [{"type": "assign_profile", "profile": profile, "group": "g1"},
                   {"type": "update_profile", "profile": profile}]
    events += [{"type": "unassign_profile", "profile": "s1", "group": "g1"},
               {"type": "withdraw_license", "user": "u1"},
               {"type": "wipe", "device": "d0"}, {"type": "retire", "device": "d1"}]
    try:
        for event in events:
            a.apply(event)
    finally:
        a.close()
    return fake


def test_every_body_the_adapter_sends_fits_the_sdks_models():
    fake = _run_every_event_with_a_body()
    checked: dict[str, int] = {}
    problems = []
    for method, path, body in fake.log:
        model = _model(method, path)
        if body is None or model is None:
            continue
        parsed = _parse(model, body)
        checked[type(parsed).__name__] = checked.get(type(parsed).__name__, 0) + 1
        problems += [f"{method} {path.split('?')[0]}: {p}" for p in misfits(parsed, body)]
    assert not problems, "\n".join(problems)
    # every profile type of the mapping table was sent (created and patched), and every other body
    profile_types = {t[0].upper() + t[1:] for t in mapping.ODATA_TYPES.values()}
    assert profile_types <= set(checked), sorted(profile_types - set(checked))
    assert {"User", "Group", "ReferenceCreate", "AssignLicensePostRequestBody", "AssignPostRequestBody",
            "WipePostRequestBody"} <= set(checked), checked


def test_the_check_catches_what_graph_would_refuse():
    """The check itself can fail: an unknown property, an unknown enum member, a misspelt type and
    a relationship the type lacks are each named."""
    good = {"@odata.type": "#microsoft.graph.windows81SCEPCertificateProfile", "displayName": "x",
            "keySize": "size2048", "subjectNameFormat": "commonName",
            "rootCertificate@odata.bind": "https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations('1')"}
    assert misfits(_parse(DeviceConfiguration, good), good) == []
    for bad, named in [({"keySize": "size9999"}, "keySize"), ({"colour": "blue"}, "'colour'"),
                       ({"@odata.type": "#microsoft.graph.windows81ScepCertificateProfile"}, "parsed as"),
                       ({"managedDeviceCertificateStates@odata.bind": "x", "rootCertificat@odata.bind": "y"},
                        "'rootCertificat'")]:
        body = {**good, **bad}
        found = misfits(_parse(DeviceConfiguration, body), body)
        assert found and any(named in p for p in found), (bad, found)
    assignment = {"assignments": [{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget",
                                              "groupId": "g", "groupName": "n"}}]}
    assert any("groupName" in p for p in misfits(_parse(AssignPostRequestBody, assignment), assignment))
