Feature: Which web origins may connect
  Browsers send the page's origin with every WebSocket upgrade. The server compares it with the
  origins the tenant allows, so that a page on another site cannot open a connection with a
  participant's token. A refused origin is answered before the upgrade, and the room never hears
  of the attempt.

  Rule: ORIGIN-001 An allowed origin is accepted

    @req.ORIGIN-001 @must
    Scenario: Connecting from the allowed origin
      When Alice connects from the allowed origin
      Then the upgrade is accepted

  Rule: ORIGIN-002 Any other origin is refused and unseen

    @req.ORIGIN-002 @must
    Scenario: Connecting from a forbidden origin
      Given Alice is connected
      When Mallory connects from a forbidden origin
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

  Rule: ORIGIN-003 The opaque origin null is refused

    @req.ORIGIN-003 @must
    Scenario: Connecting from a sandboxed page
      When Mallory connects from the null origin
      Then the upgrade is refused

  Rule: ORIGIN-004 Origin refusals are answered with 403

    @req.ORIGIN-004 @should
    Scenario: A forbidden origin gets 403
      When Mallory connects from a forbidden origin
      Then the upgrade is refused with status 403

    @req.ORIGIN-004 @should
    Scenario: The null origin gets 403
      When Mallory connects from the null origin
      Then the upgrade is refused with status 403

  Rule: ORIGIN-005 Look-alikes of an allowed origin are refused

    @req.ORIGIN-005 @should @origins.patterns
    Scenario Outline: An origin that merely resembles the allowed one
      When Mallory connects from the allowed origin <changed>
      Then the upgrade is refused

      Examples:
        | changed                                |
        | with another site's domain appended    |
        | with another scheme                    |
        | with another port                      |

  Rule: ORIGIN-006 An explicit origin list is matched exactly (origin mode exact)
    A tenant with an explicit `allowed_origins` list admits the origins on it and nothing else.
    Only a tenant without one falls back to the server's patterns, which may admit a subdomain;
    these scenarios run when the run says the deployment has a list (`--origin-mode exact`,
    as the embedded reference server has), and ORIGIN-005's otherwise; the other mode's are
    skipped with the reason `needs --origin-mode ...`.

    @req.ORIGIN-006 @must @origins.exact
    Scenario Outline: An origin that resembles a listed one but is not on the list
      Given Alice is connected
      When Mallory connects from the allowed origin <changed>
      Then the upgrade is refused
      And Alice receives no participant.joined about Mallory

      Examples:
        | changed                             |
        | with another scheme                 |
        | with another port                   |
        | with its host lengthened            |
        | with another site's domain appended |
        | with a subdomain added              |
