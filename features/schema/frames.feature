Feature: The shape of every frame
  Every frame the server sends is a text frame holding one JSON object: an `event` name and, for
  most events, a `data` object. The page shows each event's fields; the suite holds each event to a
  JSON Schema written from the page (`schemas/`): the fields the page shows, under `data`, with their
  types. Members the page does not show, beside `event` and `data` or inside `data`, are allowed
  (the page does not forbid them). Every frame received in every scenario of this suite is checked
  this way; the scenarios here make the check visible, one event at a time.

  Rule: SCHEMA-001 Every frame is a JSON event envelope

    @req.SCHEMA-001 @must
    Scenario: The frames of a short conversation
      Given Alice is connected
      When Bob connects
      Then every frame Alice received is a JSON event envelope

  Rule: SCHEMA-002 participant.joined has the documented fields

    @req.SCHEMA-002 @must
    Scenario: A participant.joined frame
      Given Alice is connected
      When Bob connects
      Then the participant.joined Alice receives about Bob matches its schema

  Rule: SCHEMA-003 participant.left has the documented fields

    @req.SCHEMA-003 @must
    Scenario: A participant.left frame
      Given Alice and Bob are connected
      When Bob closes the connection
      Then the participant.left Alice receives about Bob matches its schema

  Rule: SCHEMA-004 chat.message has the documented fields

    @req.SCHEMA-004 @must
    Scenario: A chat.message frame
      Given Alice and Bob are connected
      When Alice sends the chat message "Shape check"
      Then the chat.message Bob receives about Alice matches its schema

  Rule: SCHEMA-005 recording.started has the documented fields

    @req.SCHEMA-005 @must
    Scenario: A recording.started frame
      Given Alice is connected
      When the room's recording starts
      Then the recording.started Alice receives matches its schema

  Rule: SCHEMA-006 recording.stopped has the documented fields

    @req.SCHEMA-006 @must
    Scenario: A recording.stopped frame
      Given Alice is connected
      And the room is being recorded
      When the room's recording stops
      Then the recording.stopped Alice receives matches its schema

  Rule: SCHEMA-007 Client events written as the page shows them are understood

    @req.SCHEMA-007 @must
    Scenario: chat.send exactly as on the page
      Given Alice and Bob are connected
      When Alice sends:
        """
        {
          "event": "chat.send",
          "data": {
            "text": "Hello!"
          }
        }
        """
      Then Bob receives the chat message "Hello!"

    @req.SCHEMA-007 @must
    Scenario Outline: Events without data exactly as on the page
      Given Alice and Bob are connected
      When Alice sends:
        """
        {
          "event": "<event>"
        }
        """
      Then Alice and Bob can still chat with each other

      Examples:
        | event      |
        | hand.raise |
        | hand.lower |
        | ping       |

  Rule: SCHEMA-008 pong has the reference shape (extension pong-event)

    @req.SCHEMA-008 @extension
    Scenario: A pong frame
      Given Alice is connected
      When Alice sends:
        """
        {"event": "ping"}
        """
      Then the pong Alice receives matches its schema

  Rule: SCHEMA-009 error has the reference shape (extension error-event)

    @req.SCHEMA-009 @extension
    Scenario: An error frame
      Given Alice is connected
      When Alice sends:
        """
        {"event": "hand.wave"}
        """
      Then the error Alice receives matches its schema
