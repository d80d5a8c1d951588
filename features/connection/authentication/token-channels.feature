Feature: Every refusal on every way of presenting a token
  The page documents two ways of presenting a token: the `token.{jwt}` entry of the
  Sec-WebSocket-Protocol header, next to `chalk`, and the deprecated `token` query parameter,
  which a client sends with no subprotocol or with `chalk` alone. A server checks a token the same
  way whichever way it came, so every refusal of "Which tokens open a connection" (tried there in
  the header), of "Access taken away through the REST API" and of "Which web origins may connect"
  is tried here in the query string too.

  Each refusal's positive control presents a valid token the same way, from the allowed origin: a
  server that refuses the query string altogether fails AUTH-003 or AUTH-004, and is not credited
  with refusing the defect.

  Expiry has a boundary. RFC 7519 lets a server allow a clock skew of "usually no more than a few
  minutes" on `exp` and `nbf`; five minutes is this suite's own bound. A token that expired ten
  minutes ago, or becomes valid only in ten minutes, is past any leeway the suite allows and must
  be refused, on every channel. A leeway between five and ten minutes is not judged.

  Rule: AUTH-005 Without a token there is no connection, whichever way it was to come

    @req.AUTH-005 @must
    Scenario Outline: An empty token
      When Mallory connects with an empty token, <channel>
      Then the upgrade is refused

      Examples: the subprotocol header
        | channel                   |
        | in the subprotocol header |

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

    @req.AUTH-005 @must
    Scenario: Neither a subprotocol nor a token
      When Mallory connects offering no subprotocol and no token
      Then the upgrade is refused

  Rule: AUTH-006 Malformed tokens are refused in the query string too

    @req.AUTH-006 @must
    Scenario Outline: A query-string token that is not a compact JWS
      When Mallory connects with a token that <defect>, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | defect                              | channel                                      |
        | has only two segments               | in the query string, offering no subprotocol |
        | has segments that are not base64url | in the query string, offering no subprotocol |
        | has a payload that is not JSON      | in the query string, offering no subprotocol |
        | is not a JWT at all                 | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | defect                              | channel                             |
        | has only two segments               | in the query string, offering chalk |
        | has segments that are not base64url | in the query string, offering chalk |
        | has a payload that is not JSON      | in the query string, offering chalk |
        | is not a JWT at all                 | in the query string, offering chalk |

  Rule: AUTH-007 A query-string token's signature must verify

    @req.AUTH-007 @must
    Scenario Outline: A query-string token with a bad signature
      When Mallory connects with a token that <defect>, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | defect                     | channel                                      |
        | is signed with another key | in the query string, offering no subprotocol |
        | was altered after signing  | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | defect                     | channel                             |
        | is signed with another key | in the query string, offering chalk |
        | was altered after signing  | in the query string, offering chalk |

  Rule: AUTH-008 Unsecured tokens are refused in the query string too

    @req.AUTH-008 @must
    Scenario Outline: A query-string token declaring the algorithm none
      When Mallory connects with a token that declares the algorithm none, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-009 Expired tokens are refused on every channel, ten minutes past exp at the latest

    @req.AUTH-009 @must
    Scenario Outline: A query-string token that expired two hours ago
      When Mallory connects with a token that expired two hours ago, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

    @req.AUTH-009 @must
    Scenario Outline: A token that expired ten minutes ago, past any allowed leeway
      When Mallory connects with a token that expired ten minutes ago, <channel>
      Then the upgrade is refused

      Examples: the subprotocol header
        | channel                   |
        | in the subprotocol header |

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-010 Tokens not valid yet are refused on every channel, ten minutes before nbf at the latest

    @req.AUTH-010 @must
    Scenario Outline: A query-string token that becomes valid only in two hours
      When Mallory connects with a token that becomes valid only in two hours, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

    @req.AUTH-010 @must
    Scenario Outline: A token that becomes valid only in ten minutes, past any allowed leeway
      When Mallory connects with a token that becomes valid only in ten minutes, <channel>
      Then the upgrade is refused

      Examples: the subprotocol header
        | channel                   |
        | in the subprotocol header |

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-011 A query-string token must name its room

    @req.AUTH-011 @must
    Scenario Outline: A query-string token without room_id
      When Mallory connects with a token that has no room_id claim, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-012 A query-string token must name its participant

    @req.AUTH-012 @must
    Scenario Outline: A query-string token without participant_id
      When Mallory connects with a token that has no participant_id claim, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-013 A client refused for its query-string token never appears in the room

    @req.AUTH-013 @must
    Scenario Outline: The room does not hear of an expired query-string token
      Given Alice is connected
      When Mallory connects with a token that expired two hours ago, <channel>
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-017 Identity claims of a query-string token must be non-empty strings

    @req.AUTH-017 @should
    Scenario Outline: A query-string token with an unusable identity claim
      When Mallory connects with a token that <defect>, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | defect                       | channel                                      |
        | has an empty room_id         | in the query string, offering no subprotocol |
        | has an empty participant_id  | in the query string, offering no subprotocol |
        | has a numeric participant_id | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | defect                       | channel                             |
        | has an empty room_id         | in the query string, offering chalk |
        | has an empty participant_id  | in the query string, offering chalk |
        | has a numeric participant_id | in the query string, offering chalk |

  Rule: AUTH-018 A removed participant cannot come back with its old token in the query string

    @req.AUTH-018 @should
    Scenario Outline: Reconnecting after removal, the token in the query string
      Given Alice has a token for the room
      And Alice has been removed from the room
      When Alice connects <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: AUTH-019 An ended room cannot be joined with a query-string token

    @req.AUTH-019 @should
    Scenario Outline: Connecting to an ended room, the token in the query string
      Given Alice has a token for the room
      And the room has been ended
      When Alice connects <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: ORIGIN-002 A query-string token from another origin is refused and unseen

    @req.ORIGIN-002 @must
    Scenario Outline: A query-string token from a forbidden origin
      Given Alice is connected
      When Mallory connects from a forbidden origin, <channel>
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: ORIGIN-003 A query-string token from the opaque origin null is refused

    @req.ORIGIN-003 @must
    Scenario Outline: A query-string token from a sandboxed page
      When Mallory connects from the null origin, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | channel                                      |
        | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | channel                             |
        | in the query string, offering chalk |

  Rule: ORIGIN-006 An explicit origin list is matched exactly for query-string tokens too

    @req.ORIGIN-006 @must @origins.exact
    Scenario Outline: A query-string token from a look-alike of the listed origin
      When Mallory connects from the allowed origin <changed>, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | changed                             | channel                                      |
        | with another scheme                 | in the query string, offering no subprotocol |
        | with another port                   | in the query string, offering no subprotocol |
        | with its host lengthened            | in the query string, offering no subprotocol |
        | with another site's domain appended | in the query string, offering no subprotocol |
        | with a subdomain added              | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | changed                             | channel                             |
        | with another scheme                 | in the query string, offering chalk |
        | with another port                   | in the query string, offering chalk |
        | with its host lengthened            | in the query string, offering chalk |
        | with another site's domain appended | in the query string, offering chalk |
        | with a subdomain added              | in the query string, offering chalk |

  Rule: ORIGIN-005 Look-alikes are refused for query-string tokens too, under patterns

    @req.ORIGIN-005 @should @origins.patterns
    Scenario Outline: A query-string token from a look-alike of the allowed origin
      When Mallory connects from the allowed origin <changed>, <channel>
      Then the upgrade is refused

      Examples: the query string, no subprotocol
        | changed                             | channel                                      |
        | with another site's domain appended | in the query string, offering no subprotocol |
        | with another scheme                 | in the query string, offering no subprotocol |
        | with another port                   | in the query string, offering no subprotocol |

      Examples: the query string and chalk
        | changed                             | channel                             |
        | with another site's domain appended | in the query string, offering chalk |
        | with another scheme                 | in the query string, offering chalk |
        | with another port                   | in the query string, offering chalk |
