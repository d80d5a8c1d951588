// Prints the results of benches/compare.sh: every figure per shape and server, and the
// reference server's ratios to each peer. Usage: node summarize.js OUT_DIR "SERVERS" "SHAPES"
const fs = require('fs');
const path = require('path');

const [outDir, serversArg, shapesArg] = process.argv.slice(2);
const servers = serversArg.split(/\s+/).filter(Boolean);
const shapes = shapesArg.split(/\s+/).filter(Boolean);

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

console.log('\nResults (server on CPU 0, load generator on CPU 1, loopback):');
for (const shape of shapes) {
  console.log(`\n${figures[shape].name}`);
  for (const server of servers) {
    const r = load(server, shape);
    const verdict = r && r.verdict !== 'ok' ? '  [FAILED: see the .txt]' : '';
    console.log(`  ${server.padEnd(10)} ${detail(shape, r)}${verdict}`);
  }
}

const peers = servers.filter((s) => s !== 'reference');
console.log('\nRatios of the reference server to each peer (>1 means the reference server is better):');
for (const shape of shapes) {
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
