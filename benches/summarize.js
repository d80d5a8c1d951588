// Prints the results of benches/compare.sh: every figure per shape and server, and the
// reference server's ratios to each peer; for the cluster shapes, the cluster against one node
// and its peer, the failover times, and the targets of issue 11 (met or not).
// Usage: node summarize.js OUT_DIR "SERVERS" "SHAPES" ["CLUSTER_SERVERS"]
const fs = require('fs');
const path = require('path');

const [outDir, serversArg, shapesArg, clusterServersArg = ''] = process.argv.slice(2);
const servers = serversArg.split(/\s+/).filter(Boolean);
const clusterServers = clusterServersArg.split(/\s+/).filter(Boolean);
const allShapes = shapesArg.split(/\s+/).filter(Boolean);
const clusterShapes = allShapes.filter((s) => s.startsWith('cluster'));
const failover = allShapes.includes('failover');
const shapes = allShapes.filter((s) => !s.startsWith('cluster') && s !== 'failover');

function load(server, shape) {
  try {
    return JSON.parse(fs.readFileSync(path.join(outDir, `${server}-${shape}.json`), 'utf8'));
  } catch {
    return null;
  }
}

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => n.toFixed(2);

// For each shape: the headline figure (a number, and whether higher is better) and its text.
const figures = {
  fanout100: { name: '100-room, window 32: deliveries/s', higher: true, value: (r) => r.deliveries_per_second },
  fanout1000: { name: '1000-room, window 16: deliveries/s', higher: true, value: (r) => r.deliveries_per_second },
  rate100: { name: '100-room @200 msg/s: p99 fan-out ms', higher: false, value: (r) => r.fan_out_latency.p99_ms },
  rate1000: { name: '1000-room @100 msg/s: p99 fan-out ms', higher: false, value: (r) => r.fan_out_latency.p99_ms },
  idle10k: { name: '10k idle: server RSS KiB/conn', higher: false, value: (r) => r.server_rss && r.server_rss.per_connection_bytes / 1024 },
  connect: { name: 'connect+upgrade p99 ms (1 at a time)', higher: false, value: (r) => r.connections.connect_latency.p99_ms },
};

function detail(shape, r) {
  if (!r) return 'no result';
  const cpu = r.server_cpu ? `, server ${r.server_cpu.us_per_delivery.toFixed(2)} µs/delivery` : '';
  const gen = r.generator_cpu ? `, generator ${Math.round(r.generator_cpu.percent_of_one_core)}% CPU` : '';
  const loss = `lost ${r.lost}, dup ${r.duplicated}`;
  const errs = Object.keys(r.errors).length ? `, errors: ${JSON.stringify(r.errors)}` : '';
  const load = `load ${r.load_average.start}`;
  const lat = r.fan_out_latency;
  const conn = r.connections;
  switch (shape) {
    case 'fanout100':
    case 'fanout1000':
      return `${int(r.deliveries_per_second)}/s (p50 ${ms(lat.p50_ms)}, p99 ${ms(lat.p99_ms)} ms${cpu}${gen}; ${loss}${errs}; ${load})`;
    case 'rate100':
    case 'rate1000':
      return `p50 ${ms(lat.p50_ms)} / p90 ${ms(lat.p90_ms)} / p99 ${ms(lat.p99_ms)} / p99.9 ${ms(lat.p999_ms)} ms (${int(r.deliveries_per_second)} deliveries/s${cpu}; ${loss}${errs}; ${load})`;
    case 'idle10k': {
      const rss = r.server_rss
        ? `${(r.server_rss.per_connection_bytes / 1024).toFixed(1)} KiB/conn (RSS ${(r.server_rss.connected_bytes / 1048576).toFixed(1)} MiB with ${conn.established} conns)`
        : 'RSS not measured';
      return `${rss}, ${int(conn.per_second)} conn/s at ${conn.concurrency} in flight, p99 ${ms(conn.connect_latency.p99_ms)} ms${errs}; ${load}`;
    }
    case 'connect':
      return `p50 ${ms(conn.connect_latency.p50_ms)} / p99 ${ms(conn.connect_latency.p99_ms)} ms, ${int(conn.per_second)} conn/s sequential${errs}; ${load}`;
    default:
      return '';
  }
}

// A cluster run's deliveries of one route ('same_node' or 'cross_node'), or null.
const route = (r, name) => (r && r.nodes ? r.nodes[name] : null);
const pct = (p) => `p50 ${ms(p.p50_ms)} / p99 ${ms(p.p99_ms)} ms`;

function clusterDetail(r) {
  if (!r) return 'no result';
  const loss = `lost ${r.lost}, dup ${r.duplicated}`;
  const errs = Object.keys(r.errors).length ? `, errors: ${JSON.stringify(r.errors)}` : '';
  let text = `all ${int(r.deliveries_per_second)}/s, ${pct(r.fan_out_latency)}`;
  for (const name of ['same_node', 'cross_node']) {
    const x = route(r, name);
    if (x) text += `; ${name.replace('_', '-')} ${int(x.deliveries_per_second)}/s, ${pct(x.fan_out_latency)}`;
  }
  return `${text} (${loss}${errs}; load ${r.load_average.start})`;
}

if (shapes.length) console.log('\nResults (server on CPU 0, load generator on CPU 1, loopback):');
for (const shape of shapes) {
  console.log(`\n${figures[shape].name}`);
  for (const server of servers) {
    const r = load(server, shape);
    const verdict = r && r.verdict !== 'ok' ? '  [FAILED: see the .txt]' : '';
    console.log(`  ${server.padEnd(10)} ${detail(shape, r)}${verdict}`);
  }
}

const peers = servers.filter((s) => s !== 'reference');
if (shapes.length && peers.length) console.log('\nRatios of the reference server to each peer (>1 means the reference server is better):');
for (const shape of peers.length ? shapes : []) {
  const f = figures[shape];
  const ref = load('reference', shape);
  const parts = peers.map((peer) => {
    const other = load(peer, shape);
    const a = ref && f.value(ref);
    const b = other && f.value(other);
    if (!a || !b) return `${peer} n/a`;
    const ratio = f.higher ? a / b : b / a;
    return `${peer} ${ratio.toFixed(2)}×`;
  });
  console.log(`  ${f.name.padEnd(40)} ${parts.join(', ')}`);
}

try {
  const suite = JSON.parse(fs.readFileSync(path.join(outDir, 'suite.json'), 'utf8'));
  const times = suite.results[0].times.map(Number);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const closing = fs.readFileSync(path.join(outDir, 'suite-output.txt'), 'utf8').trim().split('\n').pop();
  console.log(`\nConformance suite against the embedded server: ${mean.toFixed(2)} s wall (mean of ${times.length}; min ${Math.min(...times).toFixed(2)}, max ${Math.max(...times).toFixed(2)}); last line: ${closing}`);
} catch {
  console.log('\nConformance suite: no timing');
}
console.log('\nThe reference server does the full Chalk work (token verification at the upgrade; parse,');
console.log('validate, id, timestamp and re-serialise every message); the peers only relay frames.');
console.log(`JSON and text of every run: ${outDir}`);

if (clusterShapes.length || failover) {
  console.log('\nCluster (3 nodes and Redis on CPU 0, generator on CPU 1; one room of 300, 100 members per node):');
  const names = {
    cluster300: '300-member room, 3 senders, window 16 (saturating)',
    clusterrate300: '300-member room, 3 senders, 50 msg/s',
  };
  for (const shape of clusterShapes) {
    console.log(`\n${names[shape] || shape}`);
    for (const server of clusterServers) {
      const r = load(server, shape);
      const verdict = r && r.verdict !== 'ok' ? '  [FAILED: see the .txt]' : '';
      console.log(`  ${server.padEnd(14)} ${clusterDetail(r)}${verdict}`);
    }
  }
  const failovers = [];
  if (failover) {
    const runs = Number(process.env.CHALK_BENCH_FAILOVER_RUNS || 3);
    for (let i = 1; i <= runs; i++) {
      try {
        failovers.push(JSON.parse(fs.readFileSync(path.join(outDir, `cluster-failover-${i}.json`), 'utf8')));
      } catch {
        failovers.push({ error: 'no result' });
      }
    }
    const text = failovers.map((f) => (f.error ? `error (${f.error})` : `${int(f.failover_ms)} ms${f.duplicated_lefts ? ` (${f.duplicated_lefts} duplicated participant.left)` : ''}`));
    console.log(`\nFailover (SIGKILL of 1 of 3 nodes to participant.left at both survivors): ${text.join(', ')}`);
  }

  // The targets of issue 11, item 12; "n/a" when a run they need is missing.
  const BOUND_MS = 4200; // reference-server/CLUSTER.md: liveness TTL + reaper period + one round
  const verdict = (ok) => (ok === null ? 'n/a' : ok ? 'met' : 'NOT met');
  const cluster = load('cluster', 'cluster300');
  const peer = load('node-ws-redis', 'cluster300');
  const crossCluster = route(cluster, 'cross_node');
  const crossPeer = route(peer, 'cross_node');
  const ratio = crossCluster && crossPeer ? crossCluster.deliveries_per_second / crossPeer.deliveries_per_second : null;
  const rate = load('cluster', 'clusterrate300');
  const single = load('reference', 'clusterrate300');
  const crossRate = route(rate, 'cross_node');
  const p99Ratio = crossRate && single ? crossRate.fan_out_latency.p99_ms / single.fan_out_latency.p99_ms : null;
  // The reference server's runs (the peer's losses show in its own line above).
  const runs = clusterShapes.flatMap((shape) => ['cluster', 'reference'].map((server) => [`${server} ${shape}`, load(server, shape)]));
  const faulty = runs.filter(([, r]) => !r || r.lost || r.duplicated).map(([name, r]) => (r ? `${name}: lost ${r.lost}, dup ${r.duplicated}` : `${name}: no result`));
  const okFailovers = failovers.filter((f) => !f.error);
  const worst = okFailovers.length ? Math.max(...okFailovers.map((f) => f.failover_ms)) : null;
  console.log('\nTargets (issue 11, item 12):');
  console.log(`  cross-node deliveries/s >= 3x node-ws-redis: ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`} -> ${verdict(ratio === null ? null : ratio >= 3)}`);
  console.log(`  cross-node p99 <= 2x single-node p99 (50 msg/s): ${p99Ratio === null ? 'n/a' : `${ms(crossRate.fan_out_latency.p99_ms)} vs ${ms(single.fan_out_latency.p99_ms)} ms = ${p99Ratio.toFixed(2)}x`} -> ${verdict(p99Ratio === null ? null : p99Ratio <= 2)}`);
  console.log(`  0 lost, 0 duplicated in every run of the reference server (cluster and one node): ${runs.length ? (faulty.length ? faulty.join('; ') : 'all clean') : 'n/a'} -> ${verdict(runs.length ? faulty.length === 0 : null)}`);
  console.log(`  failover within the documented bound (${BOUND_MS} ms): ${worst === null ? 'n/a' : `worst ${int(worst)} ms${okFailovers.length < failovers.length ? `, ${failovers.length - okFailovers.length} run(s) failed` : ''}`} -> ${verdict(worst === null ? null : worst <= BOUND_MS && okFailovers.length === failovers.length && okFailovers.every((f) => !f.duplicated_lefts))}`);
  console.log('  (node-ws-redis relays bytes through PUB/SUB, at most once, with no presence: it has no failover to time)');
}
