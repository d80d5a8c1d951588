Feature: Knowing who left the room
  When a participant goes away, whether it says goodbye with a close handshake or its network
  simply vanishes, everyone still in the room receives `participant.left` with its id, once.

  Rule: PRES-004 A clean close is announced

    @req.PRES-004 @must
    Scenario: A participant closes its connection
      Given Alice, Bob and Carol are connected
      When Carol closes the connection
      Then Alice receives participant.left about Carol
      And Bob receives participant.left about Carol

  Rule: PRES-005 A dropped connection is announced

    @req.PRES-005 @must
    Scenario: A participant's network goes away
      Given Alice and Bob are connected
      When Bob's connection drops without a close handshake
      Then Alice receives participant.left about Bob

  Rule: PRES-006 Each departure is announced exactly once

    @req.PRES-006 @must
    Scenario: One participant.left for a clean close
      Given Alice and Bob are connected
      When Bob closes the connection
      Then Alice receives exactly one participant.left about Bob

    @req.PRES-006 @must
    Scenario: One participant.left for a dropped connection
      Given Alice and Bob are connected
      When Bob's connection drops without a close handshake
      Then Alice receives exactly one participant.left about Bob
