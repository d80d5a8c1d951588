Feature: Presence in a room spread over nodes
  Who is in the room is one answer for the whole room: a member on one node hears of arrivals and
  departures on every other node, and a roster lists every node's members. These scenarios run
  only against a deployment of two nodes or more (one URL per node); node 1 and node 2 are the
  first two nodes given.

  Rule: CLUSTER-004 A newcomer on one node is announced on the others

    @req.CLUSTER-004 @must
    Scenario: A newcomer on node 2 is announced on node 1
      Given Alice is connected to node 1
      When Bob connects to node 2
      Then Alice receives participant.joined about Bob

  Rule: CLUSTER-005 A clean close on one node is announced on the others

    @req.CLUSTER-005 @must
    Scenario: A participant on node 2 closes its connection
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Bob closes the connection
      Then Alice receives participant.left about Bob

  Rule: CLUSTER-006 A dropped connection on one node is announced on the others

    @req.CLUSTER-006 @must
    Scenario: The network of a participant on node 2 goes away
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Bob's connection drops without a close handshake
      Then Alice receives participant.left about Bob

  Rule: CLUSTER-007 The roster lists the members of every node (extension room-state)

    @req.CLUSTER-007 @extension
    Scenario: A newcomer on node 2 is told of a member on node 1
      Given Alice is connected to node 1
      When Bob connects to node 2
      Then the first frame Bob receives is room.state listing Alice and Bob

  Rule: CLUSTER-012 A second connection on another node replaces the first (extension single-session)

    @req.CLUSTER-012 @extension
    Scenario: Connecting again as the same participant, to another node
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Alice connects again, to node 2
      Then Alice's earlier connection is closed with code 4009
      And Bob receives participant.left about Alice and then participant.joined about Alice
