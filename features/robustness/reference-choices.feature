Feature: How the reference server answers bad input
  The page does not say what a server does with frames it cannot act on. The reference server
  answers each with an `error` event naming what was wrong and keeps the connection open; it closes
  connections that send binary frames (1003) or messages larger than 16 KiB (1009); and it refuses
  bad upgrades with a JSON body.

  Rule: ROBUST-007 Text that is not JSON gets invalid_json (extension error-event)

    @req.ROBUST-007 @extension
    Scenario: A frame that is not JSON
      Given Alice and Bob are connected
      When Alice sends:
        """
        {this is not json
        """
      Then Alice receives an error with the code "invalid_json"
      And Alice and Bob can still chat with each other

  Rule: ROBUST-008 An unusable envelope gets invalid_event (extension error-event)

    @req.ROBUST-008 @extension
    Scenario Outline: JSON that is not a usable event
      Given Alice and Bob are connected
      When Alice sends:
        """
        <frame>
        """
      Then Alice receives an error with the code "invalid_event"
      And Alice and Bob can still chat with each other

      Examples:
        | frame                                  |
        | [1, 2, 3]                              |
        | {"data": {"text": "where is event?"}}  |
        | {"event": 7}                           |
        | {"event": "chat.send", "data": "hi"}   |

  Rule: ROBUST-009 An unknown event gets unknown_event (extension error-event)

    @req.ROBUST-009 @extension
    Scenario: An event name the server does not know
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "hand.wave"}
        """
      Then Alice receives an error with the code "unknown_event" about the event "hand.wave"
      And Alice and Bob can still chat with each other

  Rule: ROBUST-010 A field of the wrong type gets invalid_data (extension error-event)

    @req.ROBUST-010 @extension
    Scenario: A numeric chat text
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "chat.send", "data": {"text": 12345}}
        """
      Then Alice receives an error with the code "invalid_data"
      And Bob receives no chat.message about Alice
      And Alice and Bob can still chat with each other

  Rule: ROBUST-011 A binary frame is closed with 1003 (extension close-codes)

    @req.ROBUST-011 @extension
    Scenario: Sending a binary frame
      Given Alice is connected
      When Alice sends a binary frame
      Then Alice's connection is closed with code 1003

  Rule: ROBUST-012 An oversized message is closed with 1009 (extension close-codes)

    @req.ROBUST-012 @extension
    Scenario: A message larger than 16 KiB
      Given Alice is connected
      When Alice sends a chat message of 20000 characters
      Then Alice's connection is closed with code 1009

  Rule: ROBUST-016 Refusals carry a JSON error body (extension refusal-statuses)

    @req.ROBUST-016 @extension
    Scenario: A refused token
      When Mallory connects offering chalk but no token
      Then the upgrade is refused with status 401
      And the response body is a JSON object with an "error" string

    @req.ROBUST-016 @extension
    Scenario: A refused origin
      When Mallory connects from a forbidden origin
      Then the upgrade is refused with status 403
      And the response body is a JSON object with an "error" string

    @req.ROBUST-016 @extension
    Scenario: A malformed upgrade
      When Mallory connects offering only the token
      Then the upgrade is refused with status 400
      And the response body is a JSON object with an "error" string
