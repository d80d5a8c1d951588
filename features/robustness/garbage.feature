Feature: One client's bad input stays that client's problem
  A server faces buggy and hostile clients. Whatever one connection sends, text that is not JSON,
  events nobody knows, bytes that are not UTF-8, the other participants of the room stay connected
  and keep being served, and newcomers can still join. How the sender itself is treated (an error
  event, a close, or silence) is the server's business, except where RFC 6455 decides it.

  Rule: ROBUST-001 Garbage from one client does not disturb the others

    @req.ROBUST-001 @must
    Scenario Outline: A client sends something that is not an event
      Given Alice, Bob and Mallory are connected
      When Mallory sends:
        """
        <frame>
        """
      Then Alice and Bob can still chat with each other

      Examples:
        | frame                              |
        | this is not JSON                   |
        | ["chat.send", {"text": "hi"}]      |
        | {"data": {"text": "no event"}}     |
        | {"event": 42}                      |
        | {"event": "chat.send", "data": 7}  |

    @req.ROBUST-001 @must
    Scenario: A client sends a binary frame
      Given Alice, Bob and Mallory are connected
      When Mallory sends a binary frame
      Then Alice and Bob can still chat with each other

  Rule: ROBUST-002 Unknown events do not disturb the others

    @req.ROBUST-002 @must
    Scenario: A client sends an event the API does not have
      Given Alice, Bob and Mallory are connected
      When Mallory sends:
        """
        {"event": "hand.wave", "data": {"enthusiasm": 11}}
        """
      Then Alice and Bob can still chat with each other

  Rule: ROBUST-003 The server keeps accepting newcomers

    @req.ROBUST-003 @must
    Scenario Outline: A newcomer joins after bad input
      Given Alice and Mallory are connected
      When Mallory sends:
        """
        <frame>
        """
      Then Carol can still join the room and Alice hears of it

      Examples:
        | frame                                    |
        | {"event": "chat.send"                    |
        | {"event": "room.destroy", "data": {}}    |

    @req.ROBUST-003 @must
    Scenario: A newcomer joins after invalid UTF-8
      Given Alice and Mallory are connected
      When Mallory sends a text frame that is not valid UTF-8
      Then Carol can still join the room and Alice hears of it

  Rule: ROBUST-004 A close handshake is answered

    @req.ROBUST-004 @must
    Scenario: The client says goodbye first
      Given Alice is connected
      When Alice closes the connection
      Then Alice receives a close frame in reply

  Rule: ROBUST-005 Invalid UTF-8 fails that connection and only that one

    @req.ROBUST-005 @must
    Scenario: A text frame that is not UTF-8
      Given Alice, Bob and Mallory are connected
      When Mallory sends a text frame that is not valid UTF-8
      Then Mallory's connection is closed by the server
      And Alice and Bob can still chat with each other

  Rule: ROBUST-006 Invalid UTF-8 is closed with 1007

    @req.ROBUST-006 @should
    Scenario: The close code for invalid UTF-8
      Given Mallory is connected
      When Mallory sends a text frame that is not valid UTF-8
      Then Mallory's connection is closed with code 1007
