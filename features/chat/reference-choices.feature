Feature: How the reference server treats chat beyond the page
  The page does not say whether a sender hears its own message, or what happens to an empty or
  over-long text. The reference server echoes every message to its sender too, and refuses empty
  and over-long texts with an `error` event, keeping the connection open.

  Rule: CHAT-012 The sender receives its own message (extension chat-echo)

    @req.CHAT-012 @extension
    Scenario: The echo has the id everyone else sees
      Given Alice and Bob are connected
      When Alice sends the chat message "Echo, echo"
      Then Alice also receives the chat message "Echo, echo", with the id Bob sees

  Rule: CHAT-013 Empty text is refused with an error (extension error-event)

    @req.CHAT-013 @extension
    Scenario: An empty chat message
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "chat.send", "data": {"text": ""}}
        """
      Then Alice receives an error with the code "text_empty"
      And Bob receives no chat.message about Alice
      And Alice and Bob can still chat with each other

  Rule: CHAT-014 Over-long text is refused with an error (extension error-event)

    @req.CHAT-014 @extension
    Scenario: A message over 4000 characters
      Given Alice and Bob are connected
      When Alice sends a chat message of 4001 characters
      Then Alice receives an error with the code "text_too_long"
      And Bob receives no chat.message about Alice
      And Alice and Bob can still chat with each other
