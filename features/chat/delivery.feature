Feature: Chat messages reach the room
  A participant sends `chat.send` with a text. The server turns it into a `chat.message` that
  carries an id of its own, the sender's participant id and a timestamp, and delivers it to the
  other participants of the room: each of them exactly once, in the order the sender sent, and
  nobody outside the room. Whether the sender also gets its own message back is the server's choice.

  Rule: CHAT-001 Everyone else in the room receives the message

    @req.CHAT-001 @must
    Scenario: A message reaches two listeners
      Given Alice, Bob and Carol are connected
      When Alice sends the chat message "Hello, everyone!"
      Then Bob receives the chat message "Hello, everyone!"
      And Carol receives the chat message "Hello, everyone!"

  Rule: CHAT-002 The sender_id is the sender's authenticated participant id

    @req.CHAT-002 @must
    Scenario: The message names its sender
      Given Alice and Bob are connected
      When Alice sends the chat message "Who am I?"
      Then the chat message "Who am I?" that Bob receives has Alice's participant id as sender_id

  Rule: CHAT-003 The text arrives byte for byte

    @req.CHAT-003 @must
    Scenario: Texts that are easy to damage
      Given Alice and Bob are connected
      When Alice sends a chat message with each of these texts:
        """
        [
          {"text": "Hello!",                                "tries": "plain ASCII"},
          {"text": "  two spaces around  ",                 "tries": "leading and trailing spaces"},
          {"text": " ",                                     "tries": "a single space"},
          {"text": "line one\nline two\ttabbed\r\n",        "tries": "control characters"},
          {"text": "<b>bold</b> & \"quoted\" \\ backslash",  "tries": "markup, quotes and a backslash"},
          {"text": "e\u0301 versus \u00e9",                  "tries": "a combining mark next to a precomposed letter"},
          {"text": "\ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67 \ud83d\udc4d\ud83c\udffd \ud83c\uddef\ud83c\uddf5", "tries": "an emoji sequence, a skin-tone modifier and a flag"},
          {"text": "שלום עולם مرحبا",                       "tries": "right-to-left scripts"},
          {"text": "𝄞 𠜎 😀",                               "tries": "characters outside the Basic Multilingual Plane"},
          {"text": "\ufeffzero\u200bwidth\u00a0nbsp",        "tries": "invisible and non-breaking characters"}
        ]
        """
      Then Bob receives each of those texts byte for byte

  Rule: CHAT-004 Every message has its own id

    @req.CHAT-004 @must
    Scenario: Five messages, five ids
      Given Alice and Bob are connected
      When Alice sends 5 numbered chat messages
      Then the ids of the chat messages Bob received are all different

  Rule: CHAT-005 One message has the same id for every receiver

    @req.CHAT-005 @must
    Scenario: Two receivers agree on the id
      Given Alice, Bob and Carol are connected
      When Alice sends the chat message "Same everywhere"
      Then Bob and Carol see the same id for the chat message "Same everywhere"

  Rule: CHAT-006 Timestamps are RFC 3339 date-times

    @req.CHAT-006 @must
    Scenario: The timestamp of a message
      Given Alice and Bob are connected
      When Alice sends the chat message "What time is it?"
      Then the chat message "What time is it?" that Bob receives has an RFC 3339 timestamp with a time zone

  Rule: CHAT-007 Timestamps are UTC and close to the time of sending

    @req.CHAT-007 @should
    Scenario: The timestamp is current UTC
      Given Alice and Bob are connected
      When Alice sends the chat message "Now"
      Then the chat message "Now" that Bob receives has a UTC timestamp within five minutes of now

  Rule: CHAT-008 Each receiver gets each message exactly once

    @req.CHAT-008 @must
    Scenario: Ten messages, each delivered once
      Given Alice and Bob are connected
      When Alice sends 10 numbered chat messages
      Then Bob receives each numbered message exactly once

  Rule: CHAT-009 Messages of one sender keep their order

    @req.CHAT-009 @must
    Scenario: A burst of messages arrives in order
      Given Alice and Bob are connected
      When Alice sends 25 numbered chat messages
      Then Bob receives the numbered messages in the order they were sent

  Rule: CHAT-010 Chat never crosses rooms

    @req.CHAT-010 @must
    Scenario: A listener in another room hears nothing
      Given Alice and Bob are connected
      And Dave is connected to another room
      When Alice sends the chat message "Only for this room"
      Then Bob receives the chat message "Only for this room"
      And Dave receives no chat.message

  Rule: CHAT-011 A client cannot choose the sender, id or timestamp of its message

    @req.CHAT-011 @must
    Scenario: Fields smuggled into chat.send are ignored
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "chat.send", "data": {"text": "Trust me", "sender_id": "p_somebody_else", "id": "msg_chosen_by_client", "timestamp": "1999-12-31T23:59:59Z"}}
        """
      Then the chat message "Trust me" that Bob receives has Alice's participant id as sender_id
      And the chat message "Trust me" that Bob receives has an id and a timestamp of the server's own

  Rule: CHAT-003 Texts of every length arrive whole

    @req.CHAT-003 @must
    Scenario: Texts from one character up to the limit
      Given Alice and Bob are connected
      When Alice sends chat messages of 1, 100, 1000, 2000 and 4000 characters
      Then Bob receives each of those texts unaltered, unless Alice was told it was refused
