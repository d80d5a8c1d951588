Feature: The name and role a participant was given
  A participant is provisioned with a display name and a role (through the platform's REST API,
  or in its token). When it joins, the others are told exactly those (as the REST API answered it
  recorded them, when it says): the same role and the same name, character for character, in
  whatever script it is written. The page shows only the role "participant"; other roles are
  tried only where the deployment provisions and admits one (need `custom-roles`, which the run
  finds out), and skipped, not failed, elsewhere.

  Rule: PRES-003 participant.joined carries the recorded display name and role, unaltered

    @req.PRES-003 @must
    Scenario Outline: A newcomer with a distinctive name
      Given Alice is connected
      When Bob connects as "<display name>" with the role "participant"
      Then the participant.joined Alice receives about Bob shows the display name "<display name>" and the role "participant"

      Examples:
        | display name          | tries                                          |
        | Zoë Ångström-Lefèvre  | accented Latin letters                         |
        | 李小龍                | CJK characters                                 |
        | Ana 🎨 👩🏽‍💻            | emoji, a skin-tone modifier and a ZWJ sequence |
        | سارة بن علي           | a right-to-left script                         |

    @req.PRES-003 @must @needs.custom-roles
    Scenario Outline: A newcomer with a role other than the one the page shows
      Given Alice is connected
      When Bob connects as "<display name>" with the role "<role>"
      Then the participant.joined Alice receives about Bob shows the display name "<display name>" and the role "<role>"

      Examples:
        | display name          | role      | tries                                 |
        | Zoë Ångström-Lefèvre  | moderator | a moderator                           |
        | 李小龍                | host      | a host                                |
