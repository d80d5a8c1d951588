Feature: Chat in a room spread over nodes
  A deployment may run several nodes, and the members of one room may be connected to different
  ones. The page speaks of the room, never of one node's share of it: a chat message reaches the
  members on every node, exactly once, in the order its sender sent it. These scenarios run only
  against a deployment of two nodes or more (one URL per node); node 1 and node 2 are the first
  two nodes given.

  Rule: CLUSTER-001 Chat crosses nodes both ways

    @req.CLUSTER-001 @must
    Scenario: A message from node 1 reaches node 2
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Alice sends the chat message "From the first node"
      Then Bob receives the chat message "From the first node"

    @req.CLUSTER-001 @must
    Scenario: A message from node 2 reaches node 1
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Bob sends the chat message "From the second node"
      Then Alice receives the chat message "From the second node"

  Rule: CLUSTER-002 Messages of one sender keep their order across nodes

    @req.CLUSTER-002 @must
    Scenario: A burst of messages crosses to another node in order
      Given Alice is connected to node 1
      And Bob is connected to node 2
      When Alice sends 25 numbered chat messages
      Then Bob receives the numbered messages in the order they were sent

  Rule: CLUSTER-003 Each member gets each message exactly once, on the sender's node or another

    @req.CLUSTER-003 @must
    Scenario: Members on the sender's node and on another get each message once
      Given Alice is connected to node 1
      And Bob is connected to node 2
      And Carol is connected to node 1
      When Alice sends 10 numbered chat messages
      Then Bob receives each numbered message exactly once
      And Carol receives each numbered message exactly once
