Feature: A connection is bound to its token
  The token's `room_id` and `participant_id` claims say which room a connection joins and who it
  is there. Nothing else the client sends changes that: not a query parameter or a header naming
  another room or participant, and not a field of a client event naming a room, a participant or
  a sender. The token's room hears the connection under the token's participant id; a room that
  is merely named hears nothing of it, and the connection hears nothing said there. A server may
  refuse an upgrade that tries to steer it, but never admit it elsewhere.

  Rule: AUTH-025 Query parameters and headers do not move a connection

    @req.AUTH-025 @must
    Scenario Outline: A query parameter naming another room or participant
      Given Bob is connected
      And Carol is connected to another room
      When Alice connects with the query parameter "<parameter>" naming <target>
      Then Alice is admitted to the room its token names, or refused
      And Carol receives no participant.joined about Alice
      And if Alice was admitted, it hears nothing Carol says, and what it says reaches Bob from its token's participant id and not Carol

      Examples:
        | parameter      | target         |
        | room_id        | the other room |
        | room           | the other room |
        | roomId         | the other room |
        | participant_id | Carol          |
        | participant_id | Bob            |

    @req.AUTH-025 @must
    Scenario Outline: A header naming another room or participant
      Given Bob is connected
      And Carol is connected to another room
      When Alice connects with the header "<header>" naming <target>
      Then Alice is admitted to the room its token names, or refused
      And Carol receives no participant.joined about Alice
      And if Alice was admitted, it hears nothing Carol says, and what it says reaches Bob from its token's participant id and not Carol

      Examples:
        | header           | target         |
        | X-Room-Id        | the other room |
        | X-Participant-Id | Carol          |

    @req.AUTH-025 @must
    Scenario: A query parameter naming another room, the token in the query string
      Given Bob is connected
      And Carol is connected to another room
      When Alice connects with the query parameter "room_id" naming the other room, its token in the query string, offering no subprotocol
      Then Alice is admitted to the room its token names, or refused
      And Carol receives no participant.joined about Alice
      And if Alice was admitted, it hears nothing Carol says, and what it says reaches Bob from its token's participant id and not Carol

  Rule: AUTH-025 Client events do not speak for another room or participant

    @req.AUTH-025 @must
    Scenario Outline: A chat message naming another room, participant or sender
      Given Alice and Bob are connected
      And Carol is connected to another room
      When Alice sends chat.send with the data field "<field>" naming <target>
      Then Bob receives every text Alice sent, with its token's participant id as sender_id
      And Carol receives no chat.message
      And if Alice was admitted, it hears nothing Carol says, and what it says reaches Bob from its token's participant id and not Carol

      Examples:
        | field          | target         |
        | room_id        | the other room |
        | room           | the other room |
        | participant_id | Carol          |
        | participant_id | Bob            |
        | sender_id      | Bob            |
        | sender_id      | Carol          |

    @req.AUTH-025 @must
    Scenario Outline: Another client event naming another room, then a chat message
      Given Alice and Bob are connected
      And Carol is connected to another room
      When Alice sends <event> with the data field "<field>" naming <target>
      Then Bob receives every text Alice sent, with its token's participant id as sender_id
      And Carol receives no chat.message
      And if Alice was admitted, it hears nothing Carol says, and what it says reaches Bob from its token's participant id and not Carol

      Examples:
        | event      | field          | target         |
        | ping       | room_id        | the other room |
        | hand.raise | room_id        | the other room |
        | hand.lower | participant_id | Carol          |
