Feature: Where a participant's token travels
  A participant proves who it is with a JWT that names its room and itself. A browser cannot set
  an Authorization header on a WebSocket, so the token travels inside the Sec-WebSocket-Protocol
  header, next to the `chalk` subprotocol, as `token.<jwt>`. Older clients put it in the `token`
  query parameter instead; that way is deprecated but still works.

  Rule: AUTH-001 A token offered in the subprotocol header opens the connection

    @req.AUTH-001 @must
    Scenario: The token is offered after chalk
      When Alice connects offering chalk and then the token
      Then the upgrade is accepted

  Rule: AUTH-002 The order of the offered subprotocols does not matter

    @req.AUTH-002 @must
    Scenario: The token is offered before chalk
      When Alice connects offering the token and then chalk
      Then the upgrade is accepted

  Rule: AUTH-003 The deprecated query parameter still works

    @req.AUTH-003 @must
    Scenario: A query-string token with no subprotocol offered
      When Alice connects with the token in the query string, offering no subprotocol
      Then the upgrade is accepted

  Rule: AUTH-004 The query parameter works next to the chalk subprotocol

    @req.AUTH-004 @must
    Scenario: A query-string token with chalk offered
      When Alice connects with the token in the query string, offering chalk
      Then the upgrade is accepted
