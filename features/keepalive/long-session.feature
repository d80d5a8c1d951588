Feature: A long-lived session
  The API page gives the `ping` event one purpose: "Keep connection alive." A client that sends
  nothing else, a few times per idle timeout, must stay connected for as long as it does. Two
  participants ping for longer than the server's idle timeout (as stated with `--idle-timeout`,
  else as the embedded server says, else 75 s when `close-codes` is declared, else 30 s); then
  their connections must still be open and still carry chat. A server may also keep the client
  alive with heartbeat pings of its own, which the client answers: that passes too.

  It starts first and runs beside the rest of the run; `--skip-long` leaves it out for a quick
  run, and it is then reported as skipped, never as passed.

  Rule: PING-005 The ping event alone keeps a connection alive

    @req.PING-005 @must
    Scenario: Pinging for longer than the idle timeout
      Given Alice and Bob are connected
      When Alice and Bob send nothing but ping events for longer than the server's idle timeout
      Then Alice and Bob can still chat with each other
