Feature: The name and role a participant was given
  A participant is provisioned with a display name and a role (through the platform's REST API,
  or in its token). When it joins, the others are told exactly those: the same role, whatever it
  is, and the same name, character for character, in whatever script it is written.

  Rule: PRES-003 participant.joined carries the provisioned display name and role, unaltered

    @req.PRES-003 @must
    Scenario Outline: A newcomer with a distinctive name and a role other than the default
      Given Alice is connected
      When Bob connects as "<display name>" with the role "<role>"
      Then the participant.joined Alice receives about Bob shows the display name "<display name>" and the role "<role>"

      Examples:
        | display name          | role      | tries                                       |
        | Zoë Ångström-Lefèvre  | moderator | accented Latin letters and a moderator      |
        | 李小龍                | host      | CJK characters and a host                   |
        | Ana 🎨 👩🏽‍💻            | moderator | emoji, a skin-tone modifier and a ZWJ sequence |
        | سارة بن علي           | host      | a right-to-left script                      |
