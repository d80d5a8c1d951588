Feature: Keeping a connection alive
  Clients show they are still there in two ways: the `ping` event of the API, and the Ping control
  frame of the WebSocket protocol itself. A `ping` event only has to be accepted; a Ping frame must
  be answered with a Pong frame carrying the same bytes. The reference server also answers the
  `ping` event with a `pong` event.

  Rule: PING-001 The ping event is accepted

    @req.PING-001 @must
    Scenario: Sending the ping event
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "ping"}
        """
      Then Alice and Bob can still chat with each other

  Rule: PING-002 A Ping frame gets a Pong frame with the same payload

    @req.PING-002 @must
    Scenario: A WebSocket ping
      Given Alice is connected
      When Alice sends a ping frame with the payload "are you there?"
      Then Alice receives a pong frame with the payload "are you there?"

  Rule: PING-003 The ping event gets a pong event, on that connection only (extension pong-event)

    @req.PING-003 @extension
    Scenario: The pong event
      Given Alice and Bob are connected
      When Alice sends:
        """
        {"event": "ping"}
        """
      Then Alice receives pong
      And Bob receives no pong
