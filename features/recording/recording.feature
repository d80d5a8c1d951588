Feature: Recording announcements
  When an operator starts or stops a room's recording (through the REST API), everyone connected
  to that room is told: `recording.started` and then `recording.stopped`, both naming the same
  recording. Other rooms hear nothing of it.

  Rule: REC-001 The start of a recording is announced

    @req.REC-001 @must
    Scenario: Recording starts
      Given Alice and Bob are connected
      When the room's recording starts
      Then Alice receives recording.started
      And Bob receives recording.started

  Rule: REC-002 The end of a recording is announced

    @req.REC-002 @must
    Scenario: Recording stops
      Given Alice and Bob are connected
      And the room is being recorded
      When the room's recording stops
      Then Alice receives recording.stopped
      And Bob receives recording.stopped

  Rule: REC-003 Start and stop name the same recording

    @req.REC-003 @must
    Scenario: Matching recording ids
      Given Alice is connected
      And the room is being recorded
      When the room's recording stops
      Then the recording.stopped Alice receives names the recording that was started

  Rule: REC-004 Recording events stay in their room

    @req.REC-004 @must
    Scenario: Another room hears nothing
      Given Alice is connected
      And Dave is connected to another room
      When the room's recording starts
      Then Alice receives recording.started
      And Dave receives no recording.started

  Rule: REC-005 Each recording has its own id

    @req.REC-005 @should
    Scenario: A second recording of the same room
      Given Alice is connected
      And the room has been recorded once
      When the room's recording starts
      Then the recording.started Alice receives names a new recording

  Rule: REC-007 One recording at a time (extension one-recording)

    @req.REC-007 @extension
    Scenario: Starting a recording that already runs
      Given Alice and Bob are connected
      And the room is being recorded
      When the room's recording is started again
      Then the second start is refused with 409
      And Alice receives no recording.started
      And Bob receives no recording.started
