# Found by the Hypothesis state machine: a user was deleted and a new user created with the same
# name; the model took the new user for the owner of the old user's device and required a
# delivery at check-in, while the mock (rightly) treated the device as ownerless.
# Settled in model/world.py: deleting a user orphans its devices (I-DELIVERY-UNLICENSED-OPEN).
@regression
Feature: Regression: a new user with a deleted user's name does not own the old devices

  @regression @GEN-MANUAL-2 @I-DELIVERY-UNLICENSED-OPEN
  Scenario: After its user was deleted and the name reused, a device's next check-in may deliver or not
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "fleet"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "android_knox", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "fleet", "member": "d1"} is applied
    And the event {"type": "create_profile", "profile": "imported", "kind": "pkcs_imported"} is applied
    And the event {"type": "assign_profile", "profile": "imported", "group": "fleet"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "delete_certificate", "device": "d1", "profile": "imported"} is applied
    And the event {"type": "delete_user", "user": "u1"} is applied
    And the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    Then every event conformed to the document and the contract
