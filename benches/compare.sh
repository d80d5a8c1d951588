#!/usr/bin/env bash
# Compares the reference server with two general-purpose WebSocket broadcast servers, on the
# same machine and with the same load generator (`chalk-conformance load`), then times the
# conformance suite against the embedded server.
#
#   benches/compare.sh            # everything, a few minutes on 2 cores (plus the first build)
#
# What it does:
#   1. builds chalk-reference-server and chalk-conformance in release mode (cargo);
#   2. installs the peers' runtimes from npm into a cache directory: `ws@8` (run by this
#      machine's Node.js) and `bun@1` (its own binary); their servers are benches/peers/*.js;
#   3. for each shape and each server, starts a fresh server process (pinned to CPU 0 when
#      there are two or more CPUs), runs the load generator against it (pinned to CPU 1) and
#      keeps the JSON result in $OUT;
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
# none); CHALK_BENCH_SHAPES (default: all, see shape_args); CHALK_BENCH_SUITE_RUNS (default 3);
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

# name | load options | what it measures
SHAPES_ALL="fanout100 fanout1000 rate100 rate1000 idle10k connect"
SHAPES=${CHALK_BENCH_SHAPES:-$SHAPES_ALL}
shape_args() {
  case "$1" in
    fanout100)  echo "--rooms 1 --participants 100 --window 32 --duration $DURATION" ;;
    fanout1000) echo "--rooms 1 --participants 1000 --window 16 --duration $DURATION" ;;
    rate100)    echo "--rooms 1 --participants 100 --rate 200 --duration $DURATION" ;;
    rate1000)   echo "--rooms 1 --participants 1000 --rate 100 --duration $DURATION" ;;
    idle10k)    echo "--rooms 0 --idle-connections 10000 --connect-concurrency 128 --duration 2s" ;;
    connect)    echo "--rooms 0 --idle-connections 2000 --connect-concurrency 1 --duration 1s" ;;
    *) echo "unknown shape $1" >&2; exit 2 ;;
  esac
}

log() { printf '== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 is required ($2)" >&2; exit 2; }; }
need cargo "https://rustup.rs"
need node "Debian: apt-get install nodejs npm"
need npm "Debian: apt-get install npm"

mkdir -p "$OUT" "$CACHE"
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${CHALK_BENCH_BUILD:-1}" != 0 ]; then
  log "building (release): chalk-reference-server, chalk-conformance"
  cargo build --release --quiet -p chalk-reference-server -p chalk-conformance
fi
SERVER_BIN=$ROOT/target/release/chalk-reference-server
LOAD_BIN=$ROOT/target/release/chalk-conformance

if [ ! -x "$CACHE/node_modules/.bin/bun" ] || [ ! -d "$CACHE/node_modules/ws" ]; then
  log "installing the peers from npm into $CACHE: ws@8, bun@1"
  cp "$ROOT/benches/peers/package.json" "$CACHE/package.json"
  (cd "$CACHE" && timeout 600 npm install --no-audit --no-fund --loglevel=error)
fi
BUN=$CACHE/node_modules/.bin/bun
log "peers: node $(node --version) with ws $(node -p "require('$CACHE/node_modules/ws/package.json').version"), bun $("$BUN" --version)"

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

PID=""
stop_server() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  PID=""
}
trap stop_server EXIT

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "compare.sh: nothing listens on 127.0.0.1:$1 after 10s" >&2
  return 1
}

PORT=18700
start_server() {
  PORT=$((PORT + 1))
  case "$1" in
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
  wait_port "$PORT"
}

run_load() { # server shape
  local server=$1 shape=$2 target
  case "$server" in
    reference) target=(--url "ws://127.0.0.1:$PORT/api/v1/ws" --jwt-secret "$SECRET" --origin "$ORIGIN") ;;
    *) target=(--raw --url "ws://127.0.0.1:$PORT/") ;;
  esac
  # shellcheck disable=SC2046
  timeout 300 env -u CHALK_URL $PIN_LOAD "$LOAD_BIN" load "${target[@]}" $(shape_args "$shape") \
    --server-pid "$PID" --label "$server" --quiet --results-json "$OUT/$server-$shape.json" \
    >"$OUT/$server-$shape.txt" 2>&1 || true
}

for shape in $SHAPES; do
  for server in $SERVERS; do
    log "$shape: $server (load $(cut -d' ' -f1 /proc/loadavg))"
    start_server "$server"
    run_load "$server" "$shape"
    stop_server
    sleep 1
  done
done

log "conformance suite against the embedded server ($SUITE_RUNS runs)"
if ! command -v hyperfine >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -qq hyperfine >/dev/null 2>&1 || \
    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1)) || true
fi
SUITE_JSON=$OUT/suite.json
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
node "$ROOT/benches/summarize.js" "$OUT" "$SERVERS" "$SHAPES"
