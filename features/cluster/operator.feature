Feature: Operator actions on a room spread over nodes
  What an operator does through the REST API acts on the whole deployment, whichever node's API
  it goes through: a removal or a room end closes the sockets on every node, and a recording is
  announced on every node. With one REST API per node, the suite sends a call about a
  participant to the API of another node than the one its socket is on, and calls about the room
  to the nodes' APIs in turn. These scenarios run only against a deployment of two nodes or more
  (one URL per node); node 1 and node 2 are the first two nodes given.

  Rule: CLUSTER-008 A removal closes the socket on whichever node it is (extension close-codes)

    @req.CLUSTER-008 @extension
    Scenario: Removing a participant connected to node 2
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Bob is removed from the room
      Then Bob's connection is closed with code 4003
      And Alice receives participant.left about Bob

  Rule: CLUSTER-009 A participant removed through one node cannot come back on another

    @req.CLUSTER-009 @should
    Scenario: Reconnecting to node 2 after removal
      Given Alice is to connect to node 2
      And Alice has been removed from the room
      When Alice connects
      Then the upgrade is refused

  Rule: CLUSTER-010 Ending a room closes its sockets on every node (extension close-codes)

    @req.CLUSTER-010 @extension
    Scenario: Ending a room with members on two nodes
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When the room is ended
      Then Alice's connection is closed with code 4004
      And Bob's connection is closed with code 4004

  Rule: CLUSTER-011 A room ended through one node cannot be joined on another

    @req.CLUSTER-011 @should
    Scenario: Connecting to node 1 after the room was ended
      Given Alice is to connect to node 1
      And the room has been ended
      When Alice connects
      Then the upgrade is refused

  Rule: CLUSTER-013 Recording events reach every node

    @req.CLUSTER-013 @must
    Scenario: Recording starts with members on two nodes
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When the room's recording starts
      Then Alice receives recording.started
      And Bob receives recording.started

  Rule: CLUSTER-016 One recording at a time across nodes (extension one-recording)

    @req.CLUSTER-016 @extension
    Scenario: Starting a recording through another node while one runs
      Given Alice is connected to node 1
      And Bob is connected to node 2
      And the room is being recorded
      When the room's recording is started again
      Then the second start is refused with 409
      And Alice receives no recording.started
      And Bob receives no recording.started
