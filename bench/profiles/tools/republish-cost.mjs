// node bench/profiles/tools/republish-cost.mjs [N] [ROUNDS]: nats-server's CPU per message stored in a
// stream that republishes (like <PREFIX>_MSGS) to two core subscribers (like nodes 2 and 3), by
// the header block the appends carry. Starts its own nats-server (JetStream) on a free 127.0.0.1
// port and stops it by PID; CPU from /proc/<pid>/stat. Run it under `nice -n 15`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import nats from 'nats';

const { connect, createInbox } = nats;
const N = Number(process.argv[2] ?? 60000);
const ROUNDS = Number(process.argv[3] ?? 3);
const port = await new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const dir = mkdtempSync(path.join(os.tmpdir(), 'republish-cost-'));
writeFileSync(path.join(dir, 'nats.conf'), `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${path.join(dir, 'js')}" }\n`);
const server = spawn('nats-server', ['-c', path.join(dir, 'nats.conf')], { stdio: 'ignore' });
const cpuMs = () => { const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * (1000 / 100); };
try {
  let nc;
  for (let i = 0; i < 50 && nc === undefined; i++) nc = await connect({ servers: `127.0.0.1:${port}`, noAsyncTraces: true }).catch(() => new Promise((r) => setTimeout(r, 100)));
  const jsm = await nc.jetstreamManager();
  const subscribers = [];
  for (let i = 0; i < 2; i++) { const s = await connect({ servers: `127.0.0.1:${port}` }); s.subscribe('live.>', { callback: () => undefined }); subscribers.push(s); }
  const record = Buffer.alloc(110, 1); // about the encodeMessage record of a 64-byte payload
  const incarnation = '0f8e2b1c-3d4a-4b5c-9d6e-7f8091a2b3c4';
  const short = Buffer.from(incarnation.replaceAll('-', ''), 'hex').toString('base64url');
  const variants = {
    'Midge-Node + Nats-Msg-Id <uuid>:<id> (before)': (i) => Buffer.from(`NATS/1.0\r\nMidge-Node: ${incarnation}\r\nNats-Msg-Id: ${incarnation}:${i}\r\n\r\n`, 'latin1'),
    'Nats-Msg-Id <22 chars>:<id> (now)': (i) => Buffer.from(`NATS/1.0\r\nNats-Msg-Id: ${short}:${i}\r\n\r\n`, 'latin1'),
    'no header': () => undefined,
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [v, [name, header]] of Object.entries(variants).entries()) {
      const stream = `RC${round}_${v}`;
      await jsm.streams.add({ name: stream, subjects: [`rc${round}${v}.>`], duplicate_window: 120e9, republish: { src: `rc${round}${v}.>`, dest: 'live.>' } });
      const inbox = createInbox();
      let acked = 0;
      let wake;
      nc.subscribe(`${inbox}.*`, { callback: () => { acked++; if (acked % 1000 === 0) wake?.(); } });
      const before = cpuMs();
      const started = performance.now();
      for (let i = 0; i < N; i++) {
        const h = header(i);
        nc.publish(`rc${round}${v}.site.t${i % 10}`, record, h === undefined ? { reply: `${inbox}.${i}` } : { reply: `${inbox}.${i}`, headers: { encode: () => h } });
        if (i % 1000 === 999) { await nc.flush(); while (acked < i - 1000) await new Promise((r) => (wake = r)); }
      }
      while (acked < N) await new Promise((r) => setTimeout(r, 5));
      for (const s of subscribers) await s.flush();
      console.log(`round ${round}  ${name.padEnd(46)} nats-server ${(((cpuMs() - before) * 1000) / N).toFixed(1).padStart(5)} µs/message  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      await jsm.streams.delete(stream);
    }
  }
  await nc.close();
  for (const s of subscribers) await s.close();
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
