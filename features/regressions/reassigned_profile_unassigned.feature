# Shape the default random tenant rarely builds: one profile assigned, unassigned, assigned again
# and unassigned again. Protects against an MDM that forgets assignments made after an
# unassignment (tests/mutants.py ForgetsReassignment): the second unassignment must revoke and
# remove the certificate delivered under the renewed assignment.
@regression
Feature: Regression: a profile unassigned after it was unassigned and assigned again

  @regression @WIN-SCEP-RR-5
  Scenario: The second unassignment of a re-assigned SCEP profile revokes and removes its certificate
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "fleet"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "fleet", "member": "d1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "fleet"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "unassign_profile", "profile": "scep", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "fleet"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "unassign_profile", "profile": "scep", "group": "fleet"} is applied
    Then every event conformed to the document and the contract
