Feature: Losing a node
  A node of a deployment may die without a goodbye. Its members have then dropped, and the
  members of their rooms on the surviving nodes must hear so within a bound (the failover bound,
  5 s unless the run says otherwise). These scenarios kill a node with the command the run is
  given (and, for the restart, bring it back with another); without one they are skipped. They
  run after every other scenario, one at a time, each on a node of its own, never the first node,
  and nothing runs on a node after it was killed.

  Rule: CLUSTER-014 The members of a lost node are reported gone

    @req.CLUSTER-014 @must
    Scenario: A node dies with a member on it
      Given Alice is connected to node 1
      And Bob is connected to a node that will be lost
      When that node is killed
      Then Alice receives participant.left about Bob within the failover bound

  Rule: CLUSTER-015 A restarted node does not bring its lost members back

    @req.CLUSTER-015 @must
    Scenario: A node dies and comes back
      Given Alice is connected to node 1
      And Bob is connected to a node that will be lost
      When that node is killed and restarted
      Then Alice receives participant.left about Bob within the failover bound
      And Alice receives no participant.joined about Bob
      And Carol can join the room on that node and Alice hears of it
