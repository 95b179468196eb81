"""behaviour.yaml validation: a bad entry fails naming its id and field; conflicts are all recorded."""
from __future__ import annotations

import copy

import pytest
import yaml

from certconform.model.behaviour import BEHAVIOUR_FILE, BehaviourError, _build, load
from certconform.model.rules import Rules

RAW = yaml.safe_load(BEHAVIOUR_FILE.read_text())


def _write(tmp_path, raw):
    p = tmp_path / "behaviour.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r["statements"][3].update(outcome="vanished"), "statement WIN-SCEP-RR-4: field 'outcome'"),
    (lambda r: r["statements"][0]["source"].update(line="sixty-three"), "statement WIN-SCEP-RR-1: field 'source.line'"),
    (lambda r: r["statements"][1]["source"].update(sha256_8="xyz"), "statement WIN-SCEP-RR-2: field 'source.sha256_8'"),
    (lambda r: r["statements"][2].pop("event"), "statement WIN-SCEP-RR-3"),
    (lambda r: r["statements"][4].update(platforms=["plan9"]), "statement WIN-SCEP-RR-5: field 'platforms.0'"),
    (lambda r: r["statements"][5].update(event="lunar-eclipse"), "statement WIN-SCEP-RV-1: field 'event'"),
    (lambda r: r["statements"][6].update(id="WIN-SCEP-RR-1"), "statement WIN-SCEP-RR-1: field 'id': duplicate"),
    (lambda r: r["conflicts"][0]["statements"].append("NOPE-1"), "conflict C-KNOX-SCEP-DIRECTORY: field 'statements'"),
])
def test_bad_entry_names_id_and_field(tmp_path, mutate, expected):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(BehaviourError) as info:
        load(_write(tmp_path, raw))
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unparseable_yaml_names_the_line(tmp_path):
    p = tmp_path / "behaviour.yaml"
    p.write_text("statements:\n  - id: [unclosed\n")
    with pytest.raises(BehaviourError, match=r"behaviour.yaml:\d+: not valid YAML"):
        load(p)


def test_every_recorded_conflict_is_real_and_every_real_conflict_recorded():
    b = load()
    assert Rules(b).check_conflicts_recorded() == sorted(c.id for c in b.conflicts)
    raw = copy.deepcopy(RAW)
    raw["conflicts"] = raw["conflicts"][1:]  # forget C-KNOX-SCEP-DIRECTORY
    with pytest.raises(BehaviourError, match="KNOX-SCEP-RV-4.*no entry under 'conflicts'"):
        Rules(_build(raw)).check_conflicts_recorded()
