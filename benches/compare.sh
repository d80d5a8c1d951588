#!/usr/bin/env bash
# Compares the reference server with two general-purpose WebSocket broadcast servers, on the
# same machine and with the same load generator (`chalk-conformance load`); compares a cluster
# of three reference nodes on Redis with one node and with three Node.js `ws` processes fanning
# out through Redis PUB/SUB, and times a cluster's failover; then times the conformance suite
# against the embedded server.
#
#   benches/compare.sh            # everything, a few minutes on 2 cores (plus the first build)
#
# What it does:
#   1. builds chalk-reference-server and chalk-conformance in release mode (cargo);
#   2. installs the peers' runtimes from npm into a cache directory: `ws@8` (run by this
#      machine's Node.js), `ioredis@5` and `bun@1` (its own binary); their servers are
#      benches/peers/*.js;
#   3. for each shape and each server, starts a fresh server process (pinned to CPU 0 when
#      there are two or more CPUs), runs the load generator against it (pinned to CPU 1) and
#      keeps the JSON result in $OUT;
#      The cluster shapes (cluster300, clusterrate300) start, for each run, a private
#      redis-server on a free loopback port (no persistence; never the system service) and
#      three reference nodes on it (`--redis-url`, `--node-id`), or three node-ws-redis.js
#      processes; the generator spreads each room's members over the three URLs. Redis and
#      every node share CPU 0. `failover` kills one of three nodes with SIGKILL and times the
#      `participant.left` of its member at the two others (benches/failover.js);
#   4. times the full conformance suite against its embedded server (hyperfine when present,
#      installed with apt-get when possible, else a timing loop);
#   5. prints every figure and the reference server's ratios to the peers.
#
# The reference server does the full Chalk work (token verification at the upgrade; parse,
# validate, id, timestamp and re-serialise every message); the peers only relay frames
# (the generator's --raw mode). Everything runs on 127.0.0.1 and every run is bounded.
#
# Settings (environment): CHALK_BENCH_DURATION (default 5s) sending time per shape;
# CHALK_BENCH_CACHE (default ~/.cache/chalk-bench) npm install directory; CHALK_BENCH_OUT
# (default target/bench) JSON results; CHALK_BENCH_PEERS (default "node-ws bun", empty for
# none); CHALK_BENCH_SHAPES (default: all, see shape_args); CHALK_BENCH_SUITE_RUNS (default 3, 0 to leave the suite untimed);
# CHALK_BENCH_CLUSTER_PEERS (default "node-ws-redis", empty for none) the peers of the cluster
# shapes; CHALK_BENCH_FAILOVER_RUNS (default 3);
# CHALK_BENCH_BUILD=0 uses the release binaries already in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${CHALK_BENCH_DURATION:-5s}
CACHE=${CHALK_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chalk-bench}
OUT=${CHALK_BENCH_OUT:-$ROOT/target/bench}
PEERS=${CHALK_BENCH_PEERS-node-ws bun}
SUITE_RUNS=${CHALK_BENCH_SUITE_RUNS:-3}
SERVERS="reference $PEERS"
CLUSTER_PEERS=${CHALK_BENCH_CLUSTER_PEERS-node-ws-redis}
CLUSTER_SERVERS="cluster reference $CLUSTER_PEERS"
FAILOVER_RUNS=${CHALK_BENCH_FAILOVER_RUNS:-3}
# The nodes of a cluster run.
NODES=3

# name | load options | what it measures
SHAPES_ALL="fanout100 fanout1000 rate100 rate1000 idle10k connect cluster300 clusterrate300 failover"
SHAPES=${CHALK_BENCH_SHAPES:-$SHAPES_ALL}
shape_args() {
  case "$1" in
    fanout100)  echo "--rooms 1 --participants 100 --window 32 --duration $DURATION" ;;
    fanout1000) echo "--rooms 1 --participants 1000 --window 16 --duration $DURATION" ;;
    rate100)    echo "--rooms 1 --participants 100 --rate 200 --duration $DURATION" ;;
    rate1000)   echo "--rooms 1 --participants 1000 --rate 100 --duration $DURATION" ;;
    idle10k)    echo "--rooms 0 --idle-connections 10000 --connect-concurrency 128 --duration 2s" ;;
    connect)    echo "--rooms 0 --idle-connections 2000 --connect-concurrency 1 --duration 1s" ;;
    # One room of 300 spread over the nodes (100 each), one sender per node.
    cluster300) echo "--rooms 1 --participants 300 --senders 3 --window 16 --duration $DURATION" ;;
    clusterrate300) echo "--rooms 1 --participants 300 --senders 3 --rate 50 --duration $DURATION" ;;
    *) echo "unknown shape $1" >&2; exit 2 ;;
  esac
}

log() { printf '== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 is required ($2)" >&2; exit 2; }; }
need cargo "https://rustup.rs"
need node "Debian: apt-get install nodejs npm"
need npm "Debian: apt-get install npm"
case " $SHAPES " in
  *" cluster"* | *" failover "*) need redis-server "Debian: apt-get install redis-server (only the binary is used)" ;;
esac

mkdir -p "$OUT" "$CACHE"
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${CHALK_BENCH_BUILD:-1}" != 0 ]; then
  log "building (release): chalk-reference-server, chalk-conformance"
  cargo build --release --quiet -p chalk-reference-server -p chalk-conformance
fi
SERVER_BIN=$ROOT/target/release/chalk-reference-server
LOAD_BIN=$ROOT/target/release/chalk-conformance

if [ ! -x "$CACHE/node_modules/.bin/bun" ] || [ ! -d "$CACHE/node_modules/ws" ] || [ ! -d "$CACHE/node_modules/ioredis" ]; then
  log "installing the peers from npm into $CACHE: ws@8, ioredis@5, bun@1"
  cp "$ROOT/benches/peers/package.json" "$CACHE/package.json"
  (cd "$CACHE" && timeout 600 npm install --no-audit --no-fund --loglevel=error)
fi
BUN=$CACHE/node_modules/.bin/bun
log "peers: node $(node --version) with ws $(node -p "require('$CACHE/node_modules/ws/package.json').version") and ioredis $(node -p "require('$CACHE/node_modules/ioredis/package.json').version"), bun $("$BUN" --version)"

# Open files: the generator holds up to 10,000 sockets, each server as many.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
  echo "compare.sh: the open-file limit is $(ulimit -n); the 10k-connection shape needs about 10,100" >&2
  SHAPES=$(echo "$SHAPES" | sed 's/idle10k//')
fi

# Server on CPU 0, generator on CPU 1: neither steals the other's core.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  PIN_SERVER="taskset -c 0"; PIN_LOAD="taskset -c 1"
else
  PIN_SERVER=""; PIN_LOAD=""
fi

SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
API_KEY=bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
ORIGIN=https://bench.chalk.test
CONFIG=$OUT/reference-server.toml
# The per-connection rate limit (50 events/s for a chat participant) is lifted for the load,
# and the connection cap (10,000 by default) raised above the idle10k shape's 10,000 sockets;
# everything else is as shipped.
cat > "$CONFIG" <<EOF
[limits]
rate_per_second = 1000000000.0
rate_burst = 1000000000
rate_close_after = 1000000000
max_connections = 20000
EOF

# PID: the server loaded (the first node of a cluster); PIDS: every process this run started,
# Redis last, so that nodes stop before their Redis.
PID=""
PIDS=()
stop_server() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  PID=""
  PIDS=()
}
trap stop_server EXIT
trap 'exit 130' INT TERM

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "compare.sh: nothing listens on 127.0.0.1:$1 after 10s" >&2
  return 1
}

PORT=18700
REDIS_PORT=""
# A private Redis on a free loopback port: no persistence, its own directory, never the system
# service. It goes to the end of PIDS once the nodes are started (see start_server).
start_redis() {
  REDIS_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  mkdir -p "$OUT/redis"
  $PIN_SERVER redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$OUT/redis" --logfile "$OUT/redis/redis.log" >/dev/null 2>&1 &
  REDIS_PID=$!
  wait_port "$REDIS_PORT"
}

# NODE_PORTS: the ports of the nodes of the last cluster started.
NODE_PORTS=()
start_server() {
  PORT=$((PORT + 1))
  case "$1" in
    cluster | node-ws-redis)
      start_redis
      NODE_PORTS=()
      for i in $(seq "$NODES"); do
        PORT=$((PORT + 1))
        NODE_PORTS+=("$PORT")
        if [ "$1" = cluster ]; then
          CHALK_JWT_SECRET=$SECRET CHALK_API_KEY=$API_KEY RUST_LOG=warn \
            $PIN_SERVER "$SERVER_BIN" --config "$CONFIG" --listen "127.0.0.1:$PORT" \
            --allowed-origin "$ORIGIN" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
            --node-id "bench$i" >"$OUT/server-$1-$i.log" 2>&1 &
        else
          NODE_PATH=$CACHE/node_modules $PIN_SERVER node "$ROOT/benches/peers/node-ws-redis.js" \
            "$PORT" "$REDIS_PORT" >"$OUT/server-$1-$i.log" 2>&1 &
        fi
        PIDS+=("$!")
        # The failover kills a node on purpose: no job-control line for it.
        disown "$!"
      done
      PIDS+=("$REDIS_PID")
      PID=${PIDS[0]}
      for port in "${NODE_PORTS[@]}"; do wait_port "$port"; done
      return
      ;;
    reference)
      CHALK_JWT_SECRET=$SECRET CHALK_API_KEY=$API_KEY RUST_LOG=warn \
        $PIN_SERVER "$SERVER_BIN" --config "$CONFIG" --listen "127.0.0.1:$PORT" \
        --allowed-origin "$ORIGIN" >"$OUT/server-$1.log" 2>&1 &
      ;;
    node-ws)
      NODE_PATH=$CACHE/node_modules $PIN_SERVER node "$ROOT/benches/peers/node-ws.js" "$PORT" \
        >"$OUT/server-$1.log" 2>&1 &
      ;;
    bun)
      $PIN_SERVER "$BUN" "$ROOT/benches/peers/bun.js" "$PORT" >"$OUT/server-$1.log" 2>&1 &
      ;;
  esac
  PID=$!
  PIDS=("$PID")
  wait_port "$PORT"
}

# The URLs of the last cluster started, comma-separated, each as `ws://127.0.0.1:PORT$1`.
node_urls() {
  local port urls=()
  for port in "${NODE_PORTS[@]}"; do urls+=("ws://127.0.0.1:$port$1"); done
  (IFS=,; echo "${urls[*]}")
}

run_load() { # server shape
  local server=$1 shape=$2 target measured
  measured=(--server-pid "$PID")
  case "$server" in
    reference) target=(--url "ws://127.0.0.1:$PORT/api/v1/ws" --jwt-secret "$SECRET" --origin "$ORIGIN") ;;
    # Several processes: the generator measures none of them (--server-pid names one process).
    cluster) target=(--url "$(node_urls /api/v1/ws)" --jwt-secret "$SECRET" --origin "$ORIGIN"); measured=() ;;
    node-ws-redis) target=(--raw --url "$(node_urls /)"); measured=() ;;
    *) target=(--raw --url "ws://127.0.0.1:$PORT/") ;;
  esac
  # shellcheck disable=SC2046
  timeout 300 env -u CHALK_URL $PIN_LOAD "$LOAD_BIN" load "${target[@]}" $(shape_args "$shape") \
    "${measured[@]}" --label "$server" --quiet --results-json "$OUT/$server-$shape.json" \
    >"$OUT/$server-$shape.txt" 2>&1 || true
}

# Kills the last node of a fresh cluster with SIGKILL and times its member's participant.left at
# the other nodes; one JSON per run.
run_failover() { # run
  local victim=$((NODES - 1)) watchers=() i
  for i in $(seq 0 $((NODES - 2))); do watchers+=("ws://127.0.0.1:${NODE_PORTS[$i]}/api/v1/ws"); done
  NODE_PATH=$CACHE/node_modules timeout 60 $PIN_LOAD node "$ROOT/benches/failover.js" \
    "$SECRET" "$ORIGIN" "${PIDS[$victim]}" "ws://127.0.0.1:${NODE_PORTS[$victim]}/api/v1/ws" \
    "${watchers[@]}" >"$OUT/cluster-failover-$1.json" 2>"$OUT/cluster-failover-$1.txt" || true
}

for shape in $SHAPES; do
  if [ "$shape" = failover ]; then
    for run in $(seq "$FAILOVER_RUNS"); do
      log "failover: cluster, run $run of $FAILOVER_RUNS (load $(cut -d' ' -f1 /proc/loadavg))"
      start_server cluster
      run_failover "$run"
      stop_server
      sleep 1
    done
    continue
  fi
  servers=$SERVERS
  case "$shape" in cluster*) servers=$CLUSTER_SERVERS ;; esac
  for server in $servers; do
    log "$shape: $server (load $(cut -d' ' -f1 /proc/loadavg))"
    start_server "$server"
    run_load "$server" "$shape"
    stop_server
    sleep 1
  done
done

SUITE_JSON=$OUT/suite.json
if [ "$SUITE_RUNS" -gt 0 ] 2>/dev/null; then
log "conformance suite against the embedded server ($SUITE_RUNS runs)"
if ! command -v hyperfine >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -qq hyperfine >/dev/null 2>&1 || \
    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1)) || true
fi
# One run to warm the caches, whose output is kept (its closing line is in the summary).
env -u CHALK_URL "$LOAD_BIN" >"$OUT/suite-output.txt" 2>&1 || true
if command -v hyperfine >/dev/null; then
  hyperfine --runs "$SUITE_RUNS" --export-json "$SUITE_JSON" --style none \
    "env -u CHALK_URL $LOAD_BIN" >"$OUT/suite.txt" 2>&1 || true
else
  times=()
  for _ in $(seq "$SUITE_RUNS"); do
    start=$(date +%s.%N)
    env -u CHALK_URL "$LOAD_BIN" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l 2>/dev/null || node -p "$end - $start")")
  done
  printf '{"results":[{"times":[%s]}]}\n' "$(IFS=,; echo "${times[*]}")" >"$SUITE_JSON"
fi
else
  # CHALK_BENCH_SUITE_RUNS=0: the suite is not timed.
  rm -f "$SUITE_JSON" "$OUT/suite-output.txt"
fi
CHALK_BENCH_FAILOVER_RUNS=$FAILOVER_RUNS \
  node "$ROOT/benches/summarize.js" "$OUT" "$SERVERS" "$SHAPES" "$CLUSTER_SERVERS"
