Feature: Access taken away through the REST API
  An operator can remove a participant from a room, or end the room, with the REST API. From then
  on the old token no longer opens a connection to that room. The reference server also closes the
  sockets that are open at that moment, with close codes of its own.

  Rule: AUTH-018 A removed participant cannot come back with its old token

    @req.AUTH-018 @should
    Scenario: Reconnecting after removal
      Given Alice has a token for the room
      And Alice has been removed from the room
      When Alice connects
      Then the upgrade is refused

  Rule: AUTH-019 An ended room cannot be joined

    @req.AUTH-019 @should
    Scenario: Connecting to an ended room
      Given Alice has a token for the room
      And the room has been ended
      When Alice connects
      Then the upgrade is refused

  Rule: AUTH-020 A session ends when its token expires (extension token-expiry)

    @req.AUTH-020 @extension
    Scenario: The token runs out during the session
      Given Bob is connected
      When Alice connects with a token that is about to expire
      Then Alice's connection is closed with code 4001

  Rule: AUTH-021 Removal closes the open socket with 4003 (extension close-codes)

    @req.AUTH-021 @extension
    Scenario: Removing a connected participant
      Given Alice and Bob are connected
      When Alice is removed from the room
      Then Alice's connection is closed with code 4003
      And Bob receives participant.left about Alice

  Rule: AUTH-022 Ending a room closes its sockets with 4004 (extension close-codes)

    @req.AUTH-022 @extension
    Scenario: Ending a room with people in it
      Given Alice and Bob are connected
      When the room is ended
      Then Alice's connection is closed with code 4004
      And Bob's connection is closed with code 4004
