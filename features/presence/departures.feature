Feature: Departures by every kind of close
  A participant leaves however its connection ends: browsers close with 1001 when the user
  navigates away, applications close with codes of their own (3000-4999), some clients send a
  close frame with no status code at all. Each of these is a departure like a close with 1000,
  and the others are told once.

  Rule: PRES-004 A clean close is announced whatever its status code

    @req.PRES-004 @must
    Scenario Outline: A participant closes with another code than 1000
      Given Alice and Bob are connected
      When Bob closes the connection with code <code>
      Then Alice receives exactly one participant.left about Bob

      Examples:
        | code | what it is                         |
        | 1001 | going away: a browser navigating   |
        | 3000 | a registered application code      |
        | 4000 | a private application code         |

    @req.PRES-004 @must
    Scenario: A participant closes without a status code
      Given Alice and Bob are connected
      When Bob closes the connection without a status code
      Then Alice receives exactly one participant.left about Bob
