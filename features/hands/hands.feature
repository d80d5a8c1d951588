Feature: Raising and lowering a hand
  A participant raises its hand to ask for attention and lowers it again. The page documents the
  two client events but no server event for them, so a conformant server only has to accept them
  and carry on. The reference server announces each change of a hand to the whole room.

  Rule: HAND-001 hand.raise is accepted

    @req.HAND-001 @must
    Scenario: Raising a hand keeps everyone connected
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "hand.raise"}
        """
      Then Alice and Bob can still chat with each other

  Rule: HAND-002 hand.lower is accepted, raised or not

    @req.HAND-002 @must
    Scenario: Lowering a hand that was never raised
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "hand.lower"}
        """
      Then Alice and Bob can still chat with each other

    @req.HAND-002 @must
    Scenario: Lowering a raised hand
      Given Alice and Bob are connected
      And Alice has sent a hand.raise
      When Alice sends:
        """
        {"event": "hand.lower"}
        """
      Then Alice and Bob can still chat with each other

  Rule: HAND-003 A raised hand is announced to everyone (extension hand-events)

    @req.HAND-003 @extension
    Scenario: Raising a hand
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "hand.raise"}
        """
      Then Bob receives hand.raised about Alice
      And Alice receives hand.raised about Alice

  Rule: HAND-004 A lowered hand is announced to everyone (extension hand-events)

    @req.HAND-004 @extension
    Scenario: Lowering a raised hand
      Given Alice and Bob are connected
      And Alice's raised hand has been announced
      When Alice sends:
        """
        {"event": "hand.lower"}
        """
      Then Bob receives hand.lowered about Alice
      And Alice receives hand.lowered about Alice

  Rule: HAND-005 Only changes of a hand are announced (extension hand-events)

    @req.HAND-005 @extension
    Scenario: Raising a hand that is already up
      Given Alice and Bob are connected
      And Alice's raised hand has been announced
      When Alice sends:
        """
        {"event": "hand.raise"}
        """
      Then Bob receives no hand.raised about Alice

    @req.HAND-005 @extension
    Scenario: Lowering a hand that is already down
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "hand.lower"}
        """
      Then Bob receives no hand.lowered about Alice
