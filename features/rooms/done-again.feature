Feature: Operations done again
  Joining and leaving, recording, raising a hand and chatting are each done more than once in
  a real session; a server whose state is not reset after the first cycle breaks on the second.
  Each cycle is done twice here, and what the others hear must be exactly the events of each
  cycle, in order.

  Rule: PRES-001 A participant that comes back is announced again

    @req.PRES-001 @must
    Scenario: Leaving and coming back, twice
      Given Alice and Bob are connected
      When Bob leaves and comes back, twice
      Then Alice receives exactly these events about Bob, in this order:
        | participant.left   |
        | participant.joined |
        | participant.left   |
        | participant.joined |

  Rule: REC-001 Every recording of a room is announced, not only the first

    @req.REC-001 @must
    Scenario: Recording a room twice
      Given Alice and Bob are connected
      When the room's recording starts and stops, twice
      Then Alice receives exactly these events, in this order:
        | recording.started |
        | recording.stopped |
        | recording.started |
        | recording.stopped |
      And Bob receives exactly these events, in this order:
        | recording.started |
        | recording.stopped |
        | recording.started |
        | recording.stopped |

  Rule: HAND-002 Raising and lowering again is accepted

    @req.HAND-002 @must
    Scenario: Raising and lowering a hand twice
      Given Alice and Bob are connected
      When Alice raises and lowers its hand, twice
      Then Alice and Bob can still chat with each other

  Rule: HAND-004 Every change of a hand is announced, the second cycle too (extension hand-events)

    @req.HAND-004 @extension
    Scenario: Raising and lowering a hand twice is announced four times
      Given Alice and Bob are connected
      When Alice raises and lowers its hand, twice
      Then Bob receives exactly these events about Alice, in this order:
        | hand.raised  |
        | hand.lowered |
        | hand.raised  |
        | hand.lowered |

  Rule: CHAT-008 The same text sent again is a new message each time

    @req.CHAT-008 @must
    Scenario: The same text three times
      Given Alice and Bob are connected
      When Alice sends the chat message "Are you there?" 3 times
      Then Bob receives the chat message "Are you there?" exactly 3 times, each with its own id
