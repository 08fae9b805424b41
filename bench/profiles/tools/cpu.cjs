// node cpu.cjs PROFILE [N] [fromSec]: self time by function and by module, from fromSec (since the profile's start) to its end
const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const from = +(process.argv[4] || 0) * 1e6;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map(), mod = new Map(); let t = p.startTime, total = 0;
const modOf = (url) => { if (!url) return '(vm)'; if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0]; const m = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/); if (m) return m[1]; const d = url.match(/dist\/(.*)/); return d ? 'midge ' + d[1] : url; };
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i]; t += dt; if (t - p.startTime < from) continue;
  const n = byId.get(p.samples[i]); const cf = n.callFrame;
  const fn = `${cf.functionName || '(anon)'} ${modOf(cf.url)}:${cf.lineNumber + 1}`;
  self.set(fn, (self.get(fn) || 0) + dt); const md = cf.url ? modOf(cf.url) : cf.functionName; mod.set(md, (mod.get(md) || 0) + dt); total += dt;
}
console.log('total ms', (total / 1000).toFixed(0));
for (const [k, v] of [...mod].sort((a, b) => b[1] - a[1]).slice(0, 16)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k);
console.log('---');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, +(process.argv[3] || 30))) console.log((100 * v / total).toFixed(1).padStart(5) + '%', (v / 1000).toFixed(0).padStart(6) + 'ms', k);
