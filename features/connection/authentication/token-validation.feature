Feature: Which tokens open a connection
  The server checks the token before it switches protocols: a connection exists only for a token
  that is well formed, signed with the deployment's key, currently valid, and names both a room
  and a participant. Every other attempt gets an HTTP answer other than `101`, and the room it
  aimed at never hears of it.

  Each refused token below is a valid token of a provisioned participant with exactly one thing
  wrong, so a refusal can only be caused by that one defect.

  Rule: AUTH-005 Without a token there is no connection

    @req.AUTH-005 @must
    Scenario: No token at all
      When Mallory connects offering chalk but no token
      Then the upgrade is refused

  Rule: AUTH-006 Malformed tokens are refused

    @req.AUTH-006 @must
    Scenario Outline: A token that is not a compact JWS
      When Mallory connects with a token that <defect>
      Then the upgrade is refused

      Examples:
        | defect                               |
        | has only two segments                |
        | has segments that are not base64url  |
        | has a payload that is not JSON       |

  Rule: AUTH-007 The signature must verify with the deployment's key

    @req.AUTH-007 @must
    Scenario: A token signed with another key
      When Mallory connects with a token that is signed with another key
      Then the upgrade is refused

    @req.AUTH-007 @must
    Scenario: A token altered after it was signed
      When Mallory connects with a token that was altered after signing
      Then the upgrade is refused

  Rule: AUTH-008 Unsecured tokens are refused

    @req.AUTH-008 @must
    Scenario: A token declaring the algorithm none
      When Mallory connects with a token that declares the algorithm none
      Then the upgrade is refused

  Rule: AUTH-009 Expired tokens are refused

    @req.AUTH-009 @must
    Scenario: A token that expired two hours ago
      When Mallory connects with a token that expired two hours ago
      Then the upgrade is refused

  Rule: AUTH-010 Tokens that are not valid yet are refused

    @req.AUTH-010 @must
    Scenario: A token that becomes valid only in two hours
      When Mallory connects with a token that becomes valid only in two hours
      Then the upgrade is refused

  Rule: AUTH-011 A token must name its room

    @req.AUTH-011 @must
    Scenario: A token without room_id
      When Mallory connects with a token that has no room_id claim
      Then the upgrade is refused

  Rule: AUTH-012 A token must name its participant

    @req.AUTH-012 @must
    Scenario: A token without participant_id
      When Mallory connects with a token that has no participant_id claim
      Then the upgrade is refused

  Rule: AUTH-013 A refused client never appears in the room

    @req.AUTH-013 @must
    Scenario: The room does not hear of an expired token
      Given Alice is connected
      When Mallory connects with a token that expired two hours ago
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

    @req.AUTH-013 @must
    Scenario: The room does not hear of a forged signature
      Given Alice is connected
      When Mallory connects with a token that is signed with another key
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

  Rule: AUTH-014 Token problems are answered with 401

    @req.AUTH-014 @should
    Scenario: No token is answered with 401
      When Mallory connects offering chalk but no token
      Then the upgrade is refused with status 401

    @req.AUTH-014 @should
    Scenario: A token that is not a JWT is answered with 401
      When Mallory connects with a token that is not a JWT at all
      Then the upgrade is refused with status 401

  Rule: AUTH-015 Every token problem gets the same answer

    @req.AUTH-015 @should
    Scenario: Different defects cannot be told apart
      When Mallory tries to connect with each of these tokens:
        | token                             |
        | expired two hours ago             |
        | is signed with another key        |
        | has no participant_id claim       |
        | becomes valid only in two hours   |
      Then every attempt is refused with the same status and body

  Rule: AUTH-016 The token is never sent back

    @req.AUTH-016 @should
    Scenario: An accepted handshake does not reflect the token
      When Alice connects offering chalk and then the token
      Then the upgrade is accepted
      And the handshake response does not contain the token

    @req.AUTH-016 @should
    Scenario: A refused handshake does not reflect the token
      When Mallory connects with a token that was altered after signing
      Then the upgrade is refused
      And the handshake response does not contain the token

  Rule: AUTH-017 Identity claims must be non-empty strings

    @req.AUTH-017 @should
    Scenario Outline: A token with an unusable identity claim
      When Mallory connects with a token that <defect>
      Then the upgrade is refused

      Examples:
        | defect                          |
        | has an empty room_id            |
        | has an empty participant_id     |
        | has a numeric participant_id    |
