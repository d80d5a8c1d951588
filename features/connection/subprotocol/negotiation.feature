Feature: Negotiating the chalk subprotocol
  The client offers `chalk` (and, when it authenticates in the header, `token.<jwt>`) in
  Sec-WebSocket-Protocol. The server answers by selecting `chalk`. The token entry is only a way
  to carry the credential: it is never selected, because selecting it would echo the secret back.
  A client that offers nothing gets no Sec-WebSocket-Protocol header in return.

  Rule: PROTO-001 The server selects chalk

    @req.PROTO-001 @must
    Scenario: chalk offered before the token
      When Alice connects offering chalk and then the token
      Then the response selects the subprotocol "chalk"

    @req.PROTO-001 @must
    Scenario: chalk offered after the token
      When Alice connects offering the token and then chalk
      Then the response selects the subprotocol "chalk"

    @req.PROTO-001 @must
    Scenario: chalk offered next to a query-string token
      When Alice connects with the token in the query string, offering chalk
      Then the response selects the subprotocol "chalk"

  Rule: PROTO-002 The token is never the selected subprotocol

    @req.PROTO-002 @must
    Scenario: The token comes first in the offer
      When Alice connects offering the token and then chalk
      Then the response does not select the token

  Rule: PROTO-003 The selection is one value the client offered

    @req.PROTO-003 @must
    Scenario: Exactly one offered value comes back
      When Alice connects offering chalk and then the token
      Then the response selects exactly one subprotocol, one that was offered

  Rule: PROTO-004 Nothing offered, nothing selected

    @req.PROTO-004 @must
    Scenario: A query-string client that offers no subprotocol
      When Alice connects with the token in the query string, offering no subprotocol
      Then the upgrade is accepted
      And the response has no Sec-WebSocket-Protocol header

  Rule: PROTO-005 An accepted upgrade is a valid RFC 6455 handshake

    @req.PROTO-005 @must
    Scenario: The opening handshake of an accepted connection
      When Alice connects offering chalk and then the token
      Then the response is a valid WebSocket opening handshake

  Rule: PROTO-006 A header token without chalk is a malformed request (extension refusal-statuses)

    @req.PROTO-006 @extension
    Scenario: Only the token is offered
      When Alice connects offering only the token
      Then the upgrade is refused with status 400
