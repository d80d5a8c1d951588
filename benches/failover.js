// Failover time of a Chalk cluster, for benches/compare.sh: a watcher on each surviving node and
// a victim on the node to kill join one room; once every watcher has seen the victim join, the
// victim's node is killed with SIGKILL and the time from the kill to each watcher's
// `participant.left` for the victim is measured (the bound the cluster documents: kill to event).
// Tokens are HS256, signed here with the deployment's secret (node's crypto, no library).
// Usage: node failover.js SECRET ORIGIN VICTIM_PID VICTIM_URL WATCHER_URL... > result.json
const crypto = require('crypto');
const WebSocket = require('ws');

const [secret, origin, victimPid, victimUrl, ...watcherUrls] = process.argv.slice(2);
const LIMIT_MS = 20000;
const room = `failover-${crypto.randomBytes(4).toString('hex')}`;

const b64 = (x) => Buffer.from(x).toString('base64url');
function token(participant) {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const exp = Math.floor(Date.now() / 1000) + 300;
  const body = b64(JSON.stringify({ room_id: room, participant_id: participant, exp }));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function join(url, participant, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['chalk', `token.${token(participant)}`], { origin });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('message', (data) => {
      try {
        onEvent(JSON.parse(data.toString()));
      } catch {}
    });
  });
}

const fail = (why) => {
  console.log(JSON.stringify({ error: why }));
  process.exit(1);
};
setTimeout(() => fail(`no result within ${LIMIT_MS} ms`), LIMIT_MS).unref();

(async () => {
  let killedAt = null;
  const seen = watcherUrls.map(() => ({ joined: false, leftMs: null, lefts: 0 }));
  const watchers = [];
  for (const [i, url] of watcherUrls.entries()) {
    watchers.push(
      await join(url, `watcher${i}`, (e) => {
        const id = e.data && (e.data.id || e.data.participant_id);
        if (id !== 'victim') return;
        if (e.event === 'participant.joined') seen[i].joined = true;
        if (e.event === 'participant.left' && killedAt !== null) {
          seen[i].lefts += 1;
          if (seen[i].leftMs === null) seen[i].leftMs = Number(process.hrtime.bigint() - killedAt) / 1e6;
        }
      }),
    );
  }
  await join(victimUrl, 'victim', () => {});
  const until = Date.now() + 10000;
  while (!seen.every((s) => s.joined)) {
    if (Date.now() > until) fail('the watchers did not all see the victim join');
    await new Promise((r) => setTimeout(r, 10));
  }
  killedAt = process.hrtime.bigint();
  process.kill(Number(victimPid), 'SIGKILL');
  while (!seen.every((s) => s.leftMs !== null)) await new Promise((r) => setTimeout(r, 5));
  // A moment more, to see a second participant.left if one came.
  await new Promise((r) => setTimeout(r, 1500));
  for (const ws of watchers) ws.close(1000);
  const times = seen.map((s) => s.leftMs);
  console.log(
    JSON.stringify({
      room,
      watchers: watcherUrls.length,
      left_ms: times,
      failover_ms: Math.max(...times),
      duplicated_lefts: seen.reduce((n, s) => n + s.lefts - 1, 0),
    }),
  );
  process.exit(0);
})().catch((e) => fail(String(e && e.message ? e.message : e)));
