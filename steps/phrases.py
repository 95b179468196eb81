"""The controlled vocabulary of the features' Then steps: plain phrases <-> three-valued readings.

One table, used both ways: tools/gen_features.py writes a requirement as a phrase, and the Then
steps read the phrase back into readings to check. A phrase that is not in the table is a
feature error (the step fails naming the phrase).
"""
from __future__ import annotations

from certconform.model.rules import FORBIDDEN, OPEN, REQUIRED

# (revoke, remove) -> phrase completing "the SCEP certificate on "dev1" ..."
PHRASES: dict[tuple[str, str], str] = {
    (REQUIRED, REQUIRED): "is revoked and removed",
    (REQUIRED, OPEN): "is revoked",
    (OPEN, REQUIRED): "is removed",
    (FORBIDDEN, FORBIDDEN): "stays, neither revoked nor removed",
    (FORBIDDEN, REQUIRED): "is removed but not revoked",
    (OPEN, FORBIDDEN): "is not removed",
    (FORBIDDEN, OPEN): "is not revoked",
    (REQUIRED, FORBIDDEN): "is revoked but not removed",
}
READINGS = {phrase: pair for pair, phrase in PHRASES.items()}
OR_ELSE = ", or else "
CONFLICT_SUFFIX = " (the document contradicts itself)"

# How the features name certificate kinds, and the profile names the generated scenarios use: a
# SCEP or PKCS profile chains to its own trusted root ("root-scep", "root-pkcs"), so a statement
# of the SCEP section about the trusted root checks the root of the SCEP profile, and one of the
# PKCS section the root of the PKCS profile.
KIND_WORDS = {"trusted root": "trusted_root", "SCEP": "scep", "PKCS": "pkcs", "imported PKCS": "pkcs_imported"}
WORDS_FOR_KIND = {v: k for k, v in KIND_WORDS.items()}
PROFILE_FOR_KIND = {"scep": "scep", "pkcs": "pkcs", "pkcs_imported": "imported"}
ROOT_FOR_KIND = {"scep": "root-scep", "pkcs": "root-pkcs"}
PLATFORM_WORDS = {"Windows": "windows", "iOS": "ios", "Android KNOX": "android_knox", "macOS": "macos",
                  "Android for Work": "android_work", "Android legacy": "android_legacy"}
CA_WORDS = {"Intune": "intune", "third-party": "third_party"}


def phrase_for(readings) -> str:
    """Phrase for a list of readings (objects with .revoke/.remove); alternatives joined by OR_ELSE."""
    pairs = list(dict.fromkeys((r.revoke, r.remove) for r in readings))
    text = OR_ELSE.join(PHRASES[p] for p in pairs)
    return text + (CONFLICT_SUFFIX if len(pairs) > 1 else "")


def readings_for(phrase: str) -> list[tuple[str, str]]:
    """Inverse of phrase_for; raises ValueError naming the phrase that is not in the vocabulary."""
    text = phrase[: -len(CONFLICT_SUFFIX)] if phrase.endswith(CONFLICT_SUFFIX) else phrase
    out = []
    for part in text.split(OR_ELSE):
        if part not in READINGS:
            raise ValueError(f"unknown outcome phrase {part!r} (known: {', '.join(sorted(READINGS))})")
        out.append(READINGS[part])
    return out
