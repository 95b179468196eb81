# What this module knows: the shape of every event of the adapter contract (its type and the
# fields it must carry, which must be non-empty strings) and the closed vocabularies (platforms,
# kinds, CAs). What it does not know: whether a named user, group, device or profile exists --
# the service checks that against its state before changing anything.
"""Event shape validation for the mock MDM: one-line ValueError messages naming the field."""
from __future__ import annotations

from .removal_policy import CAS, KINDS, PLATFORMS

# type -> the fields every event of that type carries (create_profile adds root/ca for scep/pkcs)
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "create_user": ("user",),
    "create_group": ("group",),
    "add_member": ("group", "member"),
    "remove_member": ("group", "member"),
    "enroll": ("device", "platform", "user"),
    "create_profile": ("profile", "kind"),
    "assign_profile": ("profile", "group"),
    "unassign_profile": ("profile", "group"),
    "update_profile": ("profile",),
    "check_in": ("device",),
    "delete_certificate": ("device", "profile"),
    "unenroll": ("device",),
    "wipe": ("device",),
    "retire": ("device",),
    "lose_license": ("user",),
    "withdraw_license": ("user",),
    "delete_user": ("user",),
    "delete_group": ("group",),
}

# kinds issued by a CA, which need a trusted root profile and a CA
ISSUED_KINDS = ("scep", "pkcs")

_CHOICES = {"platform": PLATFORMS, "kind": KINDS, "ca": CAS}


def _name(event: dict, etype: str, field: str) -> str:
    if field not in event:
        raise ValueError(f"{etype}: missing field '{field}'")
    value = event[field]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{etype}: field '{field}' must be a non-empty string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as bad:
        # a lone surrogate (JSON allows the escape): no certificate or UTF-8 answer can carry it
        raise ValueError(f"{etype}: field '{field}' is not valid Unicode text "
                         f"(lone surrogate at position {bad.start})") from None
    choices = _CHOICES.get(field)
    if choices is not None and value not in choices:
        raise ValueError(f"{etype}: unknown {field} {value!r} (field '{field}'; one of {', '.join(choices)})")
    return value


def parse_event(event: object) -> tuple[str, dict[str, str]]:
    """Return (type, fields) of a well-formed event or raise ValueError naming the field.

    Fields outside the contract are ignored (the contract may grow optional fields)."""
    if not isinstance(event, dict):
        raise ValueError(f"an event must be a JSON object with a 'type', got {type(event).__name__}")
    if "type" not in event:
        raise ValueError("event: missing field 'type'")
    etype = event["type"]
    if not isinstance(etype, str) or etype not in EVENT_FIELDS:
        raise ValueError(f"unknown event type {etype!r} (field 'type')")
    fields = {field: _name(event, etype, field) for field in EVENT_FIELDS[etype]}
    if etype == "create_profile":
        if fields["kind"] in ISSUED_KINDS:
            fields["root"] = _name(event, etype, "root")
            fields["ca"] = _name(event, etype, "ca")
        else:
            # root/ca mean nothing for trusted_root and pkcs_imported: ignored, but a malformed
            # value is still a bad input (the HTTP request model rejects it too)
            for field in ("root", "ca"):
                if event.get(field) is not None:
                    _name(event, etype, field)
    return etype, fields
