Feature: Every expected event exactly once
  Each event a scenario expects must come once: not missing, and not twice, however late the copy.
  Besides the checks below, every event any scenario expects (a participant.joined, a
  participant.left, a chat.message, a recording or hand event) is held to this when the scenario
  ends: after a short quiet period following the last of them, no second copy of it (the same
  event about the same subject, before anything made it news again) may have arrived. Events a
  scenario does not expect, such as a newcomer told about itself or about those already present,
  are never counted.

  Rule: PRES-010 Each arrival is announced once

    @req.PRES-010 @must
    Scenario: One participant.joined per arrival
      Given Alice and Bob are connected
      When Carol connects
      Then Alice receives exactly one participant.joined about Carol
      And Bob receives exactly one participant.joined about Carol

  Rule: REC-006 Each start and stop of a recording is announced once

    @req.REC-006 @must
    Scenario: One recording.started per start
      Given Alice and Bob are connected
      When the room's recording starts
      Then Alice receives exactly one recording.started
      And Bob receives exactly one recording.started

    @req.REC-006 @must
    Scenario: One recording.stopped per stop
      Given Alice and Bob are connected
      And the room is being recorded
      When the room's recording stops
      Then Alice receives exactly one recording.stopped
      And Bob receives exactly one recording.stopped
