Feature: Knowing who is in the room
  Everyone connected to a room hears when somebody arrives: the server sends them
  `participant.joined` with the newcomer's participant id, display name and role. Whether the
  newcomer itself is told about itself, or about those already present, is the server's choice.

  Rule: PRES-001 Everyone already connected hears about a newcomer

    @req.PRES-001 @must
    Scenario: Two participants are told about a third
      Given Alice and Bob are connected
      When Carol connects
      Then Alice receives participant.joined about Carol
      And Bob receives participant.joined about Carol

  Rule: PRES-002 The joined id is the participant_id the newcomer authenticated with

    @req.PRES-002 @must
    Scenario: The id in participant.joined
      Given Alice is connected
      When Bob connects
      Then the id in the participant.joined Alice receives is Bob's participant id

  Rule: PRES-003 The display name and role are the newcomer's own

    @req.PRES-003 @must
    Scenario: A newcomer with a chosen name and role
      Given Alice is connected
      When Bob connects as "Bob the Builder" with the role "participant"
      Then the participant.joined Alice receives about Bob shows the display name "Bob the Builder" and the role "participant"

  Rule: PRES-007 Presence never crosses rooms

    @req.PRES-007 @must
    Scenario: An arrival is not announced in another room
      Given Alice is connected
      And Dave is connected to another room
      When Bob connects
      Then Alice receives participant.joined about Bob
      And Dave receives no participant.joined about Bob

    @req.PRES-007 @must
    Scenario: A departure is not announced in another room
      Given Alice and Bob are connected
      And Dave is connected to another room
      When Bob closes the connection
      Then Alice receives participant.left about Bob
      And Dave receives no participant.left about Bob

  Rule: PRES-008 The newcomer receives the room's roster first (extension room-state)

    @req.PRES-008 @extension
    Scenario: The first frame is room.state
      Given Alice is connected
      When Bob connects
      Then the first frame Bob receives is room.state listing Alice and Bob

  Rule: PRES-009 A second connection of one participant replaces the first (extension single-session)

    @req.PRES-009 @extension
    Scenario: Connecting twice as the same participant
      Given Alice and Bob are connected
      When Alice connects again
      Then Alice's earlier connection is closed with code 4009
      And Bob receives participant.left about Alice and then participant.joined about Alice
