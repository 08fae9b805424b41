// node split-report.cjs BROKER_LOG LOADGEN_LOG [skip_s]: joins the two split.cjs logs by sequence number and
// prints, for each stage of one message's trip, its median, p90, p99 and max in ms, and which stage was the
// longest in the slowest 1% of messages. skip_s drops messages sent in the first seconds of the logs.
// BROKER_LOG '-' (a broker that is not Node.js, e.g. Mosquitto): only `send` and `total`.
//   send      stamp → the load generator's write returned (its own JavaScript and the write system call)
//   to broker write returned → the broker's JavaScript got the bytes (kernel, the broker's wake-up, event loop)
//   broker    the broker got the bytes → it began the write to the subscriber (parse, route, encode, batching)
//   write     the broker's write system call (on loopback, it also delivers to the receiving socket)
//   to sub    the broker's write returned → the load generator's JavaScript got the bytes (its wake-up)
//             (negative when the woken load generator ran before the broker's write call returned)
'use strict';
const fs = require('node:fs');
const [brokerLog, loadgenLog, skipArg] = process.argv.slice(2);
const read = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
const first = (map, key, value) => { if (!map.has(key)) map.set(key, value); };
const bIn = new Map(), bOut = new Map(), lOut = new Map(), lIn = new Map();
for (const [kind, seq, , t0, t1] of brokerLog === '-' ? [] : read(brokerLog)) {
  if (kind === 'in') first(bIn, seq, Number(t0));
  else first(bOut, seq, [Number(t0), Number(t1)]);
}
let start = Infinity;
for (const [kind, seq, stamp, t0, t1] of read(loadgenLog)) {
  if (kind === 'in') first(lIn, seq, [Number(stamp), Number(t0)]);
  else first(lOut, seq, Number(t1));
  start = Math.min(start, Number(stamp));
}
const skipNs = Number(skipArg ?? 0) * 1e9;
const stages = ['send', 'to broker', 'broker', 'write', 'to sub', 'total'];
const rows = [];
for (const [seq, [stamp, recv]] of lIn) {
  const sent = lOut.get(seq), got = bIn.get(seq), out = bOut.get(seq);
  if (sent === undefined || stamp - start < skipNs) continue;
  if (brokerLog === '-') {
    rows.push([sent - stamp, NaN, NaN, NaN, NaN, recv - stamp].map((ns) => ns / 1e6));
    continue;
  }
  if (got === undefined || out === undefined) continue;
  rows.push([sent - stamp, got - sent, out[0] - got, out[1] - out[0], recv - out[1], recv - stamp].map((ns) => ns / 1e6));
}
const pct = (v, q) => v[Math.min(v.length - 1, Math.floor(v.length * q))];
console.log(`messages ${rows.length} (of ${lIn.size} received)`);
console.log('stage        p50     p90     p99     max   (ms)');
stages.forEach((name, i) => {
  if (Number.isNaN(rows[0]?.[i])) return;
  const v = rows.map((r) => r[i]).sort((a, b) => a - b);
  console.log(`${name.padEnd(10)} ${[0.5, 0.9, 0.99].map((q) => pct(v, q).toFixed(3).padStart(7)).join(' ')} ${v[v.length - 1].toFixed(3).padStart(7)}`);
});
const slow = [...rows].sort((a, b) => b[5] - a[5]).slice(0, Math.max(1, Math.floor(rows.length / 100)));
const longest = new Map();
for (const r of brokerLog === '-' ? [] : slow) {
  const i = r.slice(0, 5).indexOf(Math.max(...r.slice(0, 5)));
  longest.set(stages[i], (longest.get(stages[i]) ?? 0) + 1);
}
console.log(`slowest 1% (${slow.length}): longest stage ${[...longest].map(([k, v]) => `${k} ${v}`).join(', ')}; mean ms ` +
  stages.map((s, i) => `${s} ${(slow.reduce((a, r) => a + r[i], 0) / slow.length).toFixed(3)}`).join(', '));
