Feature: Rooms as they are in real use
  Real rooms have tens of members, and real room ids are often alike: numbered meetings that
  share a prefix, one id the start of another, ids that differ only in case. Every member of a
  room hears each of its events exactly once, however many members there are, and a room whose
  id merely resembles another's hears nothing of it. Look-alike rooms need room ids the suite
  chooses: a deployment that admits tokens only for the rooms it created (the page's flow
  verifies the room_id) does not offer that, the run finds out (need `name-rooms`), and those
  scenarios are then skipped, not failed.

  Rule: CHAT-001 Chat reaches every member of a room of tens

    @req.CHAT-001 @must
    Scenario: A message in a room of thirty
      Given 30 participants are connected
      When the first of them sends the chat message "Can everybody hear me?"
      Then every other one of them receives the chat message "Can everybody hear me?", once

  Rule: PRES-010 Each arrival is announced once to every member of a room of tens

    @req.PRES-010 @must
    Scenario: A newcomer joins a room of thirty
      Given 30 participants are connected
      When one more participant connects
      Then every one of them receives participant.joined about the newcomer, once

  Rule: CHAT-010 Chat never reaches a room whose id only resembles the room's

    @req.CHAT-010 @must @needs.forge-tokens @needs.name-rooms
    Scenario: Rooms whose ids share a prefix, contain each other or differ in case
      Given Alice and Bob are connected to a room whose id the suite chooses
      And Carol is connected to a room whose id is that id in upper case
      And Dave is connected to a room whose id is that id with "-2" appended
      And Erin is connected to a room whose id is that id without its last character
      And Frank is connected to a room whose id is that id with its last character replaced
      When Alice sends the chat message "Only for this room"
      Then Bob receives the chat message "Only for this room"
      And Carol receives no chat.message
      And Dave receives no chat.message
      And Erin receives no chat.message
      And Frank receives no chat.message

  Rule: PRES-007 Presence never reaches a room whose id only resembles the room's

    @req.PRES-007 @must @needs.forge-tokens @needs.name-rooms
    Scenario: An arrival in a room with look-alike neighbours
      Given Alice is connected to a room whose id the suite chooses
      And Carol is connected to a room whose id is that id in upper case
      And Dave is connected to a room whose id is that id with "-2" appended
      And Erin is connected to a room whose id is that id without its last character
      And Frank is connected to a room whose id is that id with its last character replaced
      When Bob connects
      Then Alice receives participant.joined about Bob
      And Carol receives no participant.joined about Bob
      And Dave receives no participant.joined about Bob
      And Erin receives no participant.joined about Bob
      And Frank receives no participant.joined about Bob
