# Found by the Hypothesis state machine while the model was being built: after a group deletion
# left a SCEP certificate on a device the profile no longer targets, the model required a later
# profile update to revoke it, and the mock did not. Settled by I-UPDATE-TARGETED-ONLY (open).
@regression
Feature: Regression: a profile update after the profile's group was deleted

  @regression @WIN-SCEP-STAY-3 @WIN-SCEP-RV-1 @I-UPDATE-TARGETED-ONLY
  Scenario: A SCEP certificate that stayed after its group was deleted is not required to be revoked by an update
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "staff"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "staff"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "staff"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "delete_group", "group": "staff"} is applied
    And the event {"type": "update_profile", "profile": "scep"} is applied
    Then every event conformed to the document and the contract
